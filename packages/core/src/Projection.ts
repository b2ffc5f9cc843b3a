/**
 * Projections: named, versioned handlers of some event types that keep a read
 * model up to date from the global log.
 *
 * A projection declares which events it handles (through the domain's codec,
 * optionally narrowed by type or stream category), how it handles them (one
 * by one, or in batches where the read model benefits), and what happens when
 * handling fails: retry under a `Schedule`, then park the event in the
 * dead-letter store and go on, or halt — never skip silently.
 *
 * Run projections with `Projector`.
 *
 * @example
 * ```ts
 * import { Projection } from "@chronicle/core"
 * import { Effect } from "effect"
 *
 * const revenue = Projection.make({
 *   name: "revenue",
 *   version: 1,
 *   codec: Order.OrderEvents,
 *   types: ["PaymentConfirmed"],
 *   handle: (envelope) => addRevenue(envelope.event.amount, envelope.recordedAt)
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Schedule } from "effect"
import type { Decoded } from "./Envelope.ts"
import type * as EventCodec from "./EventCodec.ts"

/**
 * What to do with an event whose handling still fails after the retries (or
 * that does not decode): `park` it in the dead-letter store and go on, or
 * `halt` the projection and report why.
 *
 * @since 0.1.0
 * @category models
 */
export interface FailurePolicy {
  readonly retry: Schedule.Schedule<unknown, unknown>
  readonly action: "park" | "halt"
}

/**
 * The default policy: 3 retries with exponential back-off from 10 ms, then
 * park.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultFailurePolicy: FailurePolicy = {
  retry: Schedule.exponential("10 millis").pipe(Schedule.upTo({ times: 3 })),
  action: "park"
}

/**
 * A projection over events `E`, needing services `R`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Projection<E extends { readonly _tag: string }, R = never> {
  readonly name: string
  readonly version: number
  readonly codec: EventCodec.EventCodec<E>
  /** The event types handled; all of the codec's types when absent. */
  readonly types: ReadonlyArray<string>
  /** Only events of streams in these categories. */
  readonly categories?: ReadonlyArray<string> | undefined
  /** Handles a batch of decoded events, in log order. */
  readonly handleBatch: (events: ReadonlyArray<Decoded<E>>) => Effect.Effect<void, unknown, R>
  readonly failure: FailurePolicy
  /** Events per batch (default 500). */
  readonly batchSize: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<E extends { readonly _tag: string }> {
  readonly name: string
  readonly version: number
  readonly codec: EventCodec.EventCodec<E>
  readonly types?: ReadonlyArray<E["_tag"]> | undefined
  readonly categories?: ReadonlyArray<string> | undefined
  readonly failure?: Partial<FailurePolicy> | undefined
  readonly batchSize?: number | undefined
}

const build = <E extends { readonly _tag: string }, R>(
  options: Options<E>,
  handleBatch: (events: ReadonlyArray<Decoded<E>>) => Effect.Effect<void, unknown, R>
): Projection<E, R> => {
  if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(options.name)) {
    throw new Error(`Projection name ${JSON.stringify(options.name)}: use 1 to 100 letters, digits, or _ . : -`)
  }
  return {
    name: options.name,
    version: options.version,
    codec: options.codec,
    types: options.types ?? [...options.codec.types.keys()],
    categories: options.categories,
    handleBatch,
    failure: { ...defaultFailurePolicy, ...options.failure },
    batchSize: options.batchSize ?? 500
  }
}

/**
 * A projection that handles events one at a time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E extends { readonly _tag: string }, R = never, const T extends E["_tag"] = E["_tag"]>(
  options: Options<E> & {
    readonly types?: ReadonlyArray<T> | undefined
    readonly handle: (event: Decoded<Extract<E, { readonly _tag: T }>>) => Effect.Effect<void, unknown, R>
  }
): Projection<E, R> =>
  build(options, (events) =>
    Effect.forEach(events as ReadonlyArray<Decoded<Extract<E, { readonly _tag: T }>>>, options.handle, {
      discard: true
    })
  )

/**
 * A projection whose handler takes whole batches (a multi-row upsert, say).
 * When a batch fails, the projector retries its events one at a time to find
 * the one that fails, so the policy applies to that event alone.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeBatched = <E extends { readonly _tag: string }, R = never, const T extends E["_tag"] = E["_tag"]>(
  options: Options<E> & {
    readonly types?: ReadonlyArray<T> | undefined
    readonly handleBatch: (
      events: ReadonlyArray<Decoded<Extract<E, { readonly _tag: T }>>>
    ) => Effect.Effect<void, unknown, R>
  }
): Projection<E, R> =>
  build(options, (events) => options.handleBatch(events as ReadonlyArray<Decoded<Extract<E, { readonly _tag: T }>>>))

/**
 * The checkpoint name of a projection version: `name@vN`. Each version keeps
 * its own checkpoint, so a new version can rebuild beside the live one.
 *
 * @since 0.1.0
 * @category getters
 */
export const checkpointName = (projection: { readonly name: string; readonly version: number }): string =>
  `${projection.name}@v${projection.version}`
