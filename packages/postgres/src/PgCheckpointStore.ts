/**
 * The PostgreSQL `CheckpointStore`: checkpoints in `<schema>.checkpoints`, on
 * the `SqlClient` in context. Checkpoints share the database with an app's
 * read models and, inside a projector batch, the transaction: a projector's
 * read-model writes and its checkpoint commit together (exactly-once).
 *
 * @since 0.1.0
 */
import { CheckpointStore, Position } from "@chronicle/core"
import { Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import * as internalOptions from "./internal/options.ts"
import { mapSqlError } from "./internal/sqlError.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type Options = internalOptions.Options

const toPosition = (row: { commit_position: bigint | string; sequence: bigint | string }) =>
  Position.make(BigInt(row.commit_position), BigInt(row.sequence))

/**
 * Checkpoints in `<schema>.checkpoints`; a save with an expected checkpoint
 * is a compare-and-set.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<CheckpointStore.CheckpointStore, never, SqlClient.SqlClient> =>
  Layer.effect(
    CheckpointStore.CheckpointStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const table = sql(internalOptions.schemaOf(options))
      const load = (name: string) =>
        sql<{ commit_position: string; sequence: string }>`
          SELECT commit_position::text, sequence::text FROM ${table}.checkpoints WHERE name = ${name}`.pipe(
          Effect.map((rows) => Option.map(Option.fromUndefinedOr(rows[0]), toPosition)),
          mapSqlError("CheckpointStore.load")
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
            mapSqlError("CheckpointStore.save"),
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
            )
          )
        },
        list: sql<{ name: string; commit_position: string; sequence: string }>`
          SELECT name, commit_position::text, sequence::text FROM ${table}.checkpoints ORDER BY name`.pipe(
          Effect.map((rows) => new Map(rows.map((row) => [row.name, toPosition(row)]))),
          mapSqlError("CheckpointStore.list")
        ),
        delete: (name) =>
          sql`DELETE FROM ${table}.checkpoints WHERE name = ${name}`.pipe(
            Effect.asVoid,
            mapSqlError("CheckpointStore.delete")
          )
      })
    })
  )
