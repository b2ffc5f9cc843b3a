// Importing and exporting events in memory: export lines round-trip into another store with ids,
// versions, recorded-at times, data and metadata exact; imported streams continue and verify clean;
// existing streams, gaps and bad events are typed errors that write nothing of their batch.
import {
  EventId,
  EventImport,
  EventStore,
  ExpectedVersion,
  Integrity,
  MemoryStore,
  Position,
  StreamName
} from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { Context, DateTime, Effect, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"

const Stores = EventImport.layerMemory.pipe(Layer.provideMerge(MemoryStore.layer({ maxEventBytes: 2000 })))

const at = (iso: string) => DateTime.makeUnsafe(iso) as DateTime.Utc

const imported = (stream: StreamName.StreamName, streamVersion: number, data: unknown = { n: streamVersion }) =>
  ({
    eventId: EventId.makeUnsafe(),
    stream,
    streamVersion,
    type: "Happened",
    schemaVersion: 1,
    data,
    metadata: { correlationId: `c-${streamVersion}`, extra: { note: "ünïcode ✓" } },
    recordedAt: at(`2021-03-0${1 + (streamVersion % 9)}T10:00:00.${String(streamVersion).padStart(3, "0")}Z`)
  }) satisfies EventImport.ImportedEvent

const importAll = (events: ReadonlyArray<EventImport.ImportedEvent>, options?: EventImport.ImportOptions) =>
  EventImport.EventImport.use((importer) => importer.importEvents(Stream.fromIterable(events), options))

const everything = EventStore.EventStore.use((store) => Stream.runCollect(store.readAll()))

describe("EventImport in memory", () => {
  it.effect("exported lines import into another store exactly, at new positions after its log", () =>
    Effect.gen(function* () {
      // The source: two interleaved streams appended at different times.
      const source = yield* Layer.build(MemoryStore.layer())
      const sourceStore = Context.get(source, EventStore.EventStore)
      const a = StreamName.make("order", "1")
      const b = StreamName.make("order", "2")
      const event = (n: number) => ({
        eventId: EventId.makeUnsafe(),
        type: "Placed",
        schemaVersion: 2,
        data: { n, text: "'; DROP TABLE events; --", nested: { list: [1, 2.5, null, "\u0000"] } },
        metadata: { actor: "alice", causationId: "x", extra: { n } }
      })
      for (let i = 0; i < 3; i++) {
        yield* sourceStore.append(a, [event(i)], ExpectedVersion.any)
        yield* TestClock.adjust("1537 millis")
        yield* sourceStore.append(b, [event(i), event(i + 10)], ExpectedVersion.any)
      }
      const lines = yield* Stream.runCollect(EventImport.exportAll().pipe(Stream.provideContext(source)))
      assert.strictEqual(lines.length, 9)
      const originals = yield* Stream.runCollect(sourceStore.readAll())

      // The target already has an event: the imported ones come after it.
      const store = yield* EventStore.EventStore
      const first = yield* store.append(StreamName.make("other", "1"), [event(99)], ExpectedVersion.noStream)
      const report = yield* EventImport.EventImport.use((importer) =>
        importer.importEvents(EventImport.parseLines(Stream.fromIterable(lines)), { batchSize: 4 })
      )
      assert.deepStrictEqual(report, { events: 9, skipped: 0, streams: 2, batches: 3 })
      const copies = (yield* everything).slice(1)
      assert.strictEqual(copies.length, 9)
      copies.forEach((copy, i) => {
        const { position: p1, ...original } = originals[i]!
        const { position: p2, ...rest } = copy
        assert.deepStrictEqual(rest, original)
        assert.isTrue(p2.sequence > first.positions[0]!.sequence)
        assert.notDeepEqual(p2, p1)
      })
      // Byte for byte: exporting the copies gives the same lines, but for the positions.
      const again = yield* Stream.runCollect(EventImport.exportAll({ after: first.positions[0] }))
      const withoutPosition = (line: string) => JSON.stringify({ ...JSON.parse(line), position: null })
      assert.deepStrictEqual(again.map(withoutPosition), lines.map(withoutPosition))
    }).pipe(Effect.provide(Stores))
  )

  it.effect("keeps recorded-at times and metadata exactly, continues streams, and verifies clean", () =>
    Effect.gen(function* () {
      const stream = StreamName.make("account", "7")
      const events = [imported(stream, 0), imported(stream, 1), imported(stream, 2)]
      yield* importAll(events)
      const store = yield* EventStore.EventStore
      const read = yield* Stream.runCollect(store.readStream(stream))
      assert.deepStrictEqual(
        read.map((e) => [e.eventId, e.streamVersion, DateTime.formatIso(e.recordedAt), e.metadata, e.data]),
        events.map((e) => [e.eventId, e.streamVersion, DateTime.formatIso(e.recordedAt), e.metadata, e.data])
      )
      assert.strictEqual(yield* store.streamVersion(stream), 2)
      const more = yield* store.append(stream, [imported(stream, 3)], ExpectedVersion.exact(2))
      assert.strictEqual(more.streamVersion, 3)
      const report = yield* Integrity.verify()
      assert.deepStrictEqual(report.breaks, [])
      assert.strictEqual(report.events, 4)
    }).pipe(Effect.provide(Stores))
  )

  it.effect("refuses a stream the store has, naming it, and writes nothing of that batch", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const taken = StreamName.make("cart", "taken")
      const fresh = StreamName.make("cart", "fresh")
      yield* store.append(taken, [imported(taken, 0)], ExpectedVersion.noStream)
      const error = yield* Effect.flip(importAll([imported(fresh, 0), imported(taken, 0), imported(fresh, 1)]))
      assert.strictEqual(error._tag, "StreamExists")
      assert.strictEqual((error as EventImport.StreamExists).stream, taken)
      assert.include(error.message, `existing: "skip"`)
      assert.strictEqual(yield* store.streamVersion(fresh), -1)
      assert.strictEqual((yield* everything).length, 1)
    }).pipe(Effect.provide(Stores))
  )

  it.effect("gaps and versions out of order are typed errors with the stream and version", () =>
    Effect.gen(function* () {
      const s = StreamName.make("gap", "1")
      const cases: ReadonlyArray<readonly [ReadonlyArray<EventImport.ImportedEvent>, number]> = [
        [[imported(s, 0), imported(s, 2)], 2],
        [[imported(s, 1)], 1],
        [[imported(s, 0), imported(s, 1), imported(s, 0)], 0]
      ]
      for (const [events, version] of cases) {
        const error = yield* Effect.flip(importAll(events))
        assert.strictEqual(error._tag, "InvalidImport")
        assert.strictEqual((error as EventImport.InvalidImport).streamVersion, version)
        assert.strictEqual((error as EventImport.InvalidImport).stream, s)
      }
      assert.strictEqual((yield* everything).length, 0)
    }).pipe(Effect.provide(Stores))
  )

  it.effect("bad events are typed errors naming the event; SQL-looking names and data are stored verbatim", () =>
    Effect.gen(function* () {
      const s = StreamName.make("bad", "1")
      const bad: ReadonlyArray<readonly [EventImport.ImportedEvent, string]> = [
        [{ ...imported(s, 1), data: { text: "\ud800" } }, "lone surrogate"],
        [{ ...imported(s, 1), data: { text: "x".repeat(3000) } }, "over the limit"],
        [{ ...imported(s, 1), eventId: "not-a-uuid" }, "is not a UUID"],
        [{ ...imported(s, 1), type: "" }, "type of 0 characters"]
      ]
      for (const [event, reason] of bad) {
        const error = yield* Effect.flip(importAll([imported(s, 0), event]))
        assert.strictEqual(error._tag, "InvalidImport")
        assert.strictEqual((error as EventImport.InvalidImport).streamVersion, 1)
        assert.include(error.message, reason)
      }
      const badName = yield* Effect.flip(importAll([imported("no category" as StreamName.StreamName, 0)]))
      assert.strictEqual(badName._tag, "InvalidImport")
      assert.include(badName.message, "stream name is invalid")
      assert.strictEqual((yield* everything).length, 0)

      const sqlish = StreamName.make("sql", "t'; DROP TABLE x; --")
      const event = { ...imported(sqlish, 0, { q: "'); DELETE FROM events; --" }), type: "Robert'); --" }
      yield* importAll([event])
      const [stored] = yield* everything
      assert.deepStrictEqual([stored?.stream, stored?.type, stored?.data], [sqlish, event.type, event.data])
    }).pipe(Effect.provide(Stores))
  )

  it.effect("a subscription started before the import receives every imported event once, in order", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const streams = [StreamName.make("sub", "a"), StreamName.make("sub", "b")]
      const events = Array.from({ length: 25 }, (_, i) => imported(streams[i % 2]!, Math.floor(i / 2)))
      const fiber = yield* store.subscribe().pipe(Stream.take(25), Stream.runCollect, Effect.forkChild)
      yield* Effect.yieldNow
      yield* importAll(events, { batchSize: 7 })
      const received = yield* Fiber.join(fiber)
      assert.deepStrictEqual(
        received.map((e) => e.eventId),
        events.map((e) => e.eventId)
      )
    }).pipe(Effect.provide(Stores))
  )

  it.effect("a rerun with existing: skip passes over what an interrupted import wrote and finishes it", () =>
    Effect.gen(function* () {
      const s = StreamName.make("resume", "1")
      const t = StreamName.make("resume", "2")
      const events = [imported(s, 0), imported(s, 1), imported(t, 0), imported(s, 2), imported(t, 1)]
      const progress: Array<number> = []
      // The first run stops after its first batch (an invalid event in the second).
      const broken = [...events.slice(0, 3), { ...events[3]!, type: "" }]
      yield* Effect.flip(importAll(broken, { batchSize: 3 }))
      assert.strictEqual((yield* everything).length, 3)
      const refused = yield* Effect.flip(importAll(events, { batchSize: 3 }))
      assert.strictEqual(refused._tag, "StreamExists")
      const report = yield* importAll(events, {
        batchSize: 3,
        existing: "skip",
        onProgress: (r) => Effect.sync(() => void progress.push(r.events + r.skipped))
      })
      assert.deepStrictEqual(report, { events: 2, skipped: 3, streams: 2, batches: 2 })
      assert.deepStrictEqual(progress, [3, 5])
      assert.deepStrictEqual(
        (yield* everything).map((e) => e.eventId),
        [0, 1, 2, 3, 4].map((i) => events[i]!.eventId)
      )
      // A stream whose stored events differ is still refused.
      const other = yield* Effect.flip(importAll([imported(s, 0)], { existing: "skip" }))
      assert.strictEqual(other._tag, "StreamExists")
      assert.include(other.message, "not the imported")
      assert.deepStrictEqual((yield* Integrity.verify()).breaks, [])
    }).pipe(Effect.provide(Stores))
  )

  it.effect("a malformed line is a typed error with its line number", () =>
    Effect.gen(function* () {
      const line = EventImport.toLine({
        ...imported(StreamName.make("x", "1"), 0),
        position: Position.make(1n, 1n)
      })
      const notJson = yield* Effect.flip(
        Stream.runCollect(EventImport.parseLines(Stream.fromIterable([line, "", "{oops"])))
      )
      assert.deepStrictEqual([notJson._tag, notJson.line], ["MalformedLine", 3])
      const notEvent = yield* Effect.flip(Stream.runCollect(EventImport.parseLines(Stream.make('{"eventId":1}'))))
      assert.deepStrictEqual([notEvent._tag, notEvent.line], ["MalformedLine", 1])

      // Imported, the batch the bad line cuts short writes nothing; earlier batches stay (rerun with skip).
      const stream = StreamName.make("x", "2")
      const lines = [0, 1, 2].map((v) =>
        EventImport.toLine({ ...imported(stream, v), position: Position.make(1n, 1n) })
      )
      const failed = yield* Effect.flip(
        EventImport.EventImport.use((importer) =>
          importer.importEvents(EventImport.parseLines(Stream.fromIterable([...lines, "{oops"])), { batchSize: 2 })
        )
      )
      assert.deepStrictEqual([failed._tag, (failed as EventImport.MalformedLine).line], ["MalformedLine", 4])
      assert.deepStrictEqual(
        (yield* everything).map((e) => e.streamVersion),
        [0, 1]
      )
    }).pipe(Effect.provide(Stores))
  )
})

describe("MemoryStore.layer", () => {
  it.effect("each store's importer writes into its own store, also when two are built together", () =>
    Effect.gen(function* () {
      class First extends Context.Service<First, Context.Context<MemoryStore.Stores>>()("test/First") {}
      class Second extends Context.Service<Second, Context.Context<MemoryStore.Stores>>()("test/Second") {}
      const stores = Effect.context<MemoryStore.Stores>()
      const both = yield* Layer.build(
        Layer.merge(
          Layer.effect(First, stores).pipe(Layer.provide(MemoryStore.layer())),
          Layer.effect(Second, stores).pipe(Layer.provide(MemoryStore.layer()))
        )
      )
      const first = Context.get(both, First)
      const second = Context.get(both, Second)
      const stream = StreamName.make("order", "1")
      yield* importAll([imported(stream, 0), imported(stream, 1)]).pipe(Effect.provideContext(second))
      assert.strictEqual((yield* everything.pipe(Effect.provideContext(second))).length, 2)
      assert.strictEqual((yield* everything.pipe(Effect.provideContext(first))).length, 0)
    })
  )
})
