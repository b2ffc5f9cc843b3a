import {
  type CommandHandler,
  type Decider,
  type Envelope,
  type EventCodec,
  EventStore,
  type Position,
  type StreamName
} from "@chronicle/core"
import { Cause, Effect, Exit, Option, Result } from "effect"

/** One command waiting in an entity's mailbox, with how to answer its caller. */
export interface Pending<Command, Event, State, Failure> {
  readonly command: Command
  readonly metadata: Envelope.Metadata | undefined
  readonly idempotencyKey: string | undefined
  /** The version the caller expects the stream at (`-1`: no stream), if it expects one. */
  readonly expectedVersion: number | undefined
  readonly reply: (exit: Exit.Exit<Reply<Event, State>, Failure>) => Effect.Effect<void>
}

/** What a command did (see `StreamEntity.Reply`). */
export interface Reply<Event, State> {
  readonly state: State
  readonly version: number
  readonly events: ReadonlyArray<Event>
  readonly positions: ReadonlyArray<Position.Position>
  readonly batched: number
  readonly attempts: number
}

/** What the writer needs: the decider, codec, how to load and append, and its limits. */
export interface Options<Command, Event extends { readonly _tag: string }, State, Error, R> {
  readonly stream: StreamName.StreamName
  readonly decider: Decider.Decider<Command, Event, State, Error>
  readonly codec: EventCodec.EventCodec<Event>
  /** Loading, appending with the inline projections, and snapshots, as `CommandHandler` does them. */
  readonly writer: CommandHandler.Writer<Event, State, R>
  readonly store: EventStore.EventStore["Service"]
  readonly maxAttempts: number
  readonly terminated: (stream: string, version: number) => unknown
  /** Called each time the stream is read to (re)build the cache (for tests and metrics). */
  readonly onLoad?: ((stream: StreamName.StreamName) => void) | undefined
}

type Decision<Event, State, Failure> =
  | { readonly _tag: "Rejected"; readonly exit: Exit.Exit<never, Failure> }
  | {
      readonly _tag: "Accepted"
      readonly events: ReadonlyArray<Event>
      readonly data: ReadonlyArray<Envelope.EventData>
      /** Events of the batch before this command's. */
      readonly offset: number
      /** The state after this command's events. */
      readonly state: State
    }

/**
 * The single writer of one stream: a cache of its folded state and version,
 * and `run`, which decides a batch of commands one after another against it
 * and appends their events in one append with the cached version expected.
 */
