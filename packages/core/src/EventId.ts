/**
 * Event ids: UUIDv7, so ids sort by creation time and index well.
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"

/**
 * Makes a UUIDv7 from a timestamp (milliseconds) and 10 random bytes. Pure:
 * the same inputs give the same id, which is what tests and replays need.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromParts = (millis: number, random: Uint8Array): string => {
  const bytes = new Uint8Array(16)
  let ms = Math.max(0, Math.floor(millis))
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256
    ms = Math.floor(ms / 256)
  }
  for (let i = 0; i < 10; i++) bytes[6 + i] = random[i] ?? 0
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  let hex = ""
  for (let i = 0; i < 16; i++) hex += bytes[i]!.toString(16).padStart(2, "0")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * A new UUIDv7: the time from the `Clock` service (so `TestClock` controls
 * it), the rest from the platform's cryptographic random source.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, (millis) =>
  fromParts(millis, globalThis.crypto.getRandomValues(new Uint8Array(10)))
)

const fnvPrime = (1n << 88n) + (1n << 8n) + 0x3bn
const fnvOffset = 0x6c62272e07bb014262b821756295c58dn
const mask128 = (1n << 128n) - 1n

/**
 * A deterministic id for a key: the same key always gives the same UUID
 * (version 8, from a 128-bit FNV-1a hash of the key's UTF-8 bytes). Used for
 * idempotent commands: events caused under the same idempotency key get the
 * same ids, so the store refuses to record them twice.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromKey = (key: string): string => {
  let hash = fnvOffset
  for (const byte of new TextEncoder().encode(key)) {
    hash = ((hash ^ BigInt(byte)) * fnvPrime) & mask128
  }
  const hex = hash.toString(16).padStart(32, "0").split("")
  hex[12] = "8"
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)
  const h = hex.join("")
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/**
 * A UUID in canonical form (any version).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isEventId = (u: string): boolean =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(u)
