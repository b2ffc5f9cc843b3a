/**
 * Command handling: load → decide → append with the expected version, retried
 * on conflict.
 *
 * For a command on a stream the handler loads the state (from a snapshot when
 * one matches the state schema's version, then the events after it; otherwise
 * by replaying the whole stream), decodes and upcasts the events, folds them
 * with `evolve`, refuses the command with `StreamTerminated` when the
 * decider's `isTerminal` holds for that state, runs `decide`, encodes the new
 * events and appends them with the version it loaded as the expected version.
 * On `WrongExpectedVersion` it reloads and decides again under the retry
 * `Schedule`. After a successful append it may save a snapshot, in the
 * background, without delaying the reply.
 *
 * Commands for the same stream queue behind each other inside one handler, so
 * they never conflict with each other; different streams run in parallel.
 * (Inside a caller's unit of work they do not queue: the store holds the
 * stream until the unit ends.)
 * Conflicts (and retries) happen only across processes.
 *
 * Each command runs in a `CommandHandler.handle` span (attempts and outcome
 * as attributes, `CommandHandler.decide` inside) whose trace context the new
 * events carry in their metadata (unless the caller gave one), and is counted
 * by outcome in `Observability.commands`.
 *
 * @example
 * ```ts
 * import { CommandHandler, EventStore, StreamName } from "@chronicle/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const orders = yield* CommandHandler.make({ decider: orderDecider, codec: OrderEvents })
 *   const outcome = yield* orders.handle(StreamName.make("order", "o1"), placeOrder, {
 *     metadata: { correlationId: "req-1", actor: "alice" }
 *   })
 *   return outcome.version
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 *
 * Over 300 lines because two fifths of it are the public types and errors
 * with their documentation, and `make` keeps a command's whole path (load,
 * decide, append, retry, with its spans and outcome metric) in one place; the
 * machinery lives in `internal/streamLoader`, `internal/streamLocks` and
 * `internal/inlineProjections`.
 *
 * @since 0.1.0
 */
import { Cause, type DateTime, Effect, Exit, Metric, Option, Result, Schedule, Schema } from "effect"
import type * as Decider from "./Decider.ts"
import type { Envelope, EventData, Metadata } from "./Envelope.ts"
import type * as EventCodec from "./EventCodec.ts"
import {
  type AppendError,
  type AppendResult,
  EventStore,
  type ReadStreamError,
  StreamNotFound,
  WrongExpectedVersion
} from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import * as Observability from "./Observability.ts"
import type { Position } from "./Position.ts"
import { SnapshotStore, type SnapshotUnavailable } from "./SnapshotStore.ts"
import type { StoreError } from "./StoreError.ts"
import * as inlineProjections from "./internal/inlineProjections.ts"
import * as streamLoader from "./internal/streamLoader.ts"
import * as streamLocks from "./internal/streamLocks.ts"
import type * as Projection from "./Projection.ts"
import type { HistoryTrimmed } from "./StreamLifecycle.ts"
import type * as StreamName from "./StreamName.ts"
import { UnitOfWork } from "./UnitOfWork.ts"

/**
 * When and how to snapshot a stream's state.
 *
 * @since 0.1.0
 * @category models
 */
export interface SnapshotPolicy<State, Encoded> extends streamLoader.SnapshotPolicy<State, Encoded> {}

