import { EventId, EventStore, ExpectedVersion, MemoryStore, StreamName } from "@chronicle/core"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Stream } from "effect"

// The store conformance suite runs against these stores in packages/testing/test/StoreConformance.test.ts.

describe("in-memory event store", () => {
  layer(MemoryStore.layer({ maxEventBytes: 1000 }))("with maxEventBytes: 1000", (it) => {
    const event = (blob: string) => ({
      eventId: EventId.makeUnsafe(),
      type: "Big",
      schemaVersion: 1,
      data: { blob },
      metadata: {}
    })

    it.effect("rejects an event over the limit with InvalidAppend and writes nothing", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const stream = StreamName.make("big", "1")
        const other = StreamName.make("big", "2")
        const small = event("x")
        const error = yield* Effect.flip(
          store.append(stream, [small, event("x".repeat(2000)), event("y")], ExpectedVersion.any)
        )
        assert.strictEqual(error._tag, "InvalidAppend")
        assert.include(error.message, "over the limit of 1000")
        const many = yield* Effect.flip(
          store.appendMany([
            { stream: other, events: [event("z")], expectedVersion: ExpectedVersion.any },
            { stream, events: [event("x".repeat(2000))], expectedVersion: ExpectedVersion.any }
          ])
        )
        assert.strictEqual(many._tag, "InvalidAppend")
        assert.strictEqual(yield* store.streamVersion(stream), -1)
        assert.strictEqual(yield* store.streamVersion(other), -1)
        assert.deepStrictEqual(yield* Stream.runCollect(store.readAll({ categories: ["big"] })), [])

        // Under the limit is fine, and the rejected ids are still free.
        const fits = yield* store.append(stream, [small, event("x".repeat(900))], ExpectedVersion.noStream)
        assert.strictEqual(fits.streamVersion, 1)
      })
    )
  })
})
