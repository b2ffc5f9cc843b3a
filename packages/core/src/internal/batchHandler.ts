import { Effect, Metric, Option, Result, Schedule, type Tracer } from "effect"
import * as CheckpointStore from "../CheckpointStore.ts"
import { DeadLetterStore } from "../DeadLetterStore.ts"
import type { Decoded, Envelope } from "../Envelope.ts"
import { LogOrderConflict } from "../EventStore.ts"
import * as Observability from "../Observability.ts"
import * as Position from "../Position.ts"
import * as Projection from "../Projection.ts"
import type { StoreError } from "../StoreError.ts"
import { UnitOfWork } from "../UnitOfWork.ts"
import * as projectorMetrics from "./projectorMetrics.ts"

const isLogOrderConflict = (error: unknown): error is LogOrderConflict => error instanceof LogOrderConflict

/** How a batch can fail short of its checkpoint save. */
type BatchError<Halted> = StoreError | Halted | LogOrderConflict

const batchRetry = Schedule.exponential("5 millis").pipe(Schedule.jittered, Schedule.upTo({ times: 20 }))

/** An error as one line of text, for parked events and halts. */
export const describe = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : typeof error === "string" ? error : JSON.stringify(error)

/** At most this many links per batch span (OpenTelemetry's default limit). */
const maxLinks = 128

/** Links to the distinct spans that caused a batch's events (their `traceParent`). */
const causes = (envelopes: ReadonlyArray<Envelope>): Array<Tracer.SpanLink> => {
  const seen = new Set<string>()
  const links: Array<Tracer.SpanLink> = []
  for (const { metadata } of envelopes) {
    const traceParent = metadata.traceParent
    if (traceParent === undefined || seen.has(traceParent)) continue
    seen.add(traceParent)
    const link = Observability.linkTo(traceParent)
    if (Option.isSome(link)) links.push(link.value)
    if (links.length === maxLinks) break
  }
  return links
}

/**
 * Loads the checkpoint and returns it with a batch handler that handles a
 * batch and moves the checkpoint, in one unit of work. The checkpoint
 * save is fenced with the position the handler last saw, so if another
 * process moved it the batch does not commit.
 */
export const make = <E extends { readonly _tag: string }, R, Halted>(
  projection: Projection.Projection<E, R>,
  halted: (projection: string, envelope: Envelope, error: string) => Halted
) =>
  Effect.gen(function* () {
    const name = Projection.checkpointName(projection)
    if (projection.partitions > 1 && projection.partition === undefined) {
      return yield* Effect.die(
        new Error(
          `Projection ${name} has ${projection.partitions} partitions: run one (Projection.partition) ` +
            `or all of them (Projector.catchUpPartitions)`
        )
      )
    }
    const tx = yield* UnitOfWork
    const checkpoints = yield* CheckpointStore.CheckpointStore
    let checkpoint = yield* checkpoints.load(name)
    if (Option.isNone(checkpoint)) {
      // A first start: refuse if this version kept checkpoints under another partition count.
      const existing = Projection.otherPartitionings(projection, (yield* checkpoints.list).keys())
      if (existing.length > 0) {
        return yield* new Projection.PartitionsChanged({
          projection: name,
          partitions: projection.partitions,
          existing
        })
      }
    }
    const deadLetters = yield* DeadLetterStore
    const m = projectorMetrics.make(name)
    const retry = projection.failure.retry

    const fail = (envelope: Envelope, error: unknown): Effect.Effect<void, StoreError | Halted> =>
      projection.failure.action === "park"
        ? Effect.andThen(
            deadLetters.park({ projection: name, envelope, error: describe(error) }),
            Effect.andThen(
              Metric.update(m.parked, 1),
              Effect.logWarning(`${name}: parked ${envelope.type} ${envelope.eventId}`, describe(error))
            )
          )
        : Effect.fail(halted(name, envelope, describe(error)))

    /** One attempt in its own sub-transaction, so a failure rolls back only its writes. */
    const attempt = (events: ReadonlyArray<Decoded<E>>) =>
      tx.run(projection.handleBatch(events)).pipe(
        Effect.tapError(() => Metric.update(m.failures, 1)),
        Effect.retry({ schedule: retry, while: (error) => !isLogOrderConflict(error) })
      )

    /** One event at a time; `opened` are the envelopes with their personal fields opened, parked as stored. */
    const oneByOne = (envelopes: ReadonlyArray<Envelope>, opened: ReadonlyArray<Envelope>) =>
      Effect.forEach(
        envelopes,
        (envelope, i): Effect.Effect<void, BatchError<Halted>, R> => {
          const decoded = projection.codec.decodeEnvelope(opened[i]!)
          if (Result.isFailure(decoded)) return fail(envelope, decoded.failure)
          return Effect.catch(
            attempt([decoded.success]),
            (error): Effect.Effect<void, BatchError<Halted>> =>
              isLogOrderConflict(error) ? Effect.fail(error) : fail(envelope, error)
          )
        },
        { discard: true }
      )

    /** Decodes the opened envelopes and handles them: the whole batch at once, or one by one. */
    const handleOpened = (envelopes: ReadonlyArray<Envelope>, opened: ReadonlyArray<Envelope>) => {
      const decoded: Array<Decoded<E>> = []
      for (const envelope of opened) {
        const result = projection.codec.decodeEnvelope(envelope)
        if (Result.isFailure(result)) break
        decoded.push(result.success)
      }
      return decoded.length === envelopes.length
        ? // The whole batch at once; if it keeps failing, find the culprit one event at a time.
          Effect.catch(
            tx.run(projection.handleBatch(decoded)),
            (error): Effect.Effect<void, BatchError<Halted>, R> =>
              isLogOrderConflict(error) ? Effect.fail(error) : oneByOne(envelopes, opened)
          )
        : oneByOne(envelopes, opened)
    }

    const handleBatch = (batch: ReadonlyArray<Envelope>) => {
      // A partition reads the whole log and handles its own streams; the checkpoint still moves past the rest.
      const envelopes =
        projection.partitions === 1 ? batch : batch.filter((e) => Projection.handlesStream(projection, e.stream))
      const handled =
        envelopes.length === 0
          ? Effect.void
          : Effect.flatMap(projection.codec.open(envelopes), (opened) => handleOpened(envelopes, opened))
      const last = batch[batch.length - 1]!
      return tx.run(Effect.andThen(handled, checkpoints.save(name, last.position, checkpoint))).pipe(
        // A command sent from the batch met a concurrent writer of its stream after the batch had
        // written (see `LogOrderConflict`): not the event's fault, and only a new unit of work can
        // succeed, so the whole batch runs again.
        Effect.retry({ while: isLogOrderConflict, schedule: batchRetry }),
        Effect.tap(() =>
          Effect.sync(() => {
            checkpoint = Option.some(last.position)
          })
        ),
        Effect.andThen(Metric.update(m.handled, envelopes.length)),
        Effect.andThen(Metric.update(m.checkpoint, Number(last.position.sequence))),
        Effect.as(last),
        // A batch is a trace of its own, linked to the spans that caused its events.
        Observability.withSpan("Projector.batch", {
          root: true,
          links: () => causes(envelopes),
          attributes: () => ({
            projection: name,
            batch_size: envelopes.length,
            first_position: Position.format(batch[0]!.position),
            last_position: Position.format(last.position)
          })
        })
      )
    }
    return { start: Option.getOrElse(checkpoint, () => Position.start), handleBatch }
  })
