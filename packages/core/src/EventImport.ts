/**
 * Moving events between stores: {@link exportAll} / {@link exportStream}
 * turn a store's events into the lines of a JSON-lines file (one
 * `Envelope` JSON per line), {@link parseLines} reads such lines back, and
 * the {@link EventImport} service writes them into a store with their ids,
 * versions, recorded-at times and metadata preserved exactly.
 *
 * An import only creates streams: every stream it brings must be new to the
 * store, and its events must arrive in version order from 0 (streams may
 * interleave). Each event gets a new global position, after everything
 * already in the log and in the order given, so projections see imported
 * events as new ones. The store keeps its bookkeeping in step (each stream's
 * version and hash chain), so commands continue imported streams and
 * `Integrity.verify` finds them clean.
 *
 * The import commits in batches (`batchSize`, default 10 000 events); each
 * batch is atomic. A failure leaves the batches before it committed: run the
 * same import again with `existing: "skip"`, which passes over the events a
 * store already holds with the same ids at the same versions and continues
 * after them.
 *
 * @example
 * ```ts
 * import { EventImport, MemoryStore } from "@chronicle/core"
 * import { Effect, Layer, Stream } from "effect"
 *
 * // lines: the lines of a file written from EventImport.exportAll()
 * const program = (lines: Stream.Stream<string>) =>
 *   Effect.gen(function*() {
 *     const importer = yield* EventImport.EventImport
 *     return yield* importer.importEvents(EventImport.parseLines(lines))
 *   }).pipe(Effect.provide(EventImport.layerMemory.pipe(Layer.provideMerge(MemoryStore.layer()))))
 * ```
 *
 * @since 0.1.0
 */
import { Clock, Context, DateTime, Effect, Layer, Result, Schema, Stream } from "effect"
import * as AppendCheck from "./AppendCheck.ts"
import * as Envelope from "./Envelope.ts"
import {
  defaultMaxEventBytes,
  EventStore,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StreamDeleted
} from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import { StoreError } from "./StoreError.ts"
import type { StreamName } from "./StreamName.ts"
import { UnitOfWork } from "./UnitOfWork.ts"

/**
 * An event as another store recorded it: an `Envelope` without its global
 * position (an import gives it a new one).
 *
 * @since 0.1.0
 * @category models
 */
export interface ImportedEvent {
  readonly eventId: string
  readonly stream: StreamName
  readonly streamVersion: number
  readonly type: string
  readonly schemaVersion: number
  readonly data: unknown
  readonly metadata: Envelope.Metadata
  readonly recordedAt: DateTime.Utc
}

/**
 * An imported event cannot be stored as given: out of its stream's version
 * order, or failing the checks every append passes (`AppendCheck`). Nothing
 * of its batch was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidImport extends Schema.TaggedError<InvalidImport>()("InvalidImport", {
  stream: Schema.String,
  streamVersion: Schema.Finite,
  reason: Schema.String
}) {
  override get message() {
    return (
      `Cannot import event ${this.streamVersion} of ${JSON.stringify(this.stream)}: ${this.reason}. ` +
      `Nothing of its batch was written (earlier batches are committed). Fix or leave out the event, then ` +
      `run the import again with existing: "skip" to pass over what is already imported.`
    )
  }
}

/**
 * An imported stream is not new to this store: it has events or a version
 * already (`version`, -1 when it has events but no recorded version, as when
 * rows were written around the store), or, with `existing: "skip"`, its
 * events differ from the imported ones. Nothing of the batch was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamExists extends Schema.TaggedError<StreamExists>()("StreamExists", {
  stream: Schema.String,
  version: Schema.Int,
  reason: Schema.String
}) {
  override get message() {
    return (
      `Cannot import ${JSON.stringify(this.stream)}: ${this.reason}. Nothing of its batch was written ` +
      `(earlier batches are committed). If an earlier run of this import stopped part-way, run it again with ` +
      `existing: "skip" to pass over the events already imported; otherwise import into a store without this stream.`
    )
  }
}

/**
 * A line of an export is not an event: not JSON, or not an `Envelope`'s
 * JSON form. `line` counts from 1.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedLine extends Schema.TaggedError<MalformedLine>()("MalformedLine", {
  line: Schema.Int,
  reason: Schema.String
}) {
  override get message() {
    return `Line ${this.line} is not an exported event: ${this.reason}. Fix or remove the line and read the file again.`
  }
}

/**
 * The errors an import fails with, besides the input's and the store's.
 *
 * @since 0.1.0
 * @category errors
 */
