/**
 * The in-memory store's hash chains. Its events are frozen when appended, so
 * nothing can alter them behind its back: each stream's chain is computed
 * from them when it is listed, with the function every store's chain follows
 * (`Integrity.hash`), and the stream's head is its last event. A lawful
 * removal's marker (`StreamLifecycle`) says where the listed chain starts.
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

/** The events chained from `previous`, each with its hash. */
const chained = (previous: Uint8Array, envelopes: ReadonlyArray<Envelope>) =>
  Effect.gen(function* () {
    const events: Array<Integrity.StoredEvent> = []
    for (const envelope of envelopes) {
      const event = stored(envelope)
      previous = yield* Integrity.hash(previous, event)
      events.push({ ...event, hash: previous })
    }
    return { events, last: previous }
  }).pipe(Effect.provide(Digest.layerWebCrypto))

/** The hash of the last of a stream's events from its first (the genesis hash for none). */
export const chainHash = (envelopes: ReadonlyArray<Envelope>): Effect.Effect<Uint8Array> =>
  Effect.map(chained(Integrity.genesis, envelopes), ({ last }) => last)

/** A stream's lawful-removal marker: the first version kept, and the hash its chain goes on from. */
export interface Marker {
  readonly removedBefore: number
  readonly removedHash: Uint8Array | null
}

/**
 * One stream's links: its kept events chained from the marker's hash, each with the head (the
 * stream's last version and hash); only the head when no event is kept.
 */
const chainOf = (stream: string, version: number, kept: ReadonlyArray<Envelope>, marker: Marker) =>
  Effect.map(chained(marker.removedHash ?? Integrity.genesis, kept), ({ events, last }) => {
    const head: Integrity.StreamHead = { stream, version, hash: last, ...marker }
    return events.length === 0
      ? [{ _tag: "Head", head } satisfies Integrity.Link]
      : events.map((event): Integrity.Link => ({ _tag: "Event", event, head }))
  })

/**
 * The `Integrity` service over the memory store's committed streams: `names`
 * lists them, `events` gives one stream's committed events (every version,
 * removed ones included) and `marker` its removal marker.
 */
export const make = (
  names: () => ReadonlyArray<string>,
  events: (stream: string) => ReadonlyArray<Envelope>,
  marker: (stream: string) => Marker
): Integrity.Integrity["Service"] => {
  const selected = (stream: string | undefined) => (stream === undefined ? [...names()].sort() : [stream])
  const kept = (stream: string) => events(stream).slice(marker(stream).removedBefore)
  return {
    links: (stream) =>
      Stream.suspend(() => Stream.fromIterable(selected(stream))).pipe(
        Stream.mapEffect((name) => {
          const all = events(name)
          return all.length === 0 ? Effect.succeed([]) : chainOf(name, all.length - 1, kept(name), marker(name))
        }),
        Stream.flattenIterable
      ),
    size: (stream) => Effect.sync(() => selected(stream).reduce((n, name) => n + kept(name).length, 0))
  }
}
