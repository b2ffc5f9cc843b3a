/**
 * Projectors run projections: read the checkpoint, catch up from the global
 * log in batches, then follow live appends, until interrupted.
 *
 * Each batch runs in one `UnitOfWork` together with its checkpoint save.
 * With a SQL read model on the same database (the PostgreSQL layers' unit of
 * work is a SQL transaction), the read-model writes and the checkpoint commit
 * together, so a crash never applies an event twice. Other targets get
 * at-least-once delivery, with the envelope's event id and position for
 * idempotency.
 *
 * A failing event is retried under the projection's `Schedule`, then parked in
 * the `DeadLetterStore` (the projection goes on) or the projection halts with
 * {@link ProjectionHalted} — never skipped silently. An event that no longer
 * decodes gets the same treatment without retries.
 *
 * Each batch runs in a `Projector.batch` span linked to the spans of the
 * commands that appended its events; {@link metrics} gives a projection's lag
 * in events and seconds, events handled, failed attempts and parked events.
 *
 * To read its own write from an asynchronous read model, a caller awaits the
 * projection reaching the write's position ({@link awaitPosition}, which
 * fails with {@link ProjectionTimeout}); it reads the checkpoint, so it works
 * across processes.
 *
 * Over 300 lines because its runtimes (run, catchUp, rebuild, layer) share
 * one batch handler (`internal/batchHandler`), and replayParked and
 * awaitPosition work on the dead letters and checkpoints those runtimes keep;
 * all are documented here, where users look for them. The metrics live in
 * `internal/projectorMetrics`.
 *
 * @since 0.1.0
 */
import { DateTime, Duration, Effect, Layer, Metric, Option, Schedule, Schema, Stream } from "effect"
import * as CheckpointStore from "./CheckpointStore.ts"
import { DeadLetterStore } from "./DeadLetterStore.ts"
import type { Envelope } from "./Envelope.ts"
import { EventStore, type LogOrderConflict } from "./EventStore.ts"
import * as Position from "./Position.ts"
import * as Projection from "./Projection.ts"
import type { StoreError } from "./StoreError.ts"
import * as batchHandler from "./internal/batchHandler.ts"
import * as projectorMetrics from "./internal/projectorMetrics.ts"
import { UnitOfWork } from "./UnitOfWork.ts"
import { Lease, type LeaseLost } from "./Lease.ts"
import * as ProjectorStatus from "./ProjectorStatus.ts"

/**
 * A projection stopped on an event it could not handle, under the `halt`
 * policy. Fix the handler (or the data) and restart; the event is handled
 * first.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProjectionHalted extends Schema.TaggedError<ProjectionHalted>()("ProjectionHalted", {
  projection: Schema.String,
  eventId: Schema.String,
  stream: Schema.String,
  streamVersion: Schema.Int,
  type: Schema.String,
  error: Schema.String
}) {
  override get message() {
    return (
      `Projection ${this.projection} halted at ${this.type} ${this.eventId} ` +
      `(${JSON.stringify(this.stream)} version ${this.streamVersion}): ${this.error}. ` +
      `Fix the handler or the data, then restart the projector; it resumes at this event.`
    )
  }
}

const halted = (projection: string, envelope: Envelope, error: string) =>
  new ProjectionHalted({
    projection,
    eventId: envelope.eventId,
    stream: envelope.stream,
    streamVersion: envelope.streamVersion,
    type: envelope.type,
    error
  })

/**
 * A projection had not reached a position within the time allowed. The event
 * is stored; the read model catches up later (or the projection is halted or
 * not running: see its status).
 *
 * @since 0.1.0
 * @category errors
 */
export class ProjectionTimeout extends Schema.TaggedError<ProjectionTimeout>()("ProjectionTimeout", {
  projection: Schema.String,
  position: Schema.String,
  checkpoint: Schema.String,
  timeout: Schema.String
}) {
  override get message() {
    return (
      `Projection ${this.projection} had not reached position ${this.position} within ${this.timeout} ` +
      `(its checkpoint is ${this.checkpoint}). The write is stored; read again later, ` +
      `or check that the projector runs (projections status).`
    )
  }
}

/**
 * The errors a projector run can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type RunError =
  | ProjectionHalted
  | StoreError
  | CheckpointStore.CheckpointConflict
  | LeaseLost
  | LogOrderConflict
  | Projection.PartitionsChanged

/**
 * Progress of a catch-up or rebuild.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly projection: string
  /** Events handled so far in this run. */
  readonly done: number
  /** An estimate of the events to handle in this run. */
  readonly total: number
  readonly eventsPerSecond: number
  readonly eta: Duration.Duration
}

