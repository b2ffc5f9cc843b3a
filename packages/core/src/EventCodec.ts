/**
 * The codec between a domain's event union and the stored form
 * `{ type, version, data }`. Decoding accepts every declared version of every
 * event type and upcasts it to the current one; encoding always writes the
 * current version.
 *
 * Personal fields (see `EventType.Personal`) are sealed — encrypted with
 * their subject's key from the `KeyStore` — by {@link EventCodec.toEventData},
 * which makes what is appended, and opened by {@link EventCodec.open}, which
 * every reader of stored events runs before decoding. `encode`, `decode` and
 * `schema` work on the plain stored form; decoding a field still sealed fails
 * with `InvalidEventData`, never hands ciphertext to the domain.
 *
 * Failures are typed and distinct: {@link UnknownEventType},
 * {@link UnknownSchemaVersion} and {@link InvalidEventData}. Each names the type
 * and schema version and, when decoding an envelope, the stream and stream
 * version — never a silent drop.
 *
 * @example
 * ```ts
 * import { EventCodec } from "@chronicle/core"
 *
 * const OrderEvents = EventCodec.make(OrderPlaced, PaymentConfirmed, OrderCancelled)
 * type OrderEvent = EventCodec.Event<typeof OrderEvents>
 *
 * OrderEvents.decode({ type: "OrderPlaced", version: 1, data: { orderId: "o1", product_ids: ["p1"] } })
 * // Result.succeed({ _tag: "OrderPlaced", orderId: "o1", items: [...], currency: "USD" })
 * ```
 *
 * Over 300 lines because the codec's Schema, its fast decode/encode path and
 * their typed errors describe one thing and read best together.
 *
 * @since 0.1.0
 */
import { Effect, Result, Schema, SchemaGetter, SchemaIssue } from "effect"
import type { Decoded, Envelope, EventData, Metadata } from "./Envelope.ts"
import * as EventId from "./EventId.ts"
import type * as EventType from "./EventType.ts"
import * as personalFields from "./internal/personalFields.ts"
import type { StoreError } from "./StoreError.ts"

