/**
 * A unit of work: a stretch of store writes that commit together or not at
 * all. Every event store provides one beside its `EventStore` service: the
 * PostgreSQL layers as a SQL transaction (shared with the app's own tables),
 * the in-memory store as its own transactional bookkeeping.
 *
 * The command handler runs an append and its inline projections in one unit
 * (a failing projection leaves nothing appended); the projector runs a batch
 * and its checkpoint in one unit. Nested units are savepoints: a failing
 * inner unit rolls back its own writes alone.
 *
 * @example
 * ```ts
 * import { EventStore, ExpectedVersion, StreamName, UnitOfWork } from "@chronicle/core"
 * import { Effect } from "effect"
 *
 * // Both appends, or neither.
 * const program = Effect.gen(function*() {
 *   const store = yield* EventStore.EventStore
 *   const unit = yield* UnitOfWork.UnitOfWork
 *   yield* unit.run(
 *     Effect.andThen(
 *       store.append(StreamName.make("order", "1"), [placed], ExpectedVersion.noStream),
 *       store.append(StreamName.make("stock", "7"), [reserved], ExpectedVersion.any)
 *     )
 *   )
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 *
 * @since 0.1.0
 */
import { Context, type Effect } from "effect"
import type { StoreError } from "./StoreError.ts"

/**
 * `run` runs an effect as one unit of work: when it succeeds its writes
 * commit; when it fails or is interrupted they are rolled back and the error
 * is passed on. Inside another unit it is a savepoint. Committing can itself
 * fail with a `StoreError`.
 *
 * @since 0.1.0
 * @category services
 */
export class UnitOfWork extends Context.Service<
  UnitOfWork,
  {
    readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StoreError, R>
    /** Whether the current fiber runs inside a unit of work (so its appends hold their streams until it ends). */
    readonly active: Effect.Effect<boolean>
  }
>()("@chronicle/core/UnitOfWork") {}
