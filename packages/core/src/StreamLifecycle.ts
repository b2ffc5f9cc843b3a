/**
 * The life of a stream after its writes: deleting it (a tombstone), trimming
 * the start of its history, archiving it out of the hot tables and restoring
 * it. Every store layer provides the {@link StreamLifecycle} service; the
 * functions of this module ({@link tombstone}, {@link trim},
 * {@link archive}, {@link restore}) run an action and record it — who, when
 * and why — as an event on the {@link systemStream}, in one unit of work.
 *
 * What each action keeps:
 *
 * - **tombstone**: the stream's events and snapshot are removed; the stream
 *   refuses appends and reads with `StreamDeleted`, and its name is never
 *   reused. The global log simply has no events of it any more.
 * - **trim**: the events before a version are removed (at least the last
 *   event stays, so its version and chain go on); reads start at the first
 *   kept event, and loading the aggregate needs a snapshot at or after the
 *   cut (`Retention` saves one first).
 * - **archive**: the events leave the hot tables (PostgreSQL: for
 *   `events_archive`) and read back exactly as before — in `readStream`,
 *   `readAll`, subscriptions and rebuilds — but the stream accepts no appends
 *   (`StreamArchived`) until it is restored.
 *
 * Lawful removals leave a marker on the stream: the first version kept and
 * the hash its chain goes on from, so `Integrity.verify` tells them apart
 * from tampering.
 *
 * @example
 * ```ts
 * import { MemoryStore, StreamLifecycle, StreamName } from "@chronicle/core"
 * import { Effect } from "effect"
 *
 * const program = StreamLifecycle.tombstone(StreamName.make("order", "42"), {
 *   reason: "customer asked for deletion (ticket 1234)",
 *   actor: "dpo@example.com"
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Option, Schema } from "effect"
import type { Metadata } from "./Envelope.ts"
import * as EventCodec from "./EventCodec.ts"
import { EventStore, StreamNotFound, type StreamDeleted, type WrongExpectedVersion } from "./EventStore.ts"
import * as EventType from "./EventType.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import { SnapshotStore } from "./SnapshotStore.ts"
import type { StoreError } from "./StoreError.ts"
import * as StreamName from "./StreamName.ts"
import { UnitOfWork } from "./UnitOfWork.ts"

/**
 * Where a stream is in its life: `Live` (appendable), `Archived` (read-only,
 * out of the hot tables) or `Deleted` (gone; refuses reads and appends).
 *
 * @since 0.1.0
 * @category models
 */
export type State = "Live" | "Archived" | "Deleted"

/**
 * A stream as the store records it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  readonly stream: StreamName.StreamName
  /** The stream's version (its last event's, even when deleted). */
  readonly version: number
  readonly state: State
  /** Versions below this were lawfully removed (0: none; `version + 1` once deleted). */
  readonly removedBefore: number
}

/**
 * A trim that cannot be done as asked: `before` must be an integer from 1 to
 * the stream's version (the last event always stays). Nothing was removed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTrim extends Schema.TaggedError<InvalidTrim>()("InvalidTrim", {
  stream: Schema.String,
  before: Schema.Number,
  version: Schema.Int
}) {
  override get message() {
    return (
      `Cannot trim ${JSON.stringify(this.stream)} before version ${this.before}: it is at version ` +
      `${this.version}, and a trim keeps at least its last event (before must be an integer from 1 to ` +
      `${this.version}). To remove every event, delete the stream.`
    )
  }
}

/**
 * Loading a stream needed events that were trimmed away (`removedBefore` is
 * the first one kept; `needed` the version the load went on from) and no
 * usable snapshot covers them: none was saved at or after version
 * `removedBefore - 1`, or its state schema version no longer matches.
 * `Retention` saves one before it trims; after a change of state schema, the
 * trimmed history cannot be replayed — keep the old schema's snapshots
 * readable, or trim less.
 *
 * @since 0.1.0
 * @category errors
 */
export class HistoryTrimmed extends Schema.TaggedError<HistoryTrimmed>()("HistoryTrimmed", {
  stream: Schema.String,
  removedBefore: Schema.Int,
  needed: Schema.Int
}) {
  override get message() {
    return (
      `The events of ${JSON.stringify(this.stream)} before version ${this.removedBefore} were trimmed, and no ` +
      `usable snapshot covers them (the load needed version ${this.needed} on). Load with a snapshot policy whose ` +
      `snapshot at or after version ${this.removedBefore - 1} still decodes.`
    )
  }
}

/**
 * The store's lifecycle operations. Each is atomic, takes the stream's lock
 * like an append, and joins the caller's unit of work. Use the module's
 * functions, which also record the action on the {@link systemStream}.
 *
 * @since 0.1.0
 * @category services
 */
export class StreamLifecycle extends Context.Service<
  StreamLifecycle,
  {
    /** The stream's status; `None` when it has never been written. */
    readonly status: (stream: StreamName.StreamName) => Effect.Effect<Option.Option<Status>, StoreError>
    /** A category's streams in name order, `limit` at a time after `after` (for retention and tools). */
    readonly list: (options: {
      readonly category: string
      readonly after?: StreamName.StreamName | undefined
      readonly limit?: number | undefined
    }) => Effect.Effect<ReadonlyArray<Status>, StoreError>
    /** Removes every event of the stream, and refuses appends and reads from now on. */
    readonly delete: (
      stream: StreamName.StreamName,
      expectedVersion: ExpectedVersion.ExpectedVersion
    ) => Effect.Effect<Status, StreamDeleted | StreamNotFound | WrongExpectedVersion | StoreError>
    /** Removes the events before version `before` (already removed: nothing happens). */
    readonly trim: (
      stream: StreamName.StreamName,
      before: number
    ) => Effect.Effect<Status, InvalidTrim | StreamDeleted | StreamNotFound | StoreError>
    /** Moves the stream's events out of the hot tables; it stays readable, and refuses appends. */
    readonly archive: (
      stream: StreamName.StreamName
    ) => Effect.Effect<Status, StreamDeleted | StreamNotFound | StoreError>
    /** Brings an archived stream back: appendable again (a live stream: nothing happens). */
    readonly restore: (
      stream: StreamName.StreamName
    ) => Effect.Effect<Status, StreamDeleted | StreamNotFound | StoreError>
  }
