/**
 * Sealing and opening the personal fields of stored event data (see
 * `PersonalData`). A sealed field is a string that says how to open it:
 *
 *   enc:v1:<subject, base64url>:<key version>:<nonce, base64url>:<ciphertext‖tag, base64url>
 *
 * The ciphertext is the field's stored JSON, encrypted with the subject's key
 * (XChaCha20-Poly1305, a fresh random nonce per field); the additional data
 * binds it to the subject, the field's name and the key version, so no sealed
 * value can be moved to another subject, field or key.
 */
import { Effect, Layer, Option, Result } from "effect"
import { Aead, SecureRandom } from "effect/crypto"
import { Base64Url } from "effect/encoding"
import type { Envelope } from "../Envelope.ts"
import type * as EventType from "../EventType.ts"
import { algorithm, KeyStore, type SubjectKey } from "../KeyStore.ts"
import type { StoreError } from "../StoreError.ts"

/** The start of every sealed value. */
export const prefix = "enc:v1:"

/** What a personal field decodes to once its subject is forgotten, unless the event type says otherwise. */
export const defaultErased = "[erased]"

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder("utf-8", { fatal: true })

// One Aead service and random source for the process: XChaCha20-Poly1305 runs synchronously, so
// the service holds no resources.
const services = Effect.runSync(
  Effect.gen(function* () {
    return { aead: yield* Aead.Aead, random: yield* SecureRandom.SecureRandom }
  }).pipe(Effect.provide(Aead.layerWebCrypto.pipe(Layer.provideMerge(SecureRandom.layerWebCrypto))))
)

const additionalData = (subject: string, field: string, version: number): Uint8Array =>
  utf8.encode(JSON.stringify([subject, field, version]))

/** The start of every value sealed for `subject`. */
export const subjectPrefix = (subject: string): string => `${prefix}${Base64Url.encode(subject)}:`

/** Whether `value` is a sealed field. */
export const isSealed = (value: unknown): value is string => typeof value === "string" && value.startsWith(prefix)

/** The first top-level field of `data` that is sealed, if any. */
export const sealedField = (data: unknown): string | undefined => {
  if (typeof data !== "object" || data === null) return undefined
  for (const [field, value] of Object.entries(data)) if (isSealed(value)) return field
  return undefined
}

/** Whether `data` holds a value sealed for `subject`. */
export const mentions = (data: unknown, subject: string): boolean => {
  if (typeof data !== "object" || data === null) return false
  const start = subjectPrefix(subject)
  return Object.values(data).some((value) => typeof value === "string" && value.startsWith(start))
}

/** Seals one field's stored value with `key`. */
const sealValue = (key: SubjectKey, field: string, value: unknown) =>
  Effect.flatMap(services.random.randomBytes(algorithm.nonceLength), (nonce) =>
    services.aead
      .encrypt(key.key, utf8.encode(JSON.stringify(value)), {
        nonce,
        aad: additionalData(key.subject, field, key.version)
      })
      .pipe(
        // The key and nonce are of the algorithm's lengths: encryption cannot fail.
        Effect.orDie,
        Effect.map(
          (sealed) =>
            `${subjectPrefix(key.subject)}${key.version}:${Base64Url.encode(nonce)}:${Base64Url.encode(sealed)}`
        )
      )
  )

/**
 * The stored data of `event` with its personal fields sealed by the subject's
 * live key (absent fields stay absent).
 */
export const seal = (
  personal: EventType.Personal<any>,
  event: unknown,
  data: { readonly [field: string]: unknown }
): Effect.Effect<{ readonly [field: string]: unknown }, StoreError> =>
  Effect.gen(function* () {
    const key = yield* (yield* KeyStore).keyFor(personal.subject(event))
    const sealed: Record<string, unknown> = { ...data }
    for (const field of personal.fields) {
      if (data[field] !== undefined) sealed[field] = yield* sealValue(key, field, data[field])
    }
    return sealed
  })

interface Parsed {
  readonly subject: string
  readonly version: number
  readonly nonce: Uint8Array
  readonly ciphertext: Uint8Array
}

const parse = (value: string): Parsed | undefined => {
  const parts = value.slice(prefix.length).split(":")
  if (parts.length !== 4) return undefined
  const subject = Base64Url.decodeString(parts[0]!)
  const nonce = Base64Url.decode(parts[2]!)
  const ciphertext = Base64Url.decode(parts[3]!)
  const version = Number(parts[1])
  if (Result.isFailure(subject) || Result.isFailure(nonce) || Result.isFailure(ciphertext)) return undefined
  // Versions are PostgreSQL integers.
  if (!Number.isInteger(version) || version < 1 || version > 2 ** 31 - 1) return undefined
  return { subject: subject.success, version, nonce: nonce.success, ciphertext: ciphertext.success }
}

/**
 * One sealed field opened: its stored value, or `erased` once the key is
 * gone. A value that is malformed or does not open with its key (altered) stays
 * sealed, so decoding it fails with `InvalidEventData`.
 */
const openValue = (keys: KeyStore, field: string, value: string, erased: unknown) => {
  const parsed = parse(value)
  if (parsed === undefined) return Effect.succeed(value)
  return Effect.flatMap(
    keys.lookup(parsed.subject, parsed.version),
    Option.match({
      onNone: () => Effect.succeed(erased),
      onSome: (key) =>
        services.aead
          .decrypt(key.key, parsed.ciphertext, {
            nonce: parsed.nonce,
            aad: additionalData(parsed.subject, field, parsed.version)
          })
          .pipe(
            Effect.map((plaintext): unknown => JSON.parse(fromUtf8.decode(plaintext))),
            Effect.orElseSucceed(() => value)
          )
    })
  )
}

/** Whether an envelope of these types holds sealed fields to open. */
const needsOpening = (types: ReadonlyMap<string, EventType.Any>, envelope: Envelope): boolean =>
  types.get(envelope.type)?.personal !== undefined && sealedField(envelope.data) !== undefined

/**
 * The envelopes with every sealed field opened (see {@link openValue});
 * envelopes without sealed fields are returned as they are.
 */
export const open = (
  types: ReadonlyMap<string, EventType.Any>,
  envelopes: ReadonlyArray<Envelope>
): Effect.Effect<ReadonlyArray<Envelope>, StoreError> => {
  if (!envelopes.some((envelope) => needsOpening(types, envelope))) return Effect.succeed(envelopes)
  return Effect.gen(function* () {
    const keys = yield* KeyStore
    const opened: Array<Envelope> = []
    for (const envelope of envelopes) {
      if (!needsOpening(types, envelope)) {
        opened.push(envelope)
        continue
      }
      const erased = types.get(envelope.type)!.personal!.erased ?? defaultErased
      opened.push({ ...envelope, data: yield* openData(keys, envelope.data as object, erased) })
    }
    return opened
  })
}

/** `data` with every sealed top-level field opened (see {@link openValue}). */
const openData = (keys: KeyStore, data: object, erased: unknown) =>
  Effect.gen(function* () {
    const opened: Record<string, unknown> = { ...data }
    for (const [field, value] of Object.entries(opened)) {
      if (isSealed(value)) opened[field] = yield* openValue(keys, field, value, erased)
    }
    return opened
  })

/**
 * Stored data (a snapshot's state, say) with its sealed fields opened with
 * the key store in context; data without sealed fields as it is.
 */
export const openFields = (data: unknown, erased: unknown = defaultErased): Effect.Effect<unknown, StoreError> =>
  sealedField(data) === undefined
    ? Effect.succeed(data)
    : Effect.flatMap(KeyStore, (keys) => openData(keys, data as object, erased))
