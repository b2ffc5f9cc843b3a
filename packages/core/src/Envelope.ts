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
import { type DateTime, type Effect, Schema } from "effect"
import * as Position from "./Position.ts"
import * as StreamName from "./StreamName.ts"

/**
 * Metadata every event carries: correlation id (the conversation it belongs
 * to), causation id (the message that caused it), actor (who asked), the
 * trace context of the span that caused it and free-form fields.
 *
 * @since 0.1.0
 * @category models
 */
export interface Metadata {
  readonly correlationId?: string | undefined
  readonly causationId?: string | undefined
  readonly actor?: string | undefined
  /**
   * The span that caused the event, as a W3C `traceparent`
   * (`00-<trace id>-<span id>-<flags>`): a projector's span links to it.
   * The command handler fills it from the current span when not given.
   */
  readonly traceParent?: string | undefined
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
  traceParent: Schema.optional(Schema.String),
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
  readonly stream: StreamName.StreamName
  readonly streamVersion: number
  readonly position: Position.Position
  readonly recordedAt: DateTime.Utc
}

/**
 * An {@link Envelope} as JSON: its position as `{ commit, sequence }` in
 * decimal strings, its time as ISO 8601 text.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnvelopeJson extends EventData {
  readonly stream: string
  readonly streamVersion: number
  readonly position: { readonly commit: string; readonly sequence: string }
  readonly recordedAt: string
}

/**
 * A Schema between an {@link Envelope} and its JSON form
 * ({@link EnvelopeJson}): what the HTTP API answers, the CLI prints and a
 * store keeps when it stores a whole envelope (say, a parked event).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Envelope: Schema.Codec<Envelope, EnvelopeJson> = Schema.Struct({
  eventId: Schema.String,
  stream: StreamName.StreamName,
  streamVersion: Schema.Int,
  position: Position.Position,
  type: Schema.String,
  schemaVersion: Schema.Int,
  data: Schema.Unknown,
  metadata: Metadata,
  recordedAt: Schema.DateTimeUtcFromString
})

/**
 * An envelope's JSON form.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode: (envelope: Envelope) => EnvelopeJson = Schema.encodeSync(Envelope)

/**
 * Reads an envelope from its JSON form, failing with a `SchemaError` that
 * says which field is wrong.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode: (json: unknown) => Effect.Effect<Envelope, Schema.SchemaError> =
  Schema.decodeUnknownEffect(Envelope)

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
