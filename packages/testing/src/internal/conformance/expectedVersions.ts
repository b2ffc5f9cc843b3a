// Store conformance: every kind of expected version is checked, and of writers with the same expected
// version exactly one wins.
import { type Envelope, type EventStore, ExpectedVersion } from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { Effect, Result } from "effect"
import { describeError, eventStoreFixture, failsWith, idsOf, type It, newEvent, range, testTimeout } from "./fixture.ts"

/**
 * Every kind of expected version is checked, and of writers with the same expected version exactly one wins.
 */
export const expectedVersions = (it: It<EventStore.EventStore>): void => {
  describe("expected versions", () => {
    it.effect(
      "accepts and rejects every kind of expected version, on a missing and on an existing stream",
      () =>
        Effect.gen(function* () {
          const { append, log, readStream, store, stream } = yield* eventStoreFixture
          const s = stream("expect")
          const rejected = (expected: ExpectedVersion.ExpectedVersion, actualVersion: number) =>
            Effect.gen(function* () {
              const error = yield* failsWith(store.append(s, [newEvent({})], expected), "WrongExpectedVersion")
              assert.strictEqual(
                error.actualVersion,
                actualVersion,
                `actual version for ${ExpectedVersion.format(expected)}`
              )
              assert.strictEqual(error.stream, s)
              assert.strictEqual(yield* store.streamVersion(s), actualVersion, "a rejected append writes nothing")
            })

          // A stream that does not exist: version -1.
          assert.strictEqual(yield* store.streamVersion(s), -1)
          yield* rejected(ExpectedVersion.exact(0), -1)
          yield* rejected(ExpectedVersion.exact(3), -1)
          yield* rejected(ExpectedVersion.streamExists, -1)
          assert.deepStrictEqual(yield* readStream(s), [])

          const written: Array<Envelope.EventData> = []
          const accepted = (expected: ExpectedVersion.ExpectedVersion, version: number) =>
            Effect.gen(function* () {
              const event = newEvent({ version })
              const result = yield* append(s, [event], expected)
              written.push(event)
              assert.strictEqual(result.streamVersion, version, `append with ${ExpectedVersion.format(expected)}`)
            })
          yield* accepted(ExpectedVersion.noStream, 0)

          // An existing stream at version 0.
          yield* rejected(ExpectedVersion.noStream, 0)
          yield* rejected(ExpectedVersion.exact(1), 0)
          yield* accepted(ExpectedVersion.exact(0), 1)
          yield* accepted(ExpectedVersion.streamExists, 2)
          yield* accepted(ExpectedVersion.any, 3)
          yield* rejected(ExpectedVersion.exact(2), 3)
          yield* rejected(ExpectedVersion.exact(4), 3)
          yield* rejected(ExpectedVersion.noStream, 3)
          yield* accepted(ExpectedVersion.exact(3), 4)

          // `Any` also creates a stream.
          const created = yield* append(stream("any-new"), [newEvent({})], ExpectedVersion.any)
          assert.strictEqual(created.streamVersion, 0)
          yield* append(stream("any-new"), [newEvent({})], ExpectedVersion.streamExists)

          const read = yield* readStream(s)
          assert.deepStrictEqual(idsOf(read), idsOf(written))
          assert.deepStrictEqual(
            read.map((e) => e.streamVersion),
            [0, 1, 2, 3, 4]
          )
          assert.strictEqual((yield* log()).length, written.length + 2)
        }),
      testTimeout
    )

    it.effect(
      "of 2, then 16 concurrent writers with the same expected version, exactly one wins; the others learn the actual version",
      () =>
        Effect.gen(function* () {
          const { append, log, readStream, store, stream } = yield* eventStoreFixture
          for (const writers of [2, 16]) {
            const s = stream(`race-${writers}`)
            const seed = newEvent({ seed: true })
            yield* append(s, [seed], ExpectedVersion.noStream)
            const attempts = range(writers).map((w) => [newEvent({ w, k: 0 }), newEvent({ w, k: 1 })])
            const results = yield* Effect.forEach(
              attempts,
              (events) => Effect.result(append(s, events, ExpectedVersion.exact(0))),
              { concurrency: "unbounded" }
            )
            const winners = results.flatMap((r, w) => (Result.isSuccess(r) ? [w] : []))
            assert.strictEqual(winners.length, 1, `exactly one of ${writers} writers wins`)
            const winner = winners[0]!
            for (const r of results) {
              if (Result.isFailure(r)) {
                assert.strictEqual(r.failure._tag, "WrongExpectedVersion", describeError(r.failure))
                if (r.failure._tag === "WrongExpectedVersion") assert.strictEqual(r.failure.actualVersion, 2)
              } else {
                assert.strictEqual(r.success.streamVersion, 2)
              }
            }
            const read = yield* readStream(s)
            assert.deepStrictEqual(idsOf(read), [seed.eventId, ...idsOf(attempts[winner]!)])
            assert.strictEqual(yield* store.streamVersion(s), 2)
          }
          assert.strictEqual((yield* log()).length, 6)
        }),
      testTimeout
    )

    it.effect(
      "of 16 concurrent writers creating a stream with NoStream, exactly one wins",
      () =>
        Effect.gen(function* () {
          const { append, log, readStream, stream } = yield* eventStoreFixture
          const s = stream("create-race")
          const attempts = range(16).map((w) => [newEvent({ w })])
          const results = yield* Effect.forEach(
            attempts,
            (events) => Effect.result(append(s, events, ExpectedVersion.noStream)),
            { concurrency: "unbounded" }
          )
          const winners = results.flatMap((r, w) => (Result.isSuccess(r) ? [w] : []))
          assert.strictEqual(winners.length, 1, "exactly one creator wins")
          for (const r of results) {
            if (Result.isFailure(r)) {
              assert.strictEqual(r.failure._tag, "WrongExpectedVersion", describeError(r.failure))
              if (r.failure._tag === "WrongExpectedVersion") assert.strictEqual(r.failure.actualVersion, 0)
            }
          }
          assert.deepStrictEqual(idsOf(yield* readStream(s)), idsOf(attempts[winners[0]!]!))
          assert.strictEqual((yield* log()).length, 1)
        }),
      testTimeout
    )
  })
}