/**
 * The stored form of an event.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredEvent {
  readonly type: string
  readonly version: number
  readonly data: unknown
}

/**
 * A Schema for {@link StoredEvent}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StoredEvent: Schema.Codec<StoredEvent> = Schema.Struct({
  type: Schema.String,
  version: Schema.Int,
  data: Schema.Unknown
})

const where = (stream: string | undefined, streamVersion: number | undefined) =>
  stream === undefined ? "" : ` at ${JSON.stringify(stream)} version ${streamVersion}`

const optionalLocation = {
  stream: Schema.optional(Schema.String),
  streamVersion: Schema.optional(Schema.Int)
}

/**
 * A stored event's type is not one this codec knows.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownEventType extends Schema.TaggedError<UnknownEventType>()("UnknownEventType", {
  type: Schema.String,
  schemaVersion: Schema.Int,
  ...optionalLocation
}) {
  override get message() {
    return (
      `Unknown event type ${JSON.stringify(this.type)} (schema version ${this.schemaVersion})` +
      `${where(this.stream, this.streamVersion)}. Add the event type to the codec, or filter it out of the read.`
    )
  }
}

/**
 * A stored event's schema version is not declared for its type (for example a
 * newer version written by a newer release of the app).
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownSchemaVersion extends Schema.TaggedError<UnknownSchemaVersion>()("UnknownSchemaVersion", {
  type: Schema.String,
  schemaVersion: Schema.Int,
  currentVersion: Schema.Int,
  ...optionalLocation
}) {
  override get message() {
    return (
      `Event ${this.type} has schema version ${this.schemaVersion}${where(this.stream, this.streamVersion)}, ` +
      `but this codec knows versions 1 to ${this.currentVersion}. Is a newer release of the app writing to this store?`
    )
  }
}

/**
 * A stored event's data does not match the schema of its declared version
 * (when decoding), or a domain event does not match its current schema (when
 * encoding). `issue` is the schema's description of what is wrong.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidEventData extends Schema.TaggedError<InvalidEventData>()("InvalidEventData", {
  type: Schema.String,
  schemaVersion: Schema.Int,
  issue: Schema.String,
  ...optionalLocation
}) {
  override get message() {
    return (
      `Event ${this.type} (schema version ${this.schemaVersion})${where(this.stream, this.streamVersion)} ` +
      `does not match its schema: ${this.issue}`
    )
  }
}

/**
 * The errors decoding can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type DecodeError = UnknownEventType | UnknownSchemaVersion | InvalidEventData

/**
 * The codec of a domain's events.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventCodec<E extends { readonly _tag: string }> {
  /** The event types, by stored type name. */
  readonly types: ReadonlyMap<string, EventType.Any>
  /** The union of the current event schemas (for arbitraries, HTTP bodies, equivalence). */
  readonly events: Schema.Codec<E, any>
  /** An Effect Schema between the domain events and their stored form. */
  readonly schema: Schema.Codec<E, StoredEvent>
  /**
   * Decodes and upcasts one stored event; pass where it is stored so errors
   * can name it.
   */
  readonly decode: (
    stored: StoredEvent,
    location?: { readonly stream: string; readonly streamVersion: number }
  ) => Result.Result<E, DecodeError>
  /** Encodes one domain event at its type's current version. */
  readonly encode: (event: E) => Result.Result<StoredEvent, InvalidEventData>
  /** Decodes an envelope's data; errors name the stream and stream version. */
  readonly decodeEnvelope: (envelope: Envelope) => Result.Result<Decoded<E>, DecodeError>
  /**
   * Encodes domain events as {@link EventData} ready to append, with the given
   * metadata and new UUIDv7 ids — or, with `idempotencyKey`, ids derived from
   * the key and each event's index, so the same key gives the same ids.
   * Personal fields are sealed with their subject's key from the `KeyStore`;
   * a key store failure is a `StoreError`, and nothing is encoded.
   */
  readonly toEventData: (
    events: ReadonlyArray<E>,
    metadata?: Metadata,
    idempotencyKey?: string
  ) => Effect.Effect<ReadonlyArray<EventData>, InvalidEventData | StoreError>
  /**
   * Opens the sealed personal fields of stored envelopes, to decode next: each
   * becomes its stored value, or the event type's `erased` value once its
   * subject is forgotten. Keys come from the `KeyStore`; its failure is a
   * `StoreError`. Envelopes without sealed fields come back as they are (for
   * a codec without personal fields, the same array).
   */
  readonly open: (envelopes: ReadonlyArray<Envelope>) => Effect.Effect<ReadonlyArray<Envelope>, StoreError>
}

