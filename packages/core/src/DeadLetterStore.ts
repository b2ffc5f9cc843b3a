/**
 * The dead-letter store: events a projection could not handle, parked with
 * the error so the projection can go on, listed and replayed once fixed.
 *
 * @since 0.1.0
 */
import { Context, type DateTime, type Effect, type Option } from "effect"
import type { Envelope } from "./Envelope.ts"
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
>()("@chronicle/core/DeadLetterStore") {}
