/**
 * The operations CLI every Chronicle app can mount with its own aggregates
 * and projections: list streams, show a stream's events (decoded and raw) and
 * its state as of a version or a time, projection status (lag, parked events,
 * who holds the lease), rebuilds with a progress bar, the dead-letter
 * queue (replay or discard), and `verify` of the streams' hash chains; and a
 * stream's life after its writes: delete, trim (after a snapshot), archive
 * and restore it (`streams …`, each recorded on `$system-streams` with who
 * and why), `retention` per category, `forget` a subject's personal data, and
 * `export` / `import` of events as JSON lines.
 *
 * A partitioned projection (`Projection.make({ partitions })`) shows a
 * status row per partition (`name@vN/p<i>of<n>`, a name every projection
 * argument takes too), rebuilds all partitions in parallel, and its parked
 * events are looked up in every partition.
 *
 * It runs against whatever store layers the app provides, so the same
 * commands work on PostgreSQL and in memory. {@link run} runs it the way a
 * terminal user expects: a failure is one line on stderr and exit code 1, a
 * usage error one line with a hint to `--help`.
 *
 * @example
 * ```ts
 * import { Cli } from "@chronicle/cli"
 * import { NodeRuntime, NodeServices } from "@effect/platform-node"
 * import { Command } from "effect/cli"
 * import { Effect } from "effect"
 *
 * const cli = Cli.make({
 *   name: "shop",
 *   aggregates: [
 *     // The snapshot policy of the app's handler: `streams trim` and `retention` snapshot with it.
 *     { category: "order", decider: Order.decider, codec: Order.OrderEvents, snapshot: { schema: Order.OrderState, version: 1 } }
 *   ],
 *   projections: [orderSummary, revenueByDay]
 * })
 * cli.pipe(Command.provide(Stores), Cli.run({ version: "1.0.0" }), Effect.provide(NodeServices.layer), NodeRuntime.runMain)
 * ```
 *
 * The actions that change the log (`streams delete|trim|archive|restore`,
 * `retention`, `forget`) need a `--reason`; `--by` defaults to `$USER`, else
 * the process as leases name it (`chronicle:<host>:<pid>`).
 *
 * Over 800 lines because every command is defined here, with its arguments,
 * flags and the words of its failures, so the module reads like the CLI's
 * help. How output is laid out (tables, events, progress), the lag count and
 * the terminal's presenter live under `internal/`.
 *
 * @since 0.1.0
 */
import {
  CheckpointStore,
  CommandHandler,
  DeadLetterStore,
  type Decider,
  Envelope,
  type EventCodec,
  EventImport,
  EventStore,
  ExpectedVersion,
  Integrity,
  KeyStore,
  Lease,
  PersonalData,
  Position,
  Projection,
  Projector,
  Retention,
  StreamLifecycle,
  StreamName,
  TemporalQuery
} from "@chronicle/core"
import {
  Config,
  Console,
  DateTime,
  Duration,
  Effect,
  FileSystem,
  Option,
  Predicate,
  Runtime,
  Schema,
  Stdio,
  Stream
} from "effect"
import { Argument, CliConfig, CliError, CliOutput, Command, Flag } from "effect/cli"
import { hostname } from "node:os"
import * as format from "./internal/format.ts"
import { lagOf } from "./internal/lag.ts"
import { cliConfig, describeError, presenter } from "./internal/terminal.ts"

/**
 * An aggregate the CLI can decode and fold: the streams of a category.
 *
 * @since 0.1.0
 * @category models
 */
export interface Aggregate {
  readonly category: string
  readonly decider: Decider.Decider<any, any, any, any>
  readonly codec: EventCodec.EventCodec<any>
  /**
   * How the aggregate's state is snapshotted (the app's handler's policy):
   * `streams trim` and `retention` save a snapshot with it before they remove
   * events, and refuse a category without one, since its streams could no
   * longer load.
   */
  readonly snapshot?: CommandHandler.SnapshotPolicy<any, any> | undefined
}

/**
 * What an app mounts the CLI with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<R> {
  readonly name: string
  readonly aggregates: ReadonlyArray<Aggregate>
  /** The projections projectors run: status shows their lag, parked events and lease holder. */
  readonly projections: ReadonlyArray<Projection.Projection<any, R>>
  /**
   * The projections the command handlers run inline, in each append's unit of
   * work: always current, so status shows no lag for them; they can be rebuilt.
   */
  readonly inline?: ReadonlyArray<Projection.Projection<any, R>> | undefined
  /** Applies the database migrations, for `migrate`. */
  readonly migrate?: Effect.Effect<void, unknown, R> | undefined
  /**
   * How to empty each projection's read model before a rebuild, by
   * projection name. `projections rebuild` refuses a projection without one,
   * since replaying into a non-empty read model would apply events twice.
   */
  readonly resets?: { readonly [projection: string]: Effect.Effect<void, unknown, R> } | undefined
}

