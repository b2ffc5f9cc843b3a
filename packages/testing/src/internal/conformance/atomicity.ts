// Store conformance: an append is atomic: all of its events or none.
import { type EventStore, ExpectedVersion } from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import { eventStoreFixture, failsWith, idsOf, type It, newEvent, testTimeout } from "./fixture.ts"

/**
 * An append is atomic: all of its events or none.
 */
export const atomicity = (it: It<EventStore.EventStore>): void => {
  describe("atomic appends", () => {
    it.effect(
      "an append with a bad event in the middle writes none of its events",
      () =>
        Effect.gen(function* () {
          const { append, log, readStream, store, stream } = yield* eventStoreFixture
          const s = stream("atomic")
          const seed = newEvent({ seed: true })
          yield* append(s, [seed], ExpectedVersion.noStream)
          const fresh = stream("atomic-fresh")

          // The same id twice inside one append.
          const twice = newEvent({ twice: true })
          for (const target of [s, fresh]) {
            yield* failsWith(
              store.append(target, [newEvent({ a: 1 }), twice, newEvent({ b: 2 }), twice], ExpectedVersion.any),
              "InvalidAppend",
              "DuplicateEventId"
            )
            // Data that is not JSON in the middle.
            yield* failsWith(
              store.append(
                target,
                [newEvent({ a: 1 }), newEvent({ big: 1n }), newEvent({ b: 2 })],
                ExpectedVersion.any
              ),
              "InvalidAppend"
            )
            // An id that is already recorded, after new ones.
            yield* failsWith(
              store.append(target, [newEvent({ a: 1 }), newEvent({ b: 2 }), seed], ExpectedVersion.any),
              "DuplicateEventId"
            )
          }
          assert.deepStrictEqual(idsOf(yield* readStream(s)), [seed.eventId])
          assert.strictEqual(yield* store.streamVersion(s), 0)
          assert.deepStrictEqual(yield* readStream(fresh), [])
          assert.strictEqual(yield* store.streamVersion(fresh), -1)
          assert.deepStrictEqual(idsOf(yield* log()), [seed.eventId])

          // The stream is not left in a broken state: the next append gets version 1.
          const next = yield* append(s, [newEvent({ next: true })], ExpectedVersion.exact(0))
          assert.strictEqual(next.streamVersion, 1)
        }),
      testTimeout
    )
  })
}
