/**
 * Command handling: load → decide → append with the expected version, retried
 * on conflict.
 *
 * For a command on a stream the handler loads the state (from a snapshot when
 * one matches the state schema's version, then the events after it; otherwise
 * by replaying the whole stream), decodes and upcasts the events, folds them
 * with `evolve`, runs `decide`, encodes the new events and appends them with
 * the version it loaded as the expected version. On `WrongExpectedVersion` it
 * reloads and decides again under the retry `Schedule`. After a successful
 * append it may save a snapshot, in the background, without delaying the
 * reply.
 *
 * Commands for the same stream queue behind each other inside one handler, so
 * they never conflict with each other; different streams run in parallel.
 * (Inside a caller's unit of work they do not queue: the store holds the
 * stream until the unit ends.)
 * Conflicts (and retries) happen only across processes.
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
 * }).pipe(Effect.scoped, Effect.provide(EventStore.EventStore.layerMemory()))
 * ```
 *
 * @since 0.1.0
 */
import { DateTime, Effect, Option, Result, Schedule, Schema, Scope, Semaphore, Stream } from "effect"
import type * as Decider from "./Decider.ts"
import type { Decoded, Envelope, EventData, Metadata } from "./Envelope.ts"
import type * as EventCodec from "./EventCodec.ts"
import { type AppendError, type AppendResult, EventStore, StreamNotFound, WrongExpectedVersion } from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import type { Position } from "./Position.ts"
import { SnapshotStore } from "./SnapshotStore.ts"
import type { StoreError } from "./StoreError.ts"
import * as Projection from "./Projection.ts"
import * as StreamName from "./StreamName.ts"
import { UnitOfWork } from "./UnitOfWork.ts"

/**
 * When and how to snapshot a stream's state.
 *
 * @since 0.1.0
 * @category models
 */
export interface SnapshotPolicy<State, Encoded> {
  /** Encodes the state; its `version` must change whenever the encoding does. */
  readonly schema: Schema.Codec<State, Encoded>
  /** The state schema's version; snapshots of any other version are ignored. */
  readonly version: number
  /** Snapshot once this many events were appended since the last snapshot. */
  readonly every?: number | undefined
  /** Or snapshot whenever this predicate holds after an append. */
  readonly when?: ((state: State, events: ReadonlyArray<unknown>) => boolean) | undefined
}

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
export interface Loaded<State> {
  readonly state: State
  /** The version of the last event folded in; `-1` for a stream with no events. */
  readonly version: number
}

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
export type LoadError = EventCodec.DecodeError | StoreError

/**
 * The errors handling a command can fail with: the decider's own, a conflict
 * that outlived the retries, bad stored events, or the store.
 *
 * @since 0.1.0
 * @category errors
 */
export type HandleError<Error> = Error | LoadError | AppendError | EventCodec.InvalidEventData | InlineProjectionFailed

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
  ) => Effect.Effect<Outcome<Event, State>, HandleError<Error>, EventStore | R>
  /** The stream's current state. */
  readonly load: (stream: StreamName.StreamName) => Effect.Effect<Loaded<State>, LoadError, EventStore>
  /** The stream's state as of a version or a time (a temporal query). */
  readonly loadAsOf: (
    stream: StreamName.StreamName,
    asOf: AsOf
  ) => Effect.Effect<Loaded<State>, LoadError | StreamNotFound, EventStore>
}

const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("2 millis").pipe(
  Schedule.jittered,
  Schedule.upTo({ times: 10 })
)

/** One semaphore per stream with commands in flight; removed when idle. */
const makeStreamLocks = () => {
  const locks = new Map<string, { readonly semaphore: Semaphore.Semaphore; users: number }>()
  return <A, E, R>(stream: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      let lock = locks.get(stream)
      if (lock === undefined) {
        lock = { semaphore: Semaphore.makeUnsafe(1), users: 0 }
        locks.set(stream, lock)
      }
      const held = lock
      held.users++
      return held.semaphore
        .withPermits(1)(effect)
        .pipe(
          Effect.ensuring(
            Effect.sync(() => {
              if (--held.users === 0) locks.delete(stream)
            })
          )
        )
    })
}