/**
 * A bad argument: an unknown stream, projection or parked event, a malformed
 * timestamp. The message says what to do.
 *
 * @since 0.1.0
 * @category errors
 */
export class CliInputError extends Schema.TaggedError<CliInputError>()("CliInputError", {
  message: Schema.String
}) {}

const parkedBy = Argument.String("projection").pipe(
  Argument.withDescription("The projection that parked the event (name, or name@vN as dead-letters list shows it)")
)
const parkedEvent = Argument.String("event-id").pipe(Argument.withDescription("The parked event's id"))
const stream = Argument.String("stream").pipe(Argument.withDescription("A stream name, category-id (e.g. order-42)"))

const parseStream = (name: string) =>
  Effect.mapError(StreamName.decode(name), (error) => new CliInputError({ message: error.message }))

const reasonFlag = Flag.String("reason").pipe(Flag.withDescription("Why (recorded with the action on $system-streams)"))
const byFlag = Flag.String("by").pipe(
  Flag.withDescription("Who does it (default: $USER, else chronicle:<host>:<pid>)"),
  Flag.optional
)

/** Who acts: `--by`, else `$USER`, else the process as leases name it (`chronicle:<host>:<pid>`). */
const actorOf = (by: Option.Option<string>) => {
  if (Option.isSome(by)) return Effect.succeed(by.value)
  const processName = `chronicle:${hostname()}:${process.pid}`
  return Config.String("USER").pipe(
    Config.withDefault(processName),
    Effect.orElseSucceed(() => processName)
  )
}