/**
 * The metrics of a projection version (by checkpoint name, `name@vN`):
 * checkpoint and head sequence, lag in events and seconds, events handled,
 * failed attempts and parked events. Export them with any Effect metrics
 * exporter, or read them with `Metric.value`.
 *
 * @since 0.1.0
 * @category observability
 */
export const metrics: (name: string) => ProjectorMetrics = projectorMetrics.make

/**
 * The gauges and counters of {@link metrics}.
 *
 * @since 0.1.0
 * @category observability
 */
export type ProjectorMetrics = ReturnType<typeof projectorMetrics.make>

/**
 * The options of a projector run.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** Called after each batch of a catch-up with the progress so far. */
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
}

const subscribeOptions = (projection: Projection.Projection<any, any>, after: Position.Position) => ({
  after,
  types: projection.types,
  categories: projection.categories,
  // The store reads one partition's streams; the batch handler still skips others' (a store may not filter).
  partition:
    projection.partitions === 1 || projection.partition === undefined
      ? undefined
      : { index: projection.partition, count: projection.partitions },
  batchSize: projection.batchSize
})

/**
 * Runs a projection for ever: from its checkpoint, through the backlog, then
 * live. Fails only with {@link ProjectionHalted} or a store failure.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <E extends { readonly _tag: string }, R>(
  projection: Projection.Projection<E, R>
): Effect.Effect<
  never,
  RunError,
  R | EventStore | UnitOfWork | CheckpointStore.CheckpointStore | DeadLetterStore | Lease
> =>
  Effect.gen(function* () {
    const name = Projection.checkpointName(projection)
    const store = yield* EventStore
    const lost = yield* (yield* Lease).acquire(name)
    const { handleBatch, start } = yield* batchHandler.make(projection, halted)
    const m = metrics(name)
    // Lag is an estimate while behind (positions count events the projection filters out) and
    // exactly 0 whenever the subscription has handed over everything there is.
    const caughtUp = Effect.flatMap(store.head, (head) =>
      Effect.all(
        [Metric.update(m.head, Number(head.sequence)), Metric.update(m.lagEvents, 0), Metric.update(m.lagSeconds, 0)],
        {
          discard: true
        }
      )
    )
    const follow = store
      .subscribe({ ...subscribeOptions(projection, start), onCaughtUp: Effect.ignore(caughtUp) })
      .pipe(
        Stream.runForEachArray((envelopes) =>
          Effect.flatMap(handleBatch(envelopes), (last) =>
            Effect.flatMap(Effect.all([store.head, DateTime.now]), ([head, now]) => {
              const lag = Math.max(0, Number(head.sequence - last.position.sequence))
              return Effect.all(
                [
                  Metric.update(m.head, Number(head.sequence)),
                  Metric.update(m.lagEvents, lag),
                  Metric.update(
                    m.lagSeconds,
                    lag === 0 ? 0 : (now.epochMilliseconds - last.recordedAt.epochMilliseconds) / 1000
                  )
                ],
                { discard: true }
              )
            })
          )
        ),
        Effect.andThen(Effect.never),
        Effect.withSpan("Projector.run", { attributes: { projection: name } })
      )
    // Stop as soon as the lease is lost; the checkpoint fence covers the moment in between.
    return yield* Effect.raceFirst(follow, lost)
  }).pipe(Effect.scoped)

/**
 * Catches a projection up to the log's head as of the start of the call, then
 * returns the position reached. What a rebuild, a CLI command or a test runs.
 *
 * @since 0.1.0
 * @category running
 */
export const catchUp = <E extends { readonly _tag: string }, R>(
  projection: Projection.Projection<E, R>,
  options?: RunOptions
): Effect.Effect<
  Position.Position,
  RunError,
  R | EventStore | UnitOfWork | CheckpointStore.CheckpointStore | DeadLetterStore