export type ImportError = InvalidImport | StreamExists

/**
 * How far an import has come: events written, events passed over
 * (`existing: "skip"`), the streams seen and the batches committed.
 *
 * @since 0.1.0
 * @category models
 */
export interface ImportReport {
  readonly events: number
  readonly skipped: number
  readonly streams: number
  readonly batches: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ImportOptions {
  /** Events per batch, each committed atomically (default 10 000). */
  readonly batchSize?: number | undefined
  /** Called after each committed batch with the import so far. */
  readonly onProgress?: ((report: ImportReport) => Effect.Effect<void>) | undefined
  /**
   * What to do with a stream the store already has: `"fail"` (the default)
   * refuses it with {@link StreamExists}; `"skip"` passes over the events the
   * store holds with the same ids at the same versions and imports the rest
   * after them (any other difference is a {@link StreamExists}), so an import
   * that stopped part-way can be run again.
   */
  readonly existing?: "fail" | "skip" | undefined
}

/**
 * The default number of events per batch.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBatchSize = 10_000

/**
 * An imported event checked for storage: its checked append form (data and
 * metadata as the JSON text to store) and where it goes.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckedImport {
  readonly stream: StreamName
  readonly streamVersion: number
  readonly recordedAt: DateTime.Utc
  readonly checked: AppendCheck.CheckedEvent
}

/**
 * One batch for a store to write atomically: its events in the order given,
 * and each of its streams with the version the store must have before it
 * (-1: the stream must not exist at all, neither events nor a version).
 *
 * @since 0.1.0
 * @category models
 */
export interface Batch {
  readonly events: ReadonlyArray<CheckedImport>
  readonly streams: ReadonlyArray<{ readonly stream: StreamName; readonly expectedVersion: number }>
}

/**
 * What a store provides for {@link make}: its streams' versions, stored ids,
 * and the atomic write of a batch (refusing a stream that is not at its
 * expected version with {@link StreamExists}, an id recorded elsewhere with
 * {@link InvalidImport}).
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  /** Each stream's version (-1 when it has none); used with `existing: "skip"`. */
  readonly versions: (streams: ReadonlyArray<StreamName>) => Effect.Effect<ReadonlyMap<string, number>, StoreError>
  /** The ids of a stream's stored events from version `from`, at most `count`. */
  readonly storedIds: (
    stream: StreamName,
    from: number,
    count: number
  ) => Effect.Effect<ReadonlyArray<string>, ImportError | StoreError>
  readonly write: (batch: Batch) => Effect.Effect<void, ImportError | StoreError>
}

/**
 * The import service.
 *
 * @since 0.1.0
 * @category services
 */
export class EventImport extends Context.Service<
  EventImport,
  {
    /** Imports events into new streams, in batches; see the module's description for the rules. */
    readonly importEvents: <E, R>(
      events: Stream.Stream<ImportedEvent, E, R>,
      options?: ImportOptions
    ) => Effect.Effect<ImportReport, ImportError | E | StoreError, R>
  }
>()("@chronicle/core/EventImport") {}

/** The version of the event of `stream` that made a batch's check fail (the part's first when unclear). */
const failingVersion = (input: ReadonlyArray<ImportedEvent>, stream: string, maxEventBytes: number): number => {
  const ids = new Set<unknown>()
  for (const event of input) {
    const id = typeof event.eventId === "string" ? event.eventId.toLowerCase() : event.eventId
    if (event.stream === stream) {
      const single = AppendCheck.check(
        { stream: event.stream, events: [event], expectedVersion: ExpectedVersion.any },
        maxEventBytes
      )
      if (Result.isFailure(single) || ids.has(id)) return event.streamVersion
    }
    ids.add(id)
  }
  return input.find((event) => event.stream === stream)?.streamVersion ?? 0
}

