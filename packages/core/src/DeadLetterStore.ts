/**
 * The dead-letter store: events a projection could not handle, parked with
 * the error so the projection can go on, listed and replayed once fixed, or
 * discarded when the fix is to skip them (who discarded each, when and why is
 * kept).
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
 * A parked event taken off the active list without being handled: the fix
 * was to skip it. Kept, with who discarded it, when and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface DiscardedEvent extends ParkedEvent {
  /** Why it was discarded, in the operator's words. */
  readonly reason: string
  /** Who discarded it (a user name, a tool). */
  readonly discardedBy: string
  readonly discardedAt: DateTime.Utc
}

/**
 * Why and by whom a parked event is discarded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Discard {
  readonly reason: string
  readonly by: string
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
    /**
     * Takes a parked event off the active list without handling it, and
     * records who discarded it, when and why; `None` when no such event is
     * parked. Discarding an event parked again later adds another record.
     */
    readonly discard: (
      projection: string,
      eventId: string,
      discard: Discard
    ) => Effect.Effect<Option.Option<DiscardedEvent>, StoreError>
    /** The discarded events of one projection (or of all), in the order they were discarded. */
    readonly discarded: (projection?: string) => Effect.Effect<ReadonlyArray<DiscardedEvent>, StoreError>
  }
>()("@chronicle/core/DeadLetterStore") {}
