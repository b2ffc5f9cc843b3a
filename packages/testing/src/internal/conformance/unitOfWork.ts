// Store conformance: the store's `UnitOfWork` commits all of its writes or none.
import {
  CheckpointStore,
  DeadLetterStore,
  type EventStore,
  ExpectedVersion,
  Position,
  UnitOfWork
} from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Stream } from "effect"
import {
  collectBounded,
  deliveryTimeout,
  eventStoreFixture,
  idsOf,
  type It,
  newEvent,
  testTimeout,
  within
} from "./fixture.ts"

/**
 * The store's `UnitOfWork` commits all of its writes (appends, checkpoint saves, parked events) or none.
 */
export const unitOfWork = (
  it: It<
    EventStore.EventStore | UnitOfWork.UnitOfWork | CheckpointStore.CheckpointStore | DeadLetterStore.DeadLetterStore
  >
): void => {
  describe("units of work", () => {
    it.effect(
      "a unit's first append may hold several events, to a new or existing stream, with any expectation",
      () =>
        Effect.gen(function* () {
          const { append, readStream, store, stream } = yield* eventStoreFixture
          const unit = yield* UnitOfWork.UnitOfWork
          const s = stream("several")
          const batch = () => [newEvent({ n: 1 }), newEvent({ n: 2 }), newEvent({ n: 3 })]
          const expectations = [
            ExpectedVersion.noStream,
            ExpectedVersion.exact(2),
            ExpectedVersion.streamExists,
            ExpectedVersion.any
          ]
          const written: Array<string> = []
          for (const [i, expected] of expectations.entries()) {
            const events = batch()
            const result = yield* unit.run(store.append(s, events, expected))
            assert.strictEqual(result.streamVersion, 3 * i + 2)
            written.push(...events.map((e) => e.eventId))
          }
          assert.deepStrictEqual(idsOf(yield* readStream(s)), written)
          // And the stream's version moved with them: an append outside a unit expects it.
          yield* append(s, [newEvent({ last: true })], ExpectedVersion.exact(11))
        }),
      testTimeout
    )

    it.effect(
      "a failing unit of work leaves nothing appended: no stream version, no event, no id, nothing delivered",
      () =>
        Effect.gen(function* () {
          const { append, category, log, readStream, store, stream } = yield* eventStoreFixture
          const unit = yield* UnitOfWork.UnitOfWork
          const [a, b, c] = [stream("a"), stream("b"), stream("c")]
          const seed = newEvent({ seed: true })
          yield* append(c, [seed], ExpectedVersion.noStream)
          const subscriber = yield* Effect.forkChild(
            Stream.runCollect(Stream.take(store.subscribe({ categories: [category] }), 2))
          )
          const rolledBack = [newEvent({ a: 0 }), newEvent({ b: 0 }), newEvent({ c: 1 })]
          const failure = yield* Effect.flip(
            unit.run(
              Effect.gen(function* () {
                yield* store.append(a, [rolledBack[0]!], ExpectedVersion.noStream)
                yield* store.appendMany([
                  { stream: b, events: [rolledBack[1]!], expectedVersion: ExpectedVersion.noStream },
                  { stream: c, events: [rolledBack[2]!], expectedVersion: ExpectedVersion.exact(0) }
                ])
                // Inside the unit its own appends are visible.
                assert.strictEqual(yield* store.streamVersion(c), 1)
                return yield* Effect.fail("the unit gives up" as const)
              })
            )
          )
          assert.strictEqual(failure, "the unit gives up")
          assert.strictEqual(yield* store.streamVersion(a), -1)
          assert.strictEqual(yield* store.streamVersion(b), -1)
          assert.strictEqual(yield* store.streamVersion(c), 0)
          assert.deepStrictEqual(yield* readStream(a), [])
          assert.deepStrictEqual(idsOf(yield* readStream(c)), [seed.eventId])

          // The ids were never recorded: appending them now is a first append, not a repeat.
          const after = newEvent({ after: true })
          const again = yield* append(a, [rolledBack[0]!], ExpectedVersion.noStream)
          assert.strictEqual(again.streamVersion, 0)
          yield* append(c, [after], ExpectedVersion.exact(0))
          assert.deepStrictEqual(idsOf(yield* log()), [seed.eventId, rolledBack[0]!.eventId, after.eventId])
          const delivered = yield* within(Fiber.join(subscriber), deliveryTimeout, () => "the subscriber stalled")
          assert.deepStrictEqual(idsOf(delivered), [seed.eventId, rolledBack[0]!.eventId])
        }),
      testTimeout
    )

    it.effect(
      "a unit's appends are hidden from other readers until it commits, then all appear at once",
      () =>
        Effect.gen(function* () {
          const { log, store, stream } = yield* eventStoreFixture
          const unit = yield* UnitOfWork.UnitOfWork
          const [a, b] = [stream("a"), stream("b")]
          const written = yield* Deferred.make<void>()
          const looked = yield* Deferred.make<readonly [number, number, number]>()
          // A reader outside the unit: started before it, so it does not share its transaction.
          yield* Effect.forkChild(
            Effect.andThen(
              Deferred.await(written),
              Effect.flatMap(
                Effect.all([
                  store.streamVersion(a),
                  store.streamVersion(b),
                  Effect.map(collectBounded(store.readStream(a), "readStream"), (events) => events.length)
                ]),
                (seen) => Deferred.succeed(looked, seen)
              )
            )
          )
          const [ea, eb] = [newEvent({ a: 0 }), newEvent({ b: 0 })]
          yield* unit.run(
            Effect.gen(function* () {
              yield* store.append(a, [ea], ExpectedVersion.noStream)
              yield* store.append(b, [eb], ExpectedVersion.noStream)
              yield* Deferred.succeed(written, undefined)
              const seen = yield* within(Deferred.await(looked), "10 seconds", () => "the outside reader stalled")
              assert.deepStrictEqual(seen, [-1, -1, 0], "the outside reader saw uncommitted events")
            })
          )
          assert.strictEqual(yield* store.streamVersion(a), 0)
          assert.strictEqual(yield* store.streamVersion(b), 0)
          assert.deepStrictEqual(idsOf(yield* log()), [ea.eventId, eb.eventId])
        }),
      testTimeout
    )

    it.effect(
      "a nested unit that fails rolls back its own appends alone (a savepoint)",
      () =>
        Effect.gen(function* () {
          const { log, store, stream } = yield* eventStoreFixture
          const unit = yield* UnitOfWork.UnitOfWork
          const [a, b] = [stream("a"), stream("b")]
          const [a0, b0, a1, b1] = [newEvent({ a: 0 }), newEvent({ b: 0 }), newEvent({ a: 1 }), newEvent({ b: 1 })]
          yield* unit.run(
            Effect.gen(function* () {
              yield* store.append(a, [a0], ExpectedVersion.noStream)
              const inner = yield* Effect.flip(
                unit.run(
                  Effect.andThen(
                    store.appendMany([
                      { stream: a, events: [a1], expectedVersion: ExpectedVersion.exact(0) },
                      { stream: b, events: [b0], expectedVersion: ExpectedVersion.noStream }
                    ]),
                    Effect.fail("inner gives up" as const)
                  )
                )
              )
              assert.strictEqual(inner, "inner gives up")
              assert.strictEqual(yield* store.streamVersion(a), 0)
              assert.strictEqual(yield* store.streamVersion(b), -1)
              yield* store.append(b, [b1], ExpectedVersion.noStream)
            })
          )
          assert.deepStrictEqual(idsOf(yield* log()), [a0.eventId, b1.eventId])
          assert.strictEqual(yield* store.streamVersion(a), 0)
          assert.strictEqual(yield* store.streamVersion(b), 0)
        }),
      testTimeout
    )

    it.effect(
      "an interrupted unit of work leaves nothing appended, and writers of its streams go on",
      () =>
        Effect.gen(function* () {
          const { append, log, store, stream } = yield* eventStoreFixture
          const unit = yield* UnitOfWork.UnitOfWork
          const a = stream("a")
          const inside = yield* Deferred.make<void>()
          const fiber = yield* Effect.forkChild(
            unit.run(
              Effect.andThen(
                store.append(a, [newEvent({ interrupted: true })], ExpectedVersion.noStream),
                Effect.andThen(Deferred.succeed(inside, undefined), Effect.never)
              )
            )
          )
          yield* Deferred.await(inside)
          yield* Fiber.interrupt(fiber)
          const next = newEvent({ next: true })
          const result = yield* within(
            append(a, [next], ExpectedVersion.noStream),
            "10 seconds",
            () => "a writer of the stream still waits for the interrupted unit"
          )
          assert.strictEqual(result.streamVersion, 0)
          assert.deepStrictEqual(idsOf(yield* log()), [next.eventId])
        }),
      testTimeout
    )

    it.effect(
      "checkpoint saves and parked events roll back with a failing unit of work, and stay with one that commits",
      () =>
        Effect.gen(function* () {
          const { append, category, readStream, store, stream } = yield* eventStoreFixture
          const unit = yield* UnitOfWork.UnitOfWork
          const checkpoints = yield* CheckpointStore.CheckpointStore
          const deadLetters = yield* DeadLetterStore.DeadLetterStore
          const s = stream("a")
          yield* append(s, [newEvent({ seed: true })], ExpectedVersion.noStream)
          const [envelope] = yield* readStream(s)
          const [projection, fresh] = [`${category}:projection@v1`, `${category}:fresh@v1`]
          const kept = Position.make(1n, 1n)
          yield* checkpoints.save(projection, kept)
          const checkpointOf = (name: string) =>
            Effect.map(checkpoints.load(name), (p) => Option.getOrUndefined(Option.map(p, Position.format)))
          const writes = (error: string) =>
            Effect.gen(function* () {
              yield* store.append(s, [newEvent({ error })], ExpectedVersion.exact(0))
              yield* checkpoints.save(projection, envelope!.position, Option.some(kept))
              yield* checkpoints.save(fresh, envelope!.position)
              yield* deadLetters.park({ projection, envelope: envelope!, error })
            })

          const failure = yield* Effect.flip(
            unit.run(
              Effect.andThen(
                writes("rolled back"),
                Effect.gen(function* () {
                  // Inside the unit its own writes are visible.
                  assert.strictEqual(yield* checkpointOf(projection), Position.format(envelope!.position))
                  assert.isTrue(Option.isSome(yield* deadLetters.get(projection, envelope!.eventId)))
                  return yield* Effect.fail("the unit gives up" as const)
                })
              )
            )
          )
          assert.strictEqual(failure, "the unit gives up")
          assert.strictEqual(yield* store.streamVersion(s), 0)
          assert.strictEqual(yield* checkpointOf(projection), Position.format(kept))
          assert.isUndefined(yield* checkpointOf(fresh))
          assert.deepStrictEqual(yield* deadLetters.list(projection), [])

          yield* unit.run(writes("committed"))
          assert.strictEqual(yield* store.streamVersion(s), 1)
          assert.strictEqual(yield* checkpointOf(projection), Position.format(envelope!.position))
          assert.strictEqual(yield* checkpointOf(fresh), Position.format(envelope!.position))
          assert.deepStrictEqual(
            (yield* deadLetters.list(projection)).map((e) => [e.envelope.eventId, e.error]),
            [[envelope!.eventId, "committed"]]
          )
        }),
      testTimeout
    )
  })
}