/**
 * Builds the service on a store's {@link Target}: it checks the input
 * (versions in order from 0 per stream, `AppendCheck` on every event with
 * `maxEventBytes`), cuts it into batches, passes over stored events with
 * `existing: "skip"`, and hands each batch to `target.write`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (target: Target, maxEventBytes: number = defaultMaxEventBytes): EventImport["Service"] => ({
  importEvents: <E, R>(events: Stream.Stream<ImportedEvent, E, R>, options?: ImportOptions) =>
    Effect.suspend(() => {
      const skip = options?.existing === "skip"
      /** The next version each stream seen must continue with. */
      const next = new Map<string, number>()
      /** The version the store has for each stream seen (what its next write expects). */
      const stored = new Map<string, number>()
      let report: ImportReport = { events: 0, skipped: 0, streams: 0, batches: 0 }

      const batch = Effect.fnUntraced(function* (input: ReadonlyArray<ImportedEvent>) {
        const parts = new Map<StreamName, Array<ImportedEvent>>()
        for (const event of input) {
          const expected = next.get(event.stream) ?? 0
          if (event.streamVersion !== expected) {
            return yield* new InvalidImport({
              stream: event.stream,
              streamVersion: event.streamVersion,
              reason:
                expected === 0
                  ? `the stream's first event must be version 0 (a stream's events arrive in order, from 0); ` +
                    `an export of a trimmed stream starts later, and without the snapshot it relies on (exports ` +
                    `hold events only) it could not load here: leave it out, or import it before trimming`
                  : `version ${expected} must come next (a stream's events arrive in order, with no gaps)`
            })
          }
          next.set(event.stream, expected + 1)
          const part = parts.get(event.stream)
          if (part === undefined) parts.set(event.stream, [event])
          else part.push(event)
        }
        const checked = AppendCheck.checkMany(
          [...parts].map(([stream, part]) => ({ stream, events: part, expectedVersion: ExpectedVersion.any })),
          maxEventBytes
        )
        if (Result.isFailure(checked)) {
          const { stream, reason } = checked.failure
          return yield* new InvalidImport({
            stream,
            streamVersion: failingVersion(input, stream, maxEventBytes),
            reason
          })
        }
        const fresh = [...parts.keys()].filter((stream) => !stored.has(stream))
        const versions = skip && fresh.length > 0 ? yield* target.versions(fresh) : new Map<string, number>()
        for (const stream of fresh) stored.set(stream, versions.get(stream) ?? -1)

        // Events the store already holds (existing: "skip"): the same ids at the same versions.
        const checkedOf = new Map<ImportedEvent, AppendCheck.CheckedEvent>()
        const passed = new Set<AppendCheck.CheckedEvent>()
        for (const { append, events: part } of checked.success) {
          append.events.forEach((event, k) => {
            checkedOf.set(event as ImportedEvent, part[k]!)
          })
          const version = stored.get(append.stream)!
          const first = (append.events[0] as ImportedEvent).streamVersion
          if (version < first) continue
          const count = Math.min(part.length, version - first + 1)
          const ids = yield* target.storedIds(append.stream, first, count)
          for (let k = 0; k < count; k++) {
            const id = part[k]!.event.eventId
            if (ids[k]?.toLowerCase() !== id) {
              return yield* new StreamExists({
                stream: append.stream,
                version,
                reason: `its event ${first + k} is ${ids[k] ?? "missing"}, not the imported ${id}`
              })
            }
            passed.add(part[k]!)
          }
        }

        const written: Array<CheckedImport> = []
        for (const event of input) {
          const checkedEvent = checkedOf.get(event)!
          if (!passed.has(checkedEvent)) {
            written.push({
              stream: event.stream,
              streamVersion: event.streamVersion,
              recordedAt: event.recordedAt,
              checked: checkedEvent
            })
          }
        }
        const streams = [...new Set(written.map((e) => e.stream))].map((stream) => ({
          stream,
          expectedVersion: stored.get(stream)!
        }))
        if (written.length > 0) yield* target.write({ events: written, streams })
        for (const event of written) stored.set(event.stream, event.streamVersion)
        report = {
          events: report.events + written.length,
          skipped: report.skipped + passed.size,
          streams: next.size,
          batches: report.batches + 1
        }
        if (options?.onProgress !== undefined) yield* options.onProgress(report)
      })

      // The input's failure travels as the last element: a batch it cuts short writes nothing of that
      // batch (grouping would hand on the events read before it), then the import fails with it.
      return Stream.result(events).pipe(
        Stream.grouped(Math.max(1, Math.floor(options?.batchSize ?? defaultBatchSize))),
        Stream.runForEach((results): Effect.Effect<void, E | StoreError | ImportError> => {
          const failure = results.find(Result.isFailure)
          return failure === undefined
            ? batch(results.map((result) => (result as Result.Success<ImportedEvent, E>).success))
            : Effect.fail(failure.failure)
        }),
        Effect.map(() => report)
      )
    })
})

