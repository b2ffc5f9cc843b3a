import { Effect, Semaphore } from "effect"

/**
 * Per-stream queueing: effects for one stream run one at a time, different
 * streams in parallel. One semaphore per stream with work in flight, removed
 * when idle.
 */
export const make = () => {
  const locks = new Map<string, { readonly semaphore: Semaphore.Semaphore; users: number }>()
  return <A, E, R>(stream: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      let lock = locks.get(stream)
      if (lock === undefined) {
        lock = { semaphore: Semaphore.makeUnsafe(1), users: 0 }
        locks.set(stream, lock)
      }
      const held = lock
      held.users++
      return held.semaphore
        .withPermits(1)(effect)
        .pipe(
          Effect.ensuring(
            Effect.sync(() => {
              if (--held.users === 0) locks.delete(stream)
            })
          )
        )
    })
}
