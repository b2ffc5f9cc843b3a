// The PostgreSQL import's own tests, of what only SQL can see or do: rows written around the store
// refuse the import, verify reports an imported event altered by SQL, a batch of several insert
// chunks keeps the order given, and the rows hold imported text verbatim. What every store's import
// must do is in the EventImport conformance suite (StoreConformance.eventImport, run by
// StoreConformance.all in Conformance.test.ts).
import { EventId, EventImport, EventStore, Integrity, StreamName } from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { DateTime, Effect, Layer, Stream } from "effect"
import { SqlClient } from "effect/sql"

const Stores = PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer()))

const imported = (stream: StreamName.StreamName, streamVersion: number, data: unknown = { n: streamVersion }) =>
  ({
    eventId: EventId.makeUnsafe(),
    stream,
    streamVersion,
    type: "Happened",
    schemaVersion: 1,
    data,
    metadata: { correlationId: `c-${streamVersion}`, extra: { note: "ünïcode ✓ 🎉" } },
    recordedAt: DateTime.makeUnsafe(1_600_000_000_123 + streamVersion * 1001) as DateTime.Utc
  }) satisfies EventImport.ImportedEvent

const importAll = (events: ReadonlyArray<EventImport.ImportedEvent>, options?: EventImport.ImportOptions) =>
  EventImport.EventImport.use((importer) => importer.importEvents(Stream.fromIterable(events), options))

const countOf = (category: string) =>
  SqlClient.SqlClient.use((sql) =>
    Effect.map(
      sql<{ n: number }>`SELECT count(*)::int4 AS n FROM chronicle.events WHERE category = ${category}`,
      (rows) => rows[0]!.n
    )
  )

layer(Stores, { timeout: 60_000, excludeTestServices: true })("PgEventImport", (it) => {
  it.effect("verify is clean after an import, and reports an imported event altered by SQL", () =>
    Effect.gen(function* () {
      const s = StreamName.make("chain", "1")
      yield* importAll([imported(s, 0), imported(s, 1), imported(s, 2)], { batchSize: 2 })
      const clean = yield* Integrity.verify({ stream: s })
      assert.deepStrictEqual([clean.events, clean.breaks], [3, []])
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE chronicle.events SET data = '{"n":5}' WHERE stream = ${s} AND stream_version = 1`
      const broken = yield* Integrity.verify({ stream: s })
      assert.deepStrictEqual(
        broken.breaks.map((b) => [b.version, b.problem]),
        [[1, "ContentChanged"]]
      )
    })
  )

  it.effect("a batch of several insert chunks keeps the order given and verifies clean, odd texts included", () =>
    Effect.gen(function* () {
      // 6 000 events in one batch: more than one of the import's chunks of 2 500, the streams
      // interleaved so that every chunk continues chains begun in the one before.
      const streams = [
        StreamName.make("chunks", "a"),
        StreamName.make("chunks", "ü✓-\ud83c\udf89"),
        StreamName.make("chunks", "c")
      ]
      const events = Array.from({ length: 6_000 }, (_, i) =>
        imported(streams[i % 3]!, Math.floor(i / 3), {
          i,
          text: "nul \u0000, ünïcode 🎉 \u2028",
          big: "x".repeat(i % 7 === 0 ? 3000 : 1)
        })
      )
      const report = yield* importAll(events, { batchSize: 10_000 })
      assert.deepStrictEqual(report, { events: 6_000, skipped: 0, streams: 3, batches: 1 })
      for (const stream of streams) assert.deepStrictEqual((yield* Integrity.verify({ stream })).breaks, [])
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ event_id: string }>`SELECT event_id::text FROM chronicle.events
        WHERE category = 'chunks' ORDER BY transaction_id, sequence`
      assert.deepStrictEqual(
        rows.map((row) => row.event_id),
        events.map((event) => event.eventId)
      )
      const store = yield* EventStore.EventStore
      for (const stream of streams) assert.strictEqual(yield* store.streamVersion(stream), 1_999)
    })
  )

  it.effect("refuses a stream of rows written around the store (events, no stream row), writing nothing", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      const raw = StreamName.make("exists", "raw")
      const fresh = StreamName.make("exists", "fresh")
      yield* sql`INSERT INTO chronicle.events (event_id, stream, stream_version, category, type, schema_version, data, metadata, append_first)
        VALUES (gen_random_uuid(), ${raw}, 0, 'exists', 'Raw', 1, '{}', '{}', 0)`
      const error = yield* Effect.flip(importAll([imported(fresh, 0), imported(raw, 0), imported(fresh, 1)]))
      assert.strictEqual(error._tag, "StreamExists")
      assert.deepStrictEqual(
        [(error as EventImport.StreamExists).stream, (error as EventImport.StreamExists).version],
        [raw, -1]
      )
      assert.include(error.message, `existing: "skip"`)
      assert.strictEqual(yield* store.streamVersion(fresh), -1)
      assert.strictEqual(yield* countOf("exists"), 1)
    })
  )

  it.effect("SQL-looking names, types and data reach the rows as text, verbatim", () =>
    Effect.gen(function* () {
      const sqlish = StreamName.make("sqlish", "x'); DROP TABLE chronicle.streams; --")
      const event = {
        ...imported(sqlish, 0, { q: "'; DROP TABLE chronicle.events; --", k: ["$1", "\\x00"] }),
        type: "Robert'); DROP TABLE students;--"
      }
      yield* importAll([event])
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ stream: string; type: string; data: string }>`
        SELECT stream, type, data::text AS data FROM chronicle.events WHERE stream = ${sqlish}`
      assert.deepStrictEqual(row, { stream: sqlish, type: event.type, data: JSON.stringify(event.data) })
    })
  )
})
