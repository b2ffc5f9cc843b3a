// Projection leases on PostgreSQL: a projector interrupted at any point of taking its lease (waiting
// for a connection, connecting, while the try-lock statement is on the wire, just after) leaves the
// lease free, for this process and for any other.
import { Lease } from "@chronicle/core"
import { PgLease } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Fiber, Layer, Random, Redacted, Ref, Schedule } from "effect"
import { SqlClient } from "effect/sql"

const projection = "lease-test"

/** A process's view of the database: its own pool, and the lease on it. */
const processOn = (url: string) =>
  Effect.map(
    Layer.build(
      PgLease.layer().pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })))
    ),
    (context) => ({ lease: Context.get(context, Lease.Lease), sql: Context.get(context, SqlClient.SqlClient) })
  )

/**
 * A moment to interrupt at: some trips through the event loop (each lets I/O callbacks run, so
 * a statement can be on the wire or just answered), or some milliseconds.
 */
const someMoment = Effect.gen(function* () {
  if (yield* Random.nextBoolean) {
    const turns = yield* Random.nextIntBetween(0, 300)
    for (let i = 0; i < turns; i++) yield* Effect.yieldNow
  } else {
    yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 60)} millis`)
  }
})

/** Takes the lease (bounded wait), then gives it back; fails with `what` when it never comes free. */
const takeAndGiveBack = (lease: typeof Lease.Lease.Service, what: string) =>
  Effect.scoped(Effect.asVoid(lease.acquire(projection))).pipe(
    Effect.timeoutOrElse({
      duration: "15 seconds",
      orElse: () => Effect.die(new Error(`the lease never came free ${what} (waited 15 s)`))
    })
  )

it.live(
  "a lease acquisition interrupted at any point leaves the lease free, for this process and for another",
  () =>
    Effect.gen(function* () {
      const url = yield* PgHarness.createDatabase()
      const a = yield* processOn(url)
      const b = yield* processOn(url)
      const held = yield* Ref.make(0)
      const rounds = 300
      for (let round = 0; round < rounds; round++) {
        const attempt = yield* Effect.forkChild(
          Effect.scoped(
            Effect.andThen(
              a.lease.acquire(projection),
              Effect.andThen(
                Ref.update(held, (n) => n + 1),
                Effect.never
              )
            )
          )
        )
        yield* someMoment
        yield* Fiber.interrupt(attempt)
      }
      // Both outcomes happened many times: interrupted before the lease was held, and after.
      const completed = yield* Ref.get(held)
      assert.isAbove(completed, 10, "some attempts took the lease before the interruption")
      assert.isBelow(completed, rounds - 10, "some attempts were interrupted before they held the lease")

      // No session is left holding the lock (this database is the test's own)...
      yield* Effect.repeat(
        a.sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_locks
          WHERE locktype = 'advisory' AND granted
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        { until: (rows) => rows[0]!.n === 0, schedule: Schedule.spaced("50 millis") }
      ).pipe(
        Effect.timeoutOrElse({
          duration: "15 seconds",
          orElse: () => Effect.die(new Error("an interrupted acquisition left the advisory lock held (waited 15 s)"))
        })
      )
      // ...so this process takes the lease again, and so does another one after it.
      yield* takeAndGiveBack(a.lease, "in the same process")
      yield* takeAndGiveBack(b.lease, "in another process")
      yield* takeAndGiveBack(a.lease, "in the same process, after the other one")

      // And it still excludes: while one process holds it, the other waits.
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Effect.asVoid(a.lease.acquire(projection))
          const other = yield* Effect.forkChild(Effect.scoped(b.lease.acquire(projection)))
          yield* Effect.sleep("1500 millis")
          assert.isUndefined(other.pollUnsafe(), "the other process took a lease that was held")
          yield* Fiber.interrupt(other)
        })
      )
    }).pipe(Effect.scoped),
  120_000
)
