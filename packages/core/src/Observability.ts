/**
 * What Chronicle reports to Effect's tracer and metric registry, so any
 * exporter (OTLP, Prometheus; see `effect/observability`) sees it:
 *
 * | span | attributes |
 * | --- | --- |
 * | `CommandHandler.handle` | `stream`, `command`, `attempts`, `outcome` |
 * | `CommandHandler.load` | `stream`, `version`, `snapshot_version` |
 * | `CommandHandler.decide` | `stream`, `version` |
 * | `EventStore.append`, `EventStore.appendMany` | `stream`, `event_count`, `expected_version`, `position` |
 * | `EventStore.readStream`, `EventStore.readAll` | `stream` / `after` |
 * | `Projector.batch` | `projection`, `batch_size`, `first_position`, `last_position`, links to the causing spans |
 *
 * Metrics: {@link appendSeconds}, {@link eventsAppended}, {@link conflicts},
 * {@link commands}, and per projection those of `Projector.metrics`.
 *
 * Trace context travels with the events: the command handler stores the
 * current span in each event's metadata as a W3C `traceparent`
 * ({@link traceParent}), and a projector's batch span links to it
 * ({@link linkTo}).
 *
 * @since 0.1.0
 */
import { Duration, Effect, Metric, Option, Stream, type Tracer } from "effect"
import { Headers, HttpTraceContext } from "effect/http"
import type { Metadata } from "./Envelope.ts"
import type { AppendResult, EventStore, StreamAppend } from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import * as Position from "./Position.ts"

/**
 * Seconds per append (`operation`: `append` or `appendMany`), whatever the
 * outcome.
 *
 * @since 0.1.0
 * @category metrics
 */
export const appendSeconds = Metric.histogram("chronicle_append_seconds", {
  description: "Seconds per append, whatever the outcome",
  boundaries: Metric.exponentialBoundaries({ start: 0.0005, factor: 2, count: 16 })
})

/**
 * Events in the appends the store acknowledged (an exact repeat counts again;
 * an append in a unit of work that later rolls back counts too).
 *
 * @since 0.1.0
 * @category metrics
 */
export const eventsAppended = Metric.counter("chronicle_events_appended", {
  description: "Events in acknowledged appends",
  incremental: true
})

/**
 * Appends refused by a conflict (`reason`: `wrong_expected_version`, or
 * `log_order` for a `LogOrderConflict`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const conflicts = Metric.counter("chronicle_append_conflicts", {
  description: "Appends refused by a conflict (reason: wrong_expected_version or log_order)",
  incremental: true
})

/**
 * Handled commands by `command` (its tag) and `outcome`: `appended`,
 * `unchanged`, or the error's tag (say `WrongExpectedVersion` or the
 * decider's rejection).
 *
 * @since 0.1.0
 * @category metrics
 */
export const commands = Metric.counter("chronicle_commands", {
  description: "Handled commands by command and outcome (appended, unchanged or the error's tag)",
  incremental: true
})

const wrongExpectedVersion = Metric.withAttributes(conflicts, { reason: "wrong_expected_version" })
const logOrder = Metric.withAttributes(conflicts, { reason: "log_order" })
const appendTimer = Metric.withAttributes(appendSeconds, { operation: "append" })
const appendManyTimer = Metric.withAttributes(appendSeconds, { operation: "appendMany" })

/**
 * A span as a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), the
 * form events carry it in (`Metadata.traceParent`).
 *
 * @since 0.1.0
 * @category trace context
 */
export const traceParent = (span: Tracer.AnySpan): string =>
  `00-${span.traceId.padStart(32, "0")}-${span.spanId}-${span.sampled ? "01" : "00"}`

/**
 * The metadata with the current span as its `traceParent`, unless it already
 * has one (or there is no span).
 *
 * @since 0.1.0
 * @category trace context
 */
