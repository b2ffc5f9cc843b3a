/**
 * Projection leases: which process runs a projection. A projector holds its
 * projection's lease while it runs, so of several processes (or fibers)
 * running the same projectors, each projection runs in exactly one, and
 * another takes over when the holder stops or dies. The in-memory store's
 * leases coordinate one process; the PostgreSQL layers' use session advisory
 * locks across processes.
 *
 * @since 0.1.0
 */
import { Context, type Effect, type Option, Schema, type Scope } from "effect"
import type { StoreError } from "./StoreError.ts"

/**
 * The process lost a projection's lease (say, its database session ended):
 * it must stop running the projection, which another process may take over.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  projection: Schema.String
}) {
  override get message() {
    return `Lost the lease of projection ${this.projection}; another process may take it over.`
  }
}

/**
 * Who holds a lease.
 *
 * @since 0.1.0
 * @category models
 */
export interface Holder {
  /**
   * Who: on PostgreSQL the lease session's `application_name`
   * (`chronicle:<host>:<pid>`), in memory the holding fiber.
   */
  readonly label: string
  /** Where its session runs, when the store knows (PostgreSQL: backend pid and client address). */
  readonly session?: string | undefined
}

/**
 * `acquire(name)` waits until the lease of `name` is held, holds it until the
 * scope closes, and returns an effect that fails with {@link LeaseLost} when
 * the lease is lost (and never completes otherwise). `holder(name)` says who
 * holds the lease of `name` now, if anyone (what `projections status` shows).
 *
 * @since 0.1.0
 * @category services
 */
export class Lease extends Context.Service<
  Lease,
  {
    readonly acquire: (name: string) => Effect.Effect<Effect.Effect<never, LeaseLost>, StoreError, Scope.Scope>
    readonly holder: (name: string) => Effect.Effect<Option.Option<Holder>, StoreError>
  }
>()("@chronicle/core/Lease") {}
