/**
 * Stream entities: one writer per stream across a cluster of processes, on
 * `effect/cluster`.
 *
 * A stream entity is an `Entity` of `effect/cluster` for one aggregate (a
 * category with its decider, event codec and command schema), addressed by
 * the stream's id: the cluster routes every command for a stream to the one
 * runner that owns the stream's shard, so writers in different processes no
 * longer race on the stream. The entity is the stream's single writer, which
 * makes an in-memory cache of its state correct:
 *
 * - it loads the stream once (snapshot and events, the way `CommandHandler`
 *   loads: `CommandHandler.load`), keeps the folded state and version, and
 *   evolves them with its own appends;
 * - it still appends with the exact expected version, so a write from outside
 *   the cluster (an older process, a script) fails that append with
 *   `WrongExpectedVersion`: the entity reloads once and decides again — an
 *   update is never lost;
 * - commands waiting for the same entity are decided one after another
 *   against the cached state and appended in one append (group commit); each
 *   caller gets its own outcome, and a rejected command does not fail the
 *   others;
 * - a batch that appends nothing (every command rejected or a no-op) has no
 *   expected-version check to vouch for the cache, so the entity asks the
 *   store for the stream's version (one cheap query) before it answers, and
 *   reloads and decides again when the stream has moved;
 * - a decider that throws fails only its own command, with the defect; the
 *   cache is dropped and the entity goes on (the engine's restart-and-replay
 *   on defects is turned off: it would re-run committed commands);
 * - an entity idle for `maxIdleTime` is stopped and its cache dropped; the
 *   next command loads the stream again, wherever its shard then lives;
 * - a process keeps at most two messages on their way to one stream, and
 *   sends the commands that wait meanwhile together in the next (see
 *   {@link client}): the cluster's cost is per message.
 *
 * The command, the reply and every error cross the network, so all of them
 * are Schemas: the decider's rejection (`error`), and core's typed errors
 * (`WrongExpectedVersion`, `StoreError`, decode errors, …).
 *
 * The engine delivers a request at least once: a runner that dies mid-command
 * has the command run again on the shard's new owner, which reloads the
 * stream first. So that a re-run never applies a command twice, every
 * command carries an idempotency key: the caller's, or one `client` makes
 * for the send. The event ids are derived from it exactly as
 * `CommandHandler` derives them, so a re-run of a command whose append had
 * committed finds its ids recorded and answers with no new events. Give
 * your own key when the caller itself may send a command again (a retried
 * HTTP request, a process manager's re-delivered event).
 *
 * @example
 * ```ts
 * import { StreamEntity } from "@chronicle/cluster"
 * import { Account } from "@chronicle/example"
 * import { Effect } from "effect"
 *
 * const Accounts = StreamEntity.make({
 *   category: "account",
 *   decider: Account.decider,
 *   codec: Account.AccountEvents,
 *   command: Account.AccountCommand,
 *   error: Account.AccountRejected
 * })
 *
 * // on every runner
 * const AccountsLive = StreamEntity.layer(Accounts, { maxIdleTime: "5 minutes" })
 *
 * // anywhere in the cluster (runner or client-only process)
 * const program = Effect.gen(function*() {
 *   const send = yield* StreamEntity.client(Accounts)
 *   const reply = yield* send("a1", Account.Deposit.make({ amount: 10 }))
 *   return reply.version
 * })
 * ```
 *
 * @since 0.1.0
 */
import {
  CommandHandler,
  type Decider,
  Envelope,
  EventCodec,
  EventStore,
  Position,
  type Projection,
  StoreError,
  StreamLifecycle,
  StreamName,
  type UnitOfWork
} from "@chronicle/core"
import { type Duration, Effect, Exit, Layer, Queue, Result, Schema } from "effect"
import { Entity, type Sharding } from "effect/cluster"
import type { ClusterError } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as sendQueue from "./internal/sendQueue.ts"
import * as streamWriter from "./internal/streamWriter.ts"

/**
 * What one command did: the stream's state and version after it, its events and their
 * global positions (none when the command changed nothing), how many
 * commands shared its append (`batched`, 1 when it was alone), how many
 * travelled in its message (`carried`: see {@link client}) and how many
 * times it was decided (`attempts`, more than 1 after a write from outside).
 *
 * @since 0.1.0
 * @category models
 */
