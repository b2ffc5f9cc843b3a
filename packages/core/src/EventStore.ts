/**
 * The event store service. It knows streams, versions, global positions and
 * envelopes, not domain types: events arrive encoded ({@link EventData}) and
 * leave as {@link Envelope}s.
 *
 * Every layer of this service (in memory here, PostgreSQL in
 * `@chronicle/postgres`) passes the store conformance suite of
 * `@chronicle/testing`, which proves the guarantees below.
 *
 * 1. An append is atomic: all of its events or none.
 * 2. Of two writers with the same expected version exactly one succeeds; the
 *    other gets {@link WrongExpectedVersion} with the actual version.
 * 3. An acknowledged append is durable and reads back exactly.
 * 4. Reading the global log in order never skips a committed event and never
 *    shows an uncommitted one.
 * 5. Appending the same event id again is idempotent.
 * 6. Stored events that cannot be decoded become typed errors (see
 *    `EventCodec`).
 *
 * @example
 * ```ts
 * import { EventStore, ExpectedVersion, MemoryStore, StreamName } from "@chronicle/core"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* EventStore.EventStore
 *   const stream = StreamName.make("order", "1")
 *   yield* store.append(stream, [event], ExpectedVersion.noStream)
 *   return yield* Stream.runCollect(store.readStream(stream))
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 *
 * @since 0.1.0
 */
import { Context, type Effect, Schema, type Stream } from "effect"
import type { EventData, Envelope } from "./Envelope.ts"
import type { ExpectedVersion } from "./ExpectedVersion.ts"
import type { Position } from "./Position.ts"
import type { StoreError } from "./StoreError.ts"
import type { StreamName } from "./StreamName.ts"

/**
 * The append was rejected because the stream is not at the expected version.
 * `actualVersion` is the stream's version when the append was tried (`-1`:
 * the stream does not exist). Reload the stream and decide again.
 *
 * @since 0.1.0
 * @category errors
 */
export class WrongExpectedVersion extends Schema.TaggedError<WrongExpectedVersion>()("WrongExpectedVersion", {
  stream: Schema.String,
  expected: Schema.String,
  actualVersion: Schema.Int
}) {
  override get message() {
    return (
      `Stream ${JSON.stringify(this.stream)} is at version ${this.actualVersion}, ` +
      `but the append expected ${this.expected}. Reload the stream and retry the command.`
    )
  }
}

/**
 * The stream has no events.
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamNotFound extends Schema.TaggedError<StreamNotFound>()("StreamNotFound", {
  stream: Schema.String
}) {
  override get message() {
    return `Stream ${JSON.stringify(this.stream)} does not exist.`
  }
}

/**
 * An event id in the append is already recorded, but the append is not an
 * exact repeat of the earlier one (other stream, other order, or mixed with new
 * events). Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateEventId extends Schema.TaggedError<DuplicateEventId>()("DuplicateEventId", {
  stream: Schema.String,
  eventId: Schema.String
}) {
  override get message() {
    return (
      `Event id ${this.eventId} is already recorded, and the append to ${JSON.stringify(this.stream)} ` +
      `is not an exact repeat of the append that recorded it. Give new events new ids.`
    )
  }
}

/**
 * The append cannot be stored as given: an invalid stream name or expected
 * version, a malformed event id, type or schema version, data that is not
 * JSON or has a lone surrogate, an oversized event, or an empty append (the
 * rules are `AppendCheck.check`; every store applies them before storage).
 * Nothing was written, and retrying the same input cannot succeed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidAppend extends Schema.TaggedError<InvalidAppend>()("InvalidAppend", {
  stream: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Cannot append to ${JSON.stringify(this.stream)}: ${this.reason}`
  }
}

/**
 * The append ran inside a transaction that had already written before it took
 * the stream's lock, and a concurrent writer committed to the stream in
 * between: appended now, the event would read before that writer's events in
 * the global log, out of the stream's order. Nothing was written. Retry the
 * whole transaction, and make appends its first writes (or use `appendMany`
 * for several streams), so it cannot happen. Only stores whose log is ordered
 * by transaction (PostgreSQL) fail with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class LogOrderConflict extends Schema.TaggedError<LogOrderConflict>()("LogOrderConflict", {
  stream: Schema.String
}) {
  override get message() {
    return (
      `The append to ${JSON.stringify(this.stream)} ran in a transaction that had already written before it ` +
      `took the stream's lock, and a concurrent writer committed to the stream in between; nothing was written. ` +
      `Retry the whole transaction, and make appends its first writes (or use appendMany for several streams) ` +
      `so it cannot happen.`
    )
  }
}

/**
 * The stream was deleted (see `StreamLifecycle.tombstone`): its events are
 * gone, it refuses appends and reads, and its name is never reused. `version`
 * is the last version it had. Write to a stream of a new name instead.
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamDeleted extends Schema.TaggedError<StreamDeleted>()("StreamDeleted", {
  stream: Schema.String,
  version: Schema.Int
}) {
  override get message() {
    return (
      `Stream ${JSON.stringify(this.stream)} was deleted at version ${this.version}: it accepts no appends and ` +
      `reads nothing, and its name is not reused. Write to a stream with a new name.`
    )
  }
}

/**
 * The stream is archived (see `StreamLifecycle.archive`): it reads as before
 * but accepts no appends. Restore it (`StreamLifecycle.restore`) to write to
 * it again.
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamArchived extends Schema.TaggedError<StreamArchived>()("StreamArchived", {
  stream: Schema.String
}) {
  override get message() {
    return (
      `Stream ${JSON.stringify(this.stream)} is archived: it can be read but not appended to. ` +
      `Restore it first (StreamLifecycle.restore, or the CLI's "streams restore").`
    )
  }
}

/**
 * The errors an append can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type AppendError =
  | WrongExpectedVersion
  | DuplicateEventId
  | InvalidAppend
  | LogOrderConflict
  | StreamDeleted
  | StreamArchived
  | StoreError

/**
 * The errors reading a stream can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type ReadStreamError = StreamDeleted | StoreError

/**
 * One stream's part of an append.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamAppend {
  readonly stream: StreamName
  readonly events: ReadonlyArray<EventData>
  readonly expectedVersion: ExpectedVersion
}

/**
 * The outcome of an append to one stream: its new version and the global
 * position of each event appended (for an idempotent repeat, the positions the
 * events were first recorded at).
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendResult {
  readonly stream: StreamName
  readonly streamVersion: number
  readonly positions: ReadonlyArray<Position>
}

/**
 * Which part of a stream to read. Every number means the same in every store
 * (`NaN` reads nothing, for example): see `ReadCheck.streamRange`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadStreamOptions {
  /** First stream version to read (forward) or last (backward). */
  readonly from?: number | undefined
  /** Most events to read. */
  readonly maxCount?: number | undefined
  readonly direction?: "forward" | "backward" | undefined
}

