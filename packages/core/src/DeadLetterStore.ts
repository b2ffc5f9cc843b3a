/**
 * The dead-letter store: events a projection could not handle, parked with
 * the error so the projection can go on, listed and replayed once fixed.
 *
 * @since 0.1.0
 */
import { Context, DateTime, Effect, Layer, Option } from "effect"
import type { Envelope } from "./Envelope.ts"
import * as Position from "./Position.ts"
import type { StoreError } from "./StoreError.ts"

/**
 * A parked event.
 *
 * @since 0.1.0
 * @category models
 */
export interface ParkedEvent {
  /** The checkpoint name of the projection version that parked it (`name@vN`). */
  readonly projection: string
  readonly envelope: Envelope
  /** What went wrong, as a message. */
  readonly error: string
  readonly parkedAt: DateTime.Utc
}

/**
 * @since 0.1.0
 * @category services
 */
export class DeadLetterStore extends Context.Service<
  DeadLetterStore,
  {
    /** Parks an event for a projection; parking the same event again replaces the entry. */
    readonly park: (entry: Omit<ParkedEvent, "parkedAt">) => Effect.Effect<void, StoreError>
    /** The parked events of one projection (or of all), in log order. */
    readonly list: (projection?: string) => Effect.Effect<ReadonlyArray<ParkedEvent>, StoreError>
    readonly get: (projection: string, eventId: string) => Effect.Effect<Option.Option<ParkedEvent>, StoreError>
    readonly remove: (projection: string, eventId: string) => Effect.Effect<void, StoreError>
  }
>()("@chronicle/core/DeadLetterStore") {
  /**
   * Parked events in memory.
   *
   * @since 0.1.0
   */
  static readonly layerMemory = Layer.sync(DeadLetterStore, () => {
    const parked = new Map<string, ParkedEvent>()
    const key = (projection: string, eventId: string) => `${projection}\u0000${eventId}`
    return DeadLetterStore.of({
      park: (entry) =>
        Effect.map(
          DateTime.now,
          (parkedAt) => void parked.set(key(entry.projection, entry.envelope.eventId), { ...entry, parkedAt })
        ),
      list: (projection) =>
        Effect.sync(() =>
          [...parked.values()]
            .filter((p) => projection === undefined || p.projection === projection)
            .sort((a, b) => Position.Order(a.envelope.position, b.envelope.position))
        ),
      get: (projection, eventId) => Effect.sync(() => Option.fromUndefinedOr(parked.get(key(projection, eventId)))),
      remove: (projection, eventId) => Effect.sync(() => void parked.delete(key(projection, eventId)))
    })
  })
}
