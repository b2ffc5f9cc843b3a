/**
 * The PostgreSQL `StreamLifecycle` service: deleting, trimming, archiving and
 * restoring streams (see `StreamLifecycle` in @chronicle/core), on the
 * `SqlClient` in context.
 *
 * Each action is one transaction (or part of the caller's, as a savepoint):
 * it takes the stream's lock, as an append does, reads the stream's row,
 * decides, and then makes the change in one statement.
 *
 * - **delete** removes the stream's events (hot and archived) and marks the
 *   row `deleted`, with `removed_before` one past its version and
 *   `removed_hash` its last hash: appends and reads then fail with
 *   `StreamDeleted`, and `Integrity.verify` knows the chain ends there.
 * - **trim** removes the events before a version and records the hash of the
 *   last one removed, from which the kept chain goes on.
 * - **archive** moves the events to `events_archive` as they are (positions,
 *   hashes and all), so readers of the stream and of the log see the same
 *   events; the row is `archived`, and appends fail with `StreamArchived`.
 *   **restore** moves them back.
 *
 * @since 0.1.0
 */
import { AppendCheck, EventStore, ExpectedVersion, type StoreError, StreamLifecycle, StreamName } from "@chronicle/core"
import { Effect, Layer, Option } from "effect"
import { SqlClient, type Statement } from "effect/sql"
import * as internalOptions from "./internal/options.ts"
import { mapSqlError } from "./internal/sqlError.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type Options = internalOptions.Options

/** A stream row as the lifecycle reads it. */
interface StatusRow {
  readonly stream: string
  readonly version: number
  readonly state: "live" | "archived" | "deleted"
  readonly removed_before: number
}

const states = { live: "Live", archived: "Archived", deleted: "Deleted" } as const

const toStatus = (row: StatusRow): StreamLifecycle.Status => ({
  stream: row.stream as StreamName.StreamName,
  version: row.version,
  state: states[row.state],
  removedBefore: row.removed_before
})

/** The columns of a {@link StatusRow}. */
const statusColumns = "stream, version, state, removed_before"

/** A category's streams per page of {@link StreamLifecycle.StreamLifecycle} `list`, by default. */
const defaultListLimit = 1000

