/**
 * Retention per category: keep at most the newest `maxCount` events of each
 * stream, or only those younger than `maxAge`, and trim the rest — after
 * saving a snapshot of each stream's state, so its aggregate still loads.
 * Every trim is recorded on `$system-streams` (see `StreamLifecycle.trim`).
 *
 * The last event of a stream always stays (its version and hash chain go
 * on), deleted streams are skipped, and a stream is trimmed only once its
 * snapshot is stored. The command handler must have a snapshot policy: the
 * snapshot's schema version must keep decoding for as long as the stream
 * lives, or loading it fails with `StreamLifecycle.HistoryTrimmed`.
 *
 * @example
 * ```ts
 * import { CommandHandler, Retention } from "@chronicle/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const orders = yield* CommandHandler.make({ decider, codec, snapshot: { schema: OrderState, version: 1 } })
 *   return yield* Retention.apply(
 *     { category: "order", maxAge: "365 days", maxCount: 1000 },
 *     { handler: orders, reason: "retention policy R-7", actor: "nightly-job" }
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 */
import { DateTime, Duration, Effect, Stream } from "effect"
import type { CommandHandler } from "./CommandHandler.ts"
import { EventStore } from "./EventStore.ts"
import * as StreamLifecycle from "./StreamLifecycle.ts"

/**
 * What a category keeps: at most `maxCount` events per stream (at least 1),
 * and/or the events younger than `maxAge`. A stream keeps what both allow.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  readonly category: string
  readonly maxCount?: number | undefined
  readonly maxAge?: Duration.Input | undefined
}

/**
 * What {@link apply} did: streams looked at, streams trimmed, events
 * removed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly streams: number
  readonly trimmed: number
  readonly removed: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<State> extends StreamLifecycle.Request {
  /** The category's command handler, with a snapshot policy: it saves each state before the trim. */
  readonly handler: CommandHandler<any, any, State, any, any>
  /** Called after each stream (for progress bars). */
  readonly onProgress?: ((report: Report) => Effect.Effect<void>) | undefined
}

/** Streams listed per round trip. */
const page = 500

/**
 * The first version a stream keeps under the policy: by count, and by age
 * (the first event recorded at or after `now - maxAge`), never past its last
 * event.
 */
const cutOf = Effect.fnUntraced(function* (status: StreamLifecycle.Status, policy: Policy) {
  const store = yield* EventStore
  let cut = status.removedBefore
  if (policy.maxCount !== undefined) cut = Math.max(cut, status.version + 1 - Math.max(1, Math.floor(policy.maxCount)))
  if (policy.maxAge !== undefined) {
    const oldest = DateTime.subtractDuration(yield* DateTime.now, Duration.fromInputUnsafe(policy.maxAge))
    const young = yield* Stream.runHead(
      Stream.filter(store.readStream(status.stream, { from: cut }), (e) =>
        DateTime.isGreaterThanOrEqualTo(e.recordedAt, oldest)
      )
    )
    cut = young._tag === "Some" ? Math.max(cut, young.value.streamVersion) : status.version
  }
  return Math.min(cut, status.version)
})

/**
 * Applies a retention policy to every stream of its category: for each
 * stream with events the policy no longer keeps, saves a snapshot of its
 * state, then trims them (recorded on `$system-streams` with the request's
 * reason and actor).
 *
 * @since 0.1.0
 * @category retention
 */
export const apply = Effect.fn("Retention.apply")(function* <State>(policy: Policy, options: Options<State>) {
  const lifecycle = yield* StreamLifecycle.StreamLifecycle
  let report: Report = { streams: 0, trimmed: 0, removed: 0 }
  let after: StreamLifecycle.Status["stream"] | undefined
  for (;;) {
    const statuses = yield* lifecycle.list({ category: policy.category, after, limit: page })
    for (const status of statuses) {
      report = { ...report, streams: report.streams + 1 }
      if (status.state !== "Deleted" && status.version >= 1) {
        const cut = yield* cutOf(status, policy)
        if (cut > status.removedBefore) {
          yield* options.handler.snapshot(status.stream)
          const trimmed = yield* StreamLifecycle.trim(status.stream, cut, options)
          report = {
            ...report,
            trimmed: report.trimmed + 1,
            removed: report.removed + trimmed.removedBefore - status.removedBefore
          }
        }
      }
      if (options.onProgress !== undefined) yield* options.onProgress(report)
    }
    if (statuses.length < page) return report
    after = statuses[statuses.length - 1]!.stream
  }
})
