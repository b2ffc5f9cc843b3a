/**
 * PostgreSQL store benchmarks, each beside a raw-SQL baseline through the same
 * driver (@effect/sql-pg) in the same run, on identical tables (the baseline
 * writes to a second schema created by the same migration):
 *
 * | workload | Chronicle | raw baseline |
 * | --- | --- | --- |
 * | sequential 1-event appends to new streams | `EventStore.append` | one autocommit `INSERT … SELECT FROM unnest` + stream-row upsert statement |
 * | 16 concurrent writers, 1 event each | the same, 16 fibers | the same, 16 fibers |
 * | 100-event batch appends | `append` of 100 events | the same statement with 100 rows |
 * | 8 writers contending on one stream | `append` with the exact expected version, reload and retry on `WrongExpectedVersion` | read version, insert at version + 1, retry on unique violation |
 * | reading a 10 000-event stream | `readStream` | `SELECT … ORDER BY stream_version` in pages of 1000 |
 * | reading the whole global log | `readAll` | `SELECT … ORDER BY transaction_id, sequence` in batches of 1000, below xmin |
 *
 * The baseline does no expected-version check, idempotency check, stream lock
 * or NOTIFY: the ratio is what those guarantees (and the library) cost.
 */
import { EventId, EventStore, ExpectedVersion, StreamName } from "@chronicle/core"
import { PgSchema, PgStore } from "@chronicle/postgres"
import * as PgServer from "@chronicle/testing/PgServer"
import { Console, Context, Effect, Layer, Redacted, Stream } from "effect"
import { SqlClient } from "effect/sql"

interface Result {
  readonly name: string
  readonly events: number
  readonly seconds: number
  readonly latencies: ReadonlyArray<number>
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

/** Runs `operation(i)` for i in [0, count) on `concurrency` fibers, timing each. */
const timed = <E, R>(
  name: string,
  count: number,
  eventsPerOperation: number,
  concurrency: number,
  operation: (i: number) => Effect.Effect<unknown, E, R>
) =>
  Effect.gen(function* () {
    const latencies: Array<number> = []
    const start = performance.now()
    yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) =>
        Effect.suspend(() => {
          const t = performance.now()
          return Effect.tap(operation(i), () => Effect.sync(() => void latencies.push(performance.now() - t)))
        }),
      { concurrency, discard: true }
    )
    const result: Result = {
      name,
      events: count * eventsPerOperation,
      seconds: (performance.now() - start) / 1000,
      latencies
    }
    yield* Console.log(`  ${name}: ${Math.round(result.events / result.seconds).toLocaleString("en-US")} events/s`)
    return result
  })

const event = (key: string, k = 0) => ({
  eventId: EventId.fromKey(`${key}/${k}`),
  type: "BenchHappened",
  schemaVersion: 1,
  data: { key, k, text: "a typical small payload", amount: 1234 },
  metadata: { correlationId: key }
})

