import { DateTime, Deferred, Effect, Option, Result, Stream } from "effect"
import type { Envelope } from "../Envelope.ts"
import {
  type AppendError,
  type AppendResult,
  DuplicateEventId,
  type EventStore,
  InvalidAppend,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StreamAppend,
  WrongExpectedVersion
} from "../EventStore.ts"
import * as ExpectedVersion from "../ExpectedVersion.ts"
import * as Position from "../Position.ts"
import * as StreamName from "../StreamName.ts"
import { type CheckedEvent, check as checkAppend } from "../AppendCheck.ts"

interface Recorded {
  readonly stream: string
  readonly streamVersion: number
  readonly result: AppendResult
}

const deepFreeze = <A>(value: A): A => {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

const defaultBatchSize = 1000

/** Builds the in-memory event store. */
export const make = (maxEventBytes: number): EventStore["Service"] => {
  const log: Array<Envelope> = []
  const streams = new Map<string, Array<Envelope>>()
  const byEventId = new Map<string, Recorded>()
  // Completed and replaced on every commit: subscribers wait on it when caught up.
  let committed = Deferred.makeUnsafe<void>()

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

  /**
   * Checks every part of an append against the current state and, if all pass, commits them.
   * Synchronous from the first check to the last write, so no other fiber can interleave:
   * that is what makes the append atomic and the expected-version check race-free.
   */
  const commit = (
    appends: ReadonlyArray<StreamAppend>,
    recordedAt: DateTime.Utc
  ): Result.Result<ReadonlyArray<AppendResult>, AppendError> => {
    const plans: Array<{
      append: StreamAppend
      checked: ReadonlyArray<CheckedEvent>
      repeat: AppendResult | undefined
    }> = []
    const touched = new Set<string>()
    const newIds = new Set<string>()
    for (const append of appends) {
      if (touched.has(append.stream)) {
        return Result.fail(
          new InvalidAppend({
            stream: append.stream,
            reason: "the stream appears twice in one appendMany; merge its events"
          })
        )
      }
      touched.add(append.stream)
      const checked = checkAppend(append, maxEventBytes)
      if (Result.isFailure(checked)) return Result.fail(checked.failure)
      const repeat = repeatOf(append, checked.success)
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
        // One id in two parts of the same appendMany would be recorded twice.
        for (const { event } of checked.success) {
          if (newIds.has(event.eventId)) {
            return Result.fail(new DuplicateEventId({ stream: append.stream, eventId: event.eventId }))
          }
          newIds.add(event.eventId)
        }
      }
      plans.push({ append, checked: checked.success, repeat: repeat.success })
    }
    const results: Array<AppendResult> = []
    let wrote = false
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
        log.push(envelope)
        events.push(envelope)
        positions.push(envelope.position)
      }
      const result: AppendResult = { stream: append.stream, streamVersion: events.length - 1, positions }
      checked.forEach(({ event }, i) => {
        byEventId.set(event.eventId, { stream: append.stream, streamVersion: startVersion + i, result })
      })
      results.push(result)
      wrote = true
    }
    if (wrote) {
      const done = committed
      committed = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(done, Effect.void)
    }
    return Result.succeed(results)
  }

  // The time is read first: checking and committing then happen in one synchronous step.
  const appendMany: EventStore["Service"]["appendMany"] = (appends) =>
    Effect.flatMap(DateTime.now, (recordedAt) => Effect.fromResult(commit(appends, recordedAt)))

  const append: EventStore["Service"]["append"] = (stream, events, expectedVersion) =>
    Effect.map(appendMany([{ stream, events, expectedVersion }]), (results) => results[0]!)

  const readStream = (stream: StreamName.StreamName, options?: ReadStreamOptions) =>
    Stream.suspend(() => {
      const events = streams.get(stream) ?? []
      const max = options?.maxCount ?? Number.POSITIVE_INFINITY
      if (options?.direction === "backward") {
        const last = Math.min(options.from ?? events.length - 1, events.length - 1)
        const first = Math.max(0, max === Number.POSITIVE_INFINITY ? 0 : last - max + 1)
        return Stream.fromArray(events.slice(first, last + 1).reverse())
      }
      const from = Math.max(0, options?.from ?? 0)
      return Stream.fromArray(events.slice(from, max === Number.POSITIVE_INFINITY ? undefined : from + max))
    })

  /** The events after `after` up to the head that pass the filters, at most `limit` of them scanned. */
  const page = (after: Position.Position, filter: (e: Envelope) => boolean, limit: number) => {
    const start = Number(after.sequence)
    // Never before `after`, even when `after` lies beyond the end of the log.
    const end = Math.max(start, Math.min(log.length, start + limit))
    const out: Array<Envelope> = []
    for (let i = start; i < end; i++) if (filter(log[i]!)) out.push(log[i]!)
    return { events: out, next: end === start ? after : log[end - 1]!.position, caughtUp: end >= log.length }
  }

  const filterOf = (options?: ReadAllOptions) => {
    const categories = options?.categories && new Set(options.categories)
    const types = options?.types && new Set(options.types)
    return (e: Envelope) =>
      (categories === undefined || categories.has(StreamName.category(e.stream))) &&
      (types === undefined || types.has(e.type))
  }

  const readAll = (options?: ReadAllOptions) =>
    Stream.suspend(() => {
      const filter = filterOf(options)
      const batch = Math.max(1, Math.floor(options?.batchSize ?? defaultBatchSize))
      const head = log.length
      return Stream.paginate(options?.after ?? Position.start, (after) => {
        const { events, next } = page(after, filter, Math.min(batch, head - Number(after.sequence)))
        return Effect.succeed([events, Number(next.sequence) < head ? Option.some(next) : Option.none()] as const)
      })
    })

  const subscribe = (options?: ReadAllOptions) =>
    Stream.suspend(() => {
      const filter = filterOf(options)
      const batch = Math.max(1, Math.floor(options?.batchSize ?? defaultBatchSize))
      return Stream.paginate(options?.after ?? Position.start, (after) =>
        Effect.suspend(() => {
          const wake = committed
          const { caughtUp, events, next } = page(after, filter, batch)
          const wait = caughtUp && events.length === 0 ? Deferred.await(wake) : Effect.void
          return Effect.as(wait, [events, Option.some(next)] as const)
        })
      )
    })

  return {
    append,
    appendMany,
    readStream,
    streamVersion: (stream) => Effect.sync(() => versionOf(stream)),
    readAll,
    subscribe,
    head: Effect.sync(() => (log.length === 0 ? Position.start : log[log.length - 1]!.position))
  }
}
