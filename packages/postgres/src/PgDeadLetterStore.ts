/**
 * The PostgreSQL `DeadLetterStore`: parked events in `<schema>.dead_letters`
 * (discarded ones move to `<schema>.discarded_dead_letters`), on the
 * `SqlClient` in context. Inside a projector batch an event is parked
 * in the batch's transaction, with its checkpoint.
 *
 * @since 0.1.0
 */
import { DeadLetterStore, Envelope, type StoreError } from "@chronicle/core"
import { DateTime, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import * as Json from "./internal/json.ts"
import * as internalOptions from "./internal/options.ts"
import { mapSqlError, storeError } from "./internal/sqlError.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type Options = internalOptions.Options

interface Row {
  readonly projection: string
  /** The envelope's JSON form (`Envelope.encode`). */
  readonly envelope: unknown
  readonly error: string
  readonly parked_at: Date
}

interface DiscardedRow extends Row {
  readonly reason: string
  readonly discarded_by: string
  readonly discarded_at: Date
}

/** A row as a parked event; an envelope that does not decode is a `StoreError` of `operation`. */
const toParked =
  (operation: string) =>
  (row: Row): Effect.Effect<DeadLetterStore.ParkedEvent, StoreError.StoreError> =>
    Effect.mapBoth(Envelope.decode(row.envelope), {
      onFailure: storeError(operation),
      onSuccess: (envelope) => ({
        projection: row.projection,
        envelope,
        error: row.error,
        parkedAt: DateTime.fromDateUnsafe(row.parked_at)
      })
    })

/** A row of `discarded_dead_letters` as a discarded event. */
const toDiscarded =
  (operation: string) =>
  (row: DiscardedRow): Effect.Effect<DeadLetterStore.DiscardedEvent, StoreError.StoreError> =>
    Effect.map(toParked(operation)(row), (parked) => ({
      ...parked,
      reason: row.reason,
      discardedBy: row.discarded_by,
      discardedAt: DateTime.fromDateUnsafe(row.discarded_at)
    }))

/**
 * Parked events in `<schema>.dead_letters`, listed in log order.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<DeadLetterStore.DeadLetterStore, never, SqlClient.SqlClient> =>
  Layer.effect(
    DeadLetterStore.DeadLetterStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const table = sql(internalOptions.schemaOf(options))
      return DeadLetterStore.DeadLetterStore.of({
        park: (entry) =>
          sql`INSERT INTO ${table}.dead_letters (projection, event_id, envelope, error, commit_position, sequence)
              VALUES (${entry.projection}, ${entry.envelope.eventId}::uuid, ${Json.stringify(Envelope.encode(entry.envelope))}::json,
                      ${entry.error}, ${entry.envelope.position.commit.toString()}::int8, ${entry.envelope.position.sequence.toString()}::int8)
              ON CONFLICT (projection, event_id) DO UPDATE SET error = excluded.error, parked_at = excluded.parked_at`.pipe(
            Effect.asVoid,
            mapSqlError("DeadLetterStore.park")
          ),
        list: (projection) =>
          sql<Row>`SELECT projection, envelope, error, parked_at FROM ${table}.dead_letters
                   ${projection === undefined ? sql.literal("") : sql`WHERE projection = ${projection}`}
                   ORDER BY commit_position, sequence`.pipe(
            Effect.flatMap(Effect.forEach(toParked("DeadLetterStore.list"))),
            mapSqlError("DeadLetterStore.list")
          ),
        get: (projection, eventId) =>
          sql<Row>`SELECT projection, envelope, error, parked_at FROM ${table}.dead_letters
                   WHERE projection = ${projection} AND event_id::text = ${eventId.toLowerCase()}`.pipe(
            Effect.flatMap((rows) =>
              rows[0] === undefined ? Effect.succeedNone : Effect.asSome(toParked("DeadLetterStore.get")(rows[0]))
            ),
            mapSqlError("DeadLetterStore.get")
          ),
        remove: (projection, eventId) =>
          sql`DELETE FROM ${table}.dead_letters WHERE projection = ${projection} AND event_id::text = ${eventId.toLowerCase()}`.pipe(
            Effect.asVoid,
            mapSqlError("DeadLetterStore.remove")
          ),
        discard: (projection, eventId, { by, reason }) =>
          sql<DiscardedRow>`WITH moved AS (
                DELETE FROM ${table}.dead_letters
                WHERE projection = ${projection} AND event_id::text = ${eventId.toLowerCase()}
                RETURNING *
              )
              INSERT INTO ${table}.discarded_dead_letters
                (projection, event_id, envelope, error, commit_position, sequence, parked_at, reason, discarded_by)
              SELECT projection, event_id, envelope, error, commit_position, sequence, parked_at, ${reason}, ${by} FROM moved
              RETURNING projection, envelope, error, parked_at, reason, discarded_by, discarded_at`.pipe(
            Effect.flatMap((rows) =>
              rows[0] === undefined
                ? Effect.succeedNone
                : Effect.asSome(toDiscarded("DeadLetterStore.discard")(rows[0]))
            ),
            mapSqlError("DeadLetterStore.discard")
          ),
        discarded: (projection) =>
          sql<DiscardedRow>`SELECT projection, envelope, error, parked_at, reason, discarded_by, discarded_at
                   FROM ${table}.discarded_dead_letters
                   ${projection === undefined ? sql.literal("") : sql`WHERE projection = ${projection}`}
                   ORDER BY id`.pipe(
            Effect.flatMap(Effect.forEach(toDiscarded("DeadLetterStore.discarded"))),
            mapSqlError("DeadLetterStore.discarded")
          )
      })
    })
  )