/**
 * A clock at `at` for the memory store's stamp (it stamps an append with
 * `Clock.currentTimeMillis`); the rest, spans' timings included, from `clock`.
 */
const clockAt = (clock: Clock.Clock, at: DateTime.Utc): Clock.Clock => {
  const millis = DateTime.toEpochMillis(at)
  return {
    currentTimeMillisUnsafe: () => millis,
    currentTimeMillis: Effect.succeed(millis),
    currentTimeNanosUnsafe: () => clock.currentTimeNanosUnsafe(),
    currentTimeNanos: clock.currentTimeNanos,
    monotonicTimeNanosUnsafe: () => clock.monotonicTimeNanosUnsafe(),
    monotonicTimeNanos: clock.monotonicTimeNanos,
    sleep: (duration) => clock.sleep(duration)
  }
}

/** A stream at another version than the import expects, refused. */
const existing = (stream: string, expected: number, version: number) => ({
  stream,
  version,
  reason:
    expected < 0
      ? `it already exists, at version ${version}`
      : `it moved on to version ${version} while the import ran (another writer appended)`
})

/** A deleted stream, refused: its name is not reused. */
const deleted = (error: StreamDeleted): StreamExists =>
  new StreamExists({
    stream: error.stream,
    version: error.version,
    reason: `it was deleted at version ${error.version}, and a deleted stream's name is not reused`
  })

/** The memory store's {@link Target}: its public `EventStore`, each batch in one unit of work. */
const memoryTarget = (store: EventStore["Service"], unitOfWork: UnitOfWork["Service"], clock: Clock.Clock): Target => ({
  versions: (streams) =>
    Effect.map(
      Effect.forEach(streams, (stream) =>
        Effect.map(store.streamVersion(stream), (version) => [stream, version] as const)
      ),
      (versions) => new Map(versions)
    ),
  storedIds: (stream, from, count) =>
    Stream.runCollect(store.readStream(stream, { from, maxCount: count })).pipe(
      Effect.map((events) => events.map((event) => event.eventId)),
      Effect.catchTag("StreamDeleted", (error) => Effect.fail(deleted(error)))
    ),
  write: ({ events, streams }) =>
    unitOfWork.run(
      Effect.gen(function* () {
        const versions = new Map(streams.map(({ stream, expectedVersion }) => [stream, expectedVersion]))
        // Checked first: appending an earlier append's events again would succeed as a repeat.
        for (const { stream, expectedVersion } of streams) {
          const version = yield* store.streamVersion(stream)
          if (version !== expectedVersion) return yield* new StreamExists(existing(stream, expectedVersion, version))
        }
        // A run: consecutive events of one stream with one recorded-at time, one append.
        for (let i = 0; i < events.length; ) {
          const { stream, recordedAt, streamVersion } = events[i]!
          let end = i + 1
          while (
            end < events.length &&
            events[end]!.stream === stream &&
            DateTime.toEpochMillis(events[end]!.recordedAt) === DateTime.toEpochMillis(recordedAt)
          )
            end++
          const run = events.slice(i, end)
          const expected = versions.get(stream)!
          yield* store
            .append(
              stream,
              run.map((event) => event.checked.event),
              expected < 0 ? ExpectedVersion.noStream : ExpectedVersion.exact(expected)
            )
            .pipe(
              Effect.provideService(Clock.Clock, clockAt(clock, recordedAt)),
              Effect.catchTags({
                WrongExpectedVersion: (error) =>
                  Effect.fail(new StreamExists(existing(stream, expected, error.actualVersion))),
                DuplicateEventId: (error) =>
                  Effect.fail(
                    new InvalidImport({
                      stream,
                      streamVersion:
                        run.find((event) => event.checked.event.eventId === error.eventId)?.streamVersion ??
                        streamVersion,
                      reason: `event id ${error.eventId} is already recorded in this store`
                    })
                  ),
                StreamDeleted: (error) => Effect.fail(deleted(error)),
                StreamArchived: () =>
                  Effect.fail(new StreamExists({ stream, version: expected, reason: "it exists and is archived" })),
                InvalidAppend: (error) =>
                  Effect.fail(new InvalidImport({ stream, streamVersion, reason: error.reason })),
                LogOrderConflict: (error) =>
                  Effect.fail(new StoreError({ operation: "EventImport.importEvents", cause: error }))
              })
            )
          versions.set(stream, expected + run.length)
          i = end
        }
      })
    )
})