/**
 * Which top-level fields of a snapshot's encoded state are personal data,
 * and whose (`subject`, from the state; `undefined` while it has none): they
 * are sealed with the subject's key when stored, as events' personal fields
 * are (see `EventType.Personal`), and read as `erased` (default `"[erased]"`)
 * once the subject is forgotten. `PersonalData.forget` keeps such a snapshot,
 * which matters when the stream was trimmed and the snapshot is all that is
 * left of its early state. An aggregate whose events carry personal fields
 * needs it for `CommandHandler.snapshot` (and so for `Retention`): otherwise
 * that fails with `SnapshotUnavailable`.
 *
 * @example
 * ```ts
 * const snapshot = {
 *   schema: CustomerState,
 *   version: 1,
 *   personal: { subject: (state: CustomerState) => state.customerId, fields: ["name", "email"] }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface SnapshotPersonal<State> extends streamLoader.SnapshotPersonal<State> {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<Command, Event extends { readonly _tag: string }, State, Error, Encoded, RInline = never> {
  readonly decider: Decider.Decider<Command, Event, State, Error>
  readonly codec: EventCodec.EventCodec<Event>
  readonly snapshot?: SnapshotPolicy<State, Encoded> | undefined
  /**
   * How to retry on `WrongExpectedVersion` (default: up to 10 retries with
   * jittered exponential back-off from 2 ms).
   */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * Inline projections: run on the new events in the append's unit of work
   * (with the PostgreSQL layers, the same SQL transaction), so their read
   * models are consistent with the write — read-your-writes. A failing inline
   * projection fails the command and nothing is appended, on every store.
   */
  readonly inline?: ReadonlyArray<Projection.Projection<Event, RInline>> | undefined
}

/**
 * A stream's state and version as loaded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded<State> extends streamLoader.Loaded<State> {}

/**
 * What a handled command did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome<Event, State> extends Loaded<State> {
  /** The new events (empty when the command changed nothing). */
  readonly events: ReadonlyArray<Event>
  /** Their global positions. */
  readonly positions: ReadonlyArray<Position>
  /** How many times the command was decided (1 unless it met conflicts). */
  readonly attempts: number
}

/**
 * The errors loading a stream can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type LoadError = EventCodec.DecodeError | ReadStreamError | HistoryTrimmed

/**
 * The errors handling a command can fail with: the decider's own, a conflict
 * that outlived the retries, bad stored events, a terminal stream, or the
 * store.
 *
 * @since 0.1.0
 * @category errors
 */
export type HandleError<Error> =
  | Error
  | LoadError
  | AppendError
  | EventCodec.InvalidEventData
  | InlineProjectionFailed
  | StreamTerminated

/**
 * The stream's state is terminal (the decider's `isTerminal` says so): it
 * takes no more commands, and nothing was decided or appended.
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamTerminated extends Schema.TaggedError<StreamTerminated>()("StreamTerminated", {
  stream: Schema.String,
  version: Schema.Int
}) {
  override get message() {
    return (
      `The stream ${JSON.stringify(this.stream)} reached a terminal state at version ${this.version} ` +
      `and accepts no more commands; start a new stream`
    )
  }
}

/**
 * An inline projection failed on a command's events; the command was rolled
 * back and nothing was appended.
 *
 * @since 0.1.0
 * @category errors
 */
export class InlineProjectionFailed extends Schema.TaggedError<InlineProjectionFailed>()("InlineProjectionFailed", {
  projection: Schema.String,
  stream: Schema.String,
  error: Schema.String
}) {
  override get message() {
    return (
      `Inline projection ${this.projection} failed on the events for ${JSON.stringify(this.stream)}; ` +
      `the command was not applied: ${this.error}`
    )
  }
}

/**
 * Where a temporal query stops: at a stream version, or at a time.
 *
 * @since 0.1.0
 * @category models
 */
export type AsOf = { readonly version: number } | { readonly at: DateTime.Utc }

/**
 * @since 0.1.0
 * @category models
 */
export interface HandleOptions {
  readonly metadata?: Metadata | undefined
  readonly idempotencyKey?: string | undefined
  /**
   * The stream version the caller last saw (say, an HTTP client doing
   * optimistic concurrency). When the stream has moved on the command fails
   * with `WrongExpectedVersion` at once, without retrying.
   */
  readonly expectedVersion?: number | undefined
}