> =>
  Effect.gen(function* () {
    const name = Projection.checkpointName(projection)
    const store = yield* EventStore
    const { handleBatch, start } = yield* batchHandler.make(projection, halted)
    const head = yield* store.head
    const total = Math.max(0, Number(head.sequence - start.sequence))
    const began = yield* DateTime.now
    let reached = start
    const report = (done: number) => {
      const onProgress = options?.onProgress
      if (onProgress === undefined) return Effect.void
      return Effect.flatMap(DateTime.now, (now) => {
        const eventsPerSecond = done / Math.max(0.001, (now.epochMilliseconds - began.epochMilliseconds) / 1000)
        return onProgress({
          projection: name,
          done,
          total,
          eventsPerSecond,
          eta: Duration.seconds(eventsPerSecond > 0 ? (total - done) / eventsPerSecond : 0)
        })
      })
    }
    yield* store.readAll(subscribeOptions(projection, start)).pipe(
      Stream.takeWhile((envelope) => !Position.isAfter(envelope.position, head)),
      Stream.runForEachArray((envelopes) =>
        Effect.flatMap(handleBatch(envelopes), (last) => {
          reached = last.position
          // Positions count every event of the log, including those the projection skips.
          return report(Math.min(total, Number(last.position.sequence - start.sequence)))
        })
      ),
      Effect.andThen(() => report(total)),
      Effect.withSpan("Projector.catchUp", { attributes: { projection: name } })
    )
    return reached
  })

/**
 * Replays one parked event through the projection (after a fix) and removes
 * it from the dead-letter store when it succeeds. The checkpoint is not moved.
 * For a partitioned projection, looks in every partition's dead letters (or
 * only the one selected with `Projection.partition`).
 *
 * @since 0.1.0
 * @category running
 */
export const replayParked = <E extends { readonly _tag: string }, R>(
  projection: Projection.Projection<E, R>,
  eventId: string
) =>
  Effect.gen(function* () {
    for (const partition of Projection.partitionsOf(projection)) {
      if (yield* replayParkedIn(partition, eventId)) return true
    }
    return false
  })

const replayParkedIn = <E extends { readonly _tag: string }, R>(
  projection: Projection.Projection<E, R>,
  eventId: string
) =>
  Effect.gen(function* () {
    const name = Projection.checkpointName(projection)
    const tx = yield* UnitOfWork
    const deadLetters = yield* DeadLetterStore
    const parked = yield* deadLetters.get(name, eventId)
    if (Option.isNone(parked)) return false
    const [envelope] = yield* projection.codec.open([parked.value.envelope])
    const decoded = yield* Effect.fromResult(projection.codec.decodeEnvelope(envelope!))
    yield* tx.run(Effect.andThen(projection.handleBatch([decoded]), deadLetters.remove(name, eventId)))
    return true
  })

/**
 * Whether a projector run failed for good: a halted projection, or a
 * partition count that disagrees with the stored checkpoints. Restarting
 * cannot help; anything else (a store failure, a lost lease, a fenced
 * checkpoint) is worth a restart from the stored checkpoint.
 *
 * @since 0.1.0
 * @category running
 */
export const stops = (error: RunError): boolean =>
  error._tag === "ProjectionHalted" || error._tag === "PartitionsChanged"

/**
 * A layer that runs projections as fibers for the life of the app. A store
 * failure, a lost lease or a checkpoint moved by another process restarts a
 * projection from its checkpoint; a halted projection stays stopped and logs
 * why. Each projection's state goes to the `ProjectorStatus` in context, if
 * any (say, for a readiness check). A partitioned projection runs as one
 * fiber per partition, each under its own lease (`name@vN/p<i>of<n>`), so
 * processes running the layer share the partitions.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R>(
  projections: ReadonlyArray<Projection.Projection<any, R>>
): Layer.Layer<never, never, R | EventStore | UnitOfWork | CheckpointStore.CheckpointStore | DeadLetterStore | Lease> =>
  Layer.effectDiscard(
    Effect.forEach(
      projections.flatMap(Projection.partitionsOf),
      (projection) => {
        const name = Projection.checkpointName(projection)
        // Reported to the ProjectorStatus in context, if any; the last error outlives a restart.
        let lastError: string | undefined
        const running = Effect.suspend(() => ProjectorStatus.report(name, { state: "running", lastError }))
        return Effect.andThen(running, run(projection)).pipe(
          // A store failure, a lost lease or a fenced checkpoint: start again from the stored
          // checkpoint (waiting for the lease). Only a halted projection stays stopped.
          Effect.tapError((error) => {
            lastError = error.message
            return stops(error)
              ? Effect.void
              : Effect.andThen(
                  ProjectorStatus.report(name, { state: "restarting", lastError }),
                  Effect.logWarning(`Projection ${name} restarts`, error.message)
                )
          }),
          Effect.retry({
            while: (error) => !stops(error),
            schedule: Schedule.spaced("1 second")
          }),
          Effect.catch((error) =>
            Effect.andThen(
              ProjectorStatus.report(name, { state: "halted", lastError }),
              Effect.logError(`Projection ${name} stopped`, error.message)
            )
          ),
          Effect.forkScoped
        )
      },
      { discard: true }
    )
  )

/** A rebuild's `takeOver`, its failure a `ProjectionHalted` of the new version. */
const haltedOnTakeOver = <R2>(
  next: { readonly name: string; readonly version: number },
  takeOver: Effect.Effect<void, unknown, R2>
) =>
  Effect.mapError(
    takeOver,
    (cause) =>
      new ProjectionHalted({
        projection: Projection.checkpointName(next),
        eventId: "",
        stream: "",
        streamVersion: -1,
        type: "takeOver",
        error: batchHandler.describe(cause)
      })
  )