export interface Reply<Event, State> extends streamWriter.Reply<Event, State> {
  readonly carried: number
}

/**
 * The errors a command sent to a stream entity can fail with — all of them
 * Schemas, so they reach a caller on another runner as the same typed
 * values: the decider's rejection, a terminal stream, a conflict that
 * outlived the retries, the store's append errors, a stream that does not
 * load, or an id that makes no stream name.
 *
 * @since 0.1.0
 * @category errors
 */
export type Failure<Error> =
  | Error
  | CommandHandler.StreamTerminated
  | EventStore.AppendError
  | CommandHandler.LoadError
  | EventCodec.InvalidEventData
  | CommandHandler.InlineProjectionFailed
  | StreamName.InvalidStreamName

/**
 * The errors the cluster itself can add on the way (see `effect/cluster`'s
 * `ClusterError`): a full mailbox, a runner-wide entity limit
 * (`MailboxFull`), or message storage failing for persisted messages.
 *
 * @since 0.1.0
 * @category errors
 */
export type ClientError =
  | ClusterError.MailboxFull
  | ClusterError.AlreadyProcessingMessage
  | ClusterError.PersistenceError
  | ClusterError.EntityNotAssignedToRunner

/**
 * What describes a stream entity.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Command, Event extends { readonly _tag: string }, State, Error, RInline = never> {
  /** The streams' category: the entity handles the streams `category-<id>`. */
  readonly category: string
  readonly decider: Decider.Decider<Command, Event, State, Error>
  readonly codec: EventCodec.EventCodec<Event>
  /** The commands' Schema: commands cross the network. */
  readonly command: Schema.Codec<Command, any>
  /** The state's Schema: each reply carries the state after its command. */
  readonly state: Schema.Codec<State, any>
  /** The decider's rejection as a Schema (`Schema.Never` when it never rejects). */
  readonly error: Schema.Codec<Error, any>
  /** Snapshots to load from and save, as for `CommandHandler`. */
  readonly snapshot?: CommandHandler.SnapshotPolicy<State, any> | undefined
  /**
   * Inline projections, as for `CommandHandler`: run in the append's unit of
   * work, on every runner that hosts the entity (which then needs what they need).
   */
  readonly inline?: ReadonlyArray<Projection.Projection<Event, RInline>> | undefined
}

/**
 * The RPC of a stream entity: a command, with the metadata its events carry
 * and an optional idempotency key, answered with a {@link Reply}.
 *
 * @since 0.1.0
 * @category models
 */
export type HandleRpc<Command, Event, State, Error> = Rpc.Rpc<
  "Handle",
  Schema.Codec<Payload<Command>, any>,
  Schema.Codec<Reply<Event, State>, any>,
  Schema.Codec<Failure<Error>, any>
>

/**
 * The RPC that carries several commands for one stream from one process:
 * each answered with its own exit, in order. `client` sends it for the
 * commands that waited while earlier ones were on their way.
 *
 * @since 0.1.0
 * @category models
 */
export type HandleManyRpc<Command, Event, State, Error> = Rpc.Rpc<
  "HandleMany",
  Schema.Codec<{ readonly commands: ReadonlyArray<Payload<Command>> }, any>,
  Schema.Codec<ReadonlyArray<Exit.Exit<Reply<Event, State>, Failure<Error>>>, any>,
  Schema.Codec<Failure<Error>, any>
>

/**
 * A command as sent to a stream entity, with what `CommandHandler.handle`
 * takes beside it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Payload<Command> extends SendOptions {
  readonly command: Command
}

/**
 * What a command may carry: the metadata its events get, an idempotency key,
 * and the version the caller expects the stream at (`-1`: no stream), which
 * fails the command with `WrongExpectedVersion` when the stream is elsewhere.
 *
 * @since 0.1.0
 * @category models
 */
export interface SendOptions {
  readonly metadata?: Envelope.Metadata | undefined
  readonly idempotencyKey?: string | undefined
  readonly expectedVersion?: number | undefined
}

