/**
 * Retention for the cluster's message storage: `effect/cluster` keeps every
 * persisted request it processed (workflow runs, their activities and
 * clocks, `Persisted` RPCs) with its replies, in `<prefix>_messages` and
 * `<prefix>_replies`, for ever. This deletes the processed ones older than a
 * retention period, in batches, as a cluster singleton.
 *
 * Only entities with nothing left to process lose their requests: a
 * workflow still running (its `run` request unprocessed, waiting on its
 * deadline, say) keeps its whole journal, the activities it completed
 * included, however old. What a deleted request takes with it: its reply,
 * which deduplicated a repeat of the same primary key (a finished
 * workflow's result, under its idempotency key). A repeat sent after the
 * retention period runs again; keep the period longer than any caller
 * retries, and let the steps be idempotent in the event store (as
 * `TransferWorkflow`'s, keyed `<transferId>/<step>`).
 *
 * Stream entity commands are not persisted (they travel runner to runner):
 * they leave nothing to delete.
 *
 * @example
 * ```ts
 * import { MessageRetention } from "@chronicle/cluster"
 *
 * // on every runner: one of them runs it at a time
 * const RetentionLive = MessageRetention.layer({ olderThan: "7 days" })
 * ```
 *
 * @since 0.1.0
 */
import { Duration, Effect, type Layer, Schedule } from "effect"
import { MachineId, type Sharding, Singleton, Snowflake } from "effect/cluster"
import { SqlClient, type SqlError } from "effect/sql"

/**
 * What to delete: processed requests older than `olderThan`, from the
 * tables named with `prefix` (the cluster's default: `cluster`), at most
 * `batchSize` requests per statement (default 1 000).
 *
 * @since 0.1.0
 * @category models
 */
export interface PurgeOptions {
  readonly olderThan: Duration.Input
  readonly prefix?: string | undefined
  readonly batchSize?: number | undefined
}

/**
 * Deletes the processed requests older than `olderThan` with their other
 * messages and replies, batch after batch until none is left, and returns
 * how many requests it deleted.
 *
 * @since 0.1.0
 * @category purging
 */
export const purge = Effect.fn("MessageRetention.purge")(function* (options: PurgeOptions) {
  const sql = yield* SqlClient.SqlClient
  const prefix = options.prefix ?? "cluster"
  const batchSize = options.batchSize ?? 1000
  // Request ids are snowflakes, which begin with their creation time: older ids are smaller.
  const before = Snowflake.make({
    timestamp: Date.now() - Duration.toMillis(options.olderThan),
    machineId: MachineId.make(0),
    sequence: 0
  })
  const messages = sql(`${prefix}_messages`)
  const replies = sql(`${prefix}_replies`)
  let deleted = 0
  while (true) {
    const [batch] = yield* sql<{ readonly requests: number }>`
      WITH done AS (
        SELECT m.request_id FROM ${messages} m
        WHERE m.kind = 0 AND m.processed AND m.id < ${String(before)}::bigint
          AND NOT EXISTS (
            SELECT FROM ${messages} u
            WHERE u.entity_type = m.entity_type AND u.entity_id = m.entity_id AND NOT u.processed
          )
        ORDER BY m.id LIMIT ${batchSize}
      ), messages AS (
        DELETE FROM ${messages} m USING done WHERE m.request_id = done.request_id RETURNING 1
      ), replies AS (
        DELETE FROM ${replies} r USING done WHERE r.request_id = done.request_id RETURNING 1
      )
      SELECT (SELECT count(*) FROM done)::int AS requests`
    const requests = batch?.requests ?? 0
    deleted += requests
    if (requests < batchSize) return deleted
  }
}) satisfies (options: PurgeOptions) => Effect.Effect<number, SqlError.SqlError, SqlClient.SqlClient>

/**
 * The options of {@link layer}: {@link PurgeOptions}, and how often to purge
 * (default every hour).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends PurgeOptions {
  readonly every?: Duration.Input | undefined
}

/**
 * Purges the message storage now and then every `every`, as the cluster
 * singleton `chronicle/message-retention` (one runner at a time), logging
 * what it deleted. A failed purge is logged and tried again next time.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<never, never, Sharding.Sharding | SqlClient.SqlClient> =>
  Singleton.make(
    "chronicle/message-retention",
    purge(options).pipe(
      Effect.tap((requests) =>
        requests === 0 ? Effect.void : Effect.logInfo(`Chronicle: deleted ${requests} processed cluster requests`)
      ),
      Effect.catch((error) => Effect.logWarning("Chronicle: purging the cluster's message storage failed", error)),
      Effect.repeat(Schedule.spaced(options.every ?? "1 hour"))
    )
  )
