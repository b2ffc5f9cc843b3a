/**
 * The PostgreSQL `UnitOfWork`: a SQL transaction on the `SqlClient` in
 * context. An append and its inline projections, or a projector batch
 * (read-model writes, parked events and checkpoint), commit together. Nested
 * units become savepoints, so a failing event is rolled back alone.
 *
 * @since 0.1.0
 */
import { type StoreError, UnitOfWork } from "@chronicle/core"
import { Effect, Layer, Option } from "effect"
import { SqlClient, SqlError } from "effect/sql"
import type * as internalOptions from "./internal/options.ts"
import { storeError } from "./internal/sqlError.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type Options = internalOptions.Options

/**
 * The `UnitOfWork` on the `SqlClient` in context. It takes the options every
 * PostgreSQL layer takes; a transaction spans every schema, so it needs none.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (_options?: Options): Layer.Layer<UnitOfWork.UnitOfWork, never, SqlClient.SqlClient> =>
  Layer.effect(
    UnitOfWork.UnitOfWork,
    SqlClient.SqlClient.useSync((sql) => ({
      active: Effect.map(Effect.serviceOption(sql.transactionService), Option.isSome),
      run: <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError.StoreError, R> =>
        Effect.mapError(sql.withTransaction(effect), (error) =>
          SqlError.isSqlError(error) ? storeError("UnitOfWork")(error) : error
        )
    }))
  )
