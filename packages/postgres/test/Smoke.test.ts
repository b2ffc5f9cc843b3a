import { EventStore, ExpectedVersion, Position, StreamName } from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Effect, Stream } from "effect"

const Live = PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer()))
import { Layer } from "effect"

layer(Live)("PgEventStore smoke", (it) => {
  it.effect("appends and reads back", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const stream = StreamName.make("order", "smoke")
      const event = (n: number) => ({
        eventId: `0190a8b0-0000-7000-8000-00000000000${n}`,
        type: "Thing",
        schemaVersion: 1,
        data: { n, text: "it's \"quoted\" '; DROP TABLE events; -- \u0000 é ☕" },
        metadata: { correlationId: "c" }
      })
      const result = yield* store.append(stream, [event(1), event(2)], ExpectedVersion.noStream)
      assert.strictEqual(result.streamVersion, 1)
      const again = yield* store.append(stream, [event(1), event(2)], ExpectedVersion.noStream)
      assert.deepStrictEqual(again, result)
      const wrong = yield* Effect.flip(store.append(stream, [event(3)], ExpectedVersion.exact(0)))
      assert.strictEqual(wrong._tag, "WrongExpectedVersion")
      const read = yield* Stream.runCollect(store.readStream(stream))
      assert.deepStrictEqual(read.map((e) => e.data), [event(1).data, event(2).data])
      const all = yield* Stream.runCollect(store.readAll({ categories: ["order"] }))
      assert.strictEqual(all.length, 2)
      assert.isTrue(Position.isAfter(all[1]!.position, all[0]!.position))
      assert.deepStrictEqual(yield* store.head, all[1]!.position)
    }))
})