/**
 * A command handler for one decider.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommandHandler<Command, Event, State, Error, R = never> {
  /**
   * Runs a command on a stream; `metadata` is attached to every event it
   * causes. With an `idempotencyKey` (say, the id of the event that triggered
   * the command in a process manager) the command takes effect at most once
   * per stream: a repeat finds its events already recorded and returns the
   * current state with no new events.
   */
  readonly handle: (
    stream: StreamName.StreamName,
    command: Command,
    options?: HandleOptions
  ) => Effect.Effect<Outcome<Event, State>, HandleError<Error>, R>
  /** The stream's current state. */
  readonly load: (stream: StreamName.StreamName) => Effect.Effect<Loaded<State>, LoadError>
  /**
   * Saves a snapshot of the stream's current state now (with the handler's
   * snapshot policy's schema) and returns what it saved; for retention, which
   * must keep the state before it trims.
   */
  readonly snapshot: (
    stream: StreamName.StreamName
  ) => Effect.Effect<Loaded<State>, LoadError | SnapshotUnavailable | StoreError>
  /** The stream's state as of a version or a time (a temporal query). */
  readonly loadAsOf: (
    stream: StreamName.StreamName,
    asOf: AsOf
  ) => Effect.Effect<Loaded<State>, LoadError | StreamNotFound>
}

/** A command's or error's `_tag`, for spans and metrics. */
const tagOf = (value: unknown): string => {
  const tag = (value as { readonly _tag?: unknown } | null | undefined)?._tag
  return typeof tag === "string" ? tag : "unknown"
}

/** Annotates the command's span with its attempts and outcome, and counts the outcome. */
const reportOutcome = (
  command: string,
  attempts: number,
  exit: Exit.Exit<{ readonly events: ReadonlyArray<unknown> }, unknown>
) => {
  const outcome = Exit.isSuccess(exit)
    ? exit.value.events.length === 0
      ? "unchanged"
      : "appended"
    : Option.match(Cause.findErrorOption(exit.cause), {
        onSome: tagOf,
        onNone: () => (Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "defect")
      })
  return Effect.andThen(
    Effect.annotateCurrentSpan({ attempts, outcome }),
    Metric.update(commandSeries(command, outcome), 1)
  )
}

/** `Observability.commands` per command and outcome, each series made once: a new one would work out its key again. */
const commandSeries = (command: string, outcome: string) => {
  const key = JSON.stringify([command, outcome])
  let series = commandsBy.get(key)
  if (series === undefined) {
    series = Metric.withAttributes(Observability.commands, { command, outcome })
    commandsBy.set(key, series)
  }
  return series
}
const commandsBy = new Map<string, typeof Observability.commands>()

const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("2 millis").pipe(
  Schedule.jittered,
  Schedule.upTo({ times: 10 })
)

/**
 * A stream's state as loaded, and the version of the snapshot it started
 * from (`-1`: none), which says when the next snapshot is due.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadedFrom<State> {
  readonly loaded: Loaded<State>
  readonly snapshotVersion: number
}

/**
 * The parts a command handler is made of, for a writer that keeps a stream's
 * state itself and decides commands against it (a cluster stream entity,
 * which is its stream's only writer): loading with the snapshot policy,
 * appending decided events with the inline projections in the same unit of
 * work, and saving a snapshot when the policy says one is due.
 *
 * @since 0.1.0
 * @category models
 */
export interface Writer<Event, State, RInline = never> {
  /** The stream's state, from the latest usable snapshot and the events after it. */
  readonly load: (stream: StreamName.StreamName) => Effect.Effect<LoadedFrom<State>, LoadError>
  /**
   * Appends events decided against the stream's state at `version`, expecting
   * that version; the inline projections run on them in the same unit of
   * work, and a failing one undoes the append. An exact repeat of an earlier
   * append (idempotency keys) returns that append's result and runs nothing.
   */
  readonly append: (
    stream: StreamName.StreamName,
    events: ReadonlyArray<Event>,
    data: ReadonlyArray<EventData>,
    version: number
  ) => Effect.Effect<AppendResult, AppendError | InlineProjectionFailed, RInline>
  /**
   * Saves a snapshot of `outcome` in the background when the policy says one
   * is due after a snapshot at `snapshotVersion`; says whether it started one.
   */
  readonly snapshotIfDue: (
    stream: StreamName.StreamName,
    snapshotVersion: number,
    outcome: Loaded<State> & { readonly events: ReadonlyArray<Event> }
  ) => Effect.Effect<boolean>
  /** Saves a snapshot of the stream's current state now, and waits for it (see {@link CommandHandler}). */
  readonly snapshot: (
    stream: StreamName.StreamName
  ) => Effect.Effect<Loaded<State>, LoadError | SnapshotUnavailable | StoreError>
  /** Folds the stream's events from its start until `until` holds for one (a temporal query). */
  readonly foldUntil: (
    stream: StreamName.StreamName,
    until: (envelope: Envelope) => boolean
  ) => Effect.Effect<Loaded<State>, LoadError>
}

