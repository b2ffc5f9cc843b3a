/**
 * Waking subscriptions when appends commit: in this process at once, in
 * others through `LISTEN/NOTIFY` on the schema's channel.
 */
import type { PgClient } from "@effect/sql-pg"
import { Deferred, type Duration, Effect, Queue, Schedule, type Scope } from "effect"
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
 * drops) and starts the fiber that sends the NOTIFYs, at most one per
 * `notifyInterval`, both for the scope's lifetime.
 */
export const make = (
  sql: SqlClient.SqlClient,
  pg: PgClient.PgClient,
  schema: string,
  notifyInterval: Duration.Duration
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
    // the throughput of 16 writers). So appends only ask for a wake-up after they commit, and
    // local subscribers are woken at once. One fiber sends the NOTIFYs, at most one per
    // `notifyInterval`: the first append after a quiet spell is announced at once, the ones
    // that follow within the interval together at its end. Each NOTIFY is a transaction of its
    // own (a commit, a pooled connection, a message to every listener), so under load this
    // spares the database hundreds of them a second; other processes learn of an append up to
    // `notifyInterval` later.
    const notifyRequests = yield* Queue.sliding<void>(1)
    yield* Queue.take(notifyRequests).pipe(
      Effect.andThen(Effect.ignore(pg.notify(channel, ""))),
      Effect.andThen(Effect.sleep(notifyInterval)),
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