/**
 * Rebuilds a projection as a new version beside the live one: catches the new
 * version up from position 0 (with progress) while writers keep appending,
 * repeating until a pass finds the log no further ahead than `closeEnough`
 * events, then runs `takeOver` (say, pointing a view at the new table) in the
 * same transaction as a final catch-up batch, so readers switch from a
 * caught-up old version to a caught-up new one at once. The caller then
 * starts the new version's projector and stops the old one, whose data can be
 * dropped.
 *
 * @since 0.1.0
 * @category running
 */
export const rebuild = <E extends { readonly _tag: string }, R, R2>(
  next: Projection.Projection<E, R>,
  options: RunOptions & {
    readonly takeOver: Effect.Effect<void, unknown, R2>
    /** Stop catching up once a pass handled at most this many events (default 100). */
    readonly closeEnough?: number | undefined
  }
) =>
  Effect.gen(function* () {
    const tx = yield* UnitOfWork
    const store = yield* EventStore
    const closeEnough = options.closeEnough ?? 100
    for (;;) {
      const before = yield* store.head
      const reached = yield* catchUp(next, options)
      const behind = Number((yield* store.head).sequence - reached.sequence)
      if (behind <= closeEnough || Position.equals(before, reached)) break
    }
    // The last stretch and the switch commit together.
    const takeOver = haltedOnTakeOver(next, options.takeOver)
    return yield* tx.run(Effect.andThen(catchUp(next), (reached) => Effect.as(takeOver, reached)))
  })

/**
 * Progress of a catch-up or rebuild of every partition: each partition's own
 * {@link Progress} (by index) and their sum. Each partition's progress
 * counts the log positions it has passed (the log's, not its own events),
 * so `done` and `total` sum those across partitions.
 *
 * @since 0.1.0
 * @category models
 */
export interface PartitionsProgress extends Progress {
  readonly partitions: ReadonlyArray<Progress>
}

/**
 * The options of a catch-up or rebuild of every partition.
 *
 * @since 0.1.0
 * @category models
 */
export interface PartitionsOptions {
  /** Called after each batch of any partition with every partition's progress and the total. */
  readonly onProgress?: ((progress: PartitionsProgress) => Effect.Effect<void>) | undefined
}

/**
 * Catches every partition of a projection up to the log's head, in parallel
 * (one fiber, and on PostgreSQL one transaction at a time, per partition),
 * then returns the position each partition reached, by index. An
 * unpartitioned projection is one partition: the same as {@link catchUp}.
 *
 * @since 0.1.0
 * @category running
 */
export const catchUpPartitions = <E extends { readonly _tag: string }, R>(
  projection: Projection.Projection<E, R>,
  options?: PartitionsOptions
): Effect.Effect<
  ReadonlyArray<Position.Position>,
  RunError,
  R | EventStore | UnitOfWork | CheckpointStore.CheckpointStore | DeadLetterStore
> =>
  Effect.suspend(() => {
    const name = Projection.checkpointName(projection)
    const partitions = Projection.partitionsOf(projection)
    const latest: Array<Progress> = partitions.map((partition) => ({
      projection: Projection.checkpointName(partition),
      done: 0,
      total: 0,
      eventsPerSecond: 0,
      eta: Duration.zero
    }))
    const onProgress = options?.onProgress
    const report = (index: number) => (progress: Progress) => {
      latest[index] = progress
      if (onProgress === undefined) return Effect.void
      return onProgress({
        projection: name,
        done: latest.reduce((n, p) => n + p.done, 0),
        total: latest.reduce((n, p) => n + p.total, 0),
        eventsPerSecond: latest.reduce((n, p) => n + p.eventsPerSecond, 0),
        eta: latest.reduce((eta, p) => Duration.max(eta, p.eta), Duration.zero),
        partitions: [...latest]
      })
    }
    return Effect.forEach(partitions, (partition, index) => catchUp(partition, { onProgress: report(index) }), {
      concurrency: "unbounded"
    }).pipe(Effect.withSpan("Projector.catchUpPartitions", { attributes: { projection: name } }))
  })

