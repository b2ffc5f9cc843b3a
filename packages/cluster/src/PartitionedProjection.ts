/**
 * Partitioned projections on `effect/cluster`: each partition of a
 * projection (`partitions: N` in `Projection.make`) runs as a cluster
 * singleton, so the partitions spread over the runners, exactly one runner
 * runs a partition at a time, a partition moves when runners join or leave,
 * and it starts again on another runner when its runner dies.
 *
 * Why singletons rather than sharded entities: a partition is a loop that
 * runs for ever and receives no requests. A singleton is started by whichever
 * runner owns its shard (its name hashes to a shard, so the N partitions
 * spread over the runners like entities would), interrupted when the shard
 * moves and started by the new owner — the lifecycle a projector needs,
 * with nothing to send. An entity lives only while messages reach it: it
 * would need a keep-alive message, someone to send it again after every
 * move or crash, and passivation turned off, and its mailbox, message
 * storage and at-least-once redelivery would add nothing.
 *
 * Ownership: the singleton takes the place of the advisory-lock `Lease` (the
 * partition's projector runs with a lease that is always held). A move can
 * overlap briefly: the old runner may still be finishing a batch (or be
 * frozen, its shard lock expired) when the new one starts. The checkpoint
 * fence keeps that safe: each batch saves the partition's checkpoint with
 * the position it started from, in the same unit of work as the read-model
 * writes (one SQL transaction on PostgreSQL), so a deposed owner's batch
 * fails with `CheckpointConflict` and rolls back — it neither moves the
 * checkpoint nor applies its events twice. The loser restarts from the stored
 * checkpoint (as `Projector.layer` does), or is interrupted by the move.
 *
 * @example
 * ```ts
 * import { PartitionedProjection } from "@chronicle/cluster"
 * import { Projection } from "@chronicle/core"
 *
 * const revenue = Projection.makeBatched({ name: "revenue", version: 1, partitions: 8, ... })
 *
 * // on every runner, under the cluster's layer and the stores
 * const RevenueLive = PartitionedProjection.layer(revenue)
 * ```
 *
 * @since 0.1.0
 */
import {
  type CheckpointStore,
  type DeadLetterStore,
  type EventStore,
  Lease,
  Projection,
  Projector,
  type UnitOfWork
} from "@chronicle/core"
import { Effect, Layer } from "effect"
import { type Sharding, Singleton } from "effect/cluster"

/**
 * The options of {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The shard group of the singletons (the cluster's default group when absent). */
  readonly shardGroup?: string | undefined
  /** Runs when this runner starts a partition, with its checkpoint name (`name@vN/p<i>of<n>`). */
  readonly onStart?: ((partition: string) => Effect.Effect<void>) | undefined
  /** Runs when this runner stops a partition (moved away, or the layer closes). */
  readonly onStop?: ((partition: string) => Effect.Effect<void>) | undefined
}

/**
 * The singleton name of a partition: `chronicle/projection/` and its
 * checkpoint name. Every runner must register the same projections.
 *
 * @since 0.1.0
 * @category getters
 */
export const singletonName = (partition: Projection.Projection<any, any>): string =>
  `chronicle/projection/${Projection.checkpointName(partition)}`

/** The lease a partition's projector runs with: the singleton already is the lease. */
const held = Lease.Lease.of({
  acquire: () => Effect.succeed(Effect.never),
  holder: () => Effect.succeedNone
})

/**
 * Runs every partition of a projection as a cluster singleton on the
 * runners that provide this layer (an unpartitioned projection is one
 * singleton). On its runner a partition runs like `Projector.layer` runs a
 * projection: a store failure or a fenced checkpoint restarts it from its
 * checkpoint, a halted projection stays stopped (and logs why) until it
 * moves or the runner restarts. Progress and state go to the
 * `ProjectorStatus` in context, if any.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E extends { readonly _tag: string }, R>(
  projection: Projection.Projection<E, R>,
  options?: Options
): Layer.Layer<
  never,
  never,
  | Sharding.Sharding
  | R
  | EventStore.EventStore
  | UnitOfWork.UnitOfWork
  | CheckpointStore.CheckpointStore
  | DeadLetterStore.DeadLetterStore
> => {
  const [first, ...rest] = Projection.partitionsOf(projection).map((partition) => {
    const name = Projection.checkpointName(partition)
    const onStart = options?.onStart?.(name) ?? Effect.void
    const onStop = options?.onStop?.(name) ?? Effect.void
    return Singleton.make(
      singletonName(partition),
      Effect.andThen(
        Effect.andThen(
          onStart,
          Effect.addFinalizer(() => onStop)
        ),
        Layer.launch(Projector.layer([partition]))
      ).pipe(Effect.provideService(Lease.Lease, held), Effect.scoped),
      { shardGroup: options?.shardGroup }
    )
  })
  return Layer.mergeAll(first!, ...rest)
}