/**
 * A stream entity: the aggregate's options and the `effect/cluster` entity
 * (type `Stream/<category>`) built from them.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamEntity<Command, Event extends { readonly _tag: string }, State, Error, RInline = never> {
  readonly options: Options<Command, Event, State, Error, RInline>
  readonly entity: Entity.Entity<
    `Stream/${string}`,
    HandleRpc<Command, Event, State, Error> | HandleManyRpc<Command, Event, State, Error>
  >
}

/** Core's typed errors a command can meet besides the decider's own. */
const coreErrors = [
  CommandHandler.StreamTerminated,
  CommandHandler.InlineProjectionFailed,
  EventStore.WrongExpectedVersion,
  EventStore.DuplicateEventId,
  EventStore.InvalidAppend,
  EventStore.LogOrderConflict,
  EventStore.StreamDeleted,
  EventStore.StreamArchived,
  StoreError.StoreError,
  EventCodec.UnknownEventType,
  EventCodec.UnknownSchemaVersion,
  EventCodec.InvalidEventData,
  StreamLifecycle.HistoryTrimmed,
  StreamName.InvalidStreamName
] as const

/**
 * Describes a stream entity for one aggregate. Define it once in a module
 * that runners and clients share.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Command, Event extends { readonly _tag: string }, State, Error, RInline = never>(
  options: Options<Command, Event, State, Error, RInline>
): StreamEntity<Command, Event, State, Error, RInline> => {
  if (options.category.includes("-")) {
    throw new StreamName.InvalidStreamName({ stream: options.category, reason: 'the category contains "-"' })
  }
  const payload = Schema.Struct({
    command: options.command,
    metadata: Schema.optionalKey(Envelope.Metadata),
    idempotencyKey: Schema.optionalKey(Schema.String),
    expectedVersion: Schema.optionalKey(Schema.Int)
  }) as unknown as Schema.Codec<Payload<Command>, any>
  const success = Schema.Struct({
    state: options.state,
    version: Schema.Int,
    events: Schema.Array(options.codec.events),
    positions: Schema.Array(Position.Position),
    batched: Schema.Int,
    carried: Schema.Int,
    attempts: Schema.Int
  }) as unknown as Schema.Codec<Reply<Event, State>, any>
  const error = Schema.Union([options.error, ...coreErrors]) as unknown as Schema.Codec<Failure<Error>, any>
  const rpc: HandleRpc<Command, Event, State, Error> = Rpc.make("Handle", { payload, success, error })
  const many: HandleManyRpc<Command, Event, State, Error> = Rpc.make("HandleMany", {
    payload: Schema.Struct({ commands: Schema.Array(payload) }),
    success: Schema.Array(Schema.Exit(success, error, Schema.Defect())),
    error
  }) as unknown as HandleManyRpc<Command, Event, State, Error>
  return { options, entity: Entity.make(`Stream/${options.category}`, [rpc, many]) }
}

/**
 * How a runner hosts a stream entity.
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions {
  /**
   * Stop an entity (and drop its cached state) after this long without a
   * command (default: the cluster's `entityMaxIdleTime`, 1 minute). The
   * engine checks at most every 5 s, so an entity lives between
   * `maxIdleTime` and `maxIdleTime` + 5 s after its last command. The memory
   * bound is the runner-wide count of resident entities,
   * `ShardingConfig.maxResidentEntities` (default 10 000): at the limit the
   * engine refuses to spawn more (a new stream's command fails with
   * `MailboxFull`) rather than evicting idle ones.
   */
  readonly maxIdleTime?: Duration.Input | undefined
  /** Most commands decided and appended together (default 256). */
  readonly maxBatch?: number | undefined
  /** How many times one batch is decided when writes from outside keep conflicting (default 10). */
  readonly maxAttempts?: number | undefined
  /** Most commands waiting for one entity (default: the cluster's `entityMailboxCapacity`, 4096). */
  readonly mailboxCapacity?: number | "unbounded" | undefined
  /** Called each time an entity reads its stream to (re)build its state; for metrics and tests. */
  readonly onLoad?: ((stream: StreamName.StreamName) => void) | undefined
}

type Pending<Command, Event, State, Error> = streamWriter.Pending<Command, Event, State, Failure<Error>>

/** A command of a message of `carried` commands, answered through `reply`. */
const pendingOf = <Command, Event, State, Error>(
  payload: Payload<Command>,
  carried: number,
  reply: (exit: Exit.Exit<Reply<Event, State>, Failure<Error>>) => Effect.Effect<void>
): Pending<Command, Event, State, Error> => ({
  command: payload.command,
  metadata: payload.metadata,
  idempotencyKey: payload.idempotencyKey,
  expectedVersion: payload.expectedVersion,
  reply: (exit) => reply(Exit.map(exit, (done) => ({ ...done, carried })))
})

