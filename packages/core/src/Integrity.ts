/**
 * Tamper evidence: every stream is hash-chained, and {@link verify} finds the
 * first altered, missing or reordered event of a stream or of the store.
 *
 * Each event's hash is SHA-256 of the previous event's hash (32 zero bytes,
 * {@link genesis}, before version 0) and of the event as stored
 * ({@link contentBytes}): id, stream, version, type, schema version,
 * recorded-at time (microseconds), data and metadata as their stored JSON
 * text — ciphertext included, so shredding a key keeps the chain valid. A
 * store keeps each event's hash and each stream's head (its version and last
 * hash), so deleting the last event is caught too.
 *
 * The stores compute the chain where the stream is locked: PostgreSQL in the
 * append statement itself (`sha256()` over the same bytes), the memory store
 * from its frozen events when they are read. Each store's {@link Integrity}
 * layer only lists what it stores ({@link Link}s); checking is this module's,
 * one function for every store.
 *
 * Lawful removals (`StreamLifecycle`: a deleted stream, a trimmed start)
 * leave a marker on the stream's head — the first version kept and the hash
 * of the last one removed — and the chain is checked from there, so they
 * verify clean while the same rows deleted by SQL do not.
 *
 * A hash chain shows edits made behind the store's back (by SQL, a restore, a
 * bug); someone who can rewrite every later hash and the stream's head can
 * hide an edit from it, unless the heads are also kept elsewhere.
 *
 * @since 0.1.0
 */
import { Context, Effect, Schema, Stream } from "effect"
import { Digest } from "effect/crypto"
import type { StoreError } from "./StoreError.ts"
import type { StreamName } from "./StreamName.ts"

/**
 * An event as a store keeps it, with the hash stored with it (`null` when it
 * has none: it was written around the store).
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredEvent {
  readonly eventId: string
  readonly stream: string
  readonly streamVersion: number
  readonly type: string
  readonly schemaVersion: number
  /** The data as its stored JSON text. */
  readonly data: string
  /** The metadata as its stored JSON text. */
  readonly metadata: string
  /** The recorded-at time in microseconds since the epoch. */
  readonly recordedAtMicros: bigint
  readonly hash: Uint8Array | null
}

/**
 * A stream's head as the store records it: its version and the hash of that
 * version's event.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamHead {
  readonly stream: string
  readonly version: number
  readonly hash: Uint8Array | null
  /**
   * The marker of a lawful removal (`StreamLifecycle`): the versions before
   * this one were removed (0: none), and `removedHash` is the hash of the
   * last removed event, which the first kept one chains from.
   */
  readonly removedBefore: number
  readonly removedHash: Uint8Array | null
}

/**
 * What a store lists for verification: each stored event with its stream's
 * head (`undefined` when no head records the stream), stream by stream in
 * version order; and the heads of streams with no stored event.
 *
 * @since 0.1.0
 * @category models
 */
export type Link =
  | { readonly _tag: "Event"; readonly event: StoredEvent; readonly head: StreamHead | undefined }
  | { readonly _tag: "Head"; readonly head: StreamHead }

/**
 * A store's view of its hash chains, for {@link verify}: `MemoryStore.layer`
 * and `PgStore.layer` provide it.
 *
 * @since 0.1.0
 * @category services
 */
export class Integrity extends Context.Service<
  Integrity,
  {
    /**
     * Every stored event (or one stream's) with its hash, stream by stream in version order,
     * then the heads no stored event goes with; read in batches.
     */
    readonly links: (stream?: StreamName) => Stream.Stream<Link, StoreError>
    /** About how many events {@link links} lists (from the streams' heads), for progress. */
    readonly size: (stream?: StreamName) => Effect.Effect<number, StoreError>
  }
>()("@chronicle/core/Integrity") {}

