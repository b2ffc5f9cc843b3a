/**
 * The PostgreSQL `SnapshotStore`, `CheckpointStore` and `DeadLetterStore`,
 * and the `UnitOfWork`, on the `SqlClient` in context.
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
  type StreamName,
  UnitOfWork
} from "@chronicle/core"
import { PgClient, PgConnection } from "@effect/sql-pg"
import { DateTime, Effect, Layer, Option, Schedule } from "effect"
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
      const load = (name: string) =>
        sql<{ commit_position: string; sequence: string }>`
          SELECT commit_position::text, sequence::text FROM ${table}.checkpoints WHERE name = ${name}`.pipe(
          Effect.map((rows) => Option.map(Option.fromUndefinedOr(rows[0]), toPosition)),
          Effect.mapError(toStoreError("CheckpointStore.load"))
        )
      return CheckpointStore.CheckpointStore.of({
        load,
        save: (name, position, expected) => {
          const commit = position.commit.toString()
          const sequence = position.sequence.toString()
          const write =
            expected === undefined
              ? sql`INSERT INTO ${table}.checkpoints (name, commit_position, sequence)
                    VALUES (${name}, ${commit}::int8, ${sequence}::int8)
                    ON CONFLICT (name) DO UPDATE SET commit_position = excluded.commit_position,
                      sequence = excluded.sequence, updated_at = excluded.updated_at
                    RETURNING name`
              : Option.match(expected, {
                  onNone: () =>
                    sql`INSERT INTO ${table}.checkpoints (name, commit_position, sequence)
                        VALUES (${name}, ${commit}::int8, ${sequence}::int8)
                        ON CONFLICT (name) DO NOTHING RETURNING name`,
                  onSome: (from) =>
                    sql`UPDATE ${table}.checkpoints
                        SET commit_position = ${commit}::int8, sequence = ${sequence}::int8, updated_at = statement_timestamp()
                        WHERE name = ${name} AND commit_position = ${from.commit.toString()}::int8
                          AND sequence = ${from.sequence.toString()}::int8
                        RETURNING name`
                })
          return write.pipe(
            Effect.flatMap((rows) =>
              rows.length > 0 || expected === undefined
                ? Effect.void
                : Effect.flatMap(load(name), (actual) =>
                    Effect.fail(
                      new CheckpointStore.CheckpointConflict({
                        name,
                        expected: CheckpointStore.formatOption(expected),
                        actual: CheckpointStore.formatOption(actual)
                      })
                    )
                  )
            ),
            Effect.catchTag("SqlError", (e) => Effect.fail(toStoreError("CheckpointStore.save")(e)))
          )
        },
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
 * Projection leases on PostgreSQL session advisory locks: of several
 * processes running the same projectors on one database, each projection runs
 * in exactly one. A waiting process polls for the lock and takes over within
 * about a second of the holder's session ending (crash, kill, network loss);
 * the holder checks its session every two seconds and stops when it is gone.
 *
 * Each lease is a session of its own, opened with the `PgClient`'s settings
 * but outside its pool, and the lock lives exactly as long as that session:
 * closing it (when the lease's scope closes, whether the projector stops,
 * fails or is interrupted mid-acquisition) frees the lease. A pooled
 * connection could go back to the pool still holding the lock, leaving the
 * lease taken for good. Count one connection per running projector against
 * the server's `max_connections`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLease = (options?: Options) =>
  Layer.effect(
    Projector.Lease,
    PgClient.PgClient.useSync((pg) => {
      const schema = options?.schema ?? PgSchema.defaultSchema
      return {
        acquire: (name: string) =>
          Effect.gen(function* () {
            const session = yield* PgConnection.make(pg.config)
            const key = `chronicle-projection:${schema}:${name}`
            yield* session.query("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked", [key]).pipe(
              Effect.flatMap((result) =>
                result.rows[0]?.locked === true ? Effect.void : Effect.fail("busy" as const)
              ),
              Effect.retry({ while: (e) => e === "busy", schedule: Schedule.spaced("500 millis") })
            )
            return session.query("SELECT 1").pipe(
              Effect.delay("2 seconds"),
              Effect.forever,
              Effect.mapError(() => new Projector.LeaseLost({ projection: name }))
            )
          }).pipe(Effect.mapError((cause) => new StoreError.StoreError({ operation: "Projector lease", cause })))
      }
    })
  )

/**
 * The `UnitOfWork` as a SQL transaction on the `SqlClient` in context: an
 * append and its inline projections, or a projector batch (read-model writes,
 * parked events and checkpoint), commit together. Nested units become
 * savepoints, so a failing event is rolled back alone.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerUnitOfWork = Layer.effect(
  UnitOfWork.UnitOfWork,
  SqlClient.SqlClient.useSync((sql) => ({
    active: Effect.map(Effect.serviceOption(sql.transactionService), Option.isSome),
    run: <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError.StoreError, R> =>
      Effect.mapError(sql.withTransaction(effect), (error) =>
        SqlError.isSqlError(error) ? new StoreError.StoreError({ operation: "UnitOfWork", cause: error }) : error
      )
  }))
)