/**
 * Registers the stream entity's handler on this process's runner (it needs
 * `Sharding`, from a runner layer such as `SingleRunner.layer` or
 * `NodeClusterSocket.layer`, and the stores). Every runner that may own the
 * entity's shards provides it.
 *
 * Each entity keeps its commands in the engine's mailbox
 * (`Entity.toLayerQueue`) and runs them in batches: it takes what has
 * arrived (up to `maxBatch`), decides it against the cached state, appends
 * once, answers every caller, and takes the next batch — so while one append
 * is in flight, the commands behind it gather into the next one.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Command, Event extends { readonly _tag: string }, State, Error, RInline = never>(
  self: StreamEntity<Command, Event, State, Error, RInline>,
  options?: LayerOptions
): Layer.Layer<never, never, Sharding.Sharding | EventStore.EventStore | UnitOfWork.UnitOfWork | RInline> => {
  const { category, codec, decider } = self.options
  const maxBatch = options?.maxBatch ?? 256
  return Layer.unwrap(
    Effect.gen(function* () {
      // What CommandHandler loads and appends with (snapshots, inline projections), shared by the entities.
      const writer = yield* CommandHandler.makeWriter(self.options)
      const store = yield* EventStore.EventStore
      return self.entity.toLayerQueue(
        Effect.gen(function* () {
          const address = yield* Entity.CurrentAddress
          return (queue, replier) =>
            Effect.gen(function* () {
              const stream = StreamName.decodeResult(`${category}-${address.entityId}`)
              const streamWriter_ = Result.isSuccess(stream)
                ? streamWriter.make<Command, Event, State, Error, Failure<Error>, RInline>({
                    stream: stream.success,
                    decider,
                    codec,
                    writer,
                    store,
                    maxAttempts: options?.maxAttempts ?? 10,
                    terminated: (name, version) => new CommandHandler.StreamTerminated({ stream: name, version }),
                    onLoad: options?.onLoad
                  })
                : undefined
              while (true) {
                const requests = yield* Queue.takeBetween(queue, 1, maxBatch)
                if (streamWriter_ === undefined) {
                  const failure = (stream as Result.Failure<StreamName.StreamName, StreamName.InvalidStreamName>)
                    .failure
                  yield* Effect.forEach(requests, (request) => replier.fail(request, failure), { discard: true })
                  continue
                }
                yield* streamWriter_.run(
                  requests.flatMap((request): Array<Pending<Command, Event, State, Error>> => {
                    if (request.tag === "Handle") {
                      return [
                        pendingOf(request.payload as Payload<Command>, 1, (exit) => replier.complete(request, exit))
                      ]
                    }
                    // Several commands in one message: its reply goes once every one of them is answered.
                    const { commands } = request.payload as { readonly commands: ReadonlyArray<Payload<Command>> }
                    const exits = new Array<Exit.Exit<Reply<Event, State>, Failure<Error>>>(commands.length)
                    let unanswered = commands.length
                    return commands.map((payload, i) =>
                      pendingOf(payload, commands.length, (exit) =>
                        Effect.suspend(() => {
                          exits[i] = exit
                          return --unanswered === 0 ? replier.succeed(request, exits as never) : Effect.void
                        })
                      )
                    )
                  })
                )
              }
            })
        }),
        {
          maxIdleTime: options?.maxIdleTime,
          mailboxCapacity: options?.mailboxCapacity,
          // By default a defect in a reply restarts the entity and replays every request it had
          // started — the defective one again (a restart loop), and commands whose append had
          // committed but whose reply had not gone out (applied twice). The writer contains
          // defects itself: the command that hit one fails with it, the cache is dropped.
          disableFatalDefects: true
        }
      )
    })
  )
}

/**
 * A function that sends a command to a stream (by its id, within the
 * entity's category) from any process of the cluster — a runner or a
 * client-only one — and waits for its reply.
 *
 * Commands a process sends to one stream while two messages are already on
 * their way there wait, and go out together in the next message (up to 64
 * commands, a `HandleMany`): the entity would have queued them anyway, and
 * the cluster's cost per message is shared. They keep the order they were
 * sent in, and each caller gets its own command's outcome. Make the
 * function once per process and share it, so that its commands can travel
 * together.
 *
 * A caller interrupted while its command waits takes it back; once sent,
 * the command may still take effect.
 *
 * @since 0.1.0
 * @category clients
 */
