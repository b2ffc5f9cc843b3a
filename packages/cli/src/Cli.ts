/**
 * The operations CLI every Chronicle app can mount with its own aggregates
 * and projections: list streams, show a stream's events (decoded and raw) and
 * its state as of a version or a time, projection status, rebuilds with a
 * progress bar, and the dead-letter queue.
 *
 * It runs against whatever store layers the app provides, so the same
 * commands work on PostgreSQL and in memory.
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
 *   aggregates: [{ category: "order", decider: Order.decider, codec: Order.OrderEvents }],
 *   projections: [orderSummary, revenueByDay]
 * })
 * cli.pipe(Command.run({ version: "1.0.0" }), Effect.provide(Stores), Effect.provide(NodeServices.layer), NodeRuntime.runMain)
 * ```
 *
 * Over 300 lines because every command is defined here, so the module reads
 * like the CLI's help.
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
  EventStore,
  Position,
  Projection,
  Projector,
  StreamName,
  TemporalQuery
} from "@chronicle/core"
import { Console, DateTime, Duration, Effect, Option, Result, Schema, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"

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
  readonly projections: ReadonlyArray<Projection.Projection<any, R>>
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

const stream = Argument.String("stream").pipe(Argument.withDescription("A stream name, category-id (e.g. order-42)"))

const parseStream = (name: string) =>
  Effect.mapError(StreamName.decode(name), (error) => new CliInputError({ message: error.message }))

const json = (value: unknown) =>
  JSON.stringify(value, (_, v) =>
    typeof v === "bigint" ? v.toString() : DateTime.isDateTime(v) ? DateTime.formatIso(v) : v
  )

const bar = (done: number, total: number, width = 30) => {
  const ratio = total === 0 ? 1 : Math.min(1, done / total)
  const filled = Math.round(ratio * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)} %`
}

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

  const projectionOf = (name: string) => {
    const projection = options.projections.find((p) => p.name === name || Projection.checkpointName(p) === name)
    return projection === undefined
      ? Effect.fail(
          new CliInputError({
            message:
              `Unknown projection "${name}". Known projections: ` +
              (options.projections.map(Projection.checkpointName).join(", ") || "none")
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
      if (versions.size === 0) return yield* Console.log(`No streams in category "${category}".`)
      for (const [name, version] of [...versions].slice(0, limit)) yield* Console.log(`${name}  version ${version}`)
      if (versions.size > limit) yield* Console.log(`… ${versions.size - limit} more (use --limit)`)
    })
  ).pipe(Command.withDescription("List the streams of a category with their versions"))

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
      yield* (yield* EventStore.EventStore).readStream(name).pipe(
        Stream.runForEach((envelope) => {
          if (aggregate === undefined) return Console.log(JSON.stringify(Envelope.encode(envelope)))
          const head =
            `v${envelope.streamVersion}  ${Position.format(envelope.position)}  ` +
            `${DateTime.formatIso(envelope.recordedAt)}  ${envelope.type}@${envelope.schemaVersion}`
          const decoded = aggregate.codec.decodeEnvelope(envelope)
          return Console.log(
            Result.isSuccess(decoded)
              ? `${head}  ${json(decoded.success.event)}`
              : `${head}  !! ${decoded.failure.message}`
          )
        })
      )
    })
  ).pipe(Command.withDescription("Show a stream's events, decoded (upcast to the current version) or raw"))

  const state = Command.make(
    "state",
    {
      stream,
      version: Flag.Int("version").pipe(Flag.withDescription("State as of this stream version"), Flag.optional),
      at: Flag.String("at").pipe(Flag.withDescription("State as of this time (ISO 8601)"), Flag.optional)
    },
    Effect.fn(function* ({ at, stream, version }) {
      const name = yield* parseStream(stream)
      const aggregate = yield* aggregateOf(name)
      yield* requireStream(name)
      const handler = yield* CommandHandler.make({ decider: aggregate.decider, codec: aggregate.codec })
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
      const store = yield* EventStore.EventStore
      const checkpoints = yield* CheckpointStore.CheckpointStore
      const deadLetters = yield* DeadLetterStore.DeadLetterStore
      const head = yield* store.head
      yield* Console.log(`log head ${Position.format(head)}`)
      for (const projection of options.projections) {
        const name = Projection.checkpointName(projection)
        const checkpoint = Option.getOrElse(yield* checkpoints.load(name), () => Position.start)
        const parked = (yield* deadLetters.list(name)).length
        const lag = Math.max(0, Number(head.sequence - checkpoint.sequence))
        yield* Console.log(
          `${name.padEnd(28)} checkpoint ${Position.format(checkpoint).padEnd(14)} lag ≤ ${String(lag).padEnd(8)} parked ${parked}`
        )
      }
    })
  ).pipe(Command.withDescription("Checkpoint, lag and parked events of every projection"))

  const rebuild = Command.make(
    "rebuild",
    { projection: Argument.String("projection").pipe(Argument.withDescription("Projection name (or name@vN)")) },
    Effect.fn(function* ({ projection }) {
      const selected = yield* projectionOf(projection)
      const name = Projection.checkpointName(selected)
      const reset = options.resets?.[selected.name]
      if (reset === undefined) {
        return yield* new CliInputError({
          message:
            `${name} has no reset for its read model, so it cannot be rebuilt in place. ` +
            `Give the app's CLI a reset for "${selected.name}", or deploy a new version of the projection.`
        })
      }
      yield* reset
      yield* (yield* CheckpointStore.CheckpointStore).delete(name)
      yield* Console.log(`Rebuilding ${name} from the start of the log…`)
      const reached = yield* Projector.catchUp(selected, {
        onProgress: (p) =>
          Console.log(
            `${bar(p.done, p.total)}  ${p.done}/${p.total} events  ${Math.round(p.eventsPerSecond)} events/s  ` +
              `ETA ${Duration.format(Duration.seconds(Math.ceil(Duration.toSeconds(p.eta))))}`
          )
      })
      yield* Console.log(`${name} rebuilt up to ${Position.format(reached)}.`)
    })
  ).pipe(Command.withDescription("Rebuild a projection from position 0, with progress"))

  const projections = Command.make("projections").pipe(
    Command.withDescription("Projection status and rebuilds"),
    Command.withSubcommands([status, rebuild])
  )

  const parked = Command.make(
    "list",
    { projection: Argument.String("projection").pipe(Argument.optional) },
    Effect.fn(function* ({ projection }) {
      const name = Option.isSome(projection)
        ? Option.some(Projection.checkpointName(yield* projectionOf(projection.value)))
        : Option.none()
      const entries = yield* (yield* DeadLetterStore.DeadLetterStore).list(Option.getOrUndefined(name))
      if (entries.length === 0) return yield* Console.log("No parked events.")
      for (const entry of entries) {
        yield* Console.log(
          `${entry.projection}  ${entry.envelope.eventId}  ${entry.envelope.stream} v${entry.envelope.streamVersion} ` +
            `${entry.envelope.type}  parked ${DateTime.formatIso(entry.parkedAt)}\n    ${entry.error}`
        )
      }
    })
  ).pipe(Command.withDescription("List parked (dead-lettered) events"))

  const replay = Command.make(
    "replay",
    {
      projection: Argument.String("projection"),
      eventId: Argument.String("event-id")
    },
    Effect.fn(function* ({ eventId, projection }) {
      const selected = yield* projectionOf(projection)
      const replayed = yield* Projector.replayParked(selected, eventId)
      if (!replayed) {
        return yield* new CliInputError({
          message: `No event ${eventId} is parked for ${Projection.checkpointName(selected)}. See: dead-letters list`
        })
      }
      yield* Console.log(`Replayed ${eventId} through ${Projection.checkpointName(selected)}; it is no longer parked.`)
    })
  ).pipe(Command.withDescription("Replay a parked event through its projection (after a fix)"))

  const deadLetters = Command.make("dead-letters").pipe(
    Command.withDescription("The events projections parked"),
    Command.withSubcommands([parked, replay])
  )

  return Command.make(options.name).pipe(
    Command.withDescription(`Operations for ${options.name}: streams, projections and the dead-letter queue`),
    Command.withSubcommands([migrate, streams, events, state, projections, deadLetters])
  )
}
