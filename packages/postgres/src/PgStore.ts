/**
 * Everything an app needs from PostgreSQL in one layer: the client pool, the
 * migrations, and the `EventStore`, `SnapshotStore`, `CheckpointStore`,
 * `DeadLetterStore`, `UnitOfWork`, `Lease`, `Integrity`, `EventImport` and
 * `StreamLifecycle` services.
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
import { type Config, Effect, Layer, type Redacted } from "effect"
import * as PgCheckpointStore from "./PgCheckpointStore.ts"
import * as PgDeadLetterStore from "./PgDeadLetterStore.ts"
import * as PgEventImport from "./PgEventImport.ts"
import * as PgEventStore from "./PgEventStore.ts"
import * as PgIntegrity from "./PgIntegrity.ts"
import * as PgLease from "./PgLease.ts"
import * as PgSnapshotStore from "./PgSnapshotStore.ts"
import * as PgStreamLifecycle from "./PgStreamLifecycle.ts"
import * as PgUnitOfWork from "./PgUnitOfWork.ts"

/**
 * The stores on an existing `PgClient` (share its pool and transactions).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStores = (options?: PgEventStore.Options) =>
  Layer.mergeAll(
    PgEventStore.layer(options),
    PgUnitOfWork.layer(options),
    PgSnapshotStore.layer(options),
    PgCheckpointStore.layer(options),
    PgDeadLetterStore.layer(options),
    PgLease.layer(options),
    PgIntegrity.layer(options),
    PgEventImport.layer(options),
    PgStreamLifecycle.layer(options)
  )

/**
 * What {@link layer} takes: the pool's URL and size, and the stores' options.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends PgEventStore.Options {
  readonly url: Redacted.Redacted
  /** The pool's size (default 16). */
  readonly maxConnections?: number | undefined
}

/**
 * A pool for `url` and the stores on it. Keep `maxConnections` at or above
 * the number of concurrent writers; the store needs one more connection for
 * `LISTEN`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options) =>
  Layer.provideMerge(
    layerStores(options),
    PgClient.layer({ url: options.url, maxConnections: options.maxConnections ?? 16 })
  )

/**
 * Like {@link layer}, with the URL from configuration (e.g. `DATABASE_URL`);
 * every other option is passed to {@link layer} as given.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: Omit<Options, "url"> & { readonly url: Config.Config<Redacted.Redacted> }) =>
  Layer.unwrap(Effect.map(options.url, (url) => layer({ ...options, url })))
