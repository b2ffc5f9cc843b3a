/**
 * SQL errors as the stores' `StoreError`, written once for every PostgreSQL
 * module.
 */
import { StoreError } from "@chronicle/core"
import { Effect } from "effect"
import type { SqlError } from "effect/sql"

/** A `StoreError` for `operation`, caused by `cause`. */
export const storeError =
  (operation: string) =>
  (cause: unknown): StoreError.StoreError =>
    new StoreError.StoreError({ operation, cause })

/** Fails with a `StoreError` for `operation` instead of a `SqlError`; other failures pass through. */
export const mapSqlError =
  (operation: string) =>
  <A, E, R>(
    effect: Effect.Effect<A, E | SqlError.SqlError, R>
  ): Effect.Effect<A, Exclude<E, SqlError.SqlError> | StoreError.StoreError, R> =>
    Effect.catchTag(effect, "SqlError", (e) => Effect.fail(storeError(operation)(e))) as Effect.Effect<
      A,
      Exclude<E, SqlError.SqlError> | StoreError.StoreError,
      R
    >

/**
 * Whether a failure is the server being away (connection lost, or the server
 * restarting, shutting down or out of connections) rather than a fault of the
 * statement, so waiting and reading again will succeed. The driver classifies
 * SQLSTATE classes 57P ("the database system is starting up", ...) and 53
 * ("too many clients") as unknown, non-retryable errors; a restarted server
 * answers 57P03 until its crash recovery ends.
 */
export const isServerUnavailable = (error: SqlError.SqlError): boolean => {
  if (error.reason._tag === "ConnectionError" || error.isRetryable) return true
  const code = (error.reason.cause as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" && (code.startsWith("53") || (code.startsWith("57P") && code !== "57P04"))
}
