// Store conformance: a `Lease` has one holder per name at a time, the others wait their turn; `holder`
// says who it is.
import { Lease } from "@chronicle/core"
import { assert } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Schedule } from "effect"
import { type It, randomCategory, testTimeout, within } from "./fixture.ts"

/** How long a test gives a store to let a second holder in wrongly (PostgreSQL polls every 500 ms). */
const contention = "1500 millis"

/** How long an acquire of a free lease may take before the test fails. */
const acquireTimeout = "10 seconds"

const fixture = Effect.gen(function* () {
  const lease = yield* Lease.Lease
  const prefix = randomCategory()
  /** How many holders of each name hold it right now, and the most there ever were at once. */
  const holding = new Map<string, number>()
  const most = new Map<string, number>()
  /**
   * Forks a fiber that acquires the lease of `name` in a scope of its own,
   * holds it until `release`, then closes the scope.
   */
  const holder = (name: string) =>
    Effect.gen(function* () {
      const acquired = yield* Deferred.make<void>()
      const released = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(
        Effect.scoped(
          Effect.gen(function* () {
            yield* Effect.asVoid(lease.acquire(name))
            const now = (holding.get(name) ?? 0) + 1
            holding.set(name, now)
            most.set(name, Math.max(most.get(name) ?? 0, now))
            yield* Deferred.succeed(acquired, undefined)
            yield* Deferred.await(released)
            holding.set(name, (holding.get(name) ?? 0) - 1)
          })
        )
      )
      return {
        fiber,
        /** Waits until the lease is held, failing the test if that takes too long. */
        acquired: within(Deferred.await(acquired), acquireTimeout, () => `the lease ${name} was never acquired`),
        isHolding: Deferred.isDone(acquired),
        /** Lets go of the lease and waits until the holder's scope has closed. */
        release: Effect.andThen(Deferred.succeed(released, undefined), Fiber.join(fiber))
      }
    })
  return { lease, name: (n: string) => `${prefix}:${n}@v1`, holder, most: (name: string) => most.get(name) ?? 0 }
})

/**
 * A `Lease` has one holder per name at a time; the others wait their turn.
 */
export const lease = (it: It<Lease.Lease>): void => {
  it.effect(
    "one holder per name at a time: a second acquire waits until the first holder's scope closes",
    () =>
      Effect.gen(function* () {
        const { holder, most, name } = yield* fixture
        const n = name("projection")
        const first = yield* holder(n)
        yield* first.acquired
        const second = yield* holder(n)
        yield* Effect.sleep(contention)
        assert.isFalse(yield* second.isHolding, "a second holder got the lease while the first held it")
        yield* first.release
        yield* second.acquired
        yield* second.release
        // A third acquire, after both, gets the lease again.
        const third = yield* holder(n)
        yield* third.acquired
        yield* third.release
        assert.strictEqual(most(n), 1, "never more than one holder at once")
      }),
    testTimeout
  )

  it.effect(
    "leases of different names are independent",
    () =>
      Effect.gen(function* () {
        const { holder, name } = yield* fixture
        const [a, b] = [yield* holder(name("a")), yield* holder(name("b"))]
        yield* a.acquired
        yield* b.acquired
        assert.isTrue(yield* a.isHolding)
        yield* Effect.all([a.release, b.release], { concurrency: "unbounded" })
      }),
    testTimeout
  )

  it.effect(
    "interrupting a waiting acquire leaves the lease free for others",
    () =>
      Effect.gen(function* () {
        const { holder, most, name } = yield* fixture
        const n = name("projection")
        const first = yield* holder(n)
        yield* first.acquired
        const waiting = yield* holder(n)
        yield* Effect.sleep(contention)
        yield* within(
          Fiber.interrupt(waiting.fiber),
          acquireTimeout,
          () => "a waiting acquire could not be interrupted"
        )
        assert.isFalse(yield* waiting.isHolding, "the interrupted acquire got the lease")
        yield* first.release
        const next = yield* holder(n)
        yield* next.acquired
        yield* next.release
        assert.strictEqual(most(n), 1)
      }),
    testTimeout
  )

  it.effect(
    "holder says who holds a lease: nobody while it is free, the holder while others wait, nobody once released",
    () =>
      Effect.gen(function* () {
        const { holder, lease, name } = yield* fixture
        const n = name("held-by")
        const current = Effect.map(lease.holder(n), Option.getOrUndefined)
        assert.isUndefined(yield* current, "nobody holds a lease never taken")
        const first = yield* holder(n)
        yield* first.acquired
        const byFirst = yield* current
        assert.isDefined(byFirst, "the lease has a holder")
        assert.isAbove(byFirst!.label.length, 0, "the holder has a label")
        assert.isTrue(Option.isNone(yield* lease.holder(name("other"))), "another name's lease is free")
        const second = yield* holder(n)
        yield* Effect.sleep(contention)
        assert.deepStrictEqual(yield* current, byFirst, "a waiting acquire does not hold the lease")
        yield* first.release
        yield* second.acquired
        const bySecond = yield* current
        assert.isDefined(bySecond)
        assert.notDeepEqual(bySecond, byFirst, "the new holder is told apart from the first")
        yield* second.release
        // A released session may linger a moment in the server's views.
        yield* within(
          Effect.repeat(current, { until: (h) => h === undefined, schedule: Schedule.spaced("50 millis") }),
          acquireTimeout,
          () => `the lease ${n} still had a holder after it was released`
        )
      }),
    testTimeout
  )

  it.effect(
    "the effect that signals a lost lease does not fail while the lease is held",
    () =>
      Effect.gen(function* () {
        const { lease, name } = yield* fixture
        const lost = yield* within(lease.acquire(name("held")), acquireTimeout, () => "the lease was never acquired")
        // The PostgreSQL leases check their session every 2 seconds: give them two checks.
        const signalled = yield* Effect.timeoutOption(lost, "4500 millis")
        assert.isTrue(Option.isNone(signalled), "the lease was signalled lost while held")
      }),
    testTimeout
  )
}
