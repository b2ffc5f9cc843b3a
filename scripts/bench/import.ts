/**
 * The PostgreSQL import beside raw bulk inserts of the same rows, in
 * alternating rounds (see report.ts): 100 000 events, 1 000 new streams of
 * 100 events, per round.
 *
 * | Chronicle | raw baseline | raw, shown beside |
 * | --- | --- | --- |
 * | `PgEventImport` (`importEvents`, batches of 10 000, inserted in chunks of 2 500) | per 10 000 rows, one transaction: `COPY … FROM STDIN` (text format) of the same columns on a `pg` connection (`pg-copy-streams`), then the stream rows | the same with `INSERT … SELECT FROM unnest(…)` on `@effect/sql-pg` (recorded-at as `Date`s, sent in binary, as the import sends them) |
 *
 * The baselines write to a second schema made by the same migrations (same
 * columns, keys and indexes), with no hashes (the column stays NULL), no
 * locks, no checks and no existence reads. What only Chronicle does: the
 * checks of every event (`AppendCheck`), the version-order check, the
 * streams' advisory locks, the read of their rows, the SHA-256 chain (in
 * JavaScript) and its column, and a NOTIFY per batch. The import itself does
 * not use `COPY`: `@effect/sql-pg` refuses it ("COPY is not supported"), and
 * a second driver would write outside the caller's pool and transactions.
 */
