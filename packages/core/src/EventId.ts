/**
 * Event ids. A new event gets a UUIDv7, so ids sort by creation time and
 * index well; an event caused under an idempotency key gets a name-based
 * UUID derived from that key with SHA-256, so a repeat gets the same ids.
 * UUIDv7s come from `effect/crypto`; the hash from `node:crypto` where the
 * runtime lends it, else from `effect/crypto`'s WebCrypto digest.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { SecureRandom } from "effect/crypto"
import { sha256 } from "./internal/sha256.ts"

// One generator for the process: the UUIDv7s it makes increase, even within a millisecond.
const random = SecureRandom.make(SecureRandom.randomBytesUnsafe)

/**
 * A new UUIDv7: the time from the `Clock` service (so `TestClock` controls
 * it), the rest from the platform's cryptographic random source. Ids made in
 * one process increase, even within a millisecond (RFC 9562 §6.2, method 1).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<string> = random.uuidV7()

/**
 * A new UUIDv7, synchronously, for code that cannot run an effect (say, a
 * test fixture). It reads `Date.now()`, not the `Clock`, and is ordered
 * separately from the ids of {@link make}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeUnsafe = (): string => SecureRandom.uuidV7Unsafe()

/** The namespace of Chronicle's name-based ids, 094076fd-0269-4634-a489-14d09c866cc3, hashed before every key. */
const namespace = Uint8Array.from("094076fd02694634a48914d09c866cc3".match(/../g)!, (pair) => parseInt(pair, 16))

// The key's UTF-16 code units, little-endian: unlike UTF-8, which turns every lone surrogate
// into U+FFFD, this gives each string its own bytes.
const nameBytes = (key: string): Uint8Array => {
  const bytes = new Uint8Array(namespace.length + 2 * key.length)
  bytes.set(namespace)
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i)
    bytes[namespace.length + 2 * i] = unit & 0xff
    bytes[namespace.length + 2 * i + 1] = unit >>> 8
  }
  return bytes
}

const toUuidV8 = (hash: Uint8Array): string => {
  const bytes = hash.slice(0, 16)
  bytes[6] = (bytes[6]! & 0x0f) | 0x80
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * The id for a key: the same key always gives the same UUID, and different
 * keys give different ones, as far as SHA-256 resists collisions (122 bits of
 * it are kept). Name-based UUIDv8 as in RFC 9562 (appendix B.2): SHA-256 of a
 * fixed Chronicle namespace UUID followed by the key's UTF-16LE code units,
 * the first 16 bytes, with the version and variant bits set. Used for idempotent
 * commands: events caused under the same idempotency key get the same ids,
 * so the store refuses to record them twice.
 *
 * Hashes on `node:crypto` where the runtime lends it (Node, Bun, Deno:
 * synchronous, a few µs), else on the `WebCrypto` reference
 * (`crypto.subtle`: asynchronous, about 0.1 ms), hence an effect.
 * Earlier versions derived these ids from a 128-bit FNV-1a hash, which a
 * chosen key could collide with; events stored under those ids are not
 * recognised as repeats of commands sent again now.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromKey = (key: string): Effect.Effect<string> => Effect.map(sha256(nameBytes(key)), toUuidV8)

/**
 * A UUID in canonical form (any version).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isEventId = (u: string): boolean =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(u)