/**
 * The import into the in-memory store (`MemoryStore.layer()`), through its
 * public `EventStore` and `UnitOfWork`: each batch in one unit of work (its
 * events are visible once it commits), each run of a stream's consecutive
 * events with one recorded-at time in one append. The memory store stamps an
 * append with the time of the `Clock` it runs with, so each append runs with
 * a clock at its events' recorded-at time. Not for other stores, which take
 * the time elsewhere (on PostgreSQL use `PgEventImport`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<EventImport, never, EventStore | UnitOfWork> = Layer.effect(
  EventImport,
  Effect.gen(function* () {
    const store = yield* EventStore
    const unitOfWork = yield* UnitOfWork
    const clock = yield* Clock.Clock
    return make(memoryTarget(store, unitOfWork, clock))
  })
)

/**
 * An envelope as one line of a JSON-lines export (without the line break):
 * its `Envelope` JSON form.
 *
 * @since 0.1.0
 * @category export
 */
export const toLine = (envelope: Envelope.Envelope): string => JSON.stringify(Envelope.encode(envelope))

/**
 * The whole global log (or the part `options` selects) as export lines, in
 * log order: join them with line breaks to write a file.
 *
 * @since 0.1.0
 * @category export
 */
export const exportAll = (options?: ReadAllOptions): Stream.Stream<string, StoreError, EventStore> =>
  Stream.unwrap(EventStore.useSync((store) => Stream.map(store.readAll(options), toLine)))

/**
 * One stream as export lines, in version order.
 *
 * @since 0.1.0
 * @category export
 */
export const exportStream = (stream: StreamName, options?: ReadStreamOptions) =>
  Stream.unwrap(EventStore.useSync((store) => Stream.map(store.readStream(stream, options), toLine)))

const decodeEnvelope = Schema.decodeUnknownResult(Envelope.Envelope)

/**
 * Reads one export line (`line` counts from 1) as an {@link ImportedEvent}.
 *
 * @since 0.1.0
 * @category import
 */
export const fromLine = (text: string, line: number): Result.Result<ImportedEvent, MalformedLine> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return Result.fail(new MalformedLine({ line, reason: `it is not JSON (${(error as Error).message})` }))
  }
  const decoded = decodeEnvelope(json)
  if (Result.isFailure(decoded)) {
    return Result.fail(new MalformedLine({ line, reason: `it is not an event: ${decoded.failure.message}` }))
  }
  const { position: _, ...event } = decoded.success
  return Result.succeed(event)
}

/**
 * Reads export lines (as {@link exportAll} writes them, or a file split with
 * `Stream.splitLines`) as events to import; blank lines are skipped, and a
 * malformed line fails the stream with {@link MalformedLine} and its number.
 *
 * @since 0.1.0
 * @category import
 */
export const parseLines = <E, R>(
  lines: Stream.Stream<string, E, R>
): Stream.Stream<ImportedEvent, E | MalformedLine, R> =>
  lines.pipe(
    Stream.zipWithIndex,
    Stream.filter(([text]) => text.trim().length > 0),
    Stream.mapEffect(([text, index]) => Effect.fromResult(fromLine(text, index + 1)))
  )
