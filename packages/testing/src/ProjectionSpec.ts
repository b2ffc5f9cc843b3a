/**
 * Scenario helpers for projections: given some domain events, run the
 * projection over them (through an in-memory store, encoded and decoded by the
 * projection's codec, exactly as a projector would deliver them), then check
 * the read model. A partitioned projection runs all its partitions
 * (`Projector.catchUpPartitions`): a spec gives the read model it gives unpartitioned.
 *
 * @example
 * ```ts
 * import { ProjectionSpec } from "@chronicle/testing"
 *
 * it.effect("revenue adds up payments", () =>
 *   ProjectionSpec.given(revenue, [
 *     { stream: "order-o1", events: [placed, paid] },
 *     { stream: "order-o2", events: [placed2] }
 *   ]).pipe(
 *     ProjectionSpec.expect(readRevenue, { EUR: 2500 })
 *   ))
 * ```
 *
 * @since 0.1.0
 */
import {
  DeadLetterStore,
  EventStore,
  ExpectedVersion,
  MemoryStore,
  type Projection,
  Projector,
  StreamName
} from "@chronicle/core"
import { Effect } from "effect"
import { SpecFailed } from "./DeciderSpec.ts"
import { diff, equals } from "./internal/format.ts"

/**
 * Events of one stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamEvents<E> {
  readonly stream: string
  readonly events: ReadonlyArray<E>
}

/**
 * Appends the events (stream by stream, in the order given) to a fresh
 * in-memory store and catches the projection up over them (every partition
 * of a partitioned projection, in parallel). Fails with the
 * projection's halt error, or dies on invalid events; parked events are
 * returned so a scenario can assert on them. The retry schedule of a failing
 * event runs on the `Clock`: under `TestClock` use `it.live`, or a retry
 * schedule without delays.
 *
 * @since 0.1.0
 * @category running
 */
export const given = <E extends { readonly _tag: string }, R>(
  projection: Projection.Projection<E, R>,
  streams: ReadonlyArray<StreamEvents<E>>
) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    for (const { events, stream } of streams) {
      const data = yield* Effect.orDie(projection.codec.toEventData(events))
      const name = yield* Effect.orDie(StreamName.decode(stream))
      yield* Effect.orDie(store.append(name, data, ExpectedVersion.any))
    }
    yield* Projector.catchUpPartitions(projection)
    return yield* (yield* DeadLetterStore.DeadLetterStore).list()
  }).pipe(Effect.provide(MemoryStore.layer()))

/**
 * After a scenario, reads the read model and fails with a diff when it is not
 * `expected`.
 *
 * @since 0.1.0
 * @category assertions
 */
export const expect =
  <M, E2, R2>(readModel: Effect.Effect<M, E2, R2>, expected: M) =>
  <A, E, R>(scenario: Effect.Effect<A, E, R>): Effect.Effect<M, E | E2 | SpecFailed, R | R2> =>
    Effect.andThen(scenario, () =>
      Effect.flatMap(readModel, (actual) =>
        equals(actual, expected)
          ? Effect.succeed(actual)
          : Effect.fail(new SpecFailed(`the read model differs\n${diff(expected, actual)}`))
      )
    )