/**
 * Makes a command handler. Background snapshot saves run in the current
 * scope, so they stop when it closes.
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
): Effect.Effect<CommandHandler<Command, Event, State, Error, RInline>, never, Scope.Scope | UnitOfWork> =>
  Effect.gen(function* () {
    const { codec, decider, snapshot } = options
    const scope = yield* Scope.Scope
    const withStreamLock = makeStreamLocks()
    const retry = options.retry ?? defaultRetry

    const decodeSnapshot = snapshot && Schema.decodeUnknownResult(snapshot.schema as Schema.Codec<State, unknown>)
    const encodeSnapshot = snapshot && Schema.encodeResult(snapshot.schema as Schema.Codec<State, unknown>)

    /** Folds the stream's events after `from` (while `until` does not hold), decoding and upcasting each. */
    const foldEvents = (stream: StreamName.StreamName, from: Loaded<State>, until?: (envelope: Envelope) => boolean) =>
      EventStore.use((store) => {
        let loaded = from
        const envelopes = store.readStream(stream, { from: from.version + 1 })
        return (until === undefined ? envelopes : Stream.takeWhile(envelopes, (envelope) => !until(envelope))).pipe(
          Stream.runForEachArray((chunk) => {
            // Decoding and folding a whole chunk synchronously keeps the hot loop free of effects.
            let state = loaded.state
            for (const envelope of chunk) {
              const event = codec.decode(
                { type: envelope.type, version: envelope.schemaVersion, data: envelope.data },
                envelope
              )
              if (Result.isFailure(event)) return Effect.fail(event.failure)
              state = decider.evolve(state, event.success)
            }
            loaded = { state, version: chunk[chunk.length - 1]!.streamVersion }
            return Effect.void
          }),
          Effect.map(() => loaded)
        )
      })

    /** The latest usable snapshot; a missing, outdated or undecodable one means a full replay. */
    const loadSnapshot = (stream: StreamName.StreamName): Effect.Effect<Option.Option<Loaded<State>>> =>
      snapshot === undefined || decodeSnapshot === undefined
        ? Effect.succeedNone
        : Effect.serviceOption(SnapshotStore).pipe(
            Effect.flatMap(
              Option.match({
                onNone: () => Effect.succeedNone,
                onSome: (store) => store.load(stream)
              })
            ),
            Effect.map(
              Option.flatMap((stored) => {
                if (stored.schemaVersion !== snapshot.version) return Option.none()
                return Option.map(Result.getSuccess(decodeSnapshot(stored.state)), (state) => ({
                  state,
                  version: stored.streamVersion
                }))
              })
            ),
            Effect.catch((error) =>
              Effect.as(Effect.logWarning("Ignoring snapshot: the snapshot store failed", error), Option.none())
            )
          )

    const load = (stream: StreamName.StreamName) =>
      Effect.flatMap(loadSnapshot(stream), (fromSnapshot) =>
        foldEvents(
          stream,
          Option.getOrElse(fromSnapshot, () => ({ state: decider.initialState, version: -1 }))
        ).pipe(
          Effect.map((loaded) => ({
            loaded,
            snapshotVersion: Option.match(fromSnapshot, { onNone: () => -1, onSome: (s) => s.version })
          }))
        )
      )

    const maybeSnapshot = (stream: StreamName.StreamName, snapshotVersion: number, outcome: Outcome<Event, State>) => {
      if (snapshot === undefined || encodeSnapshot === undefined || outcome.events.length === 0) return Effect.void
      const due =
        (snapshot.every !== undefined && outcome.version - snapshotVersion >= snapshot.every) ||
        snapshot.when?.(outcome.state, outcome.events) === true
      if (!due) return Effect.void
      return Effect.serviceOption(SnapshotStore).pipe(
        Effect.flatMap(
          Option.match({
            onNone: () => Effect.void,
            onSome: (store) =>
              Result.match(encodeSnapshot(outcome.state), {
                onFailure: (error) =>
                  Effect.logWarning(`Not snapshotting ${stream}: the state does not encode`, error.message),
                onSuccess: (state) =>
                  store
                    .save({ stream, streamVersion: outcome.version, schemaVersion: snapshot.version, state })
                    .pipe(Effect.catch((error) => Effect.logWarning(`Snapshot of ${stream} failed`, error.message)))
              })
          })
        ),
        Effect.forkIn(scope),
        Effect.asVoid
      )
    }

    const attempt = (
      stream: StreamName.StreamName,
      command: Command,
      options: HandleOptions | undefined,
      attempts: { n: number }
    ) =>
      Effect.gen(function* () {
        attempts.n++
        const { loaded, snapshotVersion } = yield* load(stream)
        if (options?.expectedVersion !== undefined && options.expectedVersion !== loaded.version) {
          return yield* new WrongExpectedVersion({
            stream,
            expected: String(options.expectedVersion),
            actualVersion: loaded.version
          })
        }
        const decided = decider.decide(command, loaded.state)
        if (Result.isFailure(decided)) return yield* Effect.fail(decided.failure)
        const events = decided.success
        if (events.length === 0) {
          return { outcome: { ...loaded, events, positions: [], attempts: attempts.n }, snapshotVersion }
        }
        const key = options?.idempotencyKey
        const data = yield* codec.toEventData(events, options?.metadata, key && `${key}/${stream}`)
        const store = yield* EventStore
        const append = store.append(stream, data, ExpectedVersion.fromCurrent(loaded.version)).pipe(
          Effect.catchTag("DuplicateEventId", (error) =>
            // Under an idempotency key, a recorded id means this command already took effect.
            key === undefined ? Effect.fail(error) : Effect.succeed(undefined)
          )
        )
        const appended = yield* inline.length === 0
          ? append
          : unitOfWork.run(
              Effect.tap(append, (result) =>
                result === undefined || result.streamVersion !== loaded.version + events.length
                  ? Effect.void
                  : project(stream, events, data, result)
              )
            )
        // An exact repeat of an earlier append returns that append's result, at an older version.
        if (appended === undefined || appended.streamVersion !== loaded.version + events.length) {
          return { outcome: { ...loaded, events: [], positions: [], attempts: attempts.n }, snapshotVersion }
        }
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

    const inline = options.inline ?? []
    const unitOfWork = yield* UnitOfWork

    /** Runs the inline projections on the appended events, as their envelopes. */
    const project = (
      stream: StreamName.StreamName,
      events: ReadonlyArray<Event>,
      data: ReadonlyArray<EventData>,
      appended: AppendResult
    ) =>
      Effect.flatMap(DateTime.now, (recordedAt) => {
        const first = appended.streamVersion - events.length + 1
        const decoded = events.map(
          (event, i): Decoded<Event> => ({
            eventId: data[i]!.eventId,
            type: data[i]!.type,
            schemaVersion: data[i]!.schemaVersion,
            metadata: data[i]!.metadata,
            stream,
            streamVersion: first + i,
            position: appended.positions[i]!,
            recordedAt,
            event
          })
        )
        return Effect.forEach(
          inline,
          (projection) => {
            const handled = decoded.filter(
              (e) =>
                projection.types.includes(e.type) &&
                (projection.categories === undefined || projection.categories.includes(StreamName.category(stream)))
            )
            return handled.length === 0
              ? Effect.void
              : Effect.mapError(
                  projection.handleBatch(handled),
                  (error) =>
                    new InlineProjectionFailed({
                      projection: Projection.checkpointName(projection),
                      stream,
                      error: error instanceof globalThis.Error ? error.message : String(error)
                    })
                )
          },
          { discard: true }
        )
      })

    const handle: CommandHandler<Command, Event, State, Error, RInline>["handle"] = (
      stream,
      command,
      handleOptions
    ) => {
      const run = Effect.suspend(() => {
        const attempts = { n: 0 }
        return attempt(stream, command, handleOptions, attempts).pipe(
          Effect.retry({
            schedule: retry,
            // A conflict with another writer is retried; one with the caller's own expectation is not.
            while: (error) =>
              handleOptions?.expectedVersion === undefined &&
              (error as { readonly _tag?: unknown })._tag === "WrongExpectedVersion"
          }),
          Effect.tap(({ outcome, snapshotVersion }) => maybeSnapshot(stream, snapshotVersion, outcome)),
          Effect.map(({ outcome }) => outcome)
        )
      })
      return Effect.flatMap(unitOfWork.active, (inUnit) =>
        // Inside a caller's unit of work (say, a process manager's projector batch) the store holds
        // the stream until that unit ends. Queueing here as well could deadlock: a command holding
        // the queue would wait for the store, and the unit for the queue.
        inUnit ? run : withStreamLock(stream, run)
      ).pipe(Effect.withSpan("CommandHandler.handle", { attributes: { stream } }))
    }

    const loadAsOf: CommandHandler<Command, Event, State, Error, RInline>["loadAsOf"] = (stream, asOf) => {
      const until =
        "version" in asOf
          ? (envelope: Envelope) => envelope.streamVersion > asOf.version
          : (envelope: Envelope) => envelope.recordedAt.epochMilliseconds > asOf.at.epochMilliseconds
      return Effect.flatMap(foldEvents(stream, { state: decider.initialState, version: -1 }, until), (loaded) =>
        loaded.version === -1 ? Effect.fail(new StreamNotFound({ stream })) : Effect.succeed(loaded)
      )
    }

    return {
      handle,
      load: (stream) => Effect.map(load(stream), ({ loaded }) => loaded),
      loadAsOf
    }
  })