export const make = <Command, Event extends { readonly _tag: string }, State, Error, Failure, R>(
  options: Options<Command, Event, State, Error, R>
) => {
  const { codec, decider, store, stream, writer } = options
  let cached: Option.Option<CommandHandler.LoadedFrom<State>> = Option.none()

  const reload = Effect.suspend(() => {
    options.onLoad?.(stream)
    return Effect.tap(writer.load(stream), (loaded) =>
      Effect.sync(() => {
        cached = Option.some(loaded)
      })
    )
  })
  const current = Effect.suspend(() => (Option.isSome(cached) ? Effect.succeed(cached.value) : reload))
  const invalidate = Effect.sync(() => {
    cached = Option.none()
  })

  /** Decides one command and folds its events, catching what a buggy decider throws. */
  const decideOne = (
    command: Command,
    state: State
  ):
    | { readonly _tag: "Decided"; readonly decided: Result.Result<ReadonlyArray<Event>, Error>; readonly next: State }
    | { readonly _tag: "Died"; readonly defect: unknown } => {
    try {
      const decided = decider.decide(command, state)
      let next = state
      if (Result.isSuccess(decided)) for (const event of decided.success) next = decider.evolve(next, event)
      return { _tag: "Decided", decided, next }
    } catch (defect) {
      return { _tag: "Died", defect }
    }
  }

  /** Decides every command in turn against the state, the accepted ones' events evolving it for the next. */
  const decideAll = (
    batch: ReadonlyArray<Pending<Command, Event, State, Failure>>,
    loaded: CommandHandler.Loaded<State>
  ) =>
    Effect.gen(function* () {
      let state = loaded.state
      let offset = 0
      const decisions: Array<Decision<Event, State, Failure>> = []
      const reject = (failure: unknown) => decisions.push({ _tag: "Rejected", exit: Exit.fail(failure as Failure) })
      for (const pending of batch) {
        const version = loaded.version + offset
        if (pending.expectedVersion !== undefined && pending.expectedVersion !== version) {
          // The caller saw another version (optimistic concurrency): as `CommandHandler` answers it.
          reject(
            new EventStore.WrongExpectedVersion({
              stream,
              expected: String(pending.expectedVersion),
              actualVersion: version
            })
          )
          continue
        }
        if (decider.isTerminal?.(state) === true) {
          reject(options.terminated(stream, version))
          continue
        }
        const step = decideOne(pending.command, state)
        if (step._tag === "Died") {
          // A throwing decider fails its own command with the defect, not the commands beside it.
          decisions.push({ _tag: "Rejected", exit: Exit.die(step.defect) })
          continue
        }
        const { decided, next } = step
        if (Result.isFailure(decided)) {
          reject(decided.failure)
          continue
        }
        const events = decided.success
        const key = pending.idempotencyKey
        // The same ids CommandHandler derives, so a command retried through either path is recorded once.
        const encoded = yield* Effect.result(
          events.length === 0
            ? Effect.succeed([])
            : codec.toEventData(events, pending.metadata, key && JSON.stringify([key, stream]))
        )
        if (Result.isFailure(encoded)) {
          reject(encoded.failure)
          continue
        }
        state = next
        decisions.push({ _tag: "Accepted", events, data: encoded.success, offset, state })
        offset += events.length
      }
      return { decisions, state, count: offset }
    })

  /** Answers every command of a batch from its decision, once the append (if any) went in at `base`. */
  const replyAll = (
    batch: ReadonlyArray<Pending<Command, Event, State, Failure>>,
    decisions: ReadonlyArray<Decision<Event, State, Failure>>,
    loaded: CommandHandler.Loaded<State>,
    positions: ReadonlyArray<Position.Position>,
    attempts: number
  ) =>
    Effect.forEach(
      batch,
      (pending, i) => {
        const decision = decisions[i]!
        if (decision._tag === "Rejected") return pending.reply(decision.exit)
        const end = decision.offset + decision.events.length
        return pending.reply(
          Exit.succeed({
            state: decision.state,
            version: loaded.version + end,
            events: decision.events,
            positions: positions.slice(decision.offset, end),
            batched: batch.length,
            attempts
          })
        )
      },
      { discard: true }
    )

  /** The reply of a command that changed nothing (a repeat under its idempotency key). */
  const unchanged = (pending: Pending<Command, Event, State, Failure>, attempts: number) =>
    Effect.flatMap(Effect.exit(current), (now) =>
      Exit.isSuccess(now)
        ? pending.reply(
            Exit.succeed({
              state: now.value.loaded.state,
              version: now.value.loaded.version,
              events: [],
              positions: [],
              batched: 1,
              attempts
            })
          )
        : pending.reply(now as Exit.Exit<never, Failure>)
    )

  /** A batch decided and appended together; conflicts reload and decide the whole batch again. */
  const runBatch = (
    batch: ReadonlyArray<Pending<Command, Event, State, Failure>>,
    attempts: number
  ): Effect.Effect<void, never, R> =>
    Effect.gen(function* () {
      const loadedExit = yield* Effect.exit(current)
      if (Exit.isFailure(loadedExit)) {
        yield* Effect.forEach(batch, (pending) => pending.reply(loadedExit as Exit.Exit<never, Failure>), {
          discard: true
        })
        return
      }
      const { loaded, snapshotVersion } = loadedExit.value
      const { count, decisions, state } = yield* decideAll(batch, loaded)
      if (count === 0) {
        // Nothing to append, so no expected-version check vouches for the cached state: a rejection
        // decided on a stale cache (a write from outside) would be wrong. One cheap version query does.
        const version = yield* Effect.exit(store.streamVersion(stream))
        if (Exit.isFailure(version)) {
          const failure = version as Exit.Exit<never, Failure>
          return yield* Effect.forEach(batch, (pending) => pending.reply(failure), { discard: true })
        }
        if (version.value !== loaded.version && attempts < options.maxAttempts) {
          yield* invalidate
          return yield* runBatch(batch, attempts + 1)
        }
        return yield* replyAll(batch, decisions, loaded, [], attempts)
      }
      const accepted = decisions.flatMap((decision) => (decision._tag === "Accepted" ? [decision] : []))
      const appended = yield* Effect.exit(
        writer.append(
          stream,
          accepted.flatMap((decision) => decision.events),
          accepted.flatMap((decision) => decision.data),
          loaded.version
        )
      )
      if (Exit.isSuccess(appended)) {
        const version = appended.value.streamVersion
        if (version === loaded.version + count) {
          const events = accepted.flatMap((decision) => decision.events)
          const saved = yield* writer.snapshotIfDue(stream, snapshotVersion, { state, version, events })
          cached = Option.some({ loaded: { state, version }, snapshotVersion: saved ? version : snapshotVersion })
          return yield* replyAll(batch, decisions, loaded, appended.value.positions, attempts)
        }
        // An exact repeat of an earlier append (idempotency keys): nothing new was written.
        yield* invalidate
        if (batch.length > 1) return yield* oneByOne(batch, attempts)
        return yield* unchanged(batch[0]!, attempts)
      }
      const error = Cause.findErrorOption(appended.cause)
      const tag = Option.isSome(error) ? error.value._tag : undefined
      // Whatever failed, the cache may be behind: the next attempt or command reloads.
      yield* invalidate
      if (tag === "WrongExpectedVersion") {
        // A write from outside the cluster's single writer: reload once, decide again.
        if (attempts < options.maxAttempts) return yield* runBatch(batch, attempts + 1)
      } else if (
        batch.length > 1 &&
        (tag === "DuplicateEventId" || tag === "InvalidAppend" || tag === "InlineProjectionFailed")
      ) {
        // Nothing was written, and what was refused may be one command's doing (an id recorded
        // before, an oversized event, an inline projection failing on its events): each command
        // alone. Not after a StoreError, which may follow a commit: deciding the commands again
        // could apply them twice.
        return yield* oneByOne(batch, attempts)
      } else if (tag === "DuplicateEventId" && batch[0]!.idempotencyKey !== undefined) {
        // Under an idempotency key, a recorded id means this command already took effect (its
        // events went in with others, so this is no exact repeat of their append).
        return yield* unchanged(batch[0]!, attempts)
      }
      const failure = appended as Exit.Exit<never, Failure>
      yield* Effect.forEach(
        batch,
        (pending, i) =>
          decisions[i]!._tag === "Rejected"
            ? replyAll([pending], [decisions[i]!], loaded, [], attempts)
            : pending.reply(failure),
        { discard: true }
      )
    })

  const oneByOne = (batch: ReadonlyArray<Pending<Command, Event, State, Failure>>, attempts: number) =>
    Effect.forEach(batch, (pending) => runBatch([pending], attempts), { discard: true })

  /**
   * Runs a batch; a defect (a throwing decider, say) fails the batch's
   * callers with it and drops the cache, and the writer goes on.
   */
  const run = (batch: ReadonlyArray<Pending<Command, Event, State, Failure>>): Effect.Effect<void, never, R> => {
    const answered = new Set<Pending<Command, Event, State, Failure>>()
    const tracked = batch.map((pending) => ({
      ...pending,
      reply: (exit: Exit.Exit<Reply<Event, State>, Failure>) =>
        Effect.suspend(() => {
          answered.add(pending)
          return pending.reply(exit)
        })
    }))
    return runBatch(tracked, 1).pipe(
      // Interrupted (the entity is moving or shutting down): its callers are retried by the cluster.
      Effect.catchCauseIf(
        (cause) => !Cause.hasInterruptsOnly(cause),
        (cause) =>
          Effect.andThen(
            invalidate,
            Effect.forEach(
              batch.filter((pending) => !answered.has(pending)),
              (pending) => pending.reply(Exit.failCause(cause as Cause.Cause<never>)),
              { discard: true }
            )
          )
      )
    )
  }

  return { run } as const
}