/**
 * Builds the service on the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("PgStreamLifecycle.make")(function* (options?: Options) {
  const sql = yield* SqlClient.SqlClient
  const table = sql(internalOptions.schemaOf(options))
  const returning = sql.literal(statusColumns)

  const rowOf = (stream: string) =>
    Effect.map(sql<StatusRow>`SELECT ${returning} FROM ${table}.streams WHERE stream = ${stream}`, ([row]) =>
      Option.fromUndefinedOr(row)
    )

  /**
   * Runs `change` on the stream's row under its lock, in a transaction: a stream never written
   * is not found, a deleted one refuses every action. `change` returns the statement that makes
   * the change, or none when there is nothing to change.
   */
  const transition = <E>(
    operation: string,
    stream: StreamName.StreamName,
    change: (row: StatusRow) => Effect.Effect<Option.Option<Statement.Statement<StatusRow>>, E>
  ): Effect.Effect<
    StreamLifecycle.Status,
    E | EventStore.StreamNotFound | EventStore.StreamDeleted | StoreError.StoreError
  > =>
    !StreamName.isStreamName(stream)
      ? Effect.fail(new EventStore.StreamNotFound({ stream }))
      : sql
          .withTransaction(
            Effect.gen(function* () {
              yield* sql`SELECT pg_advisory_xact_lock(hashtextextended(${stream}, 0))`
              const found = yield* rowOf(stream)
              if (Option.isNone(found)) return yield* new EventStore.StreamNotFound({ stream })
              const row = found.value
              if (row.state === "deleted") {
                return yield* new EventStore.StreamDeleted({ stream, version: row.version })
              }
              const statement = yield* change(row)
              if (Option.isNone(statement)) return toStatus(row)
              const [changed] = yield* statement.value
              return toStatus(changed!)
            })
          )
          .pipe(mapSqlError(operation))

  /** The start of a statement removing the stream's events (hot and archived) that match `condition`. */
  const remove = (stream: string, condition: Statement.Fragment) =>
    sql`WITH hot AS (DELETE FROM ${table}.events WHERE stream = ${stream} AND ${condition}),
      cold AS (DELETE FROM ${table}.events_archive WHERE stream = ${stream} AND ${condition})`

  const deleteStream: StreamLifecycle.StreamLifecycle["Service"]["delete"] = (stream, expectedVersion) =>
    transition("StreamLifecycle.delete", stream, (row) =>
      ExpectedVersion.matches(expectedVersion, row.version)
        ? Effect.succeedSome(
            sql<StatusRow>`${remove(stream, sql.literal("true"))}
            UPDATE ${table}.streams SET state = 'deleted', removed_before = version + 1, removed_hash = hash
            WHERE stream = ${stream} RETURNING ${returning}`
          )
        : Effect.fail(
            new EventStore.WrongExpectedVersion({
              stream,
              expected: ExpectedVersion.format(expectedVersion),
              actualVersion: row.version
            })
          )
    )

  const trim: StreamLifecycle.StreamLifecycle["Service"]["trim"] = (stream, before) =>
    transition("StreamLifecycle.trim", stream, (row) => {
      if (!Number.isInteger(before) || before < 1 || before > row.version) {
        return Effect.fail(new StreamLifecycle.InvalidTrim({ stream, before, version: row.version }))
      }
      if (before <= row.removed_before) return Effect.succeedNone
      // The hash the kept chain goes on from, read (in the statement's snapshot) before the delete.
      return Effect.succeedSome(
        sql<StatusRow>`${remove(stream, sql`stream_version < ${before}`)}
        UPDATE ${table}.streams SET removed_before = ${before}, removed_hash = (
          SELECT hash FROM ${table}.events WHERE stream = ${stream} AND stream_version = ${before - 1}
          UNION ALL
          SELECT hash FROM ${table}.events_archive WHERE stream = ${stream} AND stream_version = ${before - 1}
        )
        WHERE stream = ${stream} RETURNING ${returning}`
      )
    })

  /** Moves a stream's events from one table to the other, keeping every column's value. */
  const move = (stream: string, from: "events" | "events_archive", to: "events" | "events_archive", state: string) => {
    const columns = sql.literal(
      "transaction_id, sequence, event_id, stream, stream_version, category, type, schema_version, data, metadata, recorded_at, append_first, hash"
    )
    // `events.sequence` is an identity column: the archived value goes back as it was.
    const overriding = sql.literal(to === "events" ? "OVERRIDING SYSTEM VALUE" : "")
    return sql<StatusRow>`WITH moved AS (
        DELETE FROM ${table}.${sql(from)} WHERE stream = ${stream} RETURNING ${columns}
      ), copied AS (
        INSERT INTO ${table}.${sql(to)} (${columns}) ${overriding} SELECT ${columns} FROM moved
      )
      UPDATE ${table}.streams SET state = ${state} WHERE stream = ${stream} RETURNING ${returning}`
  }

  const archive: StreamLifecycle.StreamLifecycle["Service"]["archive"] = (stream) =>
    transition("StreamLifecycle.archive", stream, (row) =>
      row.state === "archived"
        ? Effect.succeedNone
        : Effect.succeedSome(move(stream, "events", "events_archive", "archived"))
    )

  const restore: StreamLifecycle.StreamLifecycle["Service"]["restore"] = (stream) =>
    transition("StreamLifecycle.restore", stream, (row) =>
      row.state === "live" ? Effect.succeedNone : Effect.succeedSome(move(stream, "events_archive", "events", "live"))
    )

  const status: StreamLifecycle.StreamLifecycle["Service"]["status"] = (stream) =>
    StreamName.isStreamName(stream)
      ? Effect.map(rowOf(stream), Option.map(toStatus)).pipe(mapSqlError("StreamLifecycle.status"))
      : Effect.succeedNone

  const list: StreamLifecycle.StreamLifecycle["Service"]["list"] = ({ after, category, limit }) => {
    const count = limit === undefined ? defaultListLimit : Math.max(0, Math.trunc(limit) || 0)
    // A category never holds "-"; names PostgreSQL cannot store name no stream.
    if (
      count === 0 ||
      category.includes("-") ||
      !AppendCheck.isStorableText(category) ||
      (after !== undefined && !AppendCheck.isStorableText(after))
    ) {
      return Effect.succeed([])
    }
    // In byte order, the names "<category>-…" are exactly those from "<category>-" to before
    // "<category>." ("." follows "-"): a range of the `streams_name` index.
    return sql<StatusRow>`SELECT ${returning} FROM ${table}.streams
      WHERE stream COLLATE "C" >= ${`${category}-`} AND stream COLLATE "C" < ${`${category}.`}
        ${after === undefined ? sql.literal("") : sql`AND stream COLLATE "C" > ${after}`}
      ORDER BY stream COLLATE "C" LIMIT ${count}`.pipe(
      Effect.map((rows) => rows.map(toStatus)),
      mapSqlError("StreamLifecycle.list")
    )
  }

  return StreamLifecycle.StreamLifecycle.of({
    status,
    list,
    delete: deleteStream,
    trim,
    archive,
    restore
  })
})

/**
 * The `StreamLifecycle` layer on the `SqlClient` in context (the tables are
 * those of `PgSchema` migration 6, which `PgEventStore.layer` applies).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<StreamLifecycle.StreamLifecycle, never, SqlClient.SqlClient> =>
  Layer.effect(StreamLifecycle.StreamLifecycle, make(options))