/**
 * Makes the {@link Writer} of a command handler on the `EventStore` and
 * `UnitOfWork` in context (and the `SnapshotStore`, when there is one and a
 * snapshot policy is given).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWriter = <
  Command,
  Event extends { readonly _tag: string },
  State,
  Error,
  Encoded = unknown,
  RInline = never
>(
  options: Options<Command, Event, State, Error, Encoded, RInline>
): Effect.Effect<Writer<Event, State, RInline>, never, EventStore | UnitOfWork> =>
  Effect.gen(function* () {
    const { codec, decider } = options
    const store = yield* EventStore
    const unitOfWork = yield* UnitOfWork
    const loader = streamLoader.make({
      decider,
      codec,
      snapshot: options.snapshot,
      store,
      snapshots: yield* Effect.serviceOption(SnapshotStore)
    })
    const inline = options.inline ?? []

    const append: Writer<Event, State, RInline>["append"] = (stream, events, data, version) => {
      const appended = store.append(stream, data, ExpectedVersion.fromCurrent(version))
      if (inline.length === 0) return appended
      return unitOfWork.run(
        Effect.tap(appended, (result) =>
          result.streamVersion !== version + events.length
            ? Effect.void
            : Effect.mapError(
                inlineProjections.run(inline, stream, events, data, result),
                (failure) =>
                  new InlineProjectionFailed({
                    projection: failure.projection,
                    stream,
                    error: failure.cause instanceof globalThis.Error ? failure.cause.message : String(failure.cause)
                  })
              )
        )
      )
    }

    return {
      load: loader.load,
      append,
      snapshotIfDue: loader.maybeSnapshot,
      snapshot: loader.saveSnapshot,
      foldUntil: (stream, until) => loader.foldEvents(stream, loader.empty, until)
    }
  })

/**
 * Makes a command handler on the `EventStore` and `UnitOfWork` in context
 * (and the `SnapshotStore`, when there is one and a snapshot policy is
 * given). The handler keeps them: running its commands needs nothing more.
 * Snapshots are saved in the background, detached from the caller.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  Command,
  Event extends { readonly _tag: string },
  State,
  Error,
  Encoded = unknown,
  RInline = never
>(
  options: Options<Command, Event, State, Error, Encoded, RInline>
): Effect.Effect<CommandHandler<Command, Event, State, Error, RInline>, never, EventStore | UnitOfWork> =>
  Effect.gen(function* () {
    const { codec, decider } = options
    const unitOfWork = yield* UnitOfWork
    const writer = yield* makeWriter(options)
    const withStreamLock = streamLocks.make()
    const retry = options.retry ?? defaultRetry

    /** Appends a command's events; under an idempotency key, a recorded id means it already took effect. */
    const append = (
      stream: StreamName.StreamName,
      events: ReadonlyArray<Event>,
      data: ReadonlyArray<EventData>,
      loadedVersion: number,
      idempotent: boolean
    ) =>
      writer
        .append(stream, events, data, loadedVersion)
        .pipe(
          Effect.catchTag("DuplicateEventId", (error) => (idempotent ? Effect.succeed(undefined) : Effect.fail(error)))
        )

    const attempt = (
      stream: StreamName.StreamName,
      command: Command,
      options: HandleOptions | undefined,
      attempts: { n: number }
    ) =>
      Effect.gen(function* () {
        attempts.n++
        const { loaded, snapshotVersion } = yield* writer.load(stream)
        if (options?.expectedVersion !== undefined && options.expectedVersion !== loaded.version) {
          return yield* new WrongExpectedVersion({
            stream,
            expected: String(options.expectedVersion),
            actualVersion: loaded.version
          })
        }
        if (decider.isTerminal?.(loaded.state) === true) {
          return yield* new StreamTerminated({ stream, version: loaded.version })
        }
        const decided = yield* Effect.sync(() => decider.decide(command, loaded.state)).pipe(
          Observability.withSpan("CommandHandler.decide", { attributes: () => ({ stream, version: loaded.version }) })
        )
        if (Result.isFailure(decided)) return yield* Effect.fail(decided.failure)
        const events = decided.success
        const unchanged = { outcome: { ...loaded, events: [], positions: [], attempts: attempts.n }, snapshotVersion }
        if (events.length === 0) return unchanged
        const key = options?.idempotencyKey
        // The key and the stream as JSON: no key on one stream can spell the same name as one on another.
        const data = yield* codec.toEventData(events, options?.metadata, key && JSON.stringify([key, stream]))
        const appended = yield* append(stream, events, data, loaded.version, key !== undefined)
        // An exact repeat of an earlier append returns that append's result, at an older version.
        if (appended === undefined || appended.streamVersion !== loaded.version + events.length) return unchanged
        let state = loaded.state
        for (const event of events) state = decider.evolve(state, event)
        const outcome: Outcome<Event, State> = {
          state,
          version: appended.streamVersion,
          events,
          positions: appended.positions,
          attempts: attempts.n
        }
        return { outcome, snapshotVersion }
      })

    const handle: CommandHandler<Command, Event, State, Error, RInline>["handle"] = (
      stream,
      command,
      handleOptions
    ) => {
      const tag = tagOf(command)
      return Effect.suspend(() => {
        const attempts = { n: 0 }
        // The events carry this span as their trace context (unless the caller gave one).
        const run = Effect.flatMap(Observability.withTraceParent(handleOptions?.metadata), (metadata) =>
          attempt(stream, command, { ...handleOptions, metadata }, attempts).pipe(
            Effect.retry({
              schedule: retry,
              // A conflict with another writer is retried; one with the caller's own expectation is not.
              while: (error) =>
                handleOptions?.expectedVersion === undefined &&
                (error as { readonly _tag?: unknown })._tag === "WrongExpectedVersion"
            }),
            Effect.tap(({ outcome, snapshotVersion }) => writer.snapshotIfDue(stream, snapshotVersion, outcome)),
            Effect.map(({ outcome }) => outcome)
          )
        )
        return Effect.flatMap(unitOfWork.active, (inUnit) =>
          // Inside a caller's unit of work (say, a process manager's projector batch) the store holds
          // the stream until that unit ends. Queueing here as well could deadlock: a command holding
          // the queue would wait for the store, and the unit for the queue.
          inUnit ? run : withStreamLock(stream, run)
        ).pipe(Effect.onExit((exit) => reportOutcome(tag, attempts.n, exit)))
      }).pipe(
        // Made even when nothing records it (unlike the spans inside it): the events carry its id.
        Effect.withSpan("CommandHandler.handle", { attributes: { stream, command: tag } }, { captureStackTrace: false })
      )
    }

    const loadAsOf: CommandHandler<Command, Event, State, Error, RInline>["loadAsOf"] = (stream, asOf) => {
      const until =
        "version" in asOf
          ? (envelope: Envelope) => envelope.streamVersion > asOf.version
          : (envelope: Envelope) => envelope.recordedAt.epochMilliseconds > asOf.at.epochMilliseconds
      return Effect.flatMap(writer.foldUntil(stream, until), (loaded) =>
        loaded.version === -1 ? Effect.fail(new StreamNotFound({ stream })) : Effect.succeed(loaded)
      )
    }

    return {
      handle,
      load: (stream) => Effect.map(writer.load(stream), ({ loaded }) => loaded),
      loadAsOf,
      snapshot: writer.snapshot
    }
  })
