// Retention and trimmed history: an aggregate loads from the snapshot retention saves before it
// trims, a trimmed stream without a usable snapshot fails with HistoryTrimmed (never a silent
// partial fold), and retention keeps what its policy says per stream.
import {
  CommandHandler,
  Decider,
  EventCodec,
  EventStore,
  EventType,
  Integrity,
  MemoryStore,
  Retention,
  StreamLifecycle,
  StreamName
} from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"

const Added = EventType.make("Added", { amount: Schema.Int })
const Events = EventCodec.make(Added)
const total = Decider.make<{ readonly amount: number }, EventCodec.Event<typeof Events>, number>({
  initialState: 0,
  decide: (command) => Result.succeed([Added.make({ amount: command.amount })]),
  evolve: (sum, event) => sum + event.amount
})
const snapshot = { schema: Schema.Int, version: 1 } as const
const request = { reason: "retention test", actor: "tests" }

const versionsOf = (stream: StreamName.StreamName) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    return (yield* Stream.runCollect(store.readStream(stream))).map((e) => e.streamVersion)
  })

describe("Retention", () => {
  it.effect(
    "a trimmed stream without a usable snapshot fails to load with HistoryTrimmed, never folds a partial history",
    () =>
      Effect.gen(function* () {
        const stream = StreamName.make("total", "a")
        const plain = yield* CommandHandler.make({ decider: total, codec: Events })
        const snapshotting = yield* CommandHandler.make({ decider: total, codec: Events, snapshot })
        for (let i = 1; i <= 5; i++) yield* plain.handle(stream, { amount: i })
        yield* StreamLifecycle.trim(stream, 3, request)

        const error = yield* Effect.flip(plain.load(stream))
        assert.strictEqual(error._tag, "HistoryTrimmed")
        assert.deepInclude(error, { stream, removedBefore: 3, needed: 0 })
        // A command fails the same way: nothing is decided on a partial history.
        assert.strictEqual((yield* Effect.flip(plain.handle(stream, { amount: 100 })))._tag, "HistoryTrimmed")

        // Nor can a snapshot be made of it any more: retention snapshots before it trims.
        const saved = yield* snapshotting.snapshot(stream).pipe(Effect.flip)
        assert.strictEqual(saved._tag, "HistoryTrimmed", "the snapshot needs the whole history too")
      }).pipe(Effect.provide(MemoryStore.layer()))
  )

  it.effect("apply keeps maxCount events per stream, saving each state first, and the aggregates load as before", () =>
    Effect.gen(function* () {
      const handler = yield* CommandHandler.make({ decider: total, codec: Events, snapshot })
      const [long, short, gone] = ["long", "short", "gone"].map((id) => StreamName.make("total", id)) as [
        StreamName.StreamName,
        StreamName.StreamName,
        StreamName.StreamName
      ]
      for (let i = 1; i <= 10; i++) yield* handler.handle(long, { amount: i })
      for (let i = 1; i <= 2; i++) yield* handler.handle(short, { amount: i })
      yield* handler.handle(gone, { amount: 1 })
      yield* StreamLifecycle.tombstone(gone, request)
      yield* handler.handle(StreamName.make("other", "x"), { amount: 1 })

      const progress: Array<number> = []
      const report = yield* Retention.apply(
        { category: "total", maxCount: 3 },
        { handler, ...request, onProgress: (r) => Effect.sync(() => void progress.push(r.streams)) }
      )
      assert.deepStrictEqual(report, { streams: 3, trimmed: 1, removed: 7 })
      assert.deepStrictEqual(progress, [1, 2, 3])
      assert.deepStrictEqual(yield* versionsOf(long), [7, 8, 9])
      assert.deepStrictEqual(yield* versionsOf(short), [0, 1])
      assert.deepStrictEqual(yield* versionsOf(StreamName.make("other", "x")), [0])
      assert.deepStrictEqual(yield* handler.load(long), { state: 55, version: 9 })
      const next = yield* handler.handle(long, { amount: 45 })
      assert.deepStrictEqual([next.state, next.version], [100, 10])
      assert.deepStrictEqual((yield* Integrity.verify()).breaks, [])

      // Applying it again removes only what is over the count now.
      assert.deepStrictEqual(yield* Retention.apply({ category: "total", maxCount: 3 }, { handler, ...request }), {
        streams: 3,
        trimmed: 1,
        removed: 1
      })
      assert.deepStrictEqual(yield* handler.load(long), { state: 100, version: 10 })
    }).pipe(Effect.provide(MemoryStore.layer()))
  )

  it.effect("apply by age keeps the events recorded within maxAge, and always the last one", () =>
    Effect.gen(function* () {
      const handler = yield* CommandHandler.make({ decider: total, codec: Events, snapshot })
      const [aging, old] = [StreamName.make("total", "aging"), StreamName.make("total", "old")]
      yield* handler.handle(old, { amount: 1 })
      yield* handler.handle(old, { amount: 2 })
      for (let day = 0; day < 5; day++) {
        yield* handler.handle(aging, { amount: 10 })
        yield* TestClock.adjust("1 day")
      }
      // Now: day 5. Events of days 0–4 on `aging`; `old` is five days old.
      const report = yield* Retention.apply({ category: "total", maxAge: "2 days" }, { handler, ...request })
      assert.deepStrictEqual(report, { streams: 2, trimmed: 2, removed: 4 })
      assert.deepStrictEqual(yield* versionsOf(aging), [3, 4])
      assert.deepStrictEqual(yield* versionsOf(old), [1])
      assert.deepStrictEqual((yield* handler.load(aging)).state, 50)
      assert.deepStrictEqual((yield* handler.load(old)).state, 3)
      assert.lengthOf(yield* versionsOf(StreamLifecycle.systemStream), 2, "one recorded trim per trimmed stream")
    }).pipe(Effect.provide(MemoryStore.layer()))
  )
})
