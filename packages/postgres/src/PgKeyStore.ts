/**
 * The PostgreSQL `KeyStore`: the keys of personal data in
 * `<schema>.subject_keys` (migration 5), one row per version of a subject's
 * key, on the `SqlClient` in context, behind a bounded cache.
 *
 * Forgetting a subject clears the key bytes of all its rows and keeps the
 * rows, so a later key gets the next version and a destroyed one never comes
 * back. The cleared bytes stay in dead row versions until `VACUUM` (or
 * autovacuum) reclaims them.
 *
 * @example
 * ```ts
 * import { PgKeyStore, PgStore } from "@chronicle/postgres"
 * import { Config, Layer } from "effect"
 *
 * const Stores = PgStore.layerConfig({ url: Config.Redacted("DATABASE_URL") })
 * const Live = Layer.provideMerge(PgKeyStore.layer(), Stores)
 * ```
 *
 * @since 0.1.0
 */
import { KeyStore, type StoreError } from "@chronicle/core"
import { Effect, Layer } from "effect"
import { Aead } from "effect/crypto"
import { SqlClient } from "effect/sql"
import * as internalOptions from "./internal/options.ts"
import { mapSqlError } from "./internal/sqlError.ts"

/**
 * What {@link layer} takes: the schema of the tables and the cache's bounds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends internalOptions.Options, KeyStore.CacheOptions {}

const subjectKey = (subject: string, version: number, bytes: Uint8Array) =>
  Effect.map(
    Effect.orDie(Aead.key(KeyStore.algorithm, bytes)),
    (key): KeyStore.SubjectKey => ({
      subject,
      version,
      key
    })
  )

/**
 * The key store on the `SqlClient` in context, without a cache.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function* (options?: internalOptions.Options) {
  const sql = yield* SqlClient.SqlClient
  const table = sql(internalOptions.schemaOf(options))

  const keyFor = (subject: string): Effect.Effect<KeyStore.SubjectKey, StoreError.StoreError> =>
    Effect.gen(function* () {
      const [latest] = yield* sql<{ version: number; key: Uint8Array | null }>`
        SELECT version, key FROM ${table}.subject_keys WHERE subject = ${subject} ORDER BY version DESC LIMIT 1`
      if (latest?.key != null) return yield* subjectKey(subject, latest.version, latest.key)
      const version = (latest?.version ?? 0) + 1
      const key = yield* KeyStore.newKey
      const bytes = yield* Effect.orDie(Aead.toBytes(key))
      const inserted = yield* sql`
        INSERT INTO ${table}.subject_keys (subject, version, key) VALUES (${subject}, ${version}, ${Buffer.from(bytes)})
        ON CONFLICT DO NOTHING RETURNING version`
      // Another process made this version first: take the live key again.
      return inserted.length === 1 ? { subject, version, key } : yield* keyFor(subject)
    }).pipe(mapSqlError("KeyStore.keyFor"))

  return {
    keyFor,
    lookup: (subject, version) =>
      sql<{ key: Uint8Array | null }>`
        SELECT key FROM ${table}.subject_keys WHERE subject = ${subject} AND version = ${version}`.pipe(
        Effect.flatMap(([row]) =>
          row?.key == null ? Effect.succeedNone : Effect.asSome(subjectKey(subject, version, row.key))
        ),
        mapSqlError("KeyStore.lookup")
      ),
    forget: (subject) =>
      sql`UPDATE ${table}.subject_keys SET key = NULL, forgotten_at = statement_timestamp()
          WHERE subject = ${subject} AND key IS NOT NULL`.pipe(Effect.asVoid, mapSqlError("KeyStore.forget"))
  } satisfies KeyStore.KeyStore
})

/**
 * The key store in `<schema>.subject_keys`, cached (see `KeyStore.cached`:
 * by default 10 000 keys, each for at most a minute).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.effect(
    KeyStore.KeyStore,
    Effect.flatMap(make(options), (store) => KeyStore.cached(store, options))
  )