export const withTraceParent = (metadata: Metadata | undefined): Effect.Effect<Metadata | undefined> =>
  metadata?.traceParent !== undefined
    ? Effect.succeed(metadata)
    : Effect.map(Effect.option(Effect.currentSpan), (span) =>
        Option.isNone(span) ? metadata : { ...metadata, traceParent: traceParent(span.value) }
      )

/**
 * A span link to the span a W3C `traceparent` names, for a span that handles
 * what it caused (say, a projector batch); none for a malformed value.
 *
 * @since 0.1.0
 * @category trace context
 */
export const linkTo = (value: string): Option.Option<Tracer.SpanLink> =>
  Option.map(HttpTraceContext.w3c(Headers.fromRecordUnsafe({ traceparent: value })), (span) => ({
    span,
    attributes: { "chronicle.link": "caused_by" }
  }))

const lastPosition = (results: ReadonlyArray<AppendResult>) => {
  const positions = results[results.length - 1]?.positions
  const last = positions?.[positions.length - 1]
  return last === undefined ? "" : Position.format(last)
}

/** Times an append (whatever its outcome) and counts its events, or its conflict. */
const measured = <A, E extends { readonly _tag: string }>(
  timer: typeof appendTimer,
  effect: Effect.Effect<A, E>,
  events: number
): Effect.Effect<A, E> =>
  Effect.timed(Effect.exit(effect)).pipe(
    Effect.flatMap(([duration, exit]) => Effect.andThen(Metric.update(timer, Duration.toSeconds(duration)), exit)),
    Effect.tap(() => Metric.update(eventsAppended, events)),
    Effect.tapError((error) =>
      error._tag === "WrongExpectedVersion"
        ? Metric.update(wrongExpectedVersion, 1)
        : error._tag === "LogOrderConflict"
          ? Metric.update(logOrder, 1)
          : Effect.void
    )
  )

// Span attributes are taken before the store checks its input: they must not trust it.
const countOf = (events: unknown) => (Array.isArray(events) ? events.length : 0)
const expectedOf = (expected: unknown) =>
  typeof (expected as ExpectedVersion.ExpectedVersion | undefined)?._tag === "string"
    ? ExpectedVersion.format(expected as ExpectedVersion.ExpectedVersion)
    : String(expected)
const partsOf = (appends: unknown): ReadonlyArray<Partial<StreamAppend>> =>
  Array.isArray(appends) ? appends.map((part) => part ?? {}) : []
const positionOf = (position: Position.Position | undefined) =>
  position === undefined ? "start" : `${position?.commit}:${position?.sequence}`

/**
 * An event store that reports what it does: a span per append and read
 * (named after the operation) and the append metrics of this module. Both of
 * Chronicle's stores are instrumented; wrap any other implementation with it.
 *
 * @since 0.1.0
 * @category instrumentation
 */
export const instrument = (store: EventStore["Service"]): EventStore["Service"] => ({
  ...store,
  append: (stream, events, expectedVersion) =>
    measured(appendTimer, store.append(stream, events, expectedVersion), countOf(events)).pipe(
      Effect.tap((result) => Effect.annotateCurrentSpan("position", lastPosition([result]))),
      Effect.withSpan("EventStore.append", {
        attributes: { stream, event_count: countOf(events), expected_version: expectedOf(expectedVersion) }
      })
    ),
  appendMany: (appends) => {
    const parts = partsOf(appends)
    const events = parts.reduce((n, part) => n + countOf(part.events), 0)
    return measured(appendManyTimer, store.appendMany(appends), events).pipe(
      Effect.tap((results) => Effect.annotateCurrentSpan("position", lastPosition(results))),
      Effect.withSpan("EventStore.appendMany", {
        attributes: {
          stream: parts.map((part) => part.stream),
          event_count: events,
          expected_version: parts.map((part) => expectedOf(part.expectedVersion))
        }
      })
    )
  },
  readStream: (stream, options) =>
    Stream.withSpan(store.readStream(stream, options), "EventStore.readStream", { attributes: { stream } }),
  readAll: (options) =>
    Stream.withSpan(store.readAll(options), "EventStore.readAll", { attributes: { after: positionOf(options?.after) } })
})
