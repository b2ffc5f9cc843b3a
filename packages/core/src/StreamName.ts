/**
 * Stream names: `category-id`, where the category is everything before the
 * first `-` (for example `order-7f3a…` is in category `order`).
 *
 * Names are validated once, at the edge, and then carried as the branded
 * {@link StreamName} type.
 *
 * @since 0.1.0
 */
import { type Brand, Effect, Result, Schema } from "effect"

/**
 * The longest stream name accepted, in UTF-16 code units.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxLength = 256

/**
 * A stream name that has been validated: a non-empty category, a `-`, a
 * non-empty id, well-formed Unicode (no lone surrogates), no control
 * characters and at most {@link maxLength} characters.
 *
 * @since 0.1.0
 * @category models
 */
export type StreamName = string & Brand.Brand<"StreamName">

/**
 * Raised when a string is not a valid stream name; `reason` says why.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidStreamName extends Schema.TaggedError<InvalidStreamName>()("InvalidStreamName", {
  stream: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return (
      `Invalid stream name ${JSON.stringify(this.stream.slice(0, 80))}: ${this.reason}. ` +
      `Stream names are "category-id" with a non-empty category and id, no control characters ` +
      `or lone surrogates, at most ${maxLength} characters.`
    )
  }
}

const controlCharacters = /[\u0000-\u001f\u007f-\u009f]/

const check = (name: string): string | undefined => {
  if (name.length === 0) return "it is empty"
  if (name.length > maxLength) return `it is ${name.length} characters long`
  if (controlCharacters.test(name)) return "it contains a control character"
  const dash = name.indexOf("-")
  if (dash === -1) return 'it has no "-" between category and id'
  if (dash === 0) return "the category is empty"
  if (dash === name.length - 1) return "the id is empty"
  if (!name.isWellFormed()) return "it contains a lone surrogate"
  return undefined
}

/**
 * Validates a string as a stream name.
 *
 * @example
 * ```ts
 * import { StreamName } from "@chronicle/core"
 * StreamName.decodeResult("order-42") // Result.succeed("order-42")
 * StreamName.decodeResult("order-")   // Result.fail(InvalidStreamName)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const decodeResult = (name: string): Result.Result<StreamName, InvalidStreamName> => {
  const reason = check(name)
  return reason === undefined
    ? Result.succeed(name as StreamName)
    : Result.fail(new InvalidStreamName({ stream: name, reason }))
}

/**
 * Whether a value is a valid stream name. A value typed as {@link StreamName}
 * may still be invalid (built by a cast); stores check names with this.
 *
 * @since 0.1.0
 * @category guards
 */
export const isStreamName = (u: unknown): u is StreamName => typeof u === "string" && check(u) === undefined

/**
 * Validates a string as a stream name, failing with {@link InvalidStreamName}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decode = (name: string): Effect.Effect<StreamName, InvalidStreamName> =>
  Effect.fromResult(decodeResult(name))

/**
 * Builds a stream name from a category and an id; throws on invalid input, so
 * use it with trusted parts (ids you generated) and {@link decode} otherwise.
 *
 * @example
 * ```ts
 * import { StreamName } from "@chronicle/core"
 * const stream = StreamName.make("order", "7f3a") // "order-7f3a"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (category: string, id: string): StreamName => {
  if (category.includes("-")) {
    throw new InvalidStreamName({ stream: `${category}-${id}`, reason: 'the category contains "-"' })
  }
  return Result.getOrThrow(decodeResult(`${category}-${id}`))
}

/**
 * The category of a stream: everything before the first `-`.
 *
 * @since 0.1.0
 * @category getters
 */
export const category = (stream: StreamName | string): string => {
  const dash = stream.indexOf("-")
  return dash === -1 ? stream : stream.slice(0, dash)
}

/**
 * The id part of a stream: everything after the first `-`.
 *
 * @since 0.1.0
 * @category getters
 */
export const id = (stream: StreamName | string): string => {
  const dash = stream.indexOf("-")
  return dash === -1 ? "" : stream.slice(dash + 1)
}

/**
 * A Schema for stream names, for commands and HTTP payloads.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StreamName = Schema.String.pipe(
  Schema.check(Schema.makeFilter((s: string) => check(s) ?? true)),
  Schema.brand("StreamName")
)