import { EventId, EventImport, StreamName } from "@chronicle/core"
import { DatabaseUrl } from "@chronicle/embedded-postgres"
import { PgSchema, PgStore } from "@chronicle/postgres"
import { Context, DateTime, Effect, Layer, Redacted, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import pg from "pg"
import { from as copyFrom } from "pg-copy-streams"
import { compare, report, time } from "./report.ts"

const streamsPerRound = 1_000
const eventsPerStream = 100
const total = streamsPerRound * eventsPerStream
const batchSize = 10_000

/** A value in `COPY`'s text format: backslash, tab, newline and carriage return escaped. */
const copyText = (value: string) =>
  value.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"))

/** The `COPY` text rows of `events`, a row per event, the columns as `rawColumns` lists them. */
const copyRows = function* (events: ReadonlyArray<EventImport.ImportedEvent>) {
  for (const e of events) {
    yield `${[
      e.eventId,
      copyText(e.stream),
      e.streamVersion,
      0,
      copyText(StreamName.category(e.stream)),
      copyText(e.type),
      e.schemaVersion,
      copyText(JSON.stringify(e.data)),
      copyText(JSON.stringify(e.metadata)),
      DateTime.formatIso(e.recordedAt)
    ].join("\t")}\n`
  }
}

const rawColumns =
  "event_id, stream, stream_version, append_first, category, type, schema_version, data, metadata, recorded_at"

/** A round's events, stream by stream, recorded a millisecond apart. */
const eventsOf = (prefix: string): ReadonlyArray<EventImport.ImportedEvent> => {
  const start = Date.now()
  return Array.from({ length: total }, (_, i) => {
    const streamVersion = i % eventsPerStream
    return {
      eventId: EventId.makeUnsafe(),
      stream: StreamName.make(prefix, String(Math.floor(i / eventsPerStream))),
      streamVersion,
      type: "BenchImported",
      schemaVersion: 1,
      data: { k: streamVersion, text: "a typical small payload", amount: 1234 },
      metadata: { correlationId: `c${i}` },
      recordedAt: DateTime.makeUnsafe(start + i) as DateTime.Utc
    }
  })
}

export const run = Effect.gen(function* () {
  const url = yield* DatabaseUrl.configuredOrEmbedded()
  const context = yield* Layer.build(
    PgStore.layer({ url: Redacted.make(url), maxConnections: 4, schema: "bench_import" })
  )
  const importer = Context.get(context, EventImport.EventImport)
  const sql = Context.get(context, SqlClient.SqlClient)
  yield* PgSchema.migrate("raw_import").pipe(Effect.provideService(SqlClient.SqlClient, sql))
  const runId = Date.now().toString(36)

  const rawBatch = (events: ReadonlyArray<EventImport.ImportedEvent>) => {
    const last = new Map<string, number>()
    for (const e of events) last.set(e.stream, e.streamVersion)
    return sql.withTransaction(
      Effect.andThen(
        sql.unsafe(
          `INSERT INTO raw_import.events (${rawColumns})
          SELECT u.id, u.stream, u.version, u.first, u.category, u.type, u.schema_version, u.data::json, u.metadata::json, u.recorded_at
          FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::int4[], $5::text[], $6::text[], $7::int4[], $8::text[],
            $9::text[], $10::timestamptz[])
            WITH ORDINALITY AS u(id, stream, version, first, category, type, schema_version, data, metadata, recorded_at, ord)
          ORDER BY u.ord`,
          [
            events.map((e) => e.eventId),
            events.map((e) => e.stream),
            events.map((e) => e.streamVersion),
            events.map(() => 0),
            events.map((e) => StreamName.category(e.stream)),
            events.map((e) => e.type),
            events.map((e) => e.schemaVersion),
            events.map((e) => JSON.stringify(e.data)),
            events.map((e) => JSON.stringify(e.metadata)),
            // Dates, which the driver sends in binary, as the import does.
            events.map((e) => DateTime.toDateUtc(e.recordedAt))
          ]
        ),
        sql.unsafe(
          `INSERT INTO raw_import.streams (stream, version) SELECT * FROM unnest($1::text[], $2::int4[])
          ON CONFLICT (stream) DO UPDATE SET version = excluded.version`,
          [[...last.keys()], [...last.values()]]
        )
      )
    )
  }

  // The COPY baseline's own connection (`@effect/sql-pg` has no COPY).
  const copyClient = yield* Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.end())
  )
  const copyBatch = (events: ReadonlyArray<EventImport.ImportedEvent>) =>
    Effect.promise(async () => {
      const last = new Map<string, number>()
      for (const e of events) last.set(e.stream, e.streamVersion)
      await copyClient.query("BEGIN")
      await pipeline(
        Readable.from(copyRows(events)),
        copyClient.query(copyFrom(`COPY raw_import.events (${rawColumns}) FROM STDIN`))
      )
      await copyClient.query(
        `INSERT INTO raw_import.streams (stream, version) SELECT * FROM unnest($1::text[], $2::int4[])
        ON CONFLICT (stream) DO UPDATE SET version = excluded.version`,
        [[...last.keys()], [...last.values()]]
      )
      await copyClient.query("COMMIT")
    })

  const batches = (events: ReadonlyArray<EventImport.ImportedEvent>) =>
    Array.from({ length: Math.ceil(events.length / batchSize) }, (_, i) =>
      events.slice(i * batchSize, (i + 1) * batchSize)
    )

  const side = (
    name: string,
    write: (events: ReadonlyArray<EventImport.ImportedEvent>) => Effect.Effect<unknown, unknown>
  ) => ({
    name,
    run: (round: number) =>
      Effect.suspend(() => {
        const events = eventsOf(`imp${runId}${name.replace(/\W/g, "")}${round}`)
        return time(write(events))
      })
  })

  const comparison = yield* compare({
    workload: `import ${total.toLocaleString("en-US")} events (${streamsPerRound} streams × ${eventsPerStream})`,
    count: total,
    rounds: 5,
    baseline: side("raw COPY", (events) => Effect.forEach(batches(events), copyBatch, { discard: true })),
    subject: side("PgEventImport", (events) => importer.importEvents(Stream.fromIterable(events), { batchSize })),
    context: [side("raw unnest", (events) => Effect.forEach(batches(events), rawBatch, { discard: true }))]
  })
  report("PostgreSQL import vs raw COPY (events/s)", [comparison])
}).pipe(Effect.scoped)
