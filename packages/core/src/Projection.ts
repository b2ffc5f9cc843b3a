/**
 * Projections: named, versioned handlers of some event types that keep a read
 * model up to date from the global log.
 *
 * A projection declares which events it handles (through the domain's codec,
 * optionally narrowed by type or stream category), how it handles them (one
 * by one, or in batches where the read model benefits), and what happens when
 * handling fails: retry under a `Schedule`, then park the event in the
 * dead-letter store and go on, or halt — never skip silently.
 *
 * A projection can be split into `partitions` that share the work: each
 * handles the streams that hash to it ({@link partitionOf}) and keeps its
 * own checkpoint ({@link partition}, {@link checkpointName}); run them with
 * `Projector.catchUpPartitions`, `Projector.layer`, or as cluster singletons
 * (`@chronicle/cluster`'s `PartitionedProjection`).
 *
 * Run projections with `Projector`.
 *
 * @example
 * ```ts
 * import { Projection } from "@chronicle/core"
 * import { Effect } from "effect"
 *
 * const revenue = Projection.make({
 *   name: "revenue",
 *   version: 1,
 *   codec: Order.OrderEvents,
 *   types: ["PaymentConfirmed"],
 *   handle: (envelope) => addRevenue(envelope.event.amount, envelope.recordedAt)
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Schedule, Schema } from "effect"
import type { Decoded } from "./Envelope.ts"
import type * as EventCodec from "./EventCodec.ts"
import * as streamPartition from "./internal/streamPartition.ts"

/**
 * What to do with an event whose handling still fails after the retries (or
 * that does not decode): `park` it in the dead-letter store and go on, or
 * `halt` the projection and report why.
 *
 * @since 0.1.0
 * @category models
 */
export interface FailurePolicy {
  readonly retry: Schedule.Schedule<unknown, unknown>
  readonly action: "park" | "halt"
}

/**
 * The default policy: 3 retries with exponential back-off from 10 ms, then
 * park.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultFailurePolicy: FailurePolicy = {
  retry: Schedule.exponential("10 millis").pipe(Schedule.upTo({ times: 3 })),
  action: "park"
}

/**
 * A projection over events `E`, needing services `R`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Projection<E extends { readonly _tag: string }, R = never> {
  readonly name: string
  readonly version: number
  readonly codec: EventCodec.EventCodec<E>
  /** The event types handled; all of the codec's types when absent. */
  readonly types: ReadonlyArray<string>
  /** Only events of streams in these categories. */
  readonly categories?: ReadonlyArray<string> | undefined
  /** Handles a batch of decoded events, in log order. */
  readonly handleBatch: (events: ReadonlyArray<Decoded<E>>) => Effect.Effect<void, unknown, R>
  readonly failure: FailurePolicy
  /** Events per batch (default 500). */
  readonly batchSize: number
  /** How many partitions share the work (default 1: unpartitioned). See {@link partition}. */
  readonly partitions: number
  /** The partition this value runs, once selected with {@link partition}. */
  readonly partition?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<E extends { readonly _tag: string }> {
  readonly name: string
  readonly version: number
  readonly codec: EventCodec.EventCodec<E>
  readonly types?: ReadonlyArray<E["_tag"]> | undefined
  readonly categories?: ReadonlyArray<string> | undefined
  readonly failure?: Partial<FailurePolicy> | undefined
  readonly batchSize?: number | undefined
  /**
   * Split the work into this many partitions (default 1), each handling the
   * streams that hash to it ({@link partitionOf}) with its own checkpoint; run
   * them with `Projector.catchUpPartitions` or one at a time through
   * {@link partition}. Each partition asks the store for its own streams'
   * events only (the in-memory and PostgreSQL stores filter; a store that
   * does not reads the whole log, and the projector skips the other
   * partitions' events). Partitions run concurrently: rows that
   * several partitions update (a total over streams) should be written in a
   * fixed order (say, sorted by key within a batch), or PostgreSQL may abort
   * one batch with a deadlock. Changing it for a deployed version is refused
   * ({@link PartitionsChanged}): publish a new version and rebuild.
   */
  readonly partitions?: number | undefined
}

const build = <E extends { readonly _tag: string }, R>(
  options: Options<E>,
  handleBatch: (events: ReadonlyArray<Decoded<E>>) => Effect.Effect<void, unknown, R>
): Projection<E, R> => {
  if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(options.name)) {
    throw new Error(`Projection name ${JSON.stringify(options.name)}: use 1 to 100 letters, digits, or _ . : -`)
  }
  return {
    name: options.name,
    version: options.version,
    codec: options.codec,
    types: options.types ?? [...options.codec.types.keys()],
    categories: options.categories,
    handleBatch,
    failure: { ...defaultFailurePolicy, ...options.failure },
    batchSize: options.batchSize ?? 500,
    partitions: checkPartitions(options.partitions ?? 1)
  }
}

const checkPartitions = (partitions: number): number => {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024) {
    throw new Error(`Projection partitions ${partitions}: use a whole number from 1 to 1024`)
  }
  return partitions
}

