/**
 * The in-memory event store and its unit of work, on one state. Kept in one
 * module (over 300 lines) because the append path, the unit-of-work
 * bookkeeping (held streams, journal, savepoints) and the readers' view of
 * uncommitted events are one invariant: reading them apart would hide it.
 */
import { Context, DateTime, Deferred, Effect, Exit, Option, Result, Stream } from "effect"
import { type CheckedAppend, type CheckedEvent, checkMany } from "../AppendCheck.ts"
import type { Envelope } from "../Envelope.ts"
import {
  type AppendError,
  type AppendResult,
  DuplicateEventId,
  type EventStore,
  type ReadAllOptions,
  type SubscribeOptions,
  type ReadStreamOptions,
  type StreamAppend,
  StreamArchived,
  StreamDeleted,
  StreamNotFound,
  WrongExpectedVersion
} from "../EventStore.ts"
import * as ExpectedVersion from "../ExpectedVersion.ts"
import type { Integrity } from "../Integrity.ts"
import * as Observability from "../Observability.ts"
import * as Position from "../Position.ts"
import * as memoryIntegrity from "./memoryIntegrity.ts"
import * as ReadCheck from "../ReadCheck.ts"
import * as streamPartition from "./streamPartition.ts"
import { StoreError } from "../StoreError.ts"
import { InvalidTrim, type StreamLifecycle } from "../StreamLifecycle.ts"
import type * as Lifecycle from "../StreamLifecycle.ts"
import * as StreamName from "../StreamName.ts"
import type { UnitOfWork } from "../UnitOfWork.ts"

/**
 * An open unit of work. Like a PostgreSQL transaction it holds every stream it
 * appended to until it ends (other writers of those streams wait), its events
 * are visible only inside it, and the global log is read up to its first event
 * until it commits (as PostgreSQL reads below the oldest running transaction).
 */
class Unit {
  open = true
  /** Completed when the unit commits or rolls back. */
  readonly ended = Deferred.makeUnsafe<void>()
  /** How to undo its writes, in order; a savepoint is a length of this journal. */
  readonly journal: Array<() => void> = []
  /** The log index of its first event still written (the visible log ends before it). */
  firstIndex: number | undefined = undefined
  /** How many of its events are written. */
  events = 0
  /** The streams it holds, with their length when it took them. */
  readonly held = new Map<string, number>()
  /** The unit it waits for, to detect deadlocks. */
  waitingFor: Unit | undefined = undefined
}

/** Where a stream is in its life (see `StreamLifecycle`), with its lawful-removal marker. */
interface Life extends memoryIntegrity.Marker {
  readonly state: Lifecycle.State
}

const live: Life = { state: "Live", removedBefore: 0, removedHash: null }

interface Recorded {
  readonly stream: string
  readonly streamVersion: number
  readonly result: AppendResult
  readonly unit: Unit | undefined
}

