/**
 * The PostgreSQL `SnapshotStore`: snapshots in `<schema>.snapshots`, one per
 * stream, on the `SqlClient` in context.
 *
 * @since 0.1.0
 */
import { SnapshotStore } from "@chronicle/core"
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

/**
 * Snapshots in `<schema>.snapshots`, one per stream; a save never replaces a
 * snapshot of a later stream version.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<SnapshotStore.SnapshotStore, never, SqlClient.SqlClient> =>
  Layer.effect(
    SnapshotStore.SnapshotStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const table = sql(internalOptions.schemaOf(options))
      return SnapshotStore.SnapshotStore.of({
        save: (snapshot) =>
          sql`INSERT INTO ${table}.snapshots AS s (stream, stream_version, schema_version, state)
              VALUES (${snapshot.stream}, ${snapshot.streamVersion}, ${snapshot.schemaVersion}, ${Json.stringify(snapshot.state)}::json)
              ON CONFLICT (stream) DO UPDATE SET stream_version = excluded.stream_version,
                schema_version = excluded.schema_version, state = excluded.state, recorded_at = excluded.recorded_at
              WHERE s.stream_version <= excluded.stream_version`.pipe(Effect.asVoid, mapSqlError("SnapshotStore.save")),
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
            mapSqlError("SnapshotStore.load")
          ),
        delete: (stream) =>
          sql`DELETE FROM ${table}.snapshots WHERE stream = ${stream}`.pipe(
            Effect.asVoid,
            mapSqlError("SnapshotStore.delete")
          )
      })
    })
  )
