/**
 * Waking subscriptions when appends commit: in this process at once, in
 * others through `LISTEN/NOTIFY` on the schema's channel.
 */
import type { PgClient } from "@effect/sql-pg"
import { Deferred, Effect, Queue, Schedule, type Scope } from "effect"
import type { SqlClient } from "effect/sql"
import * as PgSchema from "../PgSchema.ts"

/** The wake-ups of one store. */
export interface WakeUps {
  /** Completes at the next wake-up after this call: take it before reading, await it once caught up. */
  readonly next: () => Deferred.Deferred<void>
  /** Run after an append: once its transaction commits, wakes this process's subscribers and announces it. */
  readonly announce: Effect.Effect<void>
}

/**
 * Listens on the schema's channel (one connection, re-established when it
 * drops) and starts the fiber that sends the NOTIFYs, both for the scope's
 * lifetime.
 */
export const make = (
  sql: SqlClient.SqlClient,
  pg: PgClient.PgClient,
  schema: string
): Effect.Effect<WakeUps, never, Scope.Scope> =>
  Effect.gen(function* () {
    const channel = PgSchema.channel(schema)
    let wake = Deferred.makeUnsafe<void>()
    const signal = Effect.sync(() => {
      const current = wake
      wake = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(current, Effect.void)
    })
    yield* Effect.scoped(
      Effect.flatMap(pg.listen(channel), (notifications) =>
        // Appends committed while nobody listened sent their NOTIFY to no one: once listening
        // again, wake the subscribers so they read them instead of waiting for the next poll.
        Effect.andThen(signal, Effect.forever(Effect.andThen(Queue.take(notifications), signal)))
      )
    ).pipe(
      Effect.catchCause((cause) =>
        Effect.andThen(Effect.logDebug("Chronicle: LISTEN connection lost; reconnecting", cause), signal)
      ),
      Effect.repeat(Schedule.spaced("500 millis")),
      Effect.forkScoped
    )

    // Announcing appends. A NOTIFY inside the append's transaction would hold PostgreSQL's
    // notification lock through the commit and serialise concurrent appends (measured: half
    // the throughput of 16 writers). So appends only ask for a wake-up after they commit;
    // one fiber sends the NOTIFYs, one at a time, coalescing the requests that arrive
    // meanwhile. Local subscribers are woken at once.
    const notifyRequests = yield* Queue.sliding<void>(1)
    yield* Queue.take(notifyRequests).pipe(
      Effect.andThen(Effect.ignore(pg.notify(channel, ""))),
      Effect.forever,
      Effect.forkScoped
    )
    return {
      next: () => wake,
      announce: sql.afterCommit(
        Effect.andThen(
          signal,
          Effect.sync(() => void Queue.offerUnsafe(notifyRequests, undefined))
        )
      )
    }
  })