>()("@chronicle/core/StreamLifecycle") {}

const action = { stream: Schema.String, version: Schema.Int, reason: Schema.String }

/**
 * Recorded by {@link tombstone}: the stream was deleted at `version`.
 *
 * @since 0.1.0
 * @category events
 */
export const Deleted = EventType.make("StreamDeleted", action)

/**
 * Recorded by {@link trim}: the events before `removedBefore` were removed.
 *
 * @since 0.1.0
 * @category events
 */
export const Trimmed = EventType.make("StreamTrimmed", { ...action, removedBefore: Schema.Int })

/**
 * Recorded by {@link archive}.
 *
 * @since 0.1.0
 * @category events
 */
export const Archived = EventType.make("StreamArchived", action)

/**
 * Recorded by {@link restore}.
 *
 * @since 0.1.0
 * @category events
 */
export const Restored = EventType.make("StreamRestored", action)

/**
 * The codec of the events this module records.
 *
 * @since 0.1.0
 * @category codecs
 */
export const SystemEvents = EventCodec.make(Deleted, Trimmed, Archived, Restored)

/**
 * The stream every lifecycle action is recorded on, `$system-streams`
 * (category `$system`).
 *
 * @since 0.1.0
 * @category constants
 */
export const systemStream: StreamName.StreamName = StreamName.make("$system", "streams")

/**
 * Why, and by whom, an action is taken: `reason` goes into the recorded
 * event, `actor` into its metadata (with any other metadata given).
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  readonly reason: string
  readonly actor?: string | undefined
  readonly metadata?: Metadata | undefined
}

/** Runs `act` and records its event on the system stream, in one unit of work. */
const recorded = <E, R>(
  request: Request,
  act: Effect.Effect<Status, E, R>,
  event: (status: Status) => EventCodec.Event<typeof SystemEvents>
) =>
  Effect.gen(function* () {
    const unit = yield* UnitOfWork
    const store = yield* EventStore
    return yield* unit.run(
      Effect.gen(function* () {
        const status = yield* act
        const metadata = { ...request.metadata, ...(request.actor === undefined ? {} : { actor: request.actor }) }
        const data = yield* Effect.orDie(SystemEvents.toEventData([event(status)], metadata))
        yield* store.append(systemStream, data, ExpectedVersion.any)
        return status
      })
    )
  })

/**
 * Deletes a stream for good (see the module's notes) and drops its snapshot,
 * recording {@link Deleted}. With `expectedVersion`, only if the stream is
 * still there.
 *
 * @since 0.1.0
 * @category actions
 */
export const tombstone = Effect.fn("StreamLifecycle.tombstone")(function* (
  stream: StreamName.StreamName,
  request: Request & { readonly expectedVersion?: ExpectedVersion.ExpectedVersion | undefined }
) {
  const service = yield* StreamLifecycle
  const snapshots = yield* Effect.serviceOption(SnapshotStore)
  const act = Effect.tap(service.delete(stream, request.expectedVersion ?? ExpectedVersion.any), () =>
    Option.isSome(snapshots) ? snapshots.value.delete(stream) : Effect.void
  )
  return yield* recorded(request, act, (status) =>
    Deleted.make({ stream, version: status.version, reason: request.reason })
  )
})

/**
 * Removes a stream's events before version `before`, recording
 * {@link Trimmed}. Save a snapshot at or after `before - 1` first, or the
 * aggregate cannot load any more (`Retention` does both).
 *
 * @since 0.1.0
 * @category actions
 */
export const trim = Effect.fn("StreamLifecycle.trim")(function* (
  stream: StreamName.StreamName,
  before: number,
  request: Request
) {
  const service = yield* StreamLifecycle
  return yield* recorded(request, service.trim(stream, before), (status) =>
    Trimmed.make({ stream, version: status.version, removedBefore: status.removedBefore, reason: request.reason })
  )
})

/**
 * Archives a stream, recording {@link Archived}.
 *
 * @since 0.1.0
 * @category actions
 */
export const archive = Effect.fn("StreamLifecycle.archive")(function* (
  stream: StreamName.StreamName,
  request: Request
) {
  const service = yield* StreamLifecycle
  return yield* recorded(request, service.archive(stream), (status) =>
    Archived.make({ stream, version: status.version, reason: request.reason })
  )
})

/**
 * Restores an archived stream, recording {@link Restored}.
 *
 * @since 0.1.0
 * @category actions
 */
export const restore = Effect.fn("StreamLifecycle.restore")(function* (
  stream: StreamName.StreamName,
  request: Request
) {
  const service = yield* StreamLifecycle
  return yield* recorded(request, service.restore(stream), (status) =>
    Restored.make({ stream, version: status.version, reason: request.reason })
  )
})

/**
 * The stream's status, failing with `StreamNotFound` when it was never
 * written.
 *
 * @since 0.1.0
 * @category queries
 */
export const status = Effect.fn("StreamLifecycle.status")(function* (stream: StreamName.StreamName) {
  const found = yield* (yield* StreamLifecycle).status(stream)
  if (Option.isNone(found)) return yield* new StreamNotFound({ stream })
  return found.value
})