export const run = Effect.gen(function* () {
  const server = yield* Effect.acquireRelease(
    Effect.promise(() => (process.env.DATABASE_URL ? Promise.resolve(undefined) : PgServer.start())),
    (s) => Effect.promise(async () => s?.stop())
  )
  const url = process.env.DATABASE_URL ?? server!.url
  const context = yield* Layer.build(PgStore.layer({ url: Redacted.make(url), maxConnections: 16, schema: "bench" }))
  const store = Context.get(context, EventStore.EventStore)
  const sql = Context.get(context, SqlClient.SqlClient)
  yield* PgSchema.migrate("raw").pipe(Effect.provideService(SqlClient.SqlClient, sql))
  const runId = Date.now().toString(36)

  /** The raw baseline append: the events and the stream row in one autocommit statement. */
  const rawAppend = (stream: string, version: number, events: ReadonlyArray<ReturnType<typeof event>>) =>
    sql`WITH inserted AS (
          INSERT INTO raw.events (event_id, stream, stream_version, category, type, schema_version, data, metadata)
          SELECT u.id, ${stream}, ${version} + u.ord::int, ${StreamName.category(stream)}, u.type, u.sv, u.data::json, u.metadata::json
          FROM unnest(${events.map((e) => e.eventId)}::uuid[], ${events.map((e) => e.type)}::text[], ${events.map((e) => e.schemaVersion)}::int4[],
                      ${events.map((e) => JSON.stringify(e.data))}::text[], ${events.map((e) => JSON.stringify(e.metadata))}::text[])
            WITH ORDINALITY AS u(id, type, sv, data, metadata, ord)
          RETURNING 1)
        INSERT INTO raw.streams (stream, version) VALUES (${stream}, ${version} + ${events.length})
        ON CONFLICT (stream) DO UPDATE SET version = excluded.version`

  const pairs: Array<[Result, Result]> = []
  const pair = <E1, E2>(baseline: Effect.Effect<Result, E1>, chronicle: Effect.Effect<Result, E2>) =>
    Effect.flatMap(Effect.all([baseline, chronicle]), ([b, c]) => Effect.sync(() => void pairs.push([b, c])))

  yield* Console.log("\nPostgreSQL store vs raw SQL (same driver, same tables)")
  yield* pair(
    timed("raw: sequential 1-event appends", 1000, 1, 1, (i) =>
      rawAppend(`seq-raw${runId}${i}`, -1, [event(`raw-seq-${runId}-${i}`)])
    ),
    timed("chronicle: sequential 1-event appends", 1000, 1, 1, (i) =>
      store.append(StreamName.make("seq", `c${runId}${i}`), [event(`c-seq-${runId}-${i}`)], ExpectedVersion.noStream)
    )
  )
  yield* pair(
    timed("raw: 16 concurrent writers, 1 event", 3200, 1, 16, (i) =>
      rawAppend(`conc-raw${runId}${i}`, -1, [event(`raw-conc-${runId}-${i}`)])
    ),
    timed("chronicle: 16 concurrent writers, 1 event", 3200, 1, 16, (i) =>
      store.append(StreamName.make("conc", `c${runId}${i}`), [event(`c-conc-${runId}-${i}`)], ExpectedVersion.noStream)
    )
  )
  const batch = (key: string) => Array.from({ length: 100 }, (_, k) => event(key, k))
  yield* pair(
    timed("raw: 100-event batch appends", 200, 100, 1, (i) =>
      rawAppend(`batch-raw${runId}${i}`, -1, batch(`raw-batch-${runId}-${i}`))
    ),
    timed("chronicle: 100-event batch appends", 200, 100, 1, (i) =>
      store.append(StreamName.make("batch", `c${runId}${i}`), batch(`c-batch-${runId}-${i}`), ExpectedVersion.noStream)
    )
  )

  // 8 writers, one stream, optimistic concurrency with retries.
  const contended = 8 * 40
  const rawStream = `hot-raw${runId}`
  const rawContended = (i: number) =>
    Effect.gen(function* () {
      for (;;) {
        const rows = yield* sql<{ version: number }>`SELECT version FROM raw.streams WHERE stream = ${rawStream}`
        const attempt = yield* Effect.result(
          rawAppend(rawStream, rows[0]?.version ?? -1, [event(`raw-hot-${runId}-${i}`)])
        )
        if (attempt._tag === "Success") return
      }
    })
  const hot = StreamName.make("hot", `c${runId}`)
  const chronicleContended = (i: number) =>
    Effect.gen(function* () {
      for (;;) {
        const version = yield* store.streamVersion(hot)
        const attempt = yield* Effect.result(
          store.append(hot, [event(`c-hot-${runId}-${i}`)], ExpectedVersion.fromCurrent(version))
        )
        if (attempt._tag === "Success") return
        if (attempt.failure._tag !== "WrongExpectedVersion") return yield* attempt.failure
      }
    })
  yield* pair(
    timed("raw: 8 writers on one stream, retrying", contended, 1, 8, rawContended),
    timed("chronicle: 8 writers on one stream, retrying", contended, 1, 8, chronicleContended)
  )

  // Reads.
  const longRaw = `long-raw${runId}`
  const longStream = StreamName.make("long", `c${runId}`)
  for (let b = 0; b < 100; b++) {
    yield* rawAppend(longRaw, b * 100 - 1, batch(`raw-long-${runId}-${b}`))
    yield* store.append(longStream, batch(`c-long-${runId}-${b}`), ExpectedVersion.any)
  }
  const rawReadStream = Effect.gen(function* () {
    let from = 0
    for (;;) {
      const rows =
        yield* sql`SELECT transaction_id::text AS commit, sequence, event_id, stream, stream_version, type, schema_version, data, metadata, recorded_at
                              FROM raw.events WHERE stream = ${longRaw} AND stream_version >= ${from} ORDER BY stream_version LIMIT 1000`
      if (rows.length < 1000) return
      from += 1000
    }
  })
  yield* pair(
    timed("raw: read a 10 000-event stream", 5, 10_000, 1, () => rawReadStream),
    timed("chronicle: read a 10 000-event stream", 5, 10_000, 1, () => Stream.runDrain(store.readStream(longStream)))
  )
  const [{ total }] = yield* sql<{ total: number }>`SELECT count(*)::int AS total FROM bench.events`
  const rawReadAll = Effect.gen(function* () {
    let after = { commit: "0", sequence: "0" }
    for (;;) {
      const rows = yield* sql<{ commit: string; sequence: string }>`
        SELECT transaction_id::text AS commit, sequence::text, event_id, stream, stream_version, type, schema_version, data, metadata, recorded_at
        FROM bench.events WHERE (transaction_id, sequence) > (${after.commit}::xid8, ${after.sequence}::int8)
          AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY transaction_id, sequence LIMIT 1000`
      if (rows.length === 0) return
      after = rows[rows.length - 1]!
    }
  })
  yield* pair(
    timed(`raw: read the whole global log`, 3, total, 1, () => rawReadAll),
    timed(`chronicle: read the whole global log`, 3, total, 1, () => Stream.runDrain(store.readAll()))
  )

  console.log("\nPostgreSQL store (events/s; latency per operation; ratio = Chronicle / raw)")
  console.log(
    `  ${"workload".padEnd(40)} ${"raw ev/s".padStart(10)} ${"chronicle ev/s".padStart(15)} ${"ratio".padStart(7)}   p50 / p99 ms (raw → chronicle)`
  )
  for (const [raw, chronicle] of pairs) {
    const rate = (r: Result) => r.events / r.seconds
    const lat = (r: Result) => {
      const sorted = [...r.latencies].sort((a, b) => a - b)
      return `${percentile(sorted, 50).toFixed(2)} / ${percentile(sorted, 99).toFixed(2)}`
    }
    console.log(
      `  ${chronicle.name.replace("chronicle: ", "").padEnd(40)} ${Math.round(rate(raw)).toLocaleString("en-US").padStart(10)} ` +
        `${Math.round(rate(chronicle)).toLocaleString("en-US").padStart(15)} ${`${((rate(chronicle) / rate(raw)) * 100).toFixed(0)} %`.padStart(7)}` +
        `   ${lat(raw)} → ${lat(chronicle)}`
    )
  }
}).pipe(Effect.scoped)
