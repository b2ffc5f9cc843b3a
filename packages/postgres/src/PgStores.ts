/**
 * The PostgreSQL `SnapshotStore`, `CheckpointStore` and `DeadLetterStore`,
 * and the projector `Transaction` hook, on the `SqlClient` in context.
 *
 * Because checkpoints, parked events and an app's read models share the
 * database (and, inside a projector batch, the transaction), a projector's
 * read-model writes and its checkpoint commit together: exactly-once.
 *
 * @since 0.1.0
 */
import {
  CheckpointStore,
  DeadLetterStore,
  type Envelope,
  Position,
  Projector,
  SnapshotStore,
  StoreError,
  type StreamName
} from "@chronicle/core"
import { DateTime, Effect, Layer, Option } from "effect"
import { SqlClient, SqlError } from "effect/sql"
import * as PgSchema from "./PgSchema.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The PostgreSQL schema of the tables (default `chronicle`). */
  readonly schema?: string | undefined
}

const toStoreError = (operation: string) => (cause: SqlError.SqlError) =>
  new StoreError.StoreError({ operation, cause })

const json = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v))

/**
 * Snapshots in `<schema>.snapshots`, one per stream; a save never replaces a
 * snapshot of a later stream version.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSnapshotStore = (options?: Options) =>
  Layer.effect(
    SnapshotStore.SnapshotStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const table = sql(options?.schema ?? PgSchema.defaultSchema)
      return SnapshotStore.SnapshotStore.of({
        save: (snapshot) =>
          sql`INSERT INTO ${table}.snapshots AS s (stream, stream_version, schema_version, state)
              VALUES (${snapshot.stream}, ${snapshot.streamVersion}, ${snapshot.schemaVersion}, ${json(snapshot.state)}::json)
              ON CONFLICT (stream) DO UPDATE SET stream_version = excluded.stream_version,
                schema_version = excluded.schema_version, state = excluded.state, recorded_at = excluded.recorded_at
              WHERE s.stream_version <= excluded.stream_version`.pipe(
            Effect.asVoid,
            Effect.mapError(toStoreError("SnapshotStore.save"))
          ),
        load: (stream) =>
          sql<{ stream_version: number; schema_version: number; state: unknown; recorded_at: Date }>`
            SELECT stream_version, schema_version, state, recorded_at FROM ${table}.snapshots WHERE stream = ${stream}`.pipe(
            Effect.map((rows) =>
              Option.map(Option.fromUndefinedOr(rows[0]), (row) => ({
                stream,
                streamVersion: row.stream_version,
                schemaVersion: row.schema_version,
                state: row.state,
                recordedAt: DateTime.fromDateUnsafe(row.recorded_at)
              }))
            ),
            Effect.mapError(toStoreError("SnapshotStore.load"))
          ),
        delete: (stream) =>
          sql`DELETE FROM ${table}.snapshots WHERE stream = ${stream}`.pipe(
            Effect.asVoid,
            Effect.mapError(toStoreError("SnapshotStore.delete"))
          )
      })
    })
  )

/**
 * Checkpoints in `<schema>.checkpoints`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCheckpointStore = (options?: Options) =>
  Layer.effect(
    CheckpointStore.CheckpointStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const table = sql(options?.schema ?? PgSchema.defaultSchema)
      const toPosition = (row: { commit_position: bigint | string; sequence: bigint | string }) =>
        Position.make(BigInt(row.commit_position), BigInt(row.sequence))
      return CheckpointStore.CheckpointStore.of({
        load: (name) =>
          sql<{ commit_position: string; sequence: string }>`
            SELECT commit_position::text, sequence::text FROM ${table}.checkpoints WHERE name = ${name}`.pipe(
            Effect.map((rows) => Option.map(Option.fromUndefinedOr(rows[0]), toPosition)),
            Effect.mapError(toStoreError("CheckpointStore.load"))
          ),
        save: (name, position) =>
          sql`INSERT INTO ${table}.checkpoints (name, commit_position, sequence)
              VALUES (${name}, ${position.commit.toString()}::int8, ${position.sequence.toString()}::int8)
              ON CONFLICT (name) DO UPDATE SET commit_position = excluded.commit_position,
                sequence = excluded.sequence, updated_at = excluded.updated_at`.pipe(
            Effect.asVoid,
            Effect.mapError(toStoreError("CheckpointStore.save"))
          ),
        list: sql<{ name: string; commit_position: string; sequence: string }>`
          SELECT name, commit_position::text, sequence::text FROM ${table}.checkpoints ORDER BY name`.pipe(
          Effect.map((rows) => new Map(rows.map((row) => [row.name, toPosition(row)]))),
          Effect.mapError(toStoreError("CheckpointStore.list"))
        ),
        delete: (name) =>
          sql`DELETE FROM ${table}.checkpoints WHERE name = ${name}`.pipe(
            Effect.asVoid,
            Effect.mapError(toStoreError("CheckpointStore.delete"))
          )
      })
    })
  )

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

/**
 * Parked events in `<schema>.dead_letters`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDeadLetterStore = (options?: Options) =>
  Layer.effect(
    DeadLetterStore.DeadLetterStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const table = sql(options?.schema ?? PgSchema.defaultSchema)
      type Row = { projection: string; envelope: StoredEnvelope; error: string; parked_at: Date }
      const toParked = (row: Row): DeadLetterStore.ParkedEvent => ({
        projection: row.projection,
        envelope: loadEnvelope(row.envelope),
        error: row.error,
        parkedAt: DateTime.fromDateUnsafe(row.parked_at)
      })
      return DeadLetterStore.DeadLetterStore.of({
        park: (entry) =>
          sql`INSERT INTO ${table}.dead_letters (projection, event_id, envelope, error, commit_position, sequence)
              VALUES (${entry.projection}, ${entry.envelope.eventId}::uuid, ${json(storeEnvelope(entry.envelope))}::json,
                      ${entry.error}, ${entry.envelope.position.commit.toString()}::int8, ${entry.envelope.position.sequence.toString()}::int8)
              ON CONFLICT (projection, event_id) DO UPDATE SET error = excluded.error, parked_at = excluded.parked_at`.pipe(
            Effect.asVoid,
            Effect.mapError(toStoreError("DeadLetterStore.park"))
          ),
        list: (projection) =>
          sql<Row>`SELECT projection, envelope, error, parked_at FROM ${table}.dead_letters
                   ${projection === undefined ? sql.literal("") : sql`WHERE projection = ${projection}`}
                   ORDER BY commit_position, sequence`.pipe(
            Effect.map((rows) => rows.map(toParked)),
            Effect.mapError(toStoreError("DeadLetterStore.list"))
          ),
        get: (projection, eventId) =>
          sql<Row>`SELECT projection, envelope, error, parked_at FROM ${table}.dead_letters
                   WHERE projection = ${projection} AND event_id::text = ${eventId.toLowerCase()}`.pipe(
            Effect.map((rows) => Option.map(Option.fromUndefinedOr(rows[0]), toParked)),
            Effect.mapError(toStoreError("DeadLetterStore.get"))
          ),
        remove: (projection, eventId) =>
          sql`DELETE FROM ${table}.dead_letters WHERE projection = ${projection} AND event_id::text = ${eventId.toLowerCase()}`.pipe(
            Effect.asVoid,
            Effect.mapError(toStoreError("DeadLetterStore.remove"))
          )
      })
    })
  )

/**
 * Runs each projector batch (its read-model writes, parked events and
 * checkpoint) in one SQL transaction; nested calls become savepoints, so a
 * failing event is rolled back alone.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTransaction = Layer.effect(
  Projector.Transaction,
  SqlClient.SqlClient.useSync((sql) => ({
    run: <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError.StoreError, R> =>
      Effect.mapError(sql.withTransaction(effect), (error) =>
        SqlError.isSqlError(error)
          ? new StoreError.StoreError({ operation: "Projector transaction", cause: error })
          : error
      )
  }))
)