/**
 * Which part of the global log to read. Odd positions and batch sizes mean the
 * same in every store: see `ReadCheck.after` and `ReadCheck.batchSize`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadAllOptions {
  /** Read the events strictly after this position (default: the start). */
  readonly after?: Position | undefined
  /** Only these stream categories. */
  readonly categories?: ReadonlyArray<string> | undefined
  /** Only these event types. */
  readonly types?: ReadonlyArray<string> | undefined
  /**
   * Only the events of the streams in partition `index` of `count`
   * (`Projection.partitionOf`): what one partition of a partitioned
   * projection reads (see `ReadCheck.partition` for counts and indexes that cannot be).
   */
  readonly partition?: { readonly index: number; readonly count: number } | undefined
  /** How many events a store fetches at a time (a hint). */
  readonly batchSize?: number | undefined
}

/**
 * How to follow the global log: what to read, and a signal for each time the
 * subscriber has been given everything up to the log's current head.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscribeOptions extends ReadAllOptions {
  /**
   * Runs whenever the subscription has delivered every event up to the head
   * (and the consumer has taken them), just before it waits for new appends:
   * once on reaching the head and again after each batch of live events.
   */
  readonly onCaughtUp?: Effect.Effect<void> | undefined
}

/**
 * The event store service.
 *
 * @since 0.1.0
 * @category services
 */
export class EventStore extends Context.Service<
  EventStore,
  {
    /**
     * Appends events to one stream if it is at the expected version, atomically.
     * Repeating an append with the same event ids returns the first result.
     */
    readonly append: (
      stream: StreamName,
      events: ReadonlyArray<EventData>,
      expectedVersion: ExpectedVersion
    ) => Effect.Effect<AppendResult, AppendError>
    /** Appends to several streams atomically, each with its own expected version. */
    readonly appendMany: (
      appends: ReadonlyArray<StreamAppend>
    ) => Effect.Effect<ReadonlyArray<AppendResult>, AppendError>
    /**
     * Reads one stream; a stream that does not exist reads as empty, a deleted one fails with
     * {@link StreamDeleted}. Events lawfully removed from its start (`StreamLifecycle.trim`) are
     * not read: the first event read may be past version 0.
     */
    readonly readStream: (stream: StreamName, options?: ReadStreamOptions) => Stream.Stream<Envelope, ReadStreamError>
    /** The stream's current version, `-1` when it does not exist. */
    readonly streamVersion: (stream: StreamName) => Effect.Effect<number, StoreError>
    /** Reads the global log from a position up to the current head, then ends. */
    readonly readAll: (options?: ReadAllOptions) => Stream.Stream<Envelope, StoreError>
    /**
     * Reads the global log from a position, then follows new appends live.
     * Never ends until interrupted; every event is delivered once, in order.
     * `onCaughtUp` signals each time it has delivered everything there is.
     */
    readonly subscribe: (options?: SubscribeOptions) => Stream.Stream<Envelope, StoreError>
    /** The position of the last event readers can see (`Position.start` when empty). */
    readonly head: Effect.Effect<Position, StoreError>
  }
>()("@chronicle/core/EventStore") {}

/**
 * The default size limit of one event's JSON (data and metadata): 1 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxEventBytes = 1024 * 1024