const deepFreeze = <A>(value: A): A => {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

const defaultBatchSize = 1000
let instances = 0

/** Builds the in-memory event store and its unit of work, on one shared state. */
export const make = (
  maxEventBytes: number
): {
  readonly store: EventStore["Service"]
  readonly unitOfWork: UnitOfWork["Service"]
  readonly undoable: (undo: () => void) => Effect.Effect<void>
  readonly integrity: Integrity["Service"]
  readonly lifecycle: StreamLifecycle["Service"]
} => {
  /** The global log; a rolled-back event leaves a hole (positions are not dense). */
  const log: Array<Envelope | undefined> = []
  const streams = new Map<string, Array<Envelope>>()
  const byEventId = new Map<string, Recorded>()
  /** The streams that are not simply live. */
  const lives = new Map<string, Life>()
  const lifeOf = (stream: string): Life => lives.get(stream) ?? live
  /** Streams held by open units. */
  const holders = new Map<string, Unit>()
  /** Open units that have written: the global log is visible up to the first event of the oldest. */
  const writing = new Set<Unit>()
  // Completed and replaced whenever more of the log becomes visible: subscribers wait on it.
  let committed = Deferred.makeUnsafe<void>()
  const CurrentUnit = Context.Reference<Unit | undefined>(`@chronicle/core/EventStore/memory/${++instances}`, {
    defaultValue: () => undefined
  })
  const currentUnit = Effect.map(Effect.service(CurrentUnit), (unit) => (unit?.open === true ? unit : undefined))

  const wake = () => {
    const done = committed
    committed = Deferred.makeUnsafe<void>()
    Deferred.doneUnsafe(done, Effect.void)
  }

  /** The end of the visible log: before the first event of any open unit. */
  const visibleEnd = () => {
    let end = log.length
    for (const unit of writing) end = Math.min(end, unit.firstIndex!)
    return end
  }

  /** The events of a stream that `unit` may see: another open unit's events are hidden. */
  const visibleEvents = (stream: string, unit: Unit | undefined): ReadonlyArray<Envelope> => {
    const events = streams.get(stream)
    if (events === undefined) return []
    const holder = holders.get(stream)
    return holder === undefined || holder === unit ? events : events.slice(0, holder.held.get(stream)!)
  }

  const versionOf = (stream: string) => (streams.get(stream)?.length ?? 0) - 1

  /** An exact repeat of an earlier append: same ids, same stream, same order. */
  const repeatOf = (append: StreamAppend, checked: ReadonlyArray<CheckedEvent>) => {
    const first = byEventId.get(checked[0]!.event.eventId)
    if (first === undefined) {
      const known = checked.find((c) => byEventId.has(c.event.eventId))
      return known === undefined
        ? Result.succeed(undefined)
        : Result.fail(new DuplicateEventId({ stream: append.stream, eventId: known.event.eventId }))
    }
    const events = streams.get(first.stream)!
    // The whole of one earlier append: it starts at that append's first event, has as many
    // events, and the same ids in the same order (not, say, the tail of one append and the
    // head of the next).
    const isRepeat =
      first.stream === append.stream &&
      first.streamVersion === first.result.streamVersion - first.result.positions.length + 1 &&
      first.result.positions.length === checked.length &&
      checked.every((c, i) => events[first.streamVersion + i]?.eventId === c.event.eventId)
    return isRepeat
      ? Result.succeed(first.result)
      : Result.fail(new DuplicateEventId({ stream: append.stream, eventId: checked[0]!.event.eventId }))
  }

  /** The open unit, other than `unit`, whose outcome an append must wait for: it holds a stream or an id. */
  const blockerOf = (appends: ReadonlyArray<CheckedAppend>, unit: Unit | undefined): Unit | undefined => {
    for (const { append, events: checked } of appends) {
      const holder = holders.get(append.stream)
      if (holder !== undefined && holder !== unit) return holder
      for (const { event } of checked) {
        const recorded = byEventId.get(event.eventId)
        if (recorded?.unit !== undefined && recorded.unit !== unit && recorded.unit.open) return recorded.unit
      }
    }
    return undefined
  }

  /**
   * Checks every part of an append against the current state and, if all pass, writes them.
   * Synchronous from the first check to the last write, so no other fiber can interleave:
   * that is what makes the append atomic and the expected-version check race-free. Returns
   * the open unit to wait for when another unit holds one of the streams.
   */
  const commit = (
    appends: ReadonlyArray<StreamAppend>,
    recordedAt: DateTime.Utc,
    unit: Unit | undefined
  ): Result.Result<ReadonlyArray<AppendResult>, AppendError> | Unit => {
    const plans: Array<{
      append: StreamAppend
      checked: ReadonlyArray<CheckedEvent>
      repeat: AppendResult | undefined
    }> = []
    const checkedAppends = checkMany(appends, maxEventBytes)
    if (Result.isFailure(checkedAppends)) return Result.fail(checkedAppends.failure)
    const blocker = blockerOf(checkedAppends.success, unit)
    if (blocker !== undefined) return blocker
    for (const { append } of checkedAppends.success) {
      const { state } = lifeOf(append.stream)
      if (state === "Deleted")
        return Result.fail(new StreamDeleted({ stream: append.stream, version: versionOf(append.stream) }))
      if (state === "Archived") return Result.fail(new StreamArchived({ stream: append.stream }))
    }
    for (const { append, events: checked } of checkedAppends.success) {
      const repeat = repeatOf(append, checked)
      if (Result.isFailure(repeat)) return Result.fail(repeat.failure)
      if (repeat.success === undefined) {
        if (!ExpectedVersion.matches(append.expectedVersion, versionOf(append.stream))) {
          return Result.fail(
            new WrongExpectedVersion({
              stream: append.stream,
              expected: ExpectedVersion.format(append.expectedVersion),
              actualVersion: versionOf(append.stream)
            })
          )
        }
      }
      plans.push({ append, checked, repeat: repeat.success })
    }
    const results: Array<AppendResult> = []
    for (const { append, checked, repeat } of plans) {
      if (repeat !== undefined) {
        results.push(repeat)
        continue
      }
      let events = streams.get(append.stream)
      if (events === undefined) {
        events = []
        streams.set(append.stream, events)
      }
      if (unit !== undefined && !unit.held.has(append.stream)) {
        unit.held.set(append.stream, events.length)
        holders.set(append.stream, unit)
      }
      const positions: Array<Position.Position> = []
      const startVersion = events.length
      for (const { event, dataJson, metadataJson } of checked) {
        const sequence = BigInt(log.length + 1)
        const envelope: Envelope = deepFreeze({
          eventId: event.eventId,
          type: event.type,
          schemaVersion: event.schemaVersion,
          data: JSON.parse(dataJson),
          metadata: JSON.parse(metadataJson),
          stream: append.stream,
          streamVersion: events.length,
          position: Position.make(sequence, sequence),
          recordedAt
        })
        if (unit !== undefined) written(unit, log.length, append.stream, event.eventId)
        log.push(envelope)
        events.push(envelope)
        positions.push(envelope.position)
      }
      const result: AppendResult = { stream: append.stream, streamVersion: events.length - 1, positions }
      checked.forEach(({ event }, i) => {
        byEventId.set(event.eventId, { stream: append.stream, streamVersion: startVersion + i, result, unit })
      })
      results.push(result)
    }
    if (unit === undefined) wake()
    else if (unit.events > 0) writing.add(unit)
    return Result.succeed(results)
  }

  /** Records in `unit`'s journal how to undo an event it wrote at `index`. */
  const written = (unit: Unit, index: number, stream: string, eventId: string) => {
    if (unit.events++ === 0) unit.firstIndex = index
    unit.journal.push(() => {
      log[index] = undefined
      streams.get(stream)!.pop()
      byEventId.delete(eventId)
      if (--unit.events === 0) unit.firstIndex = undefined
    })
  }

  /**
   * Runs a write of another in-memory store (checkpoints, parked events) as part of the current
   * unit of work, if any: `undo` reverts it when the unit, or the savepoint, rolls back.
   */
  const undoable = (undo: () => void): Effect.Effect<void> =>
    Effect.map(currentUnit, (unit) => {
      unit?.journal.push(undo)
    })

  /** Undoes a unit's writes after its savepoint `mark` (its events are the tails of the streams it holds). */
  const rollbackTo = (unit: Unit, mark: number) => {
    while (unit.journal.length > mark) unit.journal.pop()!()
    if (unit.events === 0 && writing.delete(unit)) wake()
  }

  /** Ends a unit: its events become visible to everyone (after a rollback, there are none). */
  const end = (unit: Unit) => {
    unit.open = false
    for (const stream of unit.held.keys()) holders.delete(stream)
    writing.delete(unit)
    // Recorded events keep a reference to their (now closed) unit; let it hold nothing.
    unit.journal.length = 0
    unit.held.clear()
    Deferred.doneUnsafe(unit.ended, Effect.void)
    wake()
  }

  /** Waits until `blocker` ends, unless that would wait for ever (it waits, in turn, for `unit`). */
  const waitFor = (
    unit: Unit | undefined,
    blocker: Unit,
    operation = "EventStore.append"
  ): Effect.Effect<void, StoreError> => {
    for (let u: Unit | undefined = blocker; u !== undefined; u = u.waitingFor) {
      if (u === unit) {
        return Effect.fail(
          new StoreError({
            operation,
            cause: new Error("deadlock detected: two units of work wait for each other's streams")
          })
        )
      }
    }
    if (unit === undefined) return Deferred.await(blocker.ended)
    unit.waitingFor = blocker
    return Effect.ensuring(
      Deferred.await(blocker.ended),
      Effect.sync(() => {
        unit.waitingFor = undefined
      })
    )
  }

  const appendIn = (
    appends: ReadonlyArray<StreamAppend>,
    unit: Unit | undefined
  ): Effect.Effect<ReadonlyArray<AppendResult>, AppendError> =>
    // The time is read first: checking and writing then happen in one synchronous step.
    Effect.flatMap(DateTime.now, (recordedAt) =>
      Effect.suspend(() => {
        const outcome = commit(appends, recordedAt, unit)
        return outcome instanceof Unit
          ? Effect.andThen(waitFor(unit, outcome), appendIn(appends, unit))
          : Effect.fromResult(outcome)
      })
    )

  const appendMany: EventStore["Service"]["appendMany"] = (appends) =>
    Effect.flatMap(currentUnit, (unit) => appendIn(appends, unit))

  const append: EventStore["Service"]["append"] = (stream, events, expectedVersion) =>
    Effect.map(appendMany([{ stream, events, expectedVersion }]), (results) => results[0]!)

  const readStream = (stream: StreamName.StreamName, options?: ReadStreamOptions) =>
    Stream.unwrap(
      Effect.map(currentUnit, (unit) => {
        const { removedBefore, state } = lifeOf(stream)
        if (state === "Deleted") return Stream.fail(new StreamDeleted({ stream, version: versionOf(stream) }))
        const events = visibleEvents(stream, unit)
        const { direction, from, maxCount } = ReadCheck.streamRange(options)
        if (direction === "backward") {
          const last = Math.min(from, events.length - 1)
          const first = Math.max(removedBefore, last - maxCount + 1)
          return Stream.fromArray(first > last ? [] : events.slice(first, last + 1).reverse())
        }
        const first = Math.max(from, removedBefore)
        return Stream.fromArray(events.slice(first, first + maxCount))
      })
    )

  /** The visible events after `after` that pass the filters, at most `limit` positions scanned. */
  const page = (after: Position.Position, filter: (e: Envelope) => boolean, limit: number, until: number) => {
    const start = Number(after.sequence)
    // Never before `after`, even when `after` lies beyond the end of the log.
    const stop = Math.max(start, Math.min(until, start + limit))
    const out: Array<Envelope> = []
    for (let i = start; i < stop; i++) {
      const envelope = log[i]
      if (envelope !== undefined && filter(envelope)) out.push(envelope)
    }
    const next = stop === start ? after : Position.make(BigInt(stop), BigInt(stop))
    return { events: out, next, caughtUp: stop >= until }
  }

  /**
   * A position as this store's own `(n, n)`: n counts the log slots at or before it in the
   * log's order (slot i is at `(i + 1, i + 1)`), so every position reads as the order says.
   */
  const localAfter = (after: Position.Position | undefined) => {
    const { commit, sequence } = ReadCheck.after(after)
    const n = commit <= sequence ? commit : commit - 1n
    return n <= 0n ? Position.start : Position.make(n, n)
  }

  const filterOf = (options?: ReadAllOptions) => {
    const categories = options?.categories && new Set(options.categories)
    const types = options?.types && new Set(options.types)
    const partition = ReadCheck.partition(options?.partition)
    return (e: Envelope) =>
      partition !== "none" &&
      (categories === undefined || categories.has(StreamName.category(e.stream))) &&
      (types === undefined || types.has(e.type)) &&
      (partition === "all" || streamPartition.partitionOf(e.stream, partition.count) === partition.index)
  }

  const readAll = (options?: ReadAllOptions) =>
    Stream.suspend(() => {
      const filter = filterOf(options)
      const batch = ReadCheck.batchSize(options?.batchSize, defaultBatchSize)
      const head = visibleEnd()
      return Stream.paginate(localAfter(options?.after), (after) => {
        const { events, next } = page(after, filter, batch, head)
        return Effect.succeed([events, Number(next.sequence) < head ? Option.some(next) : Option.none()] as const)
      })
    })

  const subscribe = (options?: SubscribeOptions) =>
    Stream.suspend(() => {
      const filter = filterOf(options)
      const batch = ReadCheck.batchSize(options?.batchSize, defaultBatchSize)
      const caughtUpSignal = options?.onCaughtUp ?? Effect.void
      return Stream.paginate(localAfter(options?.after), (after) =>
        Effect.suspend(() => {
          const woken = committed
          const { caughtUp, events, next } = page(after, filter, batch, visibleEnd())
          const wait =
            caughtUp && events.length === 0 ? Effect.andThen(caughtUpSignal, Deferred.await(woken)) : Effect.void
          return Effect.as(wait, [events, Option.some(next)] as const)
        })
      )
    })

  const head = Effect.sync(() => {
    for (let i = visibleEnd() - 1; i >= 0; i--) {
      const envelope = log[i]
      if (envelope !== undefined) return envelope.position
    }
    return Position.start
  })

  /**
   * Changes a stream's life: `next` decides, from its version and life, what it becomes (an
   * unchanged life changes nothing). The change joins the current unit, if any, holding the
   * stream until it ends and undone if it rolls back; a stream another unit holds is waited for.
   * Removed events leave the global log. The hash of the stream's chain through its last removed
   * event is computed first (events are immutable once no unit holds them), then the change is
   * decided and made in one synchronous step, or tried again if the stream moved meanwhile.
   */
  const transition = <E>(
    operation: string,
    stream: StreamName.StreamName,
    next: (version: number, life: Life) => Result.Result<Life, E>
  ): Effect.Effect<Lifecycle.Status, E | StreamNotFound | StreamDeleted | StoreError> =>
    Effect.flatMap(currentUnit, (unit) => {
      const attempt = (): Effect.Effect<Lifecycle.Status, E | StreamNotFound | StreamDeleted | StoreError> =>
        Effect.suspend(() => {
          const holder = holders.get(stream)
          if (holder !== undefined && holder !== unit)
            return Effect.andThen(waitFor(unit, holder, operation), attempt())
          const version = versionOf(stream)
          const before = lifeOf(stream)
          if (version < 0) return Effect.fail(new StreamNotFound({ stream }))
          if (before.state === "Deleted") return Effect.fail(new StreamDeleted({ stream, version }))
          const decided = next(version, before)
          if (Result.isFailure(decided)) return Effect.fail(decided.failure)
          const after = decided.success
          if (after.removedBefore <= before.removedBefore) {
            apply(stream, before, after, unit)
            return Effect.succeed(statusOf(stream))
          }
          const events = streams.get(stream)!
          return Effect.flatMap(memoryIntegrity.chainHash(events.slice(0, after.removedBefore)), (removedHash) =>
            // Still as decided: nobody took the stream or changed its life while hashing.
            versionOf(stream) === version && lifeOf(stream) === before && holders.get(stream) === holder
              ? Effect.sync(() => {
                  apply(stream, before, { ...after, removedHash }, unit)
                  return statusOf(stream)
                })
              : attempt()
          )
        })
      return attempt()
    })

  /** Makes a decided change of life, removing the events it removes from the global log. */
  const apply = (stream: string, before: Life, after: Life, unit: Unit | undefined) => {
    const events = streams.get(stream)!
    const removed = events.slice(before.removedBefore, after.removedBefore)
    for (const envelope of removed) log[Number(envelope.position.sequence) - 1] = undefined
    lives.set(stream, after)
    if (unit === undefined) return
    if (!unit.held.has(stream)) {
      unit.held.set(stream, events.length)
      holders.set(stream, unit)
    }
    unit.journal.push(() => {
      for (const envelope of removed) log[Number(envelope.position.sequence) - 1] = envelope
      lives.set(stream, before)
    })
  }

  const statusOf = (stream: StreamName.StreamName): Lifecycle.Status => {
    const { removedBefore, state } = lifeOf(stream)
    return { stream, version: versionOf(stream), state, removedBefore }
  }

  const lifecycle: StreamLifecycle["Service"] = {
    status: (stream) => Effect.sync(() => (versionOf(stream) < 0 ? Option.none() : Option.some(statusOf(stream)))),
    list: ({ after, category, limit }) =>
      Effect.sync(() =>
        [...streams.keys()]
          .filter((stream) => StreamName.category(stream) === category && (after === undefined || stream > after))
          .sort()
          .slice(0, limit ?? 1000)
          .map((stream) => statusOf(stream as StreamName.StreamName))
      ),
    delete: (stream, expectedVersion) =>
      transition("StreamLifecycle.delete", stream, (version, life) =>
        ExpectedVersion.matches(expectedVersion, version)
          ? Result.succeed({ ...life, state: "Deleted", removedBefore: version + 1 })
          : Result.fail(
              new WrongExpectedVersion({
                stream,
                expected: ExpectedVersion.format(expectedVersion),
                actualVersion: version
              })
            )
      ),
    trim: (stream, before) =>
      transition("StreamLifecycle.trim", stream, (version, life) =>
        !Number.isInteger(before) || before < 1 || before > version
          ? Result.fail(new InvalidTrim({ stream, before, version }))
          : Result.succeed(before <= life.removedBefore ? life : { ...life, removedBefore: before })
      ),
    archive: (stream) =>
      transition("StreamLifecycle.archive", stream, (_, life) => Result.succeed({ ...life, state: "Archived" })),
    restore: (stream) =>
      transition("StreamLifecycle.restore", stream, (_, life) => Result.succeed({ ...life, state: "Live" }))
  }

  const unitOfWork: UnitOfWork["Service"] = {
    active: Effect.map(currentUnit, (unit) => unit !== undefined),
    run: (effect) =>
      Effect.flatMap(currentUnit, (outer) =>
        outer !== undefined
          ? // A savepoint: a failure undoes this part's writes alone.
            Effect.suspend(() => {
              const mark = outer.journal.length
              return Effect.onExit(effect, (exit) =>
                Exit.isFailure(exit) ? Effect.sync(() => rollbackTo(outer, mark)) : Effect.void
              )
            })
          : Effect.acquireUseRelease(
              Effect.sync(() => new Unit()),
              (unit) => Effect.provideService(effect, CurrentUnit, unit),
              (unit, exit) =>
                Effect.sync(() => {
                  if (Exit.isFailure(exit)) rollbackTo(unit, 0)
                  end(unit)
                })
            )
      )
  }

  return {
    store: Observability.instrument({
      append,
      appendMany,
      readStream,
      streamVersion: (stream) => Effect.map(currentUnit, (unit) => visibleEvents(stream, unit).length - 1),
      readAll,
      subscribe,
      head
    }),
    unitOfWork,
    undoable,
    // Committed events only (an open unit's are not stored yet), copied: appends go on meanwhile.
    integrity: memoryIntegrity.make(
      () => [...streams.keys()],
      (stream) => visibleEvents(stream, undefined).slice(),
      lifeOf
    ),
    lifecycle
  }
}
