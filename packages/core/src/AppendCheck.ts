/**
 * The checks every store runs on an append before it reaches storage, so all
 * stores accept and reject exactly the same input.
 *
 * @since 0.1.0
 */
import { Result } from "effect"
import type { EventData } from "./Envelope.ts"
import { isEventId } from "./EventId.ts"
import { InvalidAppend, type StreamAppend } from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import * as StreamName from "./StreamName.ts"

/**
 * An event checked for appending, with its data and metadata as JSON text.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckedEvent {
  readonly event: EventData
  readonly dataJson: string
  readonly metadataJson: string
}

const utf8Length = (s: string): number => {
  // Buffer-free UTF-8 length; counts a surrogate pair as 4 bytes.
  let bytes = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

const toJson = (value: unknown): string | undefined => {
  try {
    return JSON.stringify(value)
  } catch {
    return undefined
  }
}

/**
 * The longest event type accepted, in UTF-16 code units.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxTypeLength = 256

/**
 * The highest schema version accepted: 2^31 − 1, the largest 32-bit signed
 * integer (PostgreSQL stores schema versions as `integer`).
 *
 * @since 0.1.0
 * @category constants
 */
export const maxSchemaVersion = 2_147_483_647

/**
 * Whether text is stored and read back exactly by every store: well-formed
 * Unicode (no lone surrogates, which PostgreSQL turns into U+FFFD) without
 * NUL (which PostgreSQL's `text` cannot hold).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isStorableText = (text: string): boolean => text.isWellFormed() && !text.includes("\u0000")

/** A `\udXXX` escape, perhaps of a lone surrogate (or just the text `\ud…` after an escaped backslash). */
const surrogateEscape = /\\ud[89a-f]/i

/**
 * Whether JSON text has a string or key with a lone surrogate. `JSON.stringify`
 * writes lone surrogates as `\udXXX` escapes, so only text with such an escape
 * is parsed to make sure (a raw one can only come from `JSON.rawJSON`).
 */
const hasLoneSurrogate = (json: string): boolean => {
  if (!json.isWellFormed()) return true
  if (!surrogateEscape.test(json)) return false
  let lone = false
  JSON.parse(json, (key, value) => {
    lone ||= !key.isWellFormed() || (typeof value === "string" && !value.isWellFormed())
    return value
  })
  return lone
}

const show = (value: unknown): string => toJson(value) ?? String(value)

const showExpected = (expected: unknown): string => {
  const version = (expected as { readonly version?: unknown } | undefined)?.version
  return (expected as { readonly _tag?: unknown } | undefined)?._tag === "Exact"
    ? `Exact(${typeof version === "string" ? JSON.stringify(version) : String(version)})`
    : show(expected)
}

const typeProblem = (type: unknown): string | undefined => {
  if (typeof type !== "string") return `a type that is not a string (${show(type)})`
  if (type.length === 0 || type.length > maxTypeLength) {
    return `a type of ${type.length} characters (1 to ${maxTypeLength} allowed)`
  }
  if (!isStorableText(type)) return `the type ${JSON.stringify(type)}, which contains NUL or a lone surrogate`
  return undefined
}

/**
 * Checks an append before it reaches storage: the stream name is valid (it may
 * have been built by a cast), the expected version is one of
 * `ExpectedVersion`'s (an exact version is an integer from 0 to
 * `ExpectedVersion.maxExact`), and every event is sound — ids are UUIDs and
 * unique within the append; types are 1 to {@link maxTypeLength} characters of
 * {@link isStorableText storable text}; schema versions are integers from 1 to
 * {@link maxSchemaVersion}; data and metadata are JSON without lone surrogates
 * in any string or key (NUL is fine there: JSON escapes it); and each event's
 * JSON is at most `maxEventBytes` (UTF-8). Ids come back in lower case.
 *
 * @since 0.1.0
 * @category validation
 */
