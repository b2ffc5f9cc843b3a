/**
 * Every store service in memory from one layer, the counterpart of
 * `PgStore.layer` in `@chronicle/postgres`: the `EventStore` and its
 * `UnitOfWork`, the `SnapshotStore`, `CheckpointStore`, `DeadLetterStore` and
 * projection `Lease`s. Swapping stores is one line, for commands and
 * projections alike.
 *
 * They share one state, as the PostgreSQL services share one database: a unit
 * of work covers the appends, checkpoint saves and parked events made inside
 * it, and rolls them all back when it fails. Each build of the layer is a new,
 * empty store.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "@chronicle/core"
 *
 * // In tests; in production: PgStore.layerConfig({ url: Config.Redacted("DATABASE_URL") })
 * const Stores = MemoryStore.layer()
 * ```
 *
 * @since 0.1.0
 */
import { Context, Layer } from "effect"
import { CheckpointStore } from "./CheckpointStore.ts"
import { DeadLetterStore } from "./DeadLetterStore.ts"
import { defaultMaxEventBytes, EventStore } from "./EventStore.ts"
import * as EventImport from "./EventImport.ts"
import { Integrity } from "./Integrity.ts"
import * as memoryEventStore from "./internal/memoryEventStore.ts"
import * as memoryStores from "./internal/memoryStores.ts"
import { Lease } from "./Lease.ts"
import { SnapshotStore } from "./SnapshotStore.ts"
import { StreamLifecycle } from "./StreamLifecycle.ts"
import { UnitOfWork } from "./UnitOfWork.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The size limit of one event's JSON, data and metadata (default 1 MiB). */
  readonly maxEventBytes?: number | undefined
}

/**
 * The services {@link layer} provides.
 *
 * @since 0.1.0
 * @category models
 */
export type Stores =
  | EventStore
  | UnitOfWork
  | SnapshotStore
  | CheckpointStore
  | DeadLetterStore
  | Lease
  | Integrity
  | StreamLifecycle
  | EventImport.EventImport

/**
 * A new, empty in-memory store: every store service, on one shared state.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Stores> =>
  // Fresh: the importer is a shared constant, and a memoized one would stay bound to the first store built.
  Layer.provideMerge(Layer.fresh(EventImport.layerMemory), stores(options))

const stores = (options: Options | undefined) =>
  Layer.syncContext(() => {
    const events = memoryEventStore.make(options?.maxEventBytes ?? defaultMaxEventBytes)
    return Context.make(EventStore, events.store).pipe(
      Context.add(UnitOfWork, events.unitOfWork),
      Context.add(SnapshotStore, memoryStores.snapshotStore()),
      Context.add(CheckpointStore, memoryStores.checkpointStore(events.undoable)),
      Context.add(DeadLetterStore, memoryStores.deadLetterStore(events.undoable)),
      Context.add(Lease, memoryStores.lease()),
      Context.add(Integrity, events.integrity),
      Context.add(StreamLifecycle, events.lifecycle)
    )
  })
