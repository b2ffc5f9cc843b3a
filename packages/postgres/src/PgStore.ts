/**
 * Everything an app needs from PostgreSQL in one layer: the client pool, the
 * migrations, and the `EventStore`, `SnapshotStore`, `CheckpointStore`,
 * `DeadLetterStore` and projector `Transaction` services.
 *
 * @example
 * ```ts
 * import { PgStore } from "@chronicle/postgres"
 * import { Config } from "effect"
 *
 * // Switching from memory to PostgreSQL is this one line:
 * const Stores = PgStore.layerConfig({ url: Config.Redacted("DATABASE_URL") })
 * ```
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { type Config, Layer, type Redacted } from "effect"
import * as PgEventStore from "./PgEventStore.ts"
import * as PgStores from "./PgStores.ts"

/**
 * The stores on an existing `PgClient` (share its pool and transactions).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStores = (options?: PgEventStore.Options) =>
  Layer.mergeAll(
    PgEventStore.layer(options),
    PgStores.layerSnapshotStore(options),
    PgStores.layerCheckpointStore(options),
    PgStores.layerDeadLetterStore(options),
    PgStores.layerTransaction,
    PgStores.layerLease(options)
  )

/**
 * A pool for `url` and the stores on it. Keep `maxConnections` at or above
 * the number of concurrent writers; the store needs one more connection for
 * `LISTEN`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: PgEventStore.Options & {
    readonly url: Redacted.Redacted
    readonly maxConnections?: number | undefined
  }
) =>
  Layer.provideMerge(
    layerStores(options),
    PgClient.layer({ url: options.url, maxConnections: options.maxConnections ?? 16 })
  )

/**
 * Like {@link layer}, with the URL from configuration (e.g. `DATABASE_URL`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: PgEventStore.Options & {
    readonly url: Config.Config<Redacted.Redacted>
    readonly maxConnections?: number | undefined
  }
) => Layer.provideMerge(layerStores(options), PgClient.layerConfig({ url: options.url }))
