/**
 * The in-memory store's hash chains. Its events are frozen when appended, so
 * nothing can alter them behind its back: each stream's chain is computed
 * from them when it is listed, with the function every store's chain follows
 * (`Integrity.hash`), and the stream's head is its last event.
 */
import { DateTime, Effect, Stream } from "effect"
import { Digest } from "effect/crypto"
import type { Envelope } from "../Envelope.ts"
import * as Integrity from "../Integrity.ts"

/** An event as the memory store keeps it, without its hash: data and metadata as JSON text. */
const stored = (envelope: Envelope): Omit<Integrity.StoredEvent, "hash"> => ({
  eventId: envelope.eventId,
  stream: envelope.stream,
  streamVersion: envelope.streamVersion,
  type: envelope.type,
  schemaVersion: envelope.schemaVersion,
  data: JSON.stringify(envelope.data),
  metadata: JSON.stringify(envelope.metadata),
  recordedAtMicros: BigInt(DateTime.toEpochMillis(envelope.recordedAt)) * 1000n
})

/** One stream's links: its events chained from the genesis hash, each with the head (the last event). */
const chainOf = (stream: string, envelopes: ReadonlyArray<Envelope>) =>
  Effect.gen(function* () {
    const events: Array<Integrity.StoredEvent> = []
    let previous = Integrity.genesis
    for (const envelope of envelopes) {
      const event = stored(envelope)
      previous = yield* Integrity.hash(previous, event)
      events.push({ ...event, hash: previous })
    }
    const head: Integrity.StreamHead = { stream, version: events.length - 1, hash: previous }
    return events.map((event): Integrity.Link => ({ _tag: "Event", event, head }))
  }).pipe(Effect.provide(Digest.layerWebCrypto))

/**
 * The `Integrity` service over the memory store's committed streams: `names`
 * lists them, `events` gives one stream's committed events.
 */
export const make = (
  names: () => ReadonlyArray<string>,
  events: (stream: string) => ReadonlyArray<Envelope>
): Integrity.Integrity["Service"] => {
  const selected = (stream: string | undefined) => (stream === undefined ? [...names()].sort() : [stream])
  return {
    links: (stream) =>
      Stream.suspend(() => Stream.fromIterable(selected(stream))).pipe(
        Stream.mapEffect((name) => chainOf(name, events(name))),
        Stream.flattenIterable
      ),
    size: (stream) => Effect.sync(() => selected(stream).reduce((n, name) => n + events(name).length, 0))
  }
}
