/**
 * PostgreSQL store benchmarks, each beside a raw-SQL baseline through the same
 * driver (@effect/sql-pg) and the same pool, in alternating rounds (see
 * report.ts). Appends go to identical tables (the baseline writes to a second
 * schema created by the same migration: same columns, keys and indexes); reads
 * read the same rows of the same table.
 *
 * | workload | Chronicle | raw baseline |
 * | --- | --- | --- |
 * | sequential 1-event appends to new streams | `EventStore.append` | one autocommit statement: stream lock, the first event's insert, the others' (`unnest`) after it, stream-row upsert |
 * | 16 concurrent writers, 1 event each | the same, 16 fibers | the same, 16 fibers |
 * | 100-event batch appends | `append` of 100 events | the same statement with 100 rows |
 * | appendMany to 3 new streams, 1 event each | `appendMany` | in one transaction, every stream's lock in name order, then the same statement per stream |
 * | 8 writers contending on one stream | `append` with the exact expected version, reload and retry on `WrongExpectedVersion` | read version, insert at version + 1, retry when the unique key let nothing in |
 * | reading a 10 000-event stream | `readStream` | `SELECT … ORDER BY stream_version` in pages of 1000 |
 * | reading the whole global log | `readAll` | `SELECT … ORDER BY transaction_id, sequence` in batches of 1000, below xmin |
 * | verifying every stream's hash chain | `Integrity.verify()` with node:crypto's SHA-256 (`NodeCrypto.layerDigest`, as the CLI runs it) | the same rows read with the same statement, unchecked |
 *
 * Both sides insert the same columns in the same shape of statement, take the
 * same stream locks and make the same round trips for an append that goes in.
 * What only Chronicle does: the event-size check; reading the stream's version
 * (unless the append expects no stream) and checking the expected version
 * against it; every unique key as a conflict arbiter, so a taken event id
 * inserts nothing (the baseline arbitrates on the version key only); the
 * transaction-id check for the log order; returning the positions; when its
 * statement inserts nothing (a stale version, a repeat), the `append`
 * function's checks, one more round trip (the baseline relies on the unique
 * key: a stale append inserts nothing and is retried, with no error and no
 * aborted transaction, like the store's `wrong_version` answer); and a NOTIFY
 * after commit (one fiber, at most one per 10 ms, on a connection of the same
 * pool). The ratio is what those (and the library) cost. Since the hash chain
 * (migration 4), Chronicle's appends also chain each event's hash to its
 * stream's (`sha256()` in the same statement) and the baseline's tables are
 * those of migration 3: the append ratios include what chaining costs.
 */
import { EventId, EventStore, ExpectedVersion, Integrity, StreamName } from "@chronicle/core"
import { DatabaseUrl } from "@chronicle/embedded-postgres"
import { NodeCrypto } from "@effect/platform-node"
import { PgSchema, PgStore } from "@chronicle/postgres"
import { Console, Context, Effect, Layer, Redacted, Stream } from "effect"
import { SqlClient } from "effect/sql"
import * as Kernel from "./kernel.ts"
import { type Comparison, compare, operations, report } from "./report.ts"

const event = (key: string, k = 0) => ({
  eventId: EventId.makeUnsafe(),
  type: "BenchHappened",
  schemaVersion: 1,
  data: { key, k, text: "a typical small payload", amount: 1234 },
  metadata: { correlationId: key }
})

