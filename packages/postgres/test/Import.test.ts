// Importing events into PostgreSQL: an export from another store round-trips exactly (new
// positions), stream rows and hash chains are in step (appends continue, verify is clean and finds
// SQL tampering), existing streams and bad input are typed errors that write nothing of their batch,
// and subscriptions receive imported events once, in order.
import { EventId, EventImport, EventStore, ExpectedVersion, Integrity, MemoryStore, StreamName } from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Context, DateTime, Effect, Fiber, Layer, Stream } from "effect"
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

const withoutPosition = (line: string) => JSON.stringify({ ...JSON.parse(line), position: null })

layer(Stores, { timeout: 60_000, excludeTestServices: true })("PgEventImport", (it) => {
  it.effect("an export from another store imports exactly: ids, versions, recorded-at, metadata, data", () =>
    Effect.gen(function* () {
      const source = yield* Layer.build(MemoryStore.layer())
      const sourceStore = Context.get(source, EventStore.EventStore)
      const a = StreamName.make("trip", "a")
      const b = StreamName.make("trip", "b")
      const event = (n: number) => ({
        eventId: EventId.makeUnsafe(),
        type: "Placed",
        schemaVersion: 3,
        data: { n, text: "'); DELETE FROM chronicle.events; --", nul: "\u0000", big: 12345678901234, f: 0.1 },
        metadata: { actor: "alice", traceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }
      })
      for (let i = 0; i < 4; i++) {
        yield* sourceStore.append(a, [event(i)], ExpectedVersion.any)
        yield* Effect.sleep("3 millis")
        yield* sourceStore.append(b, [event(i), event(i + 10)], ExpectedVersion.any)
      }
      const lines = yield* Stream.runCollect(EventImport.exportAll().pipe(Stream.provideContext(source)))
      const store = yield* EventStore.EventStore
      const head = yield* store.head
      const report = yield* EventImport.EventImport.use((importer) =>
        importer.importEvents(EventImport.parseLines(Stream.fromIterable(lines)), { batchSize: 5 })
      )
      assert.deepStrictEqual(report, { events: 12, skipped: 0, streams: 2, batches: 3 })
      const copies = yield* Stream.runCollect(EventImport.exportAll({ after: head, categories: ["trip"] }))
      assert.deepStrictEqual(copies.map(withoutPosition), lines.map(withoutPosition))
      // New positions, after the log's head, in the order given.
      const read = yield* Stream.runCollect(store.readAll({ after: head, categories: ["trip"] }))
      assert.isTrue(read.every((e, i) => i === 0 || read[i - 1]!.position.commit <= e.position.commit))
      // The stream rows are in step: an append at the exact version continues each stream.
      assert.strictEqual(yield* store.streamVersion(a), 3)
      assert.strictEqual(yield* store.streamVersion(b), 7)
      const next = yield* store.append(b, [event(99)], ExpectedVersion.exact(7))
      assert.strictEqual(next.streamVersion, 8)
      assert.deepStrictEqual((yield* Integrity.verify({ stream: b })).breaks, [])
    })
  )

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

  it.effect("refuses a stream that exists (by its row or by rows written around the store), writing nothing", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      const taken = StreamName.make("exists", "taken")
      const raw = StreamName.make("exists", "raw")
      const fresh = StreamName.make("exists", "fresh")
      yield* store.append(taken, [imported(taken, 0)], ExpectedVersion.noStream)
      yield* sql`INSERT INTO chronicle.events (event_id, stream, stream_version, category, type, schema_version, data, metadata, append_first)
        VALUES (gen_random_uuid(), ${raw}, 0, 'exists', 'Raw', 1, '{}', '{}', 0)`
      for (const [stream, version] of [
        [taken, 0],
        [raw, -1]
      ] as const) {
        const error = yield* Effect.flip(importAll([imported(fresh, 0), imported(stream, 0), imported(fresh, 1)]))
        assert.strictEqual(error._tag, "StreamExists")
        assert.deepStrictEqual(
          [(error as EventImport.StreamExists).stream, (error as EventImport.StreamExists).version],
          [stream, version]
        )
        assert.include(error.message, `existing: "skip"`)
      }
      assert.strictEqual(yield* store.streamVersion(fresh), -1)
      assert.strictEqual(yield* countOf("exists"), 2)
    })
  )

  it.effect("gaps, versions out of order and ids recorded elsewhere are typed errors", () =>
    Effect.gen(function* () {
      const s = StreamName.make("order", "gap")
      const gap = yield* Effect.flip(importAll([imported(s, 0), imported(s, 2)]))
      assert.deepStrictEqual([gap._tag, (gap as EventImport.InvalidImport).streamVersion], ["InvalidImport", 2])
      const late = yield* Effect.flip(importAll([imported(s, 1), imported(s, 0)]))
      assert.deepStrictEqual([late._tag, (late as EventImport.InvalidImport).streamVersion], ["InvalidImport", 1])
      const store = yield* EventStore.EventStore
      const other = imported(StreamName.make("order", "elsewhere"), 0)
      yield* store.append(other.stream, [other], ExpectedVersion.noStream)
      const dup = yield* Effect.flip(importAll([imported(s, 0), { ...imported(s, 1), eventId: other.eventId }]))
      assert.strictEqual(dup._tag, "InvalidImport")
      assert.strictEqual((dup as EventImport.InvalidImport).streamVersion, 1)
      assert.include(dup.message, "already recorded")
      assert.strictEqual(yield* store.streamVersion(s), -1)
    })
  )

  it.effect("bad events are typed errors; SQL-looking names and data are stored verbatim", () =>
    Effect.gen(function* () {
      const s = StreamName.make("bad", "1")
      const cases: ReadonlyArray<readonly [EventImport.ImportedEvent, string]> = [
        [{ ...imported(s, 1), data: { text: "a\udc00b" } }, "lone surrogate"],
        [{ ...imported(s, 1), data: { text: "x".repeat(1024 * 1024) } }, "over the limit"],
        [{ ...imported(s, 1), schemaVersion: 0 }, "schema version 0"]
      ]
      for (const [event, reason] of cases) {
        const error = yield* Effect.flip(importAll([imported(s, 0), event]))
        assert.deepStrictEqual([error._tag, (error as EventImport.InvalidImport).streamVersion], ["InvalidImport", 1])
        assert.include(error.message, reason)
      }
      const badName = yield* Effect.flip(importAll([imported("bad-\u0001" as StreamName.StreamName, 0)]))
      assert.strictEqual(badName._tag, "InvalidImport")
      assert.strictEqual(yield* countOf("bad"), 0)

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
      assert.deepStrictEqual((yield* Integrity.verify({ stream: sqlish })).breaks, [])
    })
  )

  it.effect("a subscription started before the import receives every imported event once, in order", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const head = yield* store.head
      const streams = [StreamName.make("live", "a"), StreamName.make("live", "b"), StreamName.make("live", "c")]
      const events = Array.from({ length: 300 }, (_, i) => imported(streams[i % 3]!, Math.floor(i / 3)))
      const fiber = yield* store
        .subscribe({ after: head, categories: ["live"] })
        .pipe(Stream.take(300), Stream.runCollect, Effect.forkChild)
      yield* Effect.sleep("100 millis")
      yield* importAll(events, { batchSize: 64 })
      const received = yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds"))
      assert.deepStrictEqual(
        received.map((e) => e.eventId),
        events.map((e) => e.eventId)
      )
    })
  )

  it.effect("a rerun with existing: skip passes over what an interrupted import committed and finishes it", () =>
    Effect.gen(function* () {
      const s = StreamName.make("resume", "1")
      const t = StreamName.make("resume", "2")
      const events = [imported(s, 0), imported(s, 1), imported(t, 0), imported(s, 2), imported(t, 1)]
      yield* Effect.flip(importAll([...events.slice(0, 4), { ...events[4]!, type: "" }], { batchSize: 3 }))
      assert.strictEqual(yield* countOf("resume"), 3)
      const report = yield* importAll(events, { batchSize: 3, existing: "skip" })
      assert.deepStrictEqual(report, { events: 2, skipped: 3, streams: 2, batches: 2 })
      const store = yield* EventStore.EventStore
      assert.deepStrictEqual([yield* store.streamVersion(s), yield* store.streamVersion(t)], [2, 1])
      const check = yield* Integrity.verify()
      assert.deepStrictEqual(
        check.breaks.filter((b) => b.stream.startsWith("resume")),
        []
      )
    })
  )
})
