import { DateTime, Deferred, Effect, Option, Result, Stream } from "effect"
import type { Envelope } from "../Envelope.ts"
import {
  type AppendError,
  type AppendResult,
  DuplicateEventId,
  type EventStore,
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
    const isRepeat =
      first.stream === append.stream &&
      first.result.positions.length === checked.length &&
      checked.every((c, i) => events[first.streamVersion + i]?.eventId === c.event.eventId)
    return isRepeat
      ? Result.succeed(first.result)
      : Result.fail(new DuplicateEventId({ stream: append.stream, eventId: checked[0]!.event.eventId }))
  }

  const appendMany: EventStore["Service"]["appendMany"] = (appends) =>
    Effect.suspend((): Effect.Effect<ReadonlyArray<AppendResult>, AppendError> => {
      // Validate everything first; the commit below is synchronous, so it is atomic.
      const plans: Array<{
        append: StreamAppend
        checked: ReadonlyArray<CheckedEvent>
        repeat: AppendResult | undefined
      }> = []
      const touched = new Set<string>()
      for (const append of appends) {
        if (touched.has(append.stream)) {
          return Effect.fail(
            new WrongExpectedVersion({
              stream: append.stream,
              expected: ExpectedVersion.format(append.expectedVersion),
              actualVersion: versionOf(append.stream)
            })
          )
        }
        touched.add(append.stream)
        const checked = checkAppend(append, maxEventBytes)
        if (Result.isFailure(checked)) return Effect.fail(checked.failure)
        const repeat = repeatOf(append, checked.success)
        if (Result.isFailure(repeat)) return Effect.fail(repeat.failure)
        if (
          repeat.success === undefined &&
          !ExpectedVersion.matches(append.expectedVersion, versionOf(append.stream))
        ) {
          return Effect.fail(
            new WrongExpectedVersion({
              stream: append.stream,
              expected: ExpectedVersion.format(append.expectedVersion),
              actualVersion: versionOf(append.stream)
            })
          )
        }
        plans.push({ append, checked: checked.success, repeat: repeat.success })
      }
      return Effect.map(DateTime.now, (recordedAt) => {
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
        }
        const done = committed
        committed = Deferred.makeUnsafe<void>()
        Deferred.doneUnsafe(done, Effect.void)
        return results
      })
    })

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
    const end = Math.min(log.length, start + limit)
    const out: Array<Envelope> = []
    for (let i = start; i < end; i++) if (filter(log[i]!)) out.push(log[i]!)
    return { events: out, next: end === start ? after : log[end - 1]!.position, caughtUp: end === log.length }
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
      const batch = options?.batchSize ?? defaultBatchSize
      const head = log.length
      return Stream.paginate(options?.after ?? Position.start, (after) => {
        const { events, next } = page(after, filter, Math.min(batch, head - Number(after.sequence)))
        return Effect.succeed([events, Number(next.sequence) < head ? Option.some(next) : Option.none()] as const)
      })
    })

  const subscribe = (options?: ReadAllOptions) =>
    Stream.suspend(() => {
      const filter = filterOf(options)
      const batch = options?.batchSize ?? defaultBatchSize
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
