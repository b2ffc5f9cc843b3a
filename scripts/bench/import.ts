/**
 * The PostgreSQL import beside a raw bulk insert of the same rows, in
 * alternating rounds (see report.ts): 100 000 events, 1 000 new streams of
 * 100 events, per round.
 *
 * | Chronicle | raw baseline |
 * | --- | --- |
 * | `PgEventImport` (`importEvents`, batches of 10 000, inserted in chunks of 2 500) | per 10 000 rows, one transaction: the same `INSERT … SELECT FROM unnest(…)` of the same columns (recorded-at as `Date`s, sent in binary, as the import sends them), then the stream rows |
 *
 * The baseline writes to a second schema made by the same migrations (same
 * columns, keys and indexes), with no hashes (the column stays NULL), no
 * locks, no checks and no existence reads. What only Chronicle does: the
 * checks of every event (`AppendCheck`), the version-order check, the
 * streams' advisory locks, the read of their rows, the SHA-256 chain (in
 * JavaScript) and its hex column, and a NOTIFY per batch. The baseline is not
 * `COPY … FROM STDIN`: `@effect/sql-pg` does not support `COPY`, and this
 * compares what the same driver does.
 */
import { EventId, EventImport, StreamName } from "@chronicle/core"
import { DatabaseUrl } from "@chronicle/embedded-postgres"
import { PgSchema, PgStore } from "@chronicle/postgres"
import { Context, DateTime, Effect, Layer, Redacted, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { compare, report, time } from "./report.ts"

const streamsPerRound = 1_000
const eventsPerStream = 100
const total = streamsPerRound * eventsPerStream
const batchSize = 10_000

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
          `INSERT INTO raw_import.events
            (event_id, stream, stream_version, append_first, category, type, schema_version, data, metadata, recorded_at)
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

  const side = (
    name: string,
    write: (events: ReadonlyArray<EventImport.ImportedEvent>) => Effect.Effect<unknown, unknown>
  ) => ({
    name,
    run: (round: number) =>
      Effect.suspend(() => {
        const events = eventsOf(`imp${runId}${name === "raw SQL" ? "r" : "c"}${round}`)
        return time(write(events))
      })
  })

  const comparison = yield* compare({
    workload: `import ${total.toLocaleString("en-US")} events (${streamsPerRound} streams × ${eventsPerStream})`,
    count: total,
    rounds: 5,
    baseline: side("raw SQL", (events) =>
      Effect.forEach(
        Array.from({ length: Math.ceil(events.length / batchSize) }, (_, i) =>
          events.slice(i * batchSize, (i + 1) * batchSize)
        ),
        rawBatch,
        { discard: true }
      )
    ),
    subject: side("PgEventImport", (events) => importer.importEvents(Stream.fromIterable(events), { batchSize }))
  })
  report("PostgreSQL import vs raw bulk insert (events/s)", [comparison])
}).pipe(Effect.scoped)