/**
 * The domain event union of a codec.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Event<C> = C extends EventCodec<infer E> ? E : never

const formatIssue = (issue: SchemaIssue.Issue): string => SchemaIssue.makeFormatterDefault()(issue)

/**
 * Combines event types into the domain's event codec.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Types extends ReadonlyArray<EventType.Any>>(
  ...eventTypes: Types
): EventCodec<EventType.Event<Types[number]>> => {
  type E = EventType.Event<Types[number]>
  const types = new Map<string, EventType.Any>()
  const encoders = new Map<string, (data: unknown) => Result.Result<unknown, Schema.SchemaError>>()
  for (const eventType of eventTypes) {
    if (types.has(eventType.type)) throw new Error(`EventCodec.make: event type ${eventType.type} is declared twice`)
    types.set(eventType.type, eventType)
    encoders.set(eventType.type, Schema.encodeUnknownResult(eventType.data as Schema.Codec<unknown, unknown>))
  }

  const decodeAt = (stored: StoredEvent, stream?: string, streamVersion?: number): Result.Result<E, DecodeError> => {
    const location = stream === undefined ? {} : { stream, streamVersion }
    const eventType = types.get(stored.type)
    if (eventType === undefined) {
      return Result.fail(new UnknownEventType({ type: stored.type, schemaVersion: stored.version, ...location }))
    }
    const decoder =
      Number.isInteger(stored.version) && stored.version >= 1 ? eventType.decoders[stored.version - 1] : undefined
    if (decoder === undefined) {
      return Result.fail(
        new UnknownSchemaVersion({
          type: stored.type,
          schemaVersion: stored.version,
          currentVersion: eventType.version,
          ...location
        })
      )
    }
    const sealed = eventType.personal === undefined ? undefined : personalFields.sealedField(stored.data)
    if (sealed !== undefined) {
      return Result.fail(
        new InvalidEventData({
          type: stored.type,
          schemaVersion: stored.version,
          issue:
            `the personal field ${JSON.stringify(sealed)} is sealed: open stored events with the codec's open ` +
            `before decoding them; if they were opened, the field's ciphertext was altered`,
          ...location
        })
      )
    }
    const decoded = decoder(stored.data)
    return Result.isSuccess(decoded)
      ? Result.succeed({ ...decoded.success, _tag: stored.type } as E)
      : Result.fail(
          new InvalidEventData({
            type: stored.type,
            schemaVersion: stored.version,
            issue: formatIssue(decoded.failure),
            ...location
          })
        )
  }

  const encode = (event: E): Result.Result<StoredEvent, InvalidEventData> => {
    const eventType = types.get(event._tag)
    const encoder = encoders.get(event._tag)
    if (eventType === undefined || encoder === undefined) {
      return Result.fail(
        new InvalidEventData({ type: event._tag, schemaVersion: 0, issue: "the event type is not part of this codec" })
      )
    }
    const { _tag, ...payload } = event as { _tag: string }
    return Result.match(encoder(payload), {
      onSuccess: (data) => Result.succeed({ type: event._tag, version: eventType.version, data }),
      onFailure: (error) =>
        Result.fail(
          new InvalidEventData({ type: event._tag, schemaVersion: eventType.version, issue: formatIssue(error.issue) })
        )
    })
  }

  const personal = eventTypes.some((eventType) => eventType.personal !== undefined)
  /** The stored data of `event` with its personal fields sealed, if its type has any. */
  const sealed = (event: E, data: unknown): Effect.Effect<unknown, StoreError> => {
    const declared = types.get(event._tag)?.personal
    return declared === undefined ? Effect.succeed(data) : personalFields.seal(declared, event, data as {})
  }

  const events = Schema.Union(eventTypes.map((t) => t.schema)) as unknown as Schema.Codec<E, any>

  const schema = StoredEvent.pipe(
    Schema.decodeTo(Schema.toType(events), {
      decode: SchemaGetter.transformEffect((stored: StoredEvent) =>
        Result.match(decodeAt(stored), {
          onSuccess: Effect.succeed,
          onFailure: (error) => Effect.fail(new SchemaIssue.InvalidValue({ message: error.message }, stored))
        })
      ),
      encode: SchemaGetter.transformEffect((event: E) =>
        Result.match(encode(event), {
          onSuccess: Effect.succeed,
          onFailure: (error) => Effect.fail(new SchemaIssue.InvalidValue({ message: error.message }, event))
        })
      )
    })
  ) as unknown as Schema.Codec<E, StoredEvent>

  return {
    types,
    events,
    schema,
    decode: (stored, location) => decodeAt(stored, location?.stream, location?.streamVersion),
    encode,
    decodeEnvelope: (envelope) =>
      Result.map(
        decodeAt(
          { type: envelope.type, version: envelope.schemaVersion, data: envelope.data },
          envelope.stream,
          envelope.streamVersion
        ),
        (event): Decoded<E> => ({
          eventId: envelope.eventId,
          type: envelope.type,
          schemaVersion: envelope.schemaVersion,
          metadata: envelope.metadata,
          stream: envelope.stream,
          streamVersion: envelope.streamVersion,
          position: envelope.position,
          recordedAt: envelope.recordedAt,
          event
        })
      ),
    toEventData: (domainEvents, metadata = {}, idempotencyKey) =>
      Effect.forEach(domainEvents, (event, index) =>
        Effect.flatMap(Effect.fromResult(encode(event)), (stored) =>
          Effect.zipWith(
            idempotencyKey === undefined ? EventId.make : EventId.fromKey(`${idempotencyKey}/${index}`),
            sealed(event, stored.data),
            (eventId, data): EventData => ({
              eventId,
              type: stored.type,
              schemaVersion: stored.version,
              data,
              metadata
            })
          )
        )
      ),
    open: (envelopes) => (personal ? personalFields.open(types, envelopes) : Effect.succeed(envelopes))
  }
}
