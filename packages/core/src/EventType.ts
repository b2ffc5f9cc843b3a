/**
 * Versioned event types. An event type has a name, a current schema and the
 * history of its older schemas, each with the pure step that upcasts it to the
 * next version. What the domain sees is always the current version; what is
 * stored is `{ type, version, data }`, where `data` is the encoded payload of
 * the version it was written with.
 *
 * Declare the first version with {@link make}, then each later version with
 * {@link evolve} — the order of `evolve` calls is the version order.
 *
 * @example
 * ```ts
 * import { EventType } from "@chronicle/core"
 * import { Schema } from "effect"
 *
 * const Item = Schema.Struct({ productId: Schema.String, quantity: Schema.Int, unitPrice: Schema.Int })
 *
 * export const OrderPlaced = EventType.make("OrderPlaced", {
 *   orderId: Schema.String,
 *   product_ids: Schema.Array(Schema.String)              // version 1
 * }).pipe(
 *   EventType.evolve({ orderId: Schema.String, items: Schema.Array(Item) }, (v1) => ({
 *     orderId: v1.orderId,
 *     items: v1.product_ids.map((productId) => ({ productId, quantity: 1, unitPrice: 0 }))
 *   })),                                                  // version 2
 *   EventType.evolve({ orderId: Schema.String, items: Schema.Array(Item), currency: Schema.String }, (v2) => ({
 *     ...v2,
 *     currency: "USD"
 *   }))                                                   // version 3, the current one
 * )
 * ```
 *
 * @since 0.1.0
 */
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import { Result, Schema, type SchemaIssue } from "effect"

/**
 * Decodes the stored data of one version into the current payload.
 *
 * @since 0.1.0
 * @category models
 */
export type VersionDecoder<Data> = (data: unknown) => Result.Result<Data, SchemaIssue.Issue>

/**
 * Which fields of an event type are personal data, and whose: the subject
 * they are about (a customer, an account holder), read from the event. When
 * stored, each personal field is encrypted with the subject's key (see
 * `PersonalData`); once the subject is forgotten it decodes to `erased`.
 *
 * The subject must come from a field that is not personal itself (say, a
 * customer id). `erased` is a stored value every personal field's schema must
 * accept (default `"[erased]"`).
 *
 * @example
 * ```ts
 * import { EventType } from "@chronicle/core"
 * import { Schema } from "effect"
 *
 * export const CustomerRegistered = EventType.make(
 *   "CustomerRegistered",
 *   { customerId: Schema.String, email: Schema.String, address: Schema.String },
 *   { personal: { subject: (e) => e.customerId, fields: ["email", "address"] } }
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Personal<Payload> {
  /** The subject the personal fields are about, read from the event. */
  readonly subject: (event: Payload) => string
  /** The personal fields, encrypted with the subject's key when stored. */
  readonly fields: ReadonlyArray<keyof Payload & string>
  /** What a personal field decodes to once its subject is forgotten (default `"[erased]"`). */
  readonly erased?: unknown
}

/**
 * An event type whose current version has the given fields.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventType<Tag extends string, Fields extends Schema.Struct.Fields> extends Pipeable {
  /** The stored type name, also the `_tag` of the domain event. */
  readonly type: Tag
  /** The current schema version, starting at 1. */
  readonly version: number
  /** The domain event: a tagged struct of the current version's fields. */
  readonly schema: Schema.TaggedStruct<Tag, Fields>
  /** The stored payload of the current version. */
  readonly data: Schema.Struct<Fields>
  /** For each version (index `version - 1`), a decoder of its stored data into the current payload. */
  readonly decoders: ReadonlyArray<VersionDecoder<Schema.Struct<Fields>["Type"]>>
  /** Builds the domain event from its fields. */
  readonly make: (fields: Schema.Struct<Fields>["Type"]) => Schema.TaggedStruct<Tag, Fields>["Type"]
  /** The personal fields of the current version and whose they are, if any. */
  readonly personal: Personal<Schema.Struct<Fields>["Type"]> | undefined
}

/**
 * Any event type.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any extends Pipeable {
  readonly type: string
  readonly version: number
  readonly schema: Schema.Top & {
    readonly Type: { readonly _tag: string }
    readonly DecodingServices: never
    readonly EncodingServices: never
  }
  readonly data: Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }
  readonly decoders: ReadonlyArray<VersionDecoder<any>>
  readonly personal?: Personal<any> | undefined
}

/**
 * What {@link make} and {@link evolve} take besides the fields.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Payload> {
  /** The personal fields and whose they are (see {@link Personal}). */
  readonly personal?: Personal<Payload> | undefined
}

/**
 * The domain event type of an event type.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Event<T> = T extends { readonly schema: { readonly Type: infer E } } ? E : never

const decoderOf = <Fields extends Schema.Struct.Fields>(
  fields: Fields
): VersionDecoder<Schema.Struct<Fields>["Type"]> => {
  const decode = Schema.decodeUnknownResult(Schema.Struct(fields) as Schema.Top as Schema.Codec<unknown, unknown>)
  return (data) => Result.mapError(decode(data), (error) => error.issue) as Result.Result<any, SchemaIssue.Issue>
}

const build = <Tag extends string, Fields extends Schema.Struct.Fields>(
  type: Tag,
  fields: Fields,
  decoders: ReadonlyArray<VersionDecoder<Schema.Struct<Fields>["Type"]>>,
  personal: Personal<Schema.Struct<Fields>["Type"]> | undefined
): EventType<Tag, Fields> => {
  const schema = Schema.TaggedStruct(type, fields)
  const unknown = personal?.fields.filter((field) => !(field in fields)) ?? []
  if (unknown.length > 0) {
    throw new Error(`EventType ${type}: the personal fields ${unknown.join(", ")} are not fields of the event`)
  }
  return {
    type,
    version: decoders.length,
    schema,
    data: Schema.Struct(fields),
    decoders,
    make: (payload) => ({ ...payload, _tag: type }) as any,
    personal,
    pipe() {
      return pipeArguments(this, arguments)
    }
  }
}

/**
 * Declares an event type at version 1; with `personal`, which of its fields
 * are personal data and whose (see {@link Personal}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Tag extends string, const Fields extends Schema.Struct.Fields>(
  type: Tag,
  fields: Fields,
  options?: Options<Schema.Struct<Fields>["Type"]>
): EventType<Tag, Fields> => build(type, fields, [decoderOf(fields)], options?.personal)

/**
 * Declares the next version of an event type: its fields, and the pure step
 * that turns a payload of the previous version into one of the new version.
 * Stored events of every older version decode by running their steps in order.
 *
 * The new version keeps the previous one's personal fields unless `personal`
 * says otherwise, so evolving never stores a personal field in plaintext by
 * omission.
 *
 * @since 0.1.0
 * @category combinators
 */
export const evolve =
  <const Fields extends Schema.Struct.Fields, Previous extends Schema.Struct.Fields>(
    fields: Fields,
    upcast: (previous: Schema.Struct<Previous>["Type"]) => Schema.Struct<Fields>["Type"],
    options?: Options<Schema.Struct<Fields>["Type"]>
  ) =>
  <Tag extends string>(self: EventType<Tag, Previous>): EventType<Tag, Fields> =>
    build(
      self.type,
      fields,
      [...self.decoders.map((decode) => (data: unknown) => Result.map(decode(data), upcast)), decoderOf(fields)],
      options?.personal ?? (self.personal as Personal<any> | undefined)
    )
