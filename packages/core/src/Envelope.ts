/**
 * What surrounds an event in the store: the event to append
 * ({@link EventData}), its metadata ({@link Metadata}) and the recorded form
 * ({@link Envelope}) with stream, stream version, global position and time.
 *
 * The store sees only encoded events: `type`, `schemaVersion` and `data` (a
 * JSON value). Domain types live in `EventCodec`.
 *
 * @since 0.1.0
 */
import { type DateTime, Schema } from "effect"
import type { Position } from "./Position.ts"
import type { StreamName } from "./StreamName.ts"

/**
 * Metadata every event carries: correlation id (the conversation it belongs
 * to), causation id (the message that caused it), actor (who asked) and
 * free-form fields.
 *
 * @since 0.1.0
 * @category models
 */
export interface Metadata {
  readonly correlationId?: string | undefined
  readonly causationId?: string | undefined
  readonly actor?: string | undefined
  readonly extra?: { readonly [key: string]: unknown } | undefined
}

/**
 * A Schema for {@link Metadata}; `extra` holds any JSON value.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Metadata: Schema.Codec<Metadata> = Schema.Struct({
  correlationId: Schema.optional(Schema.String),
  causationId: Schema.optional(Schema.String),
  actor: Schema.optional(Schema.String),
  extra: Schema.optional(Schema.Record(Schema.String, Schema.Unknown))
})

/**
 * No metadata.
 *
 * @since 0.1.0
 * @category constants
 */
export const emptyMetadata: Metadata = {}

/**
 * An encoded event to append: its id (UUIDv7, the idempotency key), type,
 * schema version, JSON data and metadata.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventData {
  readonly eventId: string
  readonly type: string
  readonly schemaVersion: number
  readonly data: unknown
  readonly metadata: Metadata
}

/**
 * A recorded event: the {@link EventData} plus where and when it was stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface Envelope extends EventData {
  readonly stream: StreamName
  readonly streamVersion: number
  readonly position: Position
  readonly recordedAt: DateTime.Utc
}

/**
 * An {@link Envelope} whose data has been decoded into the domain's event
 * type.
 *
 * @since 0.1.0
 * @category models
 */
export interface Decoded<E> extends Omit<Envelope, "data"> {
  readonly event: E
}

/**
 * The metadata of a message caused by a recorded event: the same correlation
 * id (or the event's id when it has none) and the event's id as causation id.
 * What a process manager passes along with the commands it sends.
 *
 * @since 0.1.0
 * @category constructors
 */
export const causedBy = (envelope: Pick<Envelope, "eventId" | "metadata">, actor?: string): Metadata => ({
  correlationId: envelope.metadata.correlationId ?? envelope.eventId,
  causationId: envelope.eventId,
  actor: actor ?? envelope.metadata.actor
})