/**
 * A projection that handles events one at a time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E extends { readonly _tag: string }, R = never, const T extends E["_tag"] = E["_tag"]>(
  options: Options<E> & {
    readonly types?: ReadonlyArray<T> | undefined
    readonly handle: (event: Decoded<Extract<E, { readonly _tag: T }>>) => Effect.Effect<void, unknown, R>
  }
): Projection<E, R> =>
  build(options, (events) =>
    Effect.forEach(events as ReadonlyArray<Decoded<Extract<E, { readonly _tag: T }>>>, options.handle, {
      discard: true
    })
  )

/**
 * A projection whose handler takes whole batches (a multi-row upsert, say).
 * When a batch fails, the projector retries its events one at a time to find
 * the one that fails, so the policy applies to that event alone.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeBatched = <E extends { readonly _tag: string }, R = never, const T extends E["_tag"] = E["_tag"]>(
  options: Options<E> & {
    readonly types?: ReadonlyArray<T> | undefined
    readonly handleBatch: (
      events: ReadonlyArray<Decoded<Extract<E, { readonly _tag: T }>>>
    ) => Effect.Effect<void, unknown, R>
  }
): Projection<E, R> =>
  build(options, (events) => options.handleBatch(events as ReadonlyArray<Decoded<Extract<E, { readonly _tag: T }>>>))

/**
 * The checkpoint name of a projection version: `name@vN`. Each version keeps
 * its own checkpoint, so a new version can rebuild beside the live one. A
 * partition of a partitioned projection ({@link partition}) keeps its own,
 * `name@vN/p<index>of<partitions>`: the count is in the name, so another
 * count never picks up these checkpoints.
 *
 * @since 0.1.0
 * @category getters
 */
export const checkpointName = (projection: {
  readonly name: string
  readonly version: number
  readonly partitions?: number | undefined
  readonly partition?: number | undefined
}): string => {
  const base = `${projection.name}@v${projection.version}`
  return projection.partition === undefined || (projection.partitions ?? 1) === 1
    ? base
    : `${base}/p${projection.partition}of${projection.partitions}`
}

/**
 * The partition, out of `partitions`, of a stream: the 32-bit FNV-1a hash
 * of the stream name's UTF-8 bytes, modulo `partitions`. Stable across
 * processes, platforms and releases (changing it would move streams between
 * partitions, so it is part of the format; PostgreSQL computes the same, so
 * a store reads a partition's events only: `EventStore.ReadAllOptions`'
 * `partition`). A stream lives in one partition, so each partition sees a
 * stream's events in order.
 *
 * @since 0.1.0
 * @category partitions
 */
export const partitionOf: (stream: string, partitions: number) => number = streamPartition.partitionOf

/**
 * One partition of a partitioned projection: the same projection, handling
 * only the events of the streams in partition `index` ({@link partitionOf}),
 * with its own checkpoint, `name@vN/p<index>of<partitions>`. Run it with
 * `Projector.run`, `catchUp` or `rebuild`. An unpartitioned projection has
 * one partition, 0, which is the projection itself (same checkpoint).
 *
 * @since 0.1.0
 * @category partitions
 */
export const partition = <E extends { readonly _tag: string }, R>(
  projection: Projection<E, R>,
  index: number
): Projection<E, R> => {
  if (!Number.isInteger(index) || index < 0 || index >= projection.partitions) {
    throw new Error(`Projection ${projection.name}: no partition ${index} of ${projection.partitions}`)
  }
  return projection.partitions === 1 ? projection : { ...projection, partition: index }
}

/**
 * Every partition of a projection, by index: the projection itself when it
 * is unpartitioned or already one partition.
 *
 * @since 0.1.0
 * @category partitions
 */
export const partitionsOf = <E extends { readonly _tag: string }, R>(
  projection: Projection<E, R>
): ReadonlyArray<Projection<E, R>> =>
  projection.partition !== undefined
    ? [projection]
    : Array.from({ length: projection.partitions }, (_, index) => partition(projection, index))

/**
 * Whether a projection (or the partition selected) handles the events of a
 * stream: always when unpartitioned.
 *
 * @since 0.1.0
 * @category partitions
 */
export const handlesStream = (
  projection: { readonly partitions: number; readonly partition?: number | undefined },
  stream: string
): boolean =>
  projection.partitions === 1 ||
  (projection.partition !== undefined && partitionOf(stream, projection.partitions) === projection.partition)

/**
 * A projection version was started with another partition count than the
 * checkpoints stored for it (say, 1 before, 4 now). Starting afresh would
 * apply every event again to the read model the old checkpoints describe, so
 * the projector refuses: publish a new version with the new count and
 * rebuild it beside the old one (`Projector.rebuildPartitions`).
 *
 * @since 0.1.0
 * @category errors
 */
export class PartitionsChanged extends Schema.TaggedError<PartitionsChanged>()("PartitionsChanged", {
  projection: Schema.String,
  partitions: Schema.Int,
  existing: Schema.Array(Schema.String)
}) {
  override get message() {
    return (
      `Projection ${this.projection} runs with ${this.partitions} partition(s), but checkpoints ` +
      `${this.existing.join(", ")} were kept with another count. Publish a new version and rebuild it.`
    )
  }
}

/**
 * The checkpoint names kept for a projection version with another partition
 * count than `projection`'s, among `names`.
 *
 * @since 0.1.0
 * @category partitions
 */
export const otherPartitionings = (
  projection: { readonly name: string; readonly version: number; readonly partitions: number },
  names: Iterable<string>
): ReadonlyArray<string> => {
  const base = `${projection.name}@v${projection.version}`
  const others: Array<string> = []
  for (const name of names) {
    if (name === base) {
      if (projection.partitions !== 1) others.push(name)
    } else if (name.startsWith(`${base}/p`)) {
      const match = /^\/p\d+of(\d+)$/.exec(name.slice(base.length))
      if (match !== null && Number(match[1]) !== projection.partitions) others.push(name)
    }
  }
  return others
}
