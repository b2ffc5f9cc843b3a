/**
 * The keys of personal data: one key per subject (a customer, an account
 * holder — whoever the data is about), in versions. Personal fields are
 * encrypted with the subject's live key (see `PersonalData`); forgetting a
 * subject destroys every version of its key, so what was encrypted with them
 * can never be read again: crypto-shredding.
 *
 * A subject forgotten and then written again gets a new key at the next
 * version; the old versions stay destroyed. Versions are never reused, so a
 * key that is gone stays gone.
 *
 * `KeyStore` is a reference whose default fails every call with a
 * `StoreError`: personal data is never written or read in plaintext because no
 * key store was provided. `MemoryStore.layer` does not include one; provide
 * {@link layerMemory} (tests) or `PgKeyStore.layer` (production).
 *
 * @example
 * ```ts
 * import { KeyStore, MemoryStore } from "@chronicle/core"
 * import { Layer } from "effect"
 *
 * const Stores = Layer.mergeAll(MemoryStore.layer(), KeyStore.layerMemory())
 * ```
 *
 * @since 0.1.0
 */
import { Cache, Context, Duration, Effect, Exit, Layer, Option } from "effect"
import { Aead, SecureRandom } from "effect/crypto"
import { StoreError } from "./StoreError.ts"

/**
 * The algorithm of every subject key: XChaCha20-Poly1305. It runs as
 * synchronous TypeScript (≈33 µs per encrypt and decrypt of a field, against
 * ≈235 µs for AES-256-GCM through the asynchronous `crypto.subtle`), and its
 * 24-byte nonces can be drawn at random for every field without a collision
 * bound to watch.
 *
 * @since 0.1.0
 * @category constants
 */
export const algorithm = Aead.xchacha20Poly1305

/**
 * One version of a subject's key. The key prints as its algorithm only.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubjectKey {
  readonly subject: string
  /** The key's version, from 1; each key made after a `forget` gets the next one. */
  readonly version: number
  readonly key: Aead.Key
}

/**
 * The key store service.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyStore {
  /** The subject's live key, to encrypt with; made at the next version when it has none. */
  readonly keyFor: (subject: string) => Effect.Effect<SubjectKey, StoreError>
  /** One version of the subject's key, to decrypt with; `None` once forgotten (or never made). */
  readonly lookup: (subject: string, version: number) => Effect.Effect<Option.Option<SubjectKey>, StoreError>
  /** Destroys every version of the subject's key. Forgetting a subject without keys does nothing. */
  readonly forget: (subject: string) => Effect.Effect<void, StoreError>
}

const missing = (operation: string) =>
  Effect.fail(
    new StoreError({
      operation,
      cause: new Error(
        "no KeyStore is provided, so personal data can be neither encrypted nor read; " +
          "provide KeyStore.layerMemory() or PgKeyStore.layer()"
      )
    })
  )

/**
 * The key store in context. Its default fails every call with a
 * `StoreError`, so nothing personal is stored in plaintext for want of one.
 *
 * @since 0.1.0
 * @category services
 */
export const KeyStore: Context.Reference<KeyStore> = Context.Reference<KeyStore>("@chronicle/core/KeyStore", {
  defaultValue: () => none
})

const none: KeyStore = {
  keyFor: () => missing("KeyStore.keyFor"),
  lookup: () => missing("KeyStore.lookup"),
  forget: () => missing("KeyStore.forget")
}

/**
 * Whether a key store is provided (not {@link KeyStore}'s failing default):
 * for tools that should say so before they try, such as the CLI's `forget`.
 *
 * @since 0.1.0
 * @category getters
 */
export const isProvided: Effect.Effect<boolean> = Effect.map(KeyStore, (store) => store !== none)

const random = SecureRandom.make(SecureRandom.randomBytesUnsafe)

/**
 * New key material for {@link algorithm}, from the platform's cryptographic
 * random source.
 *
 * @since 0.1.0
 * @category constructors
 */
export const newKey: Effect.Effect<Aead.Key> = Effect.flatMap(random.randomBytes(algorithm.keyLength), (bytes) =>
  Effect.orDie(Aead.key(algorithm, bytes))
)

/**
 * How {@link cached} bounds its cache.
 *
 * @since 0.1.0
 * @category models
 */
export interface CacheOptions {
  /** The most keys kept, per kind of lookup (default 10 000). */
  readonly capacity?: number | undefined
  /**
   * How long a key is kept (default 1 minute): a key forgotten by another
   * process is still used here for at most this long.
   */
  readonly timeToLive?: Duration.Input | undefined
}

/**
 * A key store that keeps the keys `store` returns in a bounded cache (least
 * recently used keys leave first, and every key after `timeToLive`). Failures
 * are not cached; a destroyed version is, as versions are never reused.
 * `forget` empties the subject's entries at once.
 *
 * @since 0.1.0
 * @category combinators
 */
export const cached = Effect.fnUntraced(function* (store: KeyStore, options?: CacheOptions) {
  const capacity = options?.capacity ?? 10_000
  const timeToLive = (exit: Exit.Exit<unknown, unknown>) =>
    Exit.isSuccess(exit) ? (options?.timeToLive ?? Duration.minutes(1)) : Duration.zero
  const live = yield* Cache.makeWith(store.keyFor, { capacity, timeToLive })
  const versions = yield* Cache.makeWith(
    (key: string) => {
      const [subject, version] = JSON.parse(key) as [string, number]
      return store.lookup(subject, version)
    },
    { capacity, timeToLive }
  )
  const versionKey = (subject: string, version: number) => JSON.stringify([subject, version])
  return {
    keyFor: (subject) =>
      Effect.tap(Cache.get(live, subject), (key) =>
        Cache.set(versions, versionKey(subject, key.version), Option.some(key))
      ),
    lookup: (subject, version) => Cache.get(versions, versionKey(subject, version)),
    forget: (subject) =>
      Effect.gen(function* () {
        yield* store.forget(subject)
        yield* Cache.invalidate(live, subject)
        for (const key of yield* Cache.keys(versions)) {
          if ((JSON.parse(key) as [string, number])[0] === subject) yield* Cache.invalidate(versions, key)
        }
      })
  } satisfies KeyStore
})

/**
 * A key store in memory: keys live as long as the process, so use it for
 * tests and demos, never beside a durable event store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (): KeyStore => {
  // Each subject's key versions in order; a forgotten version is `undefined`.
  const keys = new Map<string, Array<Aead.Key | undefined>>()
  return {
    keyFor: (subject) =>
      Effect.suspend(() => {
        const versions = keys.get(subject) ?? []
        const live = versions.at(-1)
        if (live !== undefined) return Effect.succeed({ subject, version: versions.length, key: live })
        return Effect.map(newKey, (key) => {
          keys.set(subject, [...versions, key])
          return { subject, version: versions.length + 1, key }
        })
      }),
    lookup: (subject, version) =>
      Effect.sync(() =>
        Option.map(Option.fromUndefinedOr(keys.get(subject)?.[version - 1]), (key) => ({ subject, version, key }))
      ),
    forget: (subject) =>
      Effect.sync(() => {
        const versions = keys.get(subject)
        if (versions !== undefined)
          keys.set(
            subject,
            versions.map(() => undefined)
          )
      })
  }
}

/**
 * A new, empty in-memory key store (see {@link makeMemory}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (): Layer.Layer<never> => Layer.sync(KeyStore, makeMemory)