/**
 * The hash before a stream's first event: 32 zero bytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const genesis: Uint8Array = new Uint8Array(32)

const encoder = new TextEncoder()

/**
 * The bytes an event's hash covers after the previous hash: each text as
 * its UTF-8 byte length (4 bytes, big-endian) then its UTF-8 bytes; the
 * numbers big-endian (version and schema version 4 bytes, recorded-at
 * microseconds 8). The event id in lower case. PostgreSQL's `event_hash`
 * function builds the same bytes.
 *
 * @since 0.1.0
 * @category hashing
 */
export const contentBytes = (event: Omit<StoredEvent, "hash">): Uint8Array => hashInput(empty, event)

const empty = new Uint8Array(0)

/**
 * What SHA-256 hashes for an event: `previous`, then {@link contentBytes},
 * in one buffer (one allocation, texts encoded in place) for a hasher of
 * one's own, such as a bulk import's.
 *
 * @since 0.1.0
 * @category hashing
 */
export const hashInput = (previous: Uint8Array, event: Omit<StoredEvent, "hash">): Uint8Array => {
  const id = event.eventId.toLowerCase()
  const { data, metadata, stream, type } = event
  // At most 3 UTF-8 bytes per UTF-16 code unit (a surrogate pair is 4 bytes for 2 units).
  const bytes = new Uint8Array(
    previous.length + 5 * 4 + 16 + 3 * (id.length + stream.length + type.length + data.length + metadata.length)
  )
  const view = new DataView(bytes.buffer)
  bytes.set(previous)
  let at = previous.length
  const text = (t: string) => {
    const { written } = encoder.encodeInto(t, bytes.subarray(at + 4))
    view.setUint32(at, written)
    at += 4 + written
  }
  text(id)
  text(stream)
  view.setInt32(at, event.streamVersion)
  at += 4
  text(type)
  view.setInt32(at, event.schemaVersion)
  view.setBigInt64(at + 4, event.recordedAtMicros)
  at += 12
  text(data)
  text(metadata)
  return bytes.subarray(0, at)
}

/**
 * An event's hash: SHA-256 of the previous hash then {@link contentBytes}.
 *
 * @since 0.1.0
 * @category hashing
 */
export const hash = (
  previous: Uint8Array,
  event: Omit<StoredEvent, "hash">
): Effect.Effect<Uint8Array, never, Digest.Digest> =>
  Digest.Digest.use((digest) => digest.digest(Digest.sha256, hashInput(previous, event)))

/**
 * What is wrong with a stream, at the first version where it shows:
 *
 * - `ContentChanged`: the event's stored content or hash is not what was
 *   chained (edited, swapped with another, or moved to another version);
 * - `VersionGap`: the event is missing (deleted in the middle, at the start,
 *   or at the end while the head still records it);
 * - `HashMismatch`: the head records another hash than its last event's;
 * - `ChainBroken`: the event has no hash (written around the store), no head
 *   records the stream, or events go on past the head's version.
 *
 * @since 0.1.0
 * @category models
 */
export type Problem = "ContentChanged" | "VersionGap" | "HashMismatch" | "ChainBroken"

/**
 * The first thing wrong with one stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface Break {
  readonly stream: string
  readonly version: number
  readonly problem: Problem
  /** What was found, in words. */
  readonly message: string
}

/**
 * What {@link verify} checked and found: one {@link Break} per broken
 * stream, in the order the store lists them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly streams: number
  readonly events: number
  readonly breaks: ReadonlyArray<Break>
}

/**
 * Verification found broken streams: `breaks` of the `streams` checked. For
 * callers that treat any break as a failure (the CLI's `verify` does).
 *
 * @since 0.1.0
 * @category errors
 */
export class ChainsBroken extends Schema.TaggedError<ChainsBroken>()("ChainsBroken", {
  breaks: Schema.Int,
  streams: Schema.Int,
  events: Schema.Int
}) {
  override get message() {
    return (
      `${this.breaks} of ${this.streams} streams (${this.events} events) are broken: their events were ` +
      `altered, deleted or reordered outside the store. Restore them from a backup or an archive.`
    )
  }
}

