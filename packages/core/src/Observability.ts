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
 * What it costs: metrics are always updated (about 1 µs per append). Spans
 * other than `CommandHandler.handle` (whose id the events carry) are made
 * only when something would record them ({@link withSpan}): with no tracer
 * installed but Effect's in-memory default, with tracing off or under an
 * unsampled parent, they cost nothing.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Effect, Exit, type Fiber, Metric, Option, References, Stream, Tracer } from "effect"
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
    : Effect.withFiber((fiber) => {
        // `Effect.currentSpan` would build an error (with its stack) when there is none.
        const span = Context.getOrUndefined(fiber.context, Tracer.ParentSpan)
        return Effect.succeed(span?._tag === "Span" ? { ...metadata, traceParent: traceParent(span) } : metadata)
      })

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

/**
 * Whether a span made now would be recorded: tracing is on, a tracer other
 * than Effect's in-memory default (`Tracer.nativeTracer`, which exports
 * nothing) is installed, and the parent span, if any, is sampled.
 */
const recording = (fiber: Fiber.Fiber<unknown, unknown>, root: boolean): boolean =>
  fiber.getRef(References.TracerEnabled) &&
  fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer &&
  (root || Context.getOrUndefined(fiber.context, Tracer.ParentSpan)?.sampled !== false)

/**
 * What {@link withSpan} puts on a span. Each part is computed only when the
 * span is recorded.
 *
 * @since 0.1.0
 * @category instrumentation
 */
export interface SpanOptions<A> {
  readonly attributes: () => Record<string, unknown>
  /** Attributes known once the effect has succeeded (say, the position of an append). */
  readonly outcome?: ((value: A) => Record<string, unknown>) | undefined
  readonly links?: (() => ReadonlyArray<Tracer.SpanLink>) | undefined
  /** A trace of its own rather than a child of the current span. */
  readonly root?: boolean | undefined
}

// A span's stack frame costs an `Error` (about 2 µs) per span; the name says where it is.
const noStackTrace = { captureStackTrace: false } as const

/**
 * `Effect.withSpan` for a hot path: the span is made only when it would be
 * recorded (a tracer that exports is installed, tracing is on and the parent
 * is sampled), its attributes and links are computed only then, and it
 * captures no stack trace. Otherwise the effect runs as it is, with no span
 * and no attributes.
 *
 * @since 0.1.0
 * @category instrumentation
 */
export const withSpan =
  <A>(name: string, options: SpanOptions<A>) =>
  <E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withFiber((fiber) => {
      if (!recording(fiber, options.root === true)) return self
      const spanOptions = { attributes: options.attributes(), links: options.links?.(), root: options.root }
      return Effect.useSpan(name, spanOptions, (span) => {
        const traced = Effect.withParentSpan(self, span, noStackTrace)
        const outcome = options.outcome
        return outcome === undefined
          ? traced
          : Effect.onExitPrimitive(traced, (exit) => {
              if (Exit.isSuccess(exit)) annotate(span, outcome(exit.value))
              return undefined
            })
      })
    })

const annotate = (span: Tracer.Span, attributes: Record<string, unknown>) => {
  for (const key in attributes) span.attribute(key, attributes[key])
}

/**
 * {@link withSpan} for a stream: a span over the whole read, made only when
 * it would be recorded.
 *
 * @since 0.1.0
 * @category instrumentation
 */
export const withStreamSpan =
  (name: string, attributes: () => Record<string, unknown>) =>
  <A, E, R>(self: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
    Stream.unwrap(
      Effect.withFiber((fiber) =>
        Effect.succeed(
          recording(fiber, false) ? Stream.withSpan(self, name, { attributes: attributes(), ...noStackTrace }) : self
        )
      )
    )

/**
 * Times an append (whatever its outcome) and counts its events, or its
 * conflict: one clock read at each end, the metrics updated in place (no
 * effect per metric).
 */
const measured = <A, E extends { readonly _tag: string }>(
  timer: typeof appendTimer,
  effect: Effect.Effect<A, E>,
  events: number
): Effect.Effect<A, E> =>
  Effect.withFiber((fiber) => {
    const context = fiber.context
    const clock = fiber.getRef(Clock.Clock)
    const start = clock.currentTimeNanosUnsafe()
    return Effect.onExitPrimitive(effect, (exit) => {
      timer.updateUnsafe(Number(clock.currentTimeNanosUnsafe() - start) / 1e9, context)
      if (Exit.isSuccess(exit)) {
        eventsAppended.updateUnsafe(events, context)
      } else {
        const tag = Option.getOrUndefined(Cause.findErrorOption(exit.cause))?._tag
        if (tag === "WrongExpectedVersion") wrongExpectedVersion.updateUnsafe(1, context)
        else if (tag === "LogOrderConflict") logOrder.updateUnsafe(1, context)
      }
      return undefined
    })
  })

// Span attributes are taken before the store checks its input: they must not trust it.
const countOf = (events: unknown) => (Array.isArray(events) ? events.length : 0)
const expectedOf = (expected: unknown) =>
  typeof (expected as ExpectedVersion.ExpectedVersion | undefined)?._tag === "string"
    ? ExpectedVersion.format(expected as ExpectedVersion.ExpectedVersion)
    : String(expected)
const partsOf = (appends: unknown): ReadonlyArray<Partial<StreamAppend>> =>
  Array.isArray(appends) ? appends.map((part) => part ?? {}) : []
const eventsIn = (appends: unknown) => {
  let events = 0
  if (Array.isArray(appends)) for (const part of appends) events += countOf(part?.events)
  return events
}
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
      withSpan("EventStore.append", {
        attributes: () => ({
          stream,
          event_count: countOf(events),
          expected_version: expectedOf(expectedVersion)
        }),
        outcome: (result) => ({ position: lastPosition([result]) })
      })
    ),
  appendMany: (appends) =>
    measured(appendManyTimer, store.appendMany(appends), eventsIn(appends)).pipe(
      withSpan("EventStore.appendMany", {
        attributes: () => {
          const parts = partsOf(appends)
          return {
            stream: parts.map((part) => part.stream),
            event_count: eventsIn(appends),
            expected_version: parts.map((part) => expectedOf(part.expectedVersion))
          }
        },
        outcome: (results) => ({ position: lastPosition(results) })
      })
    ),
  readStream: (stream, options) =>
    store.readStream(stream, options).pipe(withStreamSpan("EventStore.readStream", () => ({ stream }))),
  readAll: (options) =>
    store.readAll(options).pipe(withStreamSpan("EventStore.readAll", () => ({ after: positionOf(options?.after) })))
})