export const run = Effect.gen(function* () {
  const url = yield* DatabaseUrl.configuredOrEmbedded()
  const context = yield* Layer.build(PgStore.layer({ url: Redacted.make(url), maxConnections: 17, schema: "bench" }))
  const store = Context.get(context, EventStore.EventStore)
  const sql = Context.get(context, SqlClient.SqlClient)
  // The baseline's tables as before the hash chain (migration 4): its appends chain nothing, so the
  // append ratios include what chaining costs.
  yield* PgSchema.migrate("raw", { upTo: 3 }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
  const runId = Date.now().toString(36)

  /**
   * The raw baseline append, one autocommit statement, as one would write it by hand: the
   * stream's advisory lock (as the store takes it), the first event, the others (`unnest`) only
   * once the first went in, then the stream row. A stale version inserts nothing (the unique
   * (stream, stream_version) key, `ON CONFLICT DO NOTHING`): then no row comes back. Its text
   * is fixed with numbered parameters, as the store's is (a template costs a few µs more).
   */
  const rawText = (others: boolean) => `WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))),
    inserted AS (
      INSERT INTO raw.events (event_id, stream, stream_version, append_first, category, type, schema_version, data, metadata)
      SELECT $4::uuid, $1, $2::int4 + 1, $2::int4 + 1, $3, $5, $6::int4, $7::json, $8::json
      FROM locked
      ON CONFLICT (stream, stream_version) DO NOTHING
      RETURNING 1)${
        others
          ? `, rest AS (
      INSERT INTO raw.events (event_id, stream, stream_version, append_first, category, type, schema_version, data, metadata)
      SELECT u.id, $1, $2::int4 + 1 + u.ord::int, $2::int4 + 1, $3, u.type, u.sv, u.data::json, u.metadata::json
      FROM inserted, unnest($9::uuid[], $10::text[], $11::int4[], $12::text[], $13::text[])
        WITH ORDINALITY AS u(id, type, sv, data, metadata, ord))`
          : ""
      }
    INSERT INTO raw.streams (stream, version)
      SELECT $1, $2::int4 + ${others ? "1 + cardinality($9::uuid[])" : "1"} FROM inserted
    ON CONFLICT (stream) DO UPDATE SET version = excluded.version
    RETURNING version`
  const rawAppend = (stream: string, version: number, events: ReadonlyArray<ReturnType<typeof event>>) => {
    const [first, ...others] = events
    const params: Array<unknown> = [
      stream,
      version,
      StreamName.category(stream),
      first!.eventId,
      first!.type,
      first!.schemaVersion,
      JSON.stringify(first!.data),
      JSON.stringify(first!.metadata)
    ]
    if (others.length > 0) {
      params.push(
        others.map((e) => e.eventId),
        others.map((e) => e.type),
        others.map((e) => e.schemaVersion),
        others.map((e) => JSON.stringify(e.data)),
        others.map((e) => JSON.stringify(e.metadata))
      )
    }
    return sql.unsafe<{ version: number }>(rawText(others.length > 0), params)
  }

  const comparisons: Array<Comparison> = []
  /**
   * `count` operations per round on `concurrency` fibers; each operation gets a key unique to
   * its side, workload, round and i, to name its streams and events.
   */
  const workload = <E1, R1, E2, R2>(
    name: string,
    count: number,
    eventsPerOperation: number,
    concurrency: number,
    raw: (key: string) => Effect.Effect<unknown, E1, R1>,
    chronicle: (key: string) => Effect.Effect<unknown, E2, R2>
  ) =>
    Effect.flatMap(
      compare<E1 | E2, R1 | R2>({
        workload: name,
        count: count * eventsPerOperation,
        baseline: {
          name: "raw SQL",
          run: operations(count, concurrency, (i, round) => raw(`r${runId}.${comparisons.length}.${round}.${i}`))
        },
        subject: {
          name: "chronicle",
          run: operations(count, concurrency, (i, round) => chronicle(`c${runId}.${comparisons.length}.${round}.${i}`))
        }
      }),
      (comparison) => Effect.sync(() => void comparisons.push(comparison))
    )

  yield* Console.log("\nPostgreSQL store vs raw SQL (same driver, same tables)")
  yield* workload(
    "sequential 1-event appends",
    400,
    1,
    1,
    (key) => rawAppend(`seq-${key}`, -1, [event(key)]),
    (key) => store.append(StreamName.make("seq", key), [event(key)], ExpectedVersion.noStream)
  )
  yield* workload(
    "16 concurrent writers, 1 event",
    1600,
    1,
    16,
    (key) => rawAppend(`conc-${key}`, -1, [event(key)]),
    (key) => store.append(StreamName.make("conc", key), [event(key)], ExpectedVersion.noStream)
  )
  const batch = (key: string) => Array.from({ length: 100 }, (_, k) => event(key, k))
  yield* workload(
    "100-event batch appends",
    100,
    100,
    1,
    (key) => rawAppend(`batch-${key}`, -1, batch(key)),
    (key) => store.append(StreamName.make("batch", key), batch(key), ExpectedVersion.noStream)
  )
  const streamsPerAppendMany = 3
  yield* workload(
    "appendMany, 3 streams × 1 event",
    300,
    streamsPerAppendMany,
    1,
    (key) => {
      const streams = Array.from({ length: streamsPerAppendMany }, (_, k) => `many-${key}.${k}`)
      return sql.withTransaction(
        Effect.andThen(
          sql`SELECT pg_advisory_xact_lock(hashtextextended(s, 0)) FROM unnest(${streams}::text[]) AS u(s) ORDER BY s`,
          Effect.forEach(streams, (stream, k) => rawAppend(stream, -1, [event(key, k)]), { discard: true })
        )
      )
    },
    (key) =>
      store.appendMany(
        Array.from({ length: streamsPerAppendMany }, (_, k) => ({
          stream: StreamName.make("many", `${key}.${k}`),
          events: [event(key, k)],
          expectedVersion: ExpectedVersion.noStream
        }))
      )
  )

  // 8 writers, one stream per round, optimistic concurrency with retries.
  const hotStream = (key: string) => key.slice(0, key.lastIndexOf("."))
  yield* workload(
    "8 writers on one stream, retrying",
    160,
    1,
    8,
    (key) =>
      Effect.gen(function* () {
        const stream = `hot-${hotStream(key)}`
        for (;;) {
          const rows = yield* sql<{ version: number }>`SELECT version FROM raw.streams WHERE stream = ${stream}`
          const appended = yield* rawAppend(stream, rows[0]?.version ?? -1, [event(key)])
          if (appended.length > 0) return
        }
      }),
    (key) =>
      Effect.gen(function* () {
        const stream = StreamName.make("hot", hotStream(key))
        for (;;) {
          const version = yield* store.streamVersion(stream)
          const attempt = yield* Effect.result(store.append(stream, [event(key)], ExpectedVersion.fromCurrent(version)))
          if (attempt._tag === "Success") return
          if (attempt.failure._tag !== "WrongExpectedVersion") return yield* attempt.failure
        }
      })
  )

  // Both sides appended the same number of events.
  const [counts] = yield* sql<{ raw: number; chronicle: number }>`
    SELECT (SELECT count(*)::int FROM raw.events) AS raw, (SELECT count(*)::int FROM bench.events) AS chronicle`
  if (counts!.raw !== counts!.chronicle) {
    return yield* Effect.die(new Error(`The baseline appended ${counts!.raw} events, the store ${counts!.chronicle}`))
  }

  // Reads: both sides read the same rows of the same table, with the same statements. (The page
  // size is a parameter on both sides: a literal LIMIT got the baseline a different plan that
  // sorted the whole stream for every page.)
  const page = 1000
  const longStream = StreamName.make("long", `c${runId}`)
  for (let b = 0; b < 100; b++) yield* store.append(longStream, batch(`long-${runId}-${b}`), ExpectedVersion.any)
  const rawReadStream = Effect.gen(function* () {
    let from = 0
    for (;;) {
      const rows =
        yield* sql`SELECT transaction_id::text AS commit, sequence, event_id, stream, stream_version, type, schema_version, data, metadata, recorded_at
                              FROM bench.events WHERE stream = ${longStream} AND stream_version >= ${from} ORDER BY stream_version LIMIT ${page}`
      if (rows.length < page) return
      from += page
    }
  })
  yield* workload(
    "read a 10 000-event stream",
    3,
    10_000,
    1,
    () => rawReadStream,
    () => Stream.runDrain(store.readStream(longStream))
  )
  const [{ total }] = yield* sql<{ total: number }>`SELECT count(*)::int AS total FROM bench.events`
  const rawReadAll = Effect.gen(function* () {
    let after: { commit: string; sequence: bigint | string } = { commit: "0", sequence: "0" }
    let read = 0
    for (;;) {
      const rows = yield* sql<{ commit: string; sequence: bigint | string }>`
        SELECT transaction_id::text AS commit, sequence, event_id, stream, stream_version, type, schema_version, data, metadata, recorded_at
        FROM bench.events WHERE (transaction_id, sequence) > (${after.commit}::xid8, ${String(after.sequence)}::int8)
          AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY transaction_id, sequence LIMIT ${page}`
      if (rows.length === 0) break
      read += rows.length
      after = rows[rows.length - 1]!
    }
    if (read !== total) return yield* Effect.die(new Error(`The baseline read ${read} of ${total} events`))
  })
  yield* workload(
    `read the whole global log (${total.toLocaleString("en-US")} events)`,
    1,
    total,
    1,
    () => rawReadAll,
    () => Stream.runDrain(store.readAll())
  )
  // Verifying every stream's chain, beside reading the same rows in the same order with the same
  // statement (keyset pages of 1000 on the (stream, version) key): the ratio is what checking costs.
  const rawChainRead = Effect.gen(function* () {
    let after = { stream: "", version: -1 }
    let read = 0
    for (;;) {
      const rows = yield* sql<{ stream: string; stream_version: number }>`
        SELECT e.event_id, e.stream, e.stream_version, e.type, e.schema_version, e.data::text AS data,
               e.metadata::text AS metadata, (extract(epoch FROM e.recorded_at) * 1000000)::int8::text AS recorded_at,
               e.hash, st.version AS head_version, st.hash AS head_hash
        FROM bench.events e LEFT JOIN bench.streams st ON st.stream = e.stream
        WHERE (e.stream, e.stream_version) > (${after.stream}, ${after.version})
        ORDER BY e.stream, e.stream_version LIMIT ${page}`
      read += rows.length
      const last = rows[rows.length - 1]
      if (rows.length < page || last === undefined) break
      after = { stream: last.stream, version: last.stream_version }
    }
    if (read !== total) return yield* Effect.die(new Error(`The baseline read ${read} of ${total} events`))
  })
  const verify = Integrity.verify().pipe(
    Effect.provide(NodeCrypto.layerDigest),
    Effect.provideContext(context),
    Effect.flatMap((report) =>
      report.breaks.length === 0 && report.events === total
        ? Effect.void
        : Effect.die(new Error(`verify checked ${report.events} of ${total} events: ${JSON.stringify(report.breaks)}`))
    )
  )
  yield* workload(
    `verify every stream's chain (${total.toLocaleString("en-US")} events)`,
    1,
    total,
    1,
    () => rawChainRead,
    () => verify
  )

  const snapshots = yield* Kernel.aggregateLoad(`agg${runId}`, { loads: 300, replays: 3 }).pipe(
    Effect.provideContext(context)
  )

  report("PostgreSQL store vs raw SQL (events/s; p50 / p99 latency per operation)", comparisons)
  report("PostgreSQL store, loading an aggregate", [snapshots])
}).pipe(Effect.scoped)