/**
 * How far {@link verify} has come: events checked of about `total`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly events: number
  readonly total: number
  readonly streams: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface VerifyOptions {
  /** One stream; the whole store when omitted. */
  readonly stream?: StreamName | undefined
  /** Called every `progressEvery` events (default 10 000) and at the end. */
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
  readonly progressEvery?: number | undefined
}

/** The stream being checked: where its chain has got to. */
interface Cursor {
  readonly stream: string
  head: StreamHead | undefined
  /** The version the next event must have. */
  next: number
  /** The hash the next event chains from. */
  previous: Uint8Array
  broken: Break | undefined
}

/** Where a stream's stored chain starts: after its lawfully removed events, if any. */
const chainStart = (head: StreamHead | undefined): { readonly version: number; readonly hash: Uint8Array } =>
  head === undefined || head.removedBefore <= 0
    ? { version: 0, hash: genesis }
    : { version: head.removedBefore, hash: head.removedHash ?? genesis }

const sameBytes = (a: Uint8Array | null, b: Uint8Array): boolean =>
  a !== null && a.length === b.length && a.every((byte, i) => byte === b[i])

const breakAt = (stream: string, version: number, problem: Problem, message: string): Break => ({
  stream,
  version,
  problem,
  message
})

/**
 * The first problem of an event, given where its stream's chain has got to
 * and the hash it should have (see {@link withExpected}); advances the
 * cursor when none.
 */
const checkEvent = (cursor: Cursor, event: StoredEvent, expected: Uint8Array | undefined): void => {
  const { stream, streamVersion: version } = event
  if (version !== cursor.next) {
    cursor.broken = breakAt(
      stream,
      cursor.next,
      "VersionGap",
      `event ${cursor.next} is missing: the next stored event is version ${version}`
    )
  } else if (event.hash === null || expected === undefined) {
    cursor.broken = breakAt(
      stream,
      version,
      "ChainBroken",
      `event ${version} has no hash: it was written around the store`
    )
  } else if (!sameBytes(event.hash, expected)) {
    cursor.broken = breakAt(
      stream,
      version,
      "ContentChanged",
      `event ${version} is not what was chained: its content or hash was altered, or it was swapped or moved`
    )
  } else {
    cursor.previous = expected
    cursor.next++
  }
}

/** How verifying computes digests: with which `Digest`, and how many at once. */
interface Digests {
  readonly provide: <A, E>(stream: Stream.Stream<A, E, Digest.Digest>) => Stream.Stream<A, E>
  readonly concurrency: number
}

/**
 * The `Digest` in context (say, `NodeCrypto.layerDigest` of `@effect/platform-node`: synchronous,
 * three times as fast here), one at a time; else WebCrypto's, which runs off the main thread, 16
 * at a time.
 */
const digests: Effect.Effect<Digests> = Effect.map(
  Effect.serviceOption(Digest.Digest),
  (digest): Digests =>
    digest._tag === "Some"
      ? { provide: Stream.provideService(Digest.Digest, digest.value), concurrency: 1 }
      : { provide: Stream.provide(Digest.layerWebCrypto), concurrency: 16 }
)

/**
 * Each link with the hash its event should have, computed from the stored
 * hash before it (of the stream's previous link; the genesis hash for its
 * first). Until a stream's first break that is the hash its chain got to, so
 * the hashes need not wait for one another: they are computed concurrently.
 */
