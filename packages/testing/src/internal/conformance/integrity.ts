// Store conformance: every stream is hash-chained, and an untouched store verifies clean.
import { type EventStore, ExpectedVersion, Integrity, UnitOfWork } from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import { awkward, eventStoreFixture, type It, newEvent, range, show, testTimeout } from "./fixture.ts"

/**
 * An untouched store verifies clean, stream by stream and as a whole, whatever wrote to it:
 * appends of every kind, `appendMany`, idempotent repeats, units of work rolled back.
 */
export const integrity = (it: It<EventStore.EventStore | UnitOfWork.UnitOfWork | Integrity.Integrity>): void => {
  describe("integrity", () => {
    it.effect(
      "an untouched store verifies clean after appends, appendMany, repeats and rolled-back units of work",
      () =>
        Effect.gen(function* () {
          const { append, appendMany, store, stream } = yield* eventStoreFixture
          const unit = yield* UnitOfWork.UnitOfWork
          const [a, b, c, gone] = [stream("a"), stream("b"), stream("ünï-😀"), stream("gone")]
          const first = [newEvent(awkward), newEvent({ n: 1 }, { metadata: { correlationId: "x", actor: "ß" } })]
          yield* append(a, first, ExpectedVersion.noStream)
          yield* append(a, [newEvent({ n: 2 }, { type: "Other", schemaVersion: 3 })], ExpectedVersion.exact(1))
          yield* append(a, [newEvent({ n: 3 })], ExpectedVersion.streamExists)
          yield* append(
            a,
            range(5).map((n) => newEvent({ batch: n })),
            ExpectedVersion.any
          )
          // Repeats (the second in upper case) write nothing.
          yield* append(a, first, ExpectedVersion.any)
          yield* append(
            a,
            first.map((e) => ({ ...e, eventId: e.eventId.toUpperCase() })),
            ExpectedVersion.any
          )
          yield* appendMany([
            { stream: b, events: [newEvent({ b: 0 }), newEvent({ b: 1 })], expectedVersion: ExpectedVersion.noStream },
            { stream: c, events: [newEvent({ c: "漢字" })], expectedVersion: ExpectedVersion.noStream }
          ])
          // A unit of work that fails leaves nothing, and the chains go on from what was kept.
          yield* Effect.flip(
            unit.run(
              Effect.gen(function* () {
                yield* store.append(a, [newEvent({ rolledBack: 1 })], ExpectedVersion.exact(8))
                yield* store.append(gone, [newEvent({ rolledBack: 2 })], ExpectedVersion.noStream)
                return yield* Effect.fail("the unit gives up" as const)
              })
            )
          )
          yield* append(a, [newEvent({ n: 9 })], ExpectedVersion.exact(8))
          yield* unit.run(append(b, [newEvent({ b: 2 })], ExpectedVersion.exact(1)))

          for (const [s, events] of [
            [a, 10],
            [b, 3],
            [c, 1]
          ] as const) {
            const report = yield* Integrity.verify({ stream: s })
            assert.deepStrictEqual(report, { streams: 1, events, breaks: [] }, s)
          }
          assert.deepStrictEqual(yield* Integrity.verify({ stream: gone }), { streams: 0, events: 0, breaks: [] })
          const whole = yield* Integrity.verify()
          assert.deepStrictEqual(whole.breaks, [], show(whole.breaks))
          assert.isAtLeast(whole.streams, 3)
          assert.isAtLeast(whole.events, 14)
        }),
      testTimeout
    )

    it.effect(
      "verify reports its progress up to every event it checked",
      () =>
        Effect.gen(function* () {
          const { append, stream } = yield* eventStoreFixture
          const s = stream("long")
          for (const n of range(5))
            yield* append(
              s,
              range(10).map((k) => newEvent({ n, k })),
              ExpectedVersion.any
            )
          const seen: Array<Integrity.Progress> = []
          const report = yield* Integrity.verify({
            stream: s,
            progressEvery: 7,
            onProgress: (progress) => Effect.sync(() => void seen.push(progress))
          })
          assert.deepStrictEqual(report, { streams: 1, events: 50, breaks: [] })
          assert.deepStrictEqual(
            seen.map((p) => p.events),
            [7, 14, 21, 28, 35, 42, 49, 50]
          )
          assert.isTrue(seen.every((p) => p.total === 50))
        }),
      testTimeout
    )
  })
}
