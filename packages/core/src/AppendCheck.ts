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
 * Checks every event of an append: ids are UUIDs
 * and unique within the append, types are non-empty, schema versions are
 * positive integers, data and metadata are JSON, and each event's JSON is at
 * most `maxEventBytes` (UTF-8). Ids come back in lower case.
 *
 * @since 0.1.0
 * @category validation
 */
export const check = (
  append: StreamAppend,
  maxEventBytes: number
): Result.Result<ReadonlyArray<CheckedEvent>, InvalidAppend> => {
  const fail = (reason: string) => Result.fail(new InvalidAppend({ stream: append.stream, reason }))
  if (append.events.length === 0) return fail("the append has no events")
  const seen = new Set<string>()
  const checked: Array<CheckedEvent> = []
  for (const event of append.events) {
    if (!isEventId(event.eventId)) return fail(`event id ${JSON.stringify(event.eventId)} is not a UUID`)
    const eventId = event.eventId.toLowerCase()
    if (seen.has(eventId)) return fail(`event id ${eventId} appears twice in one append`)
    seen.add(eventId)
    if (event.type.length === 0 || event.type.length > 256) {
      return fail(`event ${eventId} has a type of ${event.type.length} characters (1 to 256 allowed)`)
    }
    if (!Number.isSafeInteger(event.schemaVersion) || event.schemaVersion < 1) {
      return fail(`event ${eventId} has schema version ${event.schemaVersion}; versions are integers from 1`)
    }
    const dataJson = toJson(event.data)
    if (dataJson === undefined) return fail(`the data of event ${eventId} (${event.type}) is not JSON`)
    const metadataJson = toJson(event.metadata ?? {})
    if (metadataJson === undefined) return fail(`the metadata of event ${eventId} (${event.type}) is not JSON`)
    const size = utf8Length(dataJson) + utf8Length(metadataJson)
    if (size > maxEventBytes) {
      return fail(`event ${eventId} (${event.type}) is ${size} bytes of JSON, over the limit of ${maxEventBytes}`)
    }
    checked.push({ event: eventId === event.eventId ? event : { ...event, eventId }, dataJson, metadataJson })
  }
  return Result.succeed(checked)
}
