/**
 * The PostgreSQL `DeadLetterStore`: parked events in `<schema>.dead_letters`,
 * on the `SqlClient` in context. Inside a projector batch an event is parked
 * in the batch's transaction, with its checkpoint.
 *
 * @since 0.1.0
 */
import { DeadLetterStore, type Envelope, Position, type StreamName } from "@chronicle/core"
import { DateTime, Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import * as Json from "./internal/json.ts"
import * as internalOptions from "./internal/options.ts"
import { mapSqlError } from "./internal/sqlError.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type Options = internalOptions.Options

/** An envelope as JSON: its position as decimal strings, its time as ISO text. */
interface StoredEnvelope extends Omit<Envelope.Envelope, "position" | "recordedAt"> {
  readonly position: { readonly commit: string; readonly sequence: string }
  readonly recordedAt: string
}

const storeEnvelope = (envelope: Envelope.Envelope): StoredEnvelope => ({
  ...envelope,
  position: { commit: envelope.position.commit.toString(), sequence: envelope.position.sequence.toString() },
  recordedAt: DateTime.formatIso(envelope.recordedAt)
})

const loadEnvelope = (stored: StoredEnvelope): Envelope.Envelope => ({
  ...stored,
  stream: stored.stream as StreamName.StreamName,
  position: Position.make(BigInt(stored.position.commit), BigInt(stored.position.sequence)),
  recordedAt: DateTime.makeUnsafe(stored.recordedAt)
})

interface Row {
  readonly projection: string
  readonly envelope: StoredEnvelope
  readonly error: string
  readonly parked_at: Date
}

const toParked = (row: Row): DeadLetterStore.ParkedEvent => ({
  projection: row.projection,
  envelope: loadEnvelope(row.envelope),
  error: row.error,
  parkedAt: DateTime.fromDateUnsafe(row.parked_at)
})

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
              VALUES (${entry.projection}, ${entry.envelope.eventId}::uuid, ${Json.stringify(storeEnvelope(entry.envelope))}::json,
                      ${entry.error}, ${entry.envelope.position.commit.toString()}::int8, ${entry.envelope.position.sequence.toString()}::int8)
              ON CONFLICT (projection, event_id) DO UPDATE SET error = excluded.error, parked_at = excluded.parked_at`.pipe(
            Effect.asVoid,
            mapSqlError("DeadLetterStore.park")
          ),
        list: (projection) =>
          sql<Row>`SELECT projection, envelope, error, parked_at FROM ${table}.dead_letters
                   ${projection === undefined ? sql.literal("") : sql`WHERE projection = ${projection}`}
                   ORDER BY commit_position, sequence`.pipe(
            Effect.map((rows) => rows.map(toParked)),
            mapSqlError("DeadLetterStore.list")
          ),
        get: (projection, eventId) =>
          sql<Row>`SELECT projection, envelope, error, parked_at FROM ${table}.dead_letters
                   WHERE projection = ${projection} AND event_id::text = ${eventId.toLowerCase()}`.pipe(
            Effect.map((rows) => Option.map(Option.fromUndefinedOr(rows[0]), toParked)),
            mapSqlError("DeadLetterStore.get")
          ),
        remove: (projection, eventId) =>
          sql`DELETE FROM ${table}.dead_letters WHERE projection = ${projection} AND event_id::text = ${eventId.toLowerCase()}`.pipe(
            Effect.asVoid,
            mapSqlError("DeadLetterStore.remove")
          )
      })
    })
  )