const counted = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`

/** A stream that is not there, in the words `requireStream` uses. */
const notFound = (stream: string) =>
  new CliInputError({ message: `Stream ${stream} does not exist. List streams with: streams <category>` })

/** The names a projection's checkpoints, dead letters and leases are kept under: one per partition. */
const partitionNames = (projection: Projection.Projection<any, any>) =>
  Projection.partitionsOf(projection).map(Projection.checkpointName)

/**
 * The partition of `projection` (itself when unpartitioned) whose dead letters
 * hold `eventId`: an event parks in the partition of its stream.
 */
const parkedIn = <P extends Projection.Projection<any, any>>(projection: P, eventId: string) =>
  Effect.gen(function* () {
    const deadLetters = yield* DeadLetterStore.DeadLetterStore
    for (const partition of Projection.partitionsOf(projection)) {
      if (Option.isSome(yield* deadLetters.get(Projection.checkpointName(partition), eventId))) {
        return Option.some(partition as P)
      }
    }
    return Option.none<P>()
  })

/** Why a projection's projector refuses to start: checkpoints of its version kept with another partition count. */
const changedPartitions = (projection: Projection.Projection<any, any>, others: ReadonlyArray<string>) =>
  `${Projection.checkpointName(projection)}: checkpoints ${others.join(", ")} were kept with another partition count, ` +
  `so its projector refuses to start (${projection.partitions} partition(s) now). ` +
  `Rebuild it (projections rebuild ${projection.name}) or publish a new version.`

/**
 * Builds the CLI's root command.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(options: Options<R>) => {
  const aggregateOf = (name: StreamName.StreamName) => {
    const category = StreamName.category(name)
    const aggregate = options.aggregates.find((a) => a.category === category)
    return aggregate === undefined
      ? Effect.fail(
          new CliInputError({
            message:
              `No aggregate is registered for category "${category}". Known categories: ` +
              (options.aggregates.map((a) => a.category).join(", ") || "none")
          })
        )
      : Effect.succeed(aggregate)
  }

  /** The aggregate's command handler, with its snapshot policy (loads after a trim start from the snapshot). */
  const handlerOf = (aggregate: Aggregate) =>
    CommandHandler.make({ decider: aggregate.decider, codec: aggregate.codec, snapshot: aggregate.snapshot })

  const inline = options.inline ?? []
  const allProjections = [...inline, ...options.projections]

  // A partition's checkpoint name (`name@vN/p0of4`, as status and dead-letters list show it) selects that partition.
  const selectable = allProjections.flatMap((p) => (p.partitions === 1 ? [p] : [p, ...Projection.partitionsOf(p)]))

  const projectionOf = (name: string) => {
    const projection = selectable.find((p) => p.name === name || Projection.checkpointName(p) === name)
    return projection === undefined
      ? Effect.fail(
          new CliInputError({
            message:
              `Unknown projection "${name}". Known projections: ` +
              (allProjections.map(Projection.checkpointName).join(", ") || "none")
          })
        )
      : Effect.succeed(projection)
  }

  const requireStream = (name: StreamName.StreamName) =>
    Effect.flatMap(
      EventStore.EventStore.use((store) => store.streamVersion(name)),
      (version) =>
        version < 0
          ? Effect.fail(
              new CliInputError({ message: `Stream ${name} does not exist. List streams with: streams <category>` })
            )
          : Effect.succeed(version)
    )

  const migrate = Command.make("migrate", {}, () =>
    options.migrate === undefined
      ? Console.log("This app has no migrations to run.")
      : Effect.andThen(options.migrate, Console.log("Migrations applied."))
  ).pipe(Command.withDescription("Create or upgrade the database schema (idempotent)"))

  /** The lifecycle's failures in the CLI's words: an unknown stream as `requireStream` puts it. */
  const lifecycleErrors = <A, E, Env>(
    name: StreamName.StreamName,
    effect: Effect.Effect<A, E | EventStore.StreamNotFound, Env>
  ): Effect.Effect<A, E | CliInputError, Env> =>
    Effect.catchIf(
      effect,
      (error): error is EventStore.StreamNotFound => Predicate.isTagged(error, "StreamNotFound"),
      () => Effect.fail(notFound(name))
    )

  const recordedBy = (actor: string) => `recorded on ${StreamLifecycle.systemStream} (by ${actor})`

  const deleteStream = Command.make(
    "delete",
    {
      stream,
      reason: reasonFlag,
      by: byFlag,
      expectedVersion: Flag.Int("expected-version").pipe(
        Flag.withDescription("Delete only if the stream is still at this version"),
        Flag.optional
      )
    },
    Effect.fn(function* ({ by, expectedVersion, reason, stream }) {
      const name = yield* parseStream(stream)
      const actor = yield* actorOf(by)
      const deleted = yield* lifecycleErrors(
        name,
        StreamLifecycle.tombstone(name, {
          reason,
          actor,
          expectedVersion: Option.getOrUndefined(Option.map(expectedVersion, ExpectedVersion.exact))
        })
      ).pipe(
        Effect.catchTag("WrongExpectedVersion", (error) =>
          Effect.fail(
            new CliInputError({
              message: `Stream ${name} is at version ${error.actualVersion}, not ${Option.getOrElse(expectedVersion, () => -1)}: nothing was deleted.`
            })
          )
        )
      )
      yield* Console.log(
        `Deleted ${name} at version ${deleted.version}: its events are gone and its name is not reused; ${recordedBy(actor)}.`
      )
    })
  ).pipe(
    Command.withDescription(
      "Delete a stream for good (a tombstone): its events and snapshot are removed, and it refuses reads and appends"
    )
  )

  const trimStream = Command.make(
    "trim",
    {
      stream,
      before: Flag.Int("before").pipe(
        Flag.withDescription("Remove the events before this version (1 to the stream's version: the last one stays)")
      ),
      reason: reasonFlag,
      by: byFlag,
      force: Flag.Boolean("force").pipe(
        Flag.withDescription("Trim even though the aggregate has no snapshot policy (its streams then no longer load)"),
        Flag.withDefault(false)
      )
    },
    Effect.fn(function* ({ before, by, force, reason, stream }) {
      const name = yield* parseStream(stream)
      const actor = yield* actorOf(by)
      const status = yield* lifecycleErrors(name, StreamLifecycle.status(name))
      if (status.state === "Deleted") {
        return yield* new EventStore.StreamDeleted({ stream: name, version: status.version })
      }
      if (!Number.isInteger(before) || before < 1 || before > status.version) {
        return yield* new StreamLifecycle.InvalidTrim({ stream: name, before, version: status.version })
      }
      const category = StreamName.category(name)
      const aggregate = options.aggregates.find((a) => a.category === category)
      let snapshot = ""
      if (aggregate?.snapshot !== undefined) {
        const handler = yield* handlerOf(aggregate)
        const saved = yield* lifecycleErrors(name, handler.snapshot(name))
        snapshot = ` after a snapshot at version ${saved.version}`
      } else if (!force) {
        return yield* new CliInputError({
          message:
            (aggregate === undefined
              ? `No aggregate is registered for category "${category}"`
              : `The "${category}" aggregate has no snapshot policy`) +
            `, so nothing would keep the state of the trimmed events and ${name} could no longer load. ` +
            `Give the CLI's "${category}" aggregate a snapshot policy, or pass --force to trim anyway.`
        })
      }
      const trimmed = yield* lifecycleErrors(name, StreamLifecycle.trim(name, before, { reason, actor }))
      yield* Console.log(
        `Trimmed ${name}: ${counted(trimmed.removedBefore - status.removedBefore, "event")} removed${snapshot}, ` +
          `it now starts at version ${trimmed.removedBefore}; ${recordedBy(actor)}.`
      )
    })
  ).pipe(
    Command.withDescription(
      "Remove the start of a stream's history, after saving a snapshot (refused without a snapshot policy unless --force)"
    )
  )

  const archiveStream = Command.make(
    "archive",
    { stream, reason: reasonFlag, by: byFlag },
    Effect.fn(function* ({ by, reason, stream }) {
      const name = yield* parseStream(stream)
      const actor = yield* actorOf(by)
      const archived = yield* lifecycleErrors(name, StreamLifecycle.archive(name, { reason, actor }))
      yield* Console.log(
        `Archived ${name} at version ${archived.version}: it reads as before and refuses appends until restored; ` +
          `${recordedBy(actor)}.`
      )
    })
  ).pipe(Command.withDescription("Move a stream out of the hot tables: still readable, no appends until restored"))

  const restoreStream = Command.make(
    "restore",
    { stream, reason: reasonFlag, by: byFlag },
    Effect.fn(function* ({ by, reason, stream }) {
      const name = yield* parseStream(stream)
      const actor = yield* actorOf(by)
      const restored = yield* lifecycleErrors(name, StreamLifecycle.restore(name, { reason, actor }))
      yield* Console.log(`Restored ${name} at version ${restored.version}: it accepts appends; ${recordedBy(actor)}.`)
    })
  ).pipe(Command.withDescription("Bring an archived stream back: appendable again"))

  const streamStatus = Command.make(
    "status",
    { stream },
    Effect.fn(function* ({ stream }) {
      const name = yield* parseStream(stream)
      const status = yield* lifecycleErrors(name, StreamLifecycle.status(name))
      const removed =
        status.state === "Deleted"
          ? ""
          : status.removedBefore > 0
            ? `, events before version ${status.removedBefore} trimmed`
            : ""
      yield* Console.log(`${name}: ${status.state} at version ${status.version}${removed}`)
    })
  ).pipe(Command.withDescription("A stream's state (Live, Archived or Deleted), version and trimmed start"))

  const streams = Command.make(
    "streams",
    {
      category: Argument.String("category").pipe(Argument.withDescription("The stream category, e.g. order")),
      limit: Flag.Int("limit").pipe(Flag.withDescription("Most streams to list"), Flag.withDefault(100))
    },
    Effect.fn(function* ({ category, limit }) {
      const store = yield* EventStore.EventStore
      const versions = new Map<string, number>()
      yield* store
        .readAll({ categories: [category] })
        .pipe(Stream.runForEach((e) => Effect.sync(() => void versions.set(e.stream, e.streamVersion))))
      if (versions.size === 0) {
        return yield* new CliInputError({
          message:
            `No streams in category "${category}". Categories with an aggregate: ` +
            (options.aggregates.map((a) => a.category).join(", ") || "none")
        })
      }
      const shown = [...versions].slice(0, limit).map(([name, version]) => [name, String(version)])
      yield* Console.log(format.table([["STREAM", "VERSION"], ...shown]))
      if (versions.size > limit) yield* Console.log(`… ${versions.size - limit} more (use --limit)`)
    })
  ).pipe(
    Command.withDescription(
      "List the streams of a category with their versions; delete, trim, archive or restore one, or show its status"
    ),
    Command.withSubcommands([deleteStream, trimStream, archiveStream, restoreStream, streamStatus])
  )

  const events = Command.make(
    "events",
    {
      stream,
      raw: Flag.Boolean("raw").pipe(
        Flag.withDescription("Print each stored envelope as one line of JSON instead of decoded events"),
        Flag.withDefault(false)
      )
    },
    Effect.fn(function* ({ raw, stream }) {
      const name = yield* parseStream(stream)
      yield* requireStream(name)
      const aggregate = raw ? undefined : yield* aggregateOf(name)
      const envelopes = (yield* EventStore.EventStore).readStream(name)
      if (aggregate === undefined) {
        return yield* Stream.runForEach(envelopes, (envelope) => Console.log(JSON.stringify(Envelope.encode(envelope))))
      }
      const rows = yield* Stream.runCollect(
        Stream.map(envelopes, (envelope) => format.eventRow(aggregate.codec, envelope))
      )
      yield* Console.log(format.table([["VERSION", "POSITION", "RECORDED", "TYPE", "EVENT"], ...rows]))
    })
  ).pipe(Command.withDescription("Show a stream's events, decoded (upcast to the current version) or raw"))

  const state = Command.make(
    "state",
    {
      stream,
      version: Flag.Int("at-version").pipe(Flag.withDescription("State as of this stream version"), Flag.optional),
      at: Flag.String("at").pipe(Flag.withDescription("State as of this time (ISO 8601)"), Flag.optional)
    },
    Effect.fn(function* ({ at, stream, version }) {
      const name = yield* parseStream(stream)
      const aggregate = yield* aggregateOf(name)
      yield* requireStream(name)
      const handler = yield* handlerOf(aggregate)
      const asOf = { version: Option.getOrUndefined(version), at: Option.getOrUndefined(at) }
      const loaded = yield* TemporalQuery.state(handler, name, asOf).pipe(
        Effect.catchTags({
          InvalidAsOf: (error) => Effect.fail(new CliInputError({ message: error.message })),
          StreamNotFound: () =>
            Effect.fail(new CliInputError({ message: `Stream ${name} had no events at that point.` }))
        })
      )
      yield* Console.log(`${name} at version ${loaded.version}`)
      yield* Console.log(JSON.stringify(loaded.state, null, 2))
    }, Effect.scoped)
  ).pipe(Command.withDescription("Show a stream's state, now or as of a version or time"))

  const status = Command.make(
    "status",
    {},
    Effect.fn(function* () {
      const checkpoints = yield* CheckpointStore.CheckpointStore
      const deadLetters = yield* DeadLetterStore.DeadLetterStore
      const lease = yield* Lease.Lease
      yield* Console.log(`log head ${Position.format(yield* (yield* EventStore.EventStore).head)}`)
      const stored = (yield* checkpoints.list).keys()
      const rows = inline.map((projection) => [
        Projection.checkpointName(projection),
        "—",
        "inline (current with every append)",
        "—",
        "—"
      ])
      const warnings: Array<string> = []
      // A row per partition: each has its own checkpoint, lag, dead letters and lease.
      for (const partition of options.projections.flatMap(Projection.partitionsOf)) {
        const name = Projection.checkpointName(partition)
        const checkpoint = yield* checkpoints.load(name)
        const holder = yield* lease.holder(name)
        rows.push([
          name,
          format.checkpoint(checkpoint),
          yield* lagOf(
            partition,
            Option.getOrElse(checkpoint, () => Position.start)
          ),
          String((yield* deadLetters.list(name)).length),
          format.holder(holder)
        ])
      }
      for (const projection of options.projections) {
        const others = Projection.otherPartitionings(projection, stored)
        if (others.length > 0) warnings.push(changedPartitions(projection, others))
      }
      yield* Console.log(
        format.table([["PROJECTION", "CHECKPOINT", "LAG (EVENTS)", "PARKED", "LEASE HELD BY"], ...rows])
      )
      for (const warning of warnings) yield* Console.log(warning)
    })
  ).pipe(
    Command.withDescription(
      "Checkpoint, lag (events after the checkpoint the projection handles), parked events and lease holder of every projection (a row per partition)"
    )
  )

  const rebuild = Command.make(
    "rebuild",
    { projection: Argument.String("projection").pipe(Argument.withDescription("Projection name (or name@vN)")) },
    Effect.fn(function* ({ projection }) {
      const selected = yield* projectionOf(projection)
      const name = Projection.checkpointName(selected)
      if (selected.partition !== undefined) {
        return yield* new CliInputError({
          message:
            `${name} is one partition of ${selected.name}@v${selected.version}, and a rebuild resets the whole read model. ` +
            `Rebuild every partition: projections rebuild ${selected.name}`
        })
      }
      const reset = options.resets?.[selected.name]
      if (reset === undefined) {
        return yield* new CliInputError({
          message:
            `${name} has no reset for its read model, so it cannot be rebuilt in place. ` +
            `Give the app's CLI a reset for "${selected.name}", or deploy a new version of the projection.`
        })
      }
      yield* reset
      const checkpoints = yield* CheckpointStore.CheckpointStore
      // The read model is empty again, so no checkpoint of this version holds: neither the partitions' nor
      // those kept under another partition count (which would refuse the catch-up with PartitionsChanged).
      const stale = Projection.otherPartitionings(selected, (yield* checkpoints.list).keys())
      yield* Effect.forEach([...partitionNames(selected), ...stale], (stored) => checkpoints.delete(stored), {
        discard: true
      })
      yield* Console.log(
        selected.partitions === 1
          ? `Rebuilding ${name} from the start of the log…`
          : `Rebuilding ${name} from the start of the log, its ${selected.partitions} partitions in parallel…`
      )
      const reached = yield* Projector.catchUpPartitions(selected, {
        onProgress: (p) => Console.log(format.partitionsProgress(p))
      })
      yield* Console.log(`${name} rebuilt up to ${format.reached(reached)}.`)
    })
  ).pipe(
    Command.withDescription("Rebuild a projection from position 0 (all its partitions in parallel), with progress")
  )

  const projections = Command.make("projections").pipe(
    Command.withDescription("Projection status and rebuilds"),
    Command.withSubcommands([status, rebuild])
  )

  const parked = Command.make(
    "list",
    {
      projection: Argument.String("projection").pipe(
        Argument.withDescription("Only this projection's (name, or name@vN)"),
        Argument.optional
      ),
      discarded: Flag.Boolean("discarded").pipe(
        Flag.withDescription("List the discarded events (who discarded each, when and why) instead"),
        Flag.withDefault(false)
      )
    },
    Effect.fn(function* ({ discarded, projection }) {
      // Every projection's, or those of each partition of the one asked for.
      const names = Option.isSome(projection) ? partitionNames(yield* projectionOf(projection.value)) : [undefined]
      const deadLetters = yield* DeadLetterStore.DeadLetterStore
      if (discarded) {
        const entries = (yield* Effect.forEach(names, (name) => deadLetters.discarded(name))).flat()
        if (entries.length === 0) return yield* Console.log("No discarded events.")
        return yield* Console.log(
          format.table([
            ["PROJECTION", "EVENT", "STREAM", "TYPE", "DISCARDED", "BY", "REASON"],
            ...entries.map((e) => [
              e.projection,
              ...format.envelopeCells(e.envelope),
              DateTime.formatIso(e.discardedAt),
              e.discardedBy,
              format.oneLine(e.reason)
            ])
          ])
        )
      }
      const entries = (yield* Effect.forEach(names, (name) => deadLetters.list(name))).flat()
      if (entries.length === 0) return yield* Console.log("No parked events.")
      yield* Console.log(
        format.table([
          ["PROJECTION", "EVENT", "STREAM", "TYPE", "PARKED", "ERROR"],
          ...entries.map((e) => [
            e.projection,
            ...format.envelopeCells(e.envelope),
            DateTime.formatIso(e.parkedAt),
            format.oneLine(e.error)
          ])
        ])
      )
    })
  ).pipe(Command.withDescription("List parked (dead-lettered) events, or with --discarded the discarded ones"))

  const replay = Command.make(
    "replay",
    {
      projection: parkedBy,
      eventId: parkedEvent
    },
    Effect.fn(function* ({ eventId, projection }) {
      const selected = yield* projectionOf(projection)
      const partition = yield* parkedIn(selected, eventId)
      if (Option.isNone(partition) || !(yield* Projector.replayParked(partition.value, eventId))) {
        return yield* new CliInputError({
          message: `No event ${eventId} is parked for ${Projection.checkpointName(selected)}. See: dead-letters list`
        })
      }
      yield* Console.log(
        `Replayed ${eventId} through ${Projection.checkpointName(partition.value)}; it is no longer parked.`
      )
    })
  ).pipe(Command.withDescription("Replay a parked event through its projection (after a fix)"))

  const discard = Command.make(
    "discard",
    {
      projection: parkedBy,
      eventId: parkedEvent,
      reason: Flag.String("reason").pipe(Flag.withDescription("Why the event is skipped (kept with the record)")),
      by: Flag.String("by").pipe(
        Flag.withDescription("Who discards it (default: $USER, else chronicle:<host>:<pid>)"),
        Flag.optional
      )
    },
    Effect.fn(function* ({ by, eventId, projection, reason }) {
      const selected = yield* projectionOf(projection)
      const name = Projection.checkpointName(selected)
      const who = yield* actorOf(by)
      const partition = yield* parkedIn(selected, eventId)
      const discarded = Option.isNone(partition)
        ? Option.none()
        : yield* (yield* DeadLetterStore.DeadLetterStore).discard(Projection.checkpointName(partition.value), eventId, {
            reason,
            by: who
          })
      if (Option.isNone(discarded)) {
        return yield* new CliInputError({
          message: `No event ${eventId} is parked for ${name}. See: dead-letters list ${name}`
        })
      }
      const { envelope, projection: from } = discarded.value
      yield* Console.log(
        `Discarded ${envelope.eventId} (${envelope.stream} v${envelope.streamVersion} ${envelope.type}) from ${from}; ` +
          "it stays on record: dead-letters list --discarded"
      )
    })
  ).pipe(Command.withDescription("Discard a parked event its projection should skip; who, when and why are kept"))

  const verify = Command.make(
    "verify",
    {
      stream: Argument.String("stream").pipe(
        Argument.withDescription("One stream to verify (default: every stream)"),
        Argument.optional
      )
    },
    Effect.fn(function* ({ stream }) {
      const name = Option.isSome(stream) ? yield* parseStream(stream.value) : undefined
      const report = yield* Integrity.verify({
        stream: name,
        // Progress (on stderr) only for a long whole-store check.
        onProgress: (p) => (p.total > 100_000 ? Console.error(`verified ${p.events}/${p.total} events`) : Effect.void),
        progressEvery: 100_000
      })
      if (report.breaks.length === 0) {
        return yield* Console.log(`${counted(report.streams, "stream")}, ${counted(report.events, "event")} verified`)
      }
      for (const b of report.breaks) yield* Console.log(`${b.stream} version ${b.version}: ${b.problem}: ${b.message}`)
      return yield* new Integrity.ChainsBroken({ ...report, breaks: report.breaks.length })
    })
  ).pipe(
    Command.withDescription(
      "Check the hash chains: the first altered, missing or reordered event of every broken stream (exit 1 when any)"
    )
  )

  const retention = Command.make(
    "retention",
    {
      category: Argument.String("category").pipe(Argument.withDescription("The stream category, e.g. order")),
      maxCount: Flag.Int("max-count").pipe(
        Flag.withDescription("Keep at most this many of each stream's newest events (at least 1)"),
        Flag.optional
      ),
      maxAge: Flag.String("max-age").pipe(
        Flag.withDescription('Keep only the events younger than this, e.g. "30 days"'),
        Flag.optional
      ),
      reason: reasonFlag,
      by: byFlag
    },
    Effect.fn(function* ({ by, category, maxAge, maxCount, reason }) {
      if (Option.isNone(maxCount) && Option.isNone(maxAge)) {
        return yield* new CliInputError({ message: 'Say what to keep: --max-count n, --max-age "30 days" or both.' })
      }
      if (Option.isSome(maxCount) && maxCount.value < 1) {
        return yield* new CliInputError({
          message: `--max-count must be at least 1 (the last event of a stream always stays), not ${maxCount.value}.`
        })
      }
      const age = Option.isSome(maxAge)
        ? Option.filter(Duration.fromInput(maxAge.value as Duration.Input), (d) =>
            Duration.isGreaterThan(d, Duration.zero)
          )
        : Option.none()
      if (Option.isSome(maxAge) && Option.isNone(age)) {
        return yield* new CliInputError({
          message: `--max-age ${JSON.stringify(maxAge.value)} is not a positive duration; write it like "30 days" or "12 hours".`
        })
      }
      const aggregate = options.aggregates.find((a) => a.category === category)
      if (aggregate === undefined) {
        return yield* new CliInputError({
          message:
            `No aggregate is registered for category "${category}", so nothing can keep its streams' state. ` +
            `Known categories: ${options.aggregates.map((a) => a.category).join(", ") || "none"}`
        })
      }
      if (aggregate.snapshot === undefined) {
        return yield* new CliInputError({
          message:
            `The "${category}" aggregate has no snapshot policy, so its streams could no longer load after a trim. ` +
            `Give the CLI's "${category}" aggregate a snapshot policy first.`
        })
      }
      const actor = yield* actorOf(by)
      const report = yield* Retention.apply(
        { category, maxCount: Option.getOrUndefined(maxCount), maxAge: Option.getOrUndefined(age) },
        {
          handler: yield* handlerOf(aggregate),
          reason,
          actor,
          // Progress (on stderr) only when there are many streams.
          onProgress: (p) =>
            p.streams % 1000 === 0 ? Console.error(`${p.streams} streams looked at, ${p.trimmed} trimmed`) : Effect.void
        }
      )
      yield* Console.log(
        `${category}: ${counted(report.streams, "stream")}, ${report.trimmed} trimmed, ` +
          `${counted(report.removed, "event")} removed; each trim ${recordedBy(actor)}.`
      )
    })
  ).pipe(
    Command.withDescription(
      "Trim a category's streams to what a policy keeps (newest events, younger than an age), snapshotting each first"
    )
  )

  const forget = Command.make(
    "forget",
    {
      subject: Argument.String("subject").pipe(
        Argument.withDescription("Whose personal data to erase (the subject its event types name, e.g. customer-42)")
      ),
      reason: Flag.String("reason").pipe(
        Flag.withDescription(`Why (recorded with the action on ${PersonalData.subjectsStream})`)
      ),
      by: byFlag
    },
    Effect.fn(function* ({ by, reason, subject }) {
      const actor = yield* actorOf(by)
      if (!(yield* KeyStore.isProvided)) {
        return yield* new CliInputError({
          message:
            `Cannot forget ${subject}: this CLI has no key store, so there is no key to destroy. ` +
            "Mount the CLI with the app's KeyStore (PgKeyStore.layer() on PostgreSQL); nothing was changed."
        })
      }
      yield* PersonalData.forget(subject, { actor, extra: { reason } })
      yield* Console.log(
        `Forgot ${subject}: its key is destroyed, so its personal fields read as erased from now on; ` +
          `recorded on ${PersonalData.subjectsStream} (by ${actor}).`
      )
    })
  ).pipe(
    Command.withDescription(
      "Erase a subject's personal data (destroy its key: crypto-shredding) and tell read models to forget it"
    )
  )

  const exportEvents = Command.make(
    "export",
    {
      stream: Argument.String("stream").pipe(
        Argument.withDescription("One stream to export (default: the whole log)"),
        Argument.optional
      ),
      output: Flag.String("output").pipe(
        Flag.withAlias("o"),
        Flag.withDescription("Write to this file (replacing it) instead of stdout"),
        Flag.optional
      )
    },
    Effect.fn(function* ({ output, stream }) {
      const name = Option.isSome(stream) ? yield* parseStream(stream.value) : undefined
      if (name !== undefined) yield* requireStream(name)
      const store = yield* EventStore.EventStore
      const streams = new Set<string>()
      let events = 0
      const counting = Stream.map(name === undefined ? store.readAll() : store.readStream(name), (envelope) => {
        events++
        streams.add(envelope.stream)
        return EventImport.toLine(envelope)
      })
      if (Option.isNone(output)) {
        yield* Stream.runForEach(counting, (line) => Console.log(line))
        // The outcome on stderr: stdout holds the events only.
        return yield* Console.error(`Exported ${counted(events, "event")} of ${counted(streams.size, "stream")}.`)
      }
      const fs = yield* FileSystem.FileSystem
      yield* counting.pipe(
        Stream.map((line) => `${line}\n`),
        Stream.encodeText,
        Stream.run(fs.sink(output.value))
      )
      yield* Console.log(
        `Exported ${counted(events, "event")} of ${counted(streams.size, "stream")} to ${output.value}.`
      )
    })
  ).pipe(Command.withDescription("Write the whole log, or one stream, as JSON lines (one stored envelope per line)"))

  const importEvents = Command.make(
    "import",
    {
      file: Argument.File("file", { mustExist: true }).pipe(
        Argument.withDescription("A JSON-lines file written by export")
      ),
      existing: Flag.Literals("existing", ["fail", "skip"]).pipe(
        Flag.withDescription(
          "A stream the store already has: fail (the default), or skip the events it holds with the same ids (to resume an import)"
        ),
        Flag.withDefault("fail" as const)
      )
    },
    Effect.fn(function* ({ existing, file }) {
      const fs = yield* FileSystem.FileSystem
      const importer = yield* EventImport.EventImport
      const events = EventImport.parseLines(fs.stream(file).pipe(Stream.decodeText, Stream.splitLines))
      // The whole file is read once first: a malformed line anywhere imports nothing (the import would
      // have committed the events read before it).
      yield* Stream.runDrain(events)
      const report = yield* importer.importEvents(events, {
        existing,
        // Progress (on stderr) only for an import of more than one batch.
        onProgress: (p) =>
          p.events + p.skipped >= EventImport.defaultBatchSize
            ? Console.error(`imported ${p.events} events (${p.skipped} skipped) in ${p.batches} batches`)
            : Effect.void
      })
      yield* Console.log(
        `Imported ${counted(report.events, "event")} into ${counted(report.streams, "stream")}` +
          (report.skipped > 0 ? ` (${report.skipped} already there, skipped)` : "") +
          ` from ${file}.`
      )
    })
  ).pipe(
    Command.withDescription("Import an export's events into new streams, with their ids, versions, times and metadata")
  )

  const deadLetters = Command.make("dead-letters").pipe(
    Command.withDescription("The events projections parked: list, replay or discard them"),
    Command.withSubcommands([parked, replay, discard])
  )

  return Command.make(options.name).pipe(
    Command.withDescription(
      `Operations for ${options.name}: streams and their lifecycle, projections, the dead-letter queue, retention, erasure, export and import`
    ),
    Command.withSubcommands([
      migrate,
      streams,
      events,
      state,
      projections,
      deadLetters,
      verify,
      retention,
      forget,
      exportEvents,
      importEvents
    ])
  )
}

