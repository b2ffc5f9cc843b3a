// The in-memory import's own tests: each store's importer writes into its own store, and
// `parseLines` reports a malformed line with its number. What every store's import must do is in
// the EventImport conformance suite (StoreConformance.eventImport, run by StoreConformance.all in
// packages/testing/test/StoreConformance.test.ts).
import { EventId, EventImport, EventStore, MemoryStore, Position, StreamName } from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { Context, DateTime, Effect, Layer, Stream } from "effect"

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

describe("EventImport.parseLines", () => {
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
    })
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