export const client = <Command, Event extends { readonly _tag: string }, State, Error, RInline>(
  self: StreamEntity<Command, Event, State, Error, RInline>
): Effect.Effect<
  (
    id: string,
    command: Command,
    options?: SendOptions
  ) => Effect.Effect<Reply<Event, State>, Failure<Error> | ClientError>,
  never,
  Sharding.Sharding
> =>
  Effect.map(self.entity.client, (makeClient) => {
    type Outcome = Exit.Exit<Reply<Event, State>, Failure<Error> | ClientError>
    const queue = sendQueue.make<Payload<Command>, Reply<Event, State>, Failure<Error> | ClientError>({
      inFlight: 2,
      maxBatch: 64,
      send: (id, commands) => {
        const entity = makeClient(id)
        if (commands.length === 1)
          return Effect.map(Effect.exit(entity.Handle(commands[0]! as never)), (exit) => [exit])
        return Effect.exit(entity.HandleMany({ commands } as never)).pipe(
          // The message failed as a whole (the cluster refused it): so did each of its commands.
          Effect.map(
            (exit): ReadonlyArray<Outcome> =>
              Exit.isSuccess(exit)
                ? (exit.value as ReadonlyArray<Outcome>)
                : commands.map(() => exit as Exit.Exit<never, Failure<Error> | ClientError>)
          )
        )
      }
    })
    return (id, command, options) => {
      // Absent rather than undefined: the payload's optional keys encode no undefined.
      const given = Object.entries(options ?? {}).filter(([, value]) => value !== undefined)
      // A key per send: the engine may deliver this request twice (its runner dying mid-command). A
      // random UUID: unique is all it needs to be, and the platform's pooled generator is the cheapest.
      const payload: Payload<Command> = {
        command,
        idempotencyKey: globalThis.crypto.randomUUID(),
        ...Object.fromEntries(given)
      }
      return queue(id, payload)
    }
  })

/**
 * Sends one command to a stream (by its id) and waits for its reply; for
 * many commands, make the function once with {@link client}.
 *
 * @since 0.1.0
 * @category clients
 */
export const send = <Command, Event extends { readonly _tag: string }, State, Error, RInline>(
  self: StreamEntity<Command, Event, State, Error, RInline>,
  id: string,
  command: Command,
  options?: SendOptions
): Effect.Effect<Reply<Event, State>, Failure<Error> | ClientError, Sharding.Sharding> =>
  Effect.flatMap(client(self), (handle) => handle(id, command, options))

/**
 * A `CommandHandler` whose commands go to the stream entities: `handle`
 * sends the command to the stream's entity, wherever its shard lives, and
 * answers with its outcome (its errors also the cluster's
 * {@link ClientError}s); `load`, `loadAsOf` and `snapshot` read the store in
 * this process, as `CommandHandler` does. Code written against a command
 * handler (an HTTP API, a process manager) runs in cluster mode unchanged.
 * Streams of another category are refused with `InvalidStreamName`.
 *
 * @since 0.1.0
 * @category clients
 */
export const handler = <Command, Event extends { readonly _tag: string }, State, Error, RInline>(
  self: StreamEntity<Command, Event, State, Error, RInline>
): Effect.Effect<
  CommandHandler.CommandHandler<Command, Event, State, Error | ClientError | StreamName.InvalidStreamName>,
  never,
  Sharding.Sharding | EventStore.EventStore | UnitOfWork.UnitOfWork
> =>
  Effect.gen(function* () {
    const sendTo = yield* client(self)
    // Reading needs no single writer: a handler without inline projections reads as the entity loads.
    const local = yield* CommandHandler.make({ ...self.options, inline: [] })
    const { category } = self.options
    return {
      ...local,
      handle: (stream, command, options) =>
        StreamName.category(stream) !== category
          ? Effect.fail(
              new StreamName.InvalidStreamName({ stream, reason: `the stream entity handles the category ${category}` })
            )
          : Effect.map(sendTo(StreamName.id(stream), command, options), (reply) => ({
              state: reply.state,
              version: reply.version,
              events: reply.events,
              positions: reply.positions,
              attempts: reply.attempts
            }))
    }
  })