const withExpected = (
  links: Stream.Stream<Link, StoreError>,
  { concurrency, provide }: Digests
): Stream.Stream<readonly [Link, Uint8Array | undefined], StoreError> =>
  links.pipe(
    Stream.mapAccum(
      (): StoredEvent | undefined => undefined,
      (before, link): readonly [StoredEvent | undefined, ReadonlyArray<readonly [Link, Uint8Array | null]>] => {
        if (link._tag === "Head") return [undefined, [[link, null]]]
        const previous = before?.stream === link.event.stream ? before.hash : chainStart(link.head).hash
        return [link.event, [[link, previous]]]
      }
    ),
    // A batch's digests at once (one effect per batch, not a fiber per event).
    Stream.mapArrayEffect((batch) =>
      Effect.forEach(
        batch,
        ([link, previous]): Effect.Effect<readonly [Link, Uint8Array | undefined], never, Digest.Digest> =>
          link._tag === "Event" && previous !== null && link.event.hash !== null
            ? Effect.map(hash(previous, link.event), (expected) => [link, expected] as const)
            : Effect.succeed([link, undefined] as const),
        { concurrency }
      )
    ),
    provide
  )

/** A stream's first problem once all its events are checked: its own, or its head's. */
const finish = (cursor: Cursor): Break | undefined => {
  if (cursor.broken !== undefined) return cursor.broken
  const { head, stream } = cursor
  const last = cursor.next - 1
  if (head === undefined) return breakAt(stream, last, "ChainBroken", "no head records this stream")
  if (head.version > last) {
    return breakAt(
      stream,
      last + 1,
      "VersionGap",
      `event ${last + 1} is missing: the stream records version ${head.version}, its last stored event is ${last}`
    )
  }
  if (head.version < last) {
    return breakAt(
      stream,
      head.version + 1,
      "ChainBroken",
      `events go on past version ${head.version}, the version the stream records`
    )
  }
  if (!sameBytes(head.hash, cursor.previous)) {
    return breakAt(stream, last, "HashMismatch", `the stream's head records another hash than event ${last}'s`)
  }
  return undefined
}

/**
 * Checks the hash chain of one stream or of the whole store, reading it in
 * batches (memory is bounded by the number of broken streams), and reports
 * the first altered, missing or reordered event of every broken stream. An
 * untouched store reports no break. It hashes with the `Digest` in context
 * when there is one (on Node, provide `NodeCrypto.layerDigest` from
 * `@effect/platform-node`: about three times as fast), else with WebCrypto.
 *
 * @since 0.1.0
 * @category verification
 */
export const verify = Effect.fn("Integrity.verify")(function* (options?: VerifyOptions) {
  const integrity = yield* Integrity
  const onProgress = options?.onProgress
  const every = Math.max(1, options?.progressEvery ?? 10_000)
  const total = onProgress === undefined ? 0 : yield* integrity.size(options?.stream)
  const breaks: Array<Break> = []
  let streams = 0
  let events = 0
  let cursor: Cursor | undefined
  const close = () => {
    if (cursor === undefined) return
    const found = finish(cursor)
    if (found !== undefined) breaks.push(found)
    cursor = undefined
  }
  const progress = () => (onProgress === undefined ? Effect.void : onProgress({ events, total, streams }))
  yield* Stream.runForEach(withExpected(integrity.links(options?.stream), yield* digests), ([link, expected]) => {
    if (link._tag === "Head") {
      close()
      streams++
      const start = chainStart(link.head)
      // Every event lawfully removed (a deleted stream): the marker must be where the head is.
      if (start.version === link.head.version + 1 && sameBytes(link.head.hash, start.hash)) return Effect.void
      if (link.head.version >= 0) {
        breaks.push(
          breakAt(
            link.head.stream,
            start.version,
            "VersionGap",
            `every event is missing: the stream records version ${link.head.version}`
          )
        )
      }
      return Effect.void
    }
    const { event, head } = link
    if (cursor?.stream !== event.stream) {
      close()
      streams++
      const start = chainStart(head)
      cursor = { stream: event.stream, head, next: start.version, previous: start.hash, broken: undefined }
    }
    // A head read with a later event is the later one (the store may list a stream in several reads).
    cursor.head = head
    events++
    if (cursor.broken === undefined) checkEvent(cursor, event, expected)
    return events % every === 0 ? progress() : Effect.void
  })
  close()
  yield* progress()
  return { streams, events, breaks } satisfies Report
})