export const check = (
  append: StreamAppend,
  maxEventBytes: number
): Result.Result<ReadonlyArray<CheckedEvent>, InvalidAppend> => {
  const fail = (reason: string) => Result.fail(new InvalidAppend({ stream: append.stream, reason }))
  const stream = StreamName.decodeResult(append.stream)
  if (Result.isFailure(stream)) return fail(`the stream name is invalid: ${stream.failure.reason}`)
  if (!ExpectedVersion.isExpectedVersion(append.expectedVersion)) {
    return fail(
      `the expected version ${showExpected(append.expectedVersion)} is not Exact (an integer from 0 to ` +
        `${ExpectedVersion.maxExact}), NoStream, StreamExists or Any`
    )
  }
  if (append.events.length === 0) return fail("the append has no events")
  const seen = new Set<string>()
  const checked: Array<CheckedEvent> = []
  for (const event of append.events) {
    if (!isEventId(event.eventId)) return fail(`event id ${JSON.stringify(event.eventId)} is not a UUID`)
    const eventId = event.eventId.toLowerCase()
    if (seen.has(eventId)) return fail(`event id ${eventId} appears twice in one append`)
    seen.add(eventId)
    const problem = typeProblem(event.type)
    if (problem !== undefined) return fail(`event ${eventId} has ${problem}`)
    if (!Number.isInteger(event.schemaVersion) || event.schemaVersion < 1 || event.schemaVersion > maxSchemaVersion) {
      return fail(
        `event ${eventId} has schema version ${event.schemaVersion}; versions are integers from 1 to ${maxSchemaVersion}`
      )
    }
    const dataJson = toJson(event.data)
    if (dataJson === undefined) return fail(`the data of event ${eventId} (${event.type}) is not JSON`)
    const metadataJson = toJson(event.metadata ?? {})
    if (metadataJson === undefined) return fail(`the metadata of event ${eventId} (${event.type}) is not JSON`)
    if (hasLoneSurrogate(dataJson) || hasLoneSurrogate(metadataJson)) {
      return fail(`the data or metadata of event ${eventId} (${event.type}) has a string or key with a lone surrogate`)
    }
    const size = utf8Length(dataJson) + utf8Length(metadataJson)
    if (size > maxEventBytes) {
      return fail(`event ${eventId} (${event.type}) is ${size} bytes of JSON, over the limit of ${maxEventBytes}`)
    }
    checked.push({ event: eventId === event.eventId ? event : { ...event, eventId }, dataJson, metadataJson })
  }
  return Result.succeed(checked)
}

/**
 * One part of an `appendMany`, checked: the append and its checked events.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckedAppend {
  readonly append: StreamAppend
  readonly events: ReadonlyArray<CheckedEvent>
}

/**
 * Checks every part of an `appendMany` before any of it reaches storage: each
 * part passes {@link check}, no stream appears in two parts (merge their
 * events instead), and no event id appears in two parts (an event belongs to
 * one stream). The parts come back in the order given.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkMany = (
  appends: ReadonlyArray<StreamAppend>,
  maxEventBytes: number
): Result.Result<ReadonlyArray<CheckedAppend>, InvalidAppend> => {
  const streams = new Set<string>()
  const owners = new Map<string, string>()
  const checked: Array<CheckedAppend> = []
  for (const append of appends) {
    const fail = (reason: string) => Result.fail(new InvalidAppend({ stream: append.stream, reason }))
    if (streams.has(append.stream)) return fail("the stream appears twice in one appendMany; merge its events")
    streams.add(append.stream)
    const events = check(append, maxEventBytes)
    if (Result.isFailure(events)) return Result.fail(events.failure)
    for (const { event } of events.success) {
      const owner = owners.get(event.eventId)
      if (owner !== undefined) {
        return fail(
          `event id ${event.eventId} appears in the parts for ${JSON.stringify(owner)} and ` +
            `${JSON.stringify(append.stream)} of one appendMany; an event belongs to one stream`
        )
      }
      owners.set(event.eventId, append.stream)
    }
    checked.push({ append, events: events.success })
  }
  return Result.succeed(checked)
}