/**
 * The CLI gave up: the reason is already on stderr, in one line. The runtime
 * only sets the exit code (1).
 *
 * @since 0.1.0
 * @category errors
 */
export class CliFailed extends Schema.TaggedError<CliFailed>()("CliFailed", {
  message: Schema.String
}) {
  override readonly [Runtime.errorReported] = false
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  readonly version: string
  /** One line saying what went wrong, for errors the app knows better (default: the error's message). */
  readonly describe?: ((error: unknown) => string | undefined) | undefined
}

/**
 * Runs a CLI on `args` the way a terminal user expects: help and the version
 * as usual (`--version` only: `-v` is no flag at all); a usage error is one
 * line on stderr with a hint to `--help`, a failed command one line on stderr
 * (`describe` may word it), and both fail with {@link CliFailed} for exit
 * code 1. Services the commands need are built only once a command runs, so
 * `--help` and `--version` start nothing when they come from
 * `Command.provide`.
 *
 * @since 0.1.0
 * @category running
 */
export const runWith =
  <Name extends string, Input, E, R, ContextInput>(
    command: Command.Command<Name, Input, ContextInput, E, R>,
    options: RunOptions
  ) =>
  (args: ReadonlyArray<string>): Effect.Effect<void, CliFailed, R | Command.Environment> =>
    Command.runWith(command, { version: options.version })(args).pipe(
      Effect.catch((error) => {
        if (CliError.isCliError(error) && error._tag === "ShowHelp") {
          // Help was shown: asked for (a command without its subcommand), or a usage error, already reported.
          return error.errors.length === 0
            ? Effect.void
            : Effect.fail(new CliFailed({ message: error.errors.map((e) => format.oneLine(e.message)).join("; ") }))
        }
        const message = format.oneLine(options.describe?.(error) ?? describeError(error))
        return Effect.andThen(Console.error(message), Effect.fail(new CliFailed({ message })))
      }),
      Effect.provideService(CliConfig.CliConfig, cliConfig),
      Effect.provideService(CliOutput.Presenter, presenter)
    )

/**
 * {@link runWith} on the command line's arguments.
 *
 * @since 0.1.0
 * @category running
 */
export const run =
  (options: RunOptions) =>
  <Name extends string, Input, E, R, ContextInput>(
    command: Command.Command<Name, Input, ContextInput, E, R>
  ): Effect.Effect<void, CliFailed, R | Command.Environment> =>
    Stdio.Stdio.use(({ args }) => Effect.flatMap(args, runWith(command, options)))
