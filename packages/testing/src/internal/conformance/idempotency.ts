// Store conformance: re-appending the same event ids is idempotent, never a duplicate.
import { type Envelope, type EventStore, ExpectedVersion, type StreamName } from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import { describeError, eventStoreFixture, failure, idsOf, type It, newEvent, range, testTimeout } from "./fixture.ts"

/**
 * Re-appending the same event ids is idempotent, never a duplicate.
 */
export const idempotency = (it: It<EventStore.EventStore>): void => {
  describe("idempotency", () => {
    it.effect(
      "re-appending the same events returns the first result, even with a now-stale expected version",
      () =>
        Effect.gen(function* () {
          const { append, log, readStream, store, stream } = yield* eventStoreFixture
          const s = stream("idem")
          const events = [newEvent({ n: 1 }), newEvent({ n: 2 })]
          const first = yield* append(s, events, ExpectedVersion.noStream)
          const later = newEvent({ n: 3 })
          yield* append(s, [later], ExpectedVersion.exact(1))
          // A retry after a lost acknowledgement: same ids, an expected version that is now stale.
          for (const expected of [
            ExpectedVersion.noStream,
            ExpectedVersion.exact(7),
            ExpectedVersion.streamExists,
            ExpectedVersion.any
          ]) {
            assert.deepStrictEqual(yield* append(s, events, expected), first, ExpectedVersion.format(expected))
          }
          // The same UUIDs written in upper case are the same ids.
          const upper = events.map((e) => ({ ...e, eventId: e.eventId.toUpperCase() }))
          assert.deepStrictEqual(yield* append(s, upper, ExpectedVersion.any), first)

          assert.strictEqual(yield* store.streamVersion(s), 2)
          assert.deepStrictEqual(idsOf(yield* readStream(s)), [...idsOf(events), later.eventId])
          assert.deepStrictEqual(idsOf(yield* log()), [...idsOf(events), later.eventId])
        }),
      testTimeout
    )

    it.effect(
      "re-used ids that are not an exact repeat of one append fail with DuplicateEventId and write nothing",
      () =>
        Effect.gen(function* () {
          const { append, log, readStream, store, stream } = yield* eventStoreFixture
          const s = stream("dup")
          const elsewhere = stream("elsewhere")
          const [a1, a2, b1] = [newEvent({ a: 1 }), newEvent({ a: 2 }), newEvent({ b: 1 })]
          yield* append(s, [a1, a2], ExpectedVersion.noStream)
          yield* append(s, [b1], ExpectedVersion.exact(1))
          const cases: ReadonlyArray<readonly [string, StreamName.StreamName, ReadonlyArray<Envelope.EventData>]> = [
            ["a prefix of an append", s, [a1]],
            ["a suffix of an append", s, [a2]],
            ["an append reordered", s, [a2, a1]],
            ["the tail of one append and the next append", s, [a2, b1]],
            ["an append extended with a new event", s, [a1, a2, newEvent({ new: 1 })]],
            ["a new event, then a recorded one", s, [newEvent({ new: 2 }), b1]],
            ["an append repeated in another stream", elsewhere, [a1, a2]],
            ["a recorded id in another stream", elsewhere, [newEvent({ new: 3 }), b1]]
          ]
          for (const [label, target, events] of cases) {
            const error = yield* failure(store.append(target, events, ExpectedVersion.any), label)
            assert.strictEqual(error._tag, "DuplicateEventId", `${label}: ${describeError(error)}`)
          }
          assert.strictEqual(yield* store.streamVersion(s), 2)
          assert.deepStrictEqual(idsOf(yield* readStream(s)), idsOf([a1, a2, b1]))
          assert.strictEqual(yield* store.streamVersion(elsewhere), -1)
          assert.deepStrictEqual(idsOf(yield* log()), idsOf([a1, a2, b1]))
        }),
      testTimeout
    )

    it.effect(
      "concurrent retries of one append record it once and all get the same result",
      () =>
        Effect.gen(function* () {
          const { append, log, store, stream } = yield* eventStoreFixture
          const s = stream("retries")
          const events = [newEvent({ n: 1 }), newEvent({ n: 2 })]
          const results = yield* Effect.forEach(range(8), () => append(s, events, ExpectedVersion.noStream), {
            concurrency: "unbounded"
          })
          for (const result of results) assert.deepStrictEqual(result, results[0])
          assert.strictEqual(yield* store.streamVersion(s), 1)
          assert.deepStrictEqual(idsOf(yield* log()), idsOf(events))
        }),
      testTimeout
    )
  })
}
