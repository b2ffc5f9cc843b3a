import { Deferred, Effect, Exit } from "effect"

/** How a process's commands for one entity are sent: how many messages may be on the way, how many commands each carries. */
export interface Options<Payload, A, E> {
  /** Most messages on their way to one entity at a time (so the next batch waits at the entity while one appends). */
  readonly inFlight: number
  /** Most commands in one message. */
  readonly maxBatch: number
  /** Sends commands for one entity as one message, answering each with its own exit, in order. */
  readonly send: (id: string, batch: ReadonlyArray<Payload>) => Effect.Effect<ReadonlyArray<Exit.Exit<A, E>>>
}

interface Waiting<Payload, A, E> {
  readonly payload: Payload
  readonly deferred: Deferred.Deferred<A, E>
}

interface Lane<Payload, A, E> {
  readonly waiting: Array<Waiting<Payload, A, E>>
  senders: number
}

/**
 * A send queue per entity: a command goes out at once while fewer than
 * `inFlight` messages are on their way to its entity; otherwise it waits,
 * and the commands that waited go out together in the next message, in the
 * order they were given. Every caller gets its own command's exit.
 *
 * A caller interrupted while its command waits takes it out of the queue;
 * once sent, the command may still take effect.
 */
export const make = <Payload, A, E>(options: Options<Payload, A, E>) => {
  const lanes = new Map<string, Lane<Payload, A, E>>()

  /**
   * One sender: sends what waits, batch after batch, and stops when nothing
   * does. A batch it cannot send (a defect, the sender interrupted) fails
   * with that cause, so no caller waits forever.
   */
  const sender = (id: string, lane: Lane<Payload, A, E>) =>
    Effect.gen(function* () {
      while (true) {
        const batch = lane.waiting.splice(0, options.maxBatch)
        if (batch.length === 0) return
        const answer = (exit: Exit.Exit<ReadonlyArray<Exit.Exit<A, E>>>) =>
          Effect.sync(() => {
            for (let i = 0; i < batch.length; i++) {
              Deferred.doneUnsafe(
                batch[i]!.deferred,
                Exit.isSuccess(exit) ? exit.value[i]! : (exit as Exit.Exit<never>)
              )
            }
          })
        const sent = yield* Effect.exit(
          options.send(
            id,
            batch.map((waiting) => waiting.payload)
          )
        ).pipe(Effect.onInterrupt(() => answer(Exit.interrupt())))
        yield* answer(sent)
      }
    }).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          lane.senders--
          if (lane.senders === 0 && lane.waiting.length === 0) lanes.delete(id)
        })
      )
    )

  return (id: string, payload: Payload): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      let lane = lanes.get(id)
      if (lane === undefined) {
        lane = { waiting: [], senders: 0 }
        lanes.set(id, lane)
      }
      const waiting: Waiting<Payload, A, E> = { payload, deferred: Deferred.makeUnsafe<A, E>() }
      lane.waiting.push(waiting)
      const current = lane
      let started: Effect.Effect<unknown> = Effect.void
      if (lane.senders < options.inFlight) {
        lane.senders++
        started = Effect.forkDetach(sender(id, current), { startImmediately: true })
      }
      return Effect.andThen(
        started,
        Deferred.await(waiting.deferred).pipe(
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              const at = current.waiting.indexOf(waiting)
              if (at >= 0) current.waiting.splice(at, 1)
            })
          )
        )
      )
    })
}