/**
 * {@link rebuild} for every partition of a projection: catches all
 * partitions of the new version up in parallel ({@link catchUpPartitions},
 * with progress) while writers keep appending, until a pass saw the log
 * grow by at most `closeEnough` events, then catches each partition up once
 * more and runs `takeOver`, all in one transaction. Returns the position
 * each partition reached.
 *
 * @since 0.1.0
 * @category running
 */
export const rebuildPartitions = <E extends { readonly _tag: string }, R, R2>(
  next: Projection.Projection<E, R>,
  options: PartitionsOptions & {
    readonly takeOver: Effect.Effect<void, unknown, R2>
    /** Stop catching up once the log grew by at most this many events during a pass (default 100). */
    readonly closeEnough?: number | undefined
  }
) =>
  Effect.gen(function* () {
    const tx = yield* UnitOfWork
    const store = yield* EventStore
    const closeEnough = options.closeEnough ?? 100
    for (;;) {
      const before = yield* store.head
      yield* catchUpPartitions(next, options)
      if (Number((yield* store.head).sequence - before.sequence) <= closeEnough) break
    }
    const takeOver = haltedOnTakeOver(next, options.takeOver)
    // One transaction: the partitions one after another, then the switch.
    return yield* tx.run(
      Effect.andThen(
        Effect.forEach(Projection.partitionsOf(next), (partition) => catchUp(partition)),
        (reached) => Effect.as(takeOver, reached)
      )
    )
  })

/**
 * Waits until a projection has handled everything up to `position` (say, the
 * position a command's answer carried), so a caller can read its own write
 * from an asynchronous read model. Events the projection filters out need no
 * handling: it is enough that none it handles is pending up to `position`.
 * Works across processes (it reads the checkpoint); fails with
 * {@link ProjectionTimeout} after `timeout` (default 5 seconds). For a
 * partitioned projection, waits for every partition (or only the one
 * selected with `Projection.partition`).
 *
 * @example
 * ```ts
 * const outcome = yield* accounts.handle(stream, Account.Deposit.make({ amount: 100 }))
 * yield* Projector.awaitPosition(balances, outcome.positions.at(-1)!, { timeout: "2 seconds" })
 * // the balances read model now includes the deposit
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const awaitPosition = Effect.fn("Projector.awaitPosition")(function* (
  projection: Projection.Projection<any, any>,
  position: Position.Position,
  options?: { readonly timeout?: Duration.Input | undefined }
): Effect.fn.Return<void, StoreError | ProjectionTimeout, EventStore | CheckpointStore.CheckpointStore> {
  if (projection.partitions > 1 && projection.partition === undefined) {
    return yield* Effect.forEach(
      Projection.partitionsOf(projection),
      (partition) => awaitPosition(partition, position, options),
      { concurrency: "unbounded", discard: true }
    )
  }
  const name = Projection.checkpointName(projection)
  const store = yield* EventStore
  const checkpoints = yield* CheckpointStore.CheckpointStore
  const timeout = Duration.fromInputUnsafe(options?.timeout ?? "5 seconds")
  let checkpoint = Position.start
  const reached = Effect.gen(function* () {
    checkpoint = Option.getOrElse(yield* checkpoints.load(name), () => Position.start)
    if (!Position.isAfter(position, checkpoint)) return true
    // Not yet visible to readers (an older transaction holds the log back): wait.
    if (Position.isAfter(position, yield* store.head)) return false
    // The first event after the checkpoint this projection (or partition) handles, if it is not after `position`.
    const pending = yield* Stream.runHead(
      store.readAll({ ...subscribeOptions(projection, checkpoint), batchSize: 1 }).pipe(
        Stream.takeWhile((envelope) => !Position.isAfter(envelope.position, position)),
        Stream.filter((envelope) => Projection.handlesStream(projection, envelope.stream))
      )
    )
    return Option.isNone(pending)
  })
  yield* Effect.repeat(reached, {
    until: (done) => done,
    schedule: Schedule.min([Schedule.exponential("2 millis"), Schedule.spaced("50 millis")])
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          new ProjectionTimeout({
            projection: name,
            position: Position.format(position),
            checkpoint: Position.format(checkpoint),
            timeout: Duration.format(timeout)
          })
        )
    })
  )
})
