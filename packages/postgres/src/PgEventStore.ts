/**
 * The PostgreSQL event store: the core `EventStore` service on an
 * `effect/sql` `SqlClient` (from `@effect/sql-pg`), so an app can share one
 * pool — and one transaction — between the store and its own tables.
 *
 * - An append is one statement: under the stream's lock it inserts the first
 *   event at the version after the stream's with `ON CONFLICT DO NOTHING`,
 *   then the others and the stream row. When that writes nothing (a repeat, a
 *   duplicate id, a stale or wrong expected version, or a transaction that
 *   wrote before), the `append` SQL function decides, under the stream's
 *   lock: idempotency, log order, expected version. The common append costs
 *   about what a hand-written insert does; the others, one more round trip.
 *   Both chain each event's hash to its stream's under that lock (tamper
 *   evidence: see `PgIntegrity` and `Integrity` in @chronicle/core).
 * - `appendMany` goes through the function, which locks all its streams, in
 *   name order, before its first write.
 * - After the commit the store wakes this process's subscriptions at once and
 *   sends a `NOTIFY` for the others, outside the append's transaction and at
 *   most one per `notifyInterval` (default 10 ms): other processes hear of an
 *   append up to that much later (or at their next poll).
 * - Appends also work inside the caller's `sql.withTransaction`. Make them the
 *   transaction's first writes (or use `appendMany` for several streams): an
 *   append after the transaction's own writes fails with `LogOrderConflict`
 *   when another writer committed to the stream meanwhile (see `PgSchema` on
 *   why); then retry the whole transaction.
 * - The global log is read in batches below the oldest running transaction,
 *   ordered by (transaction id, sequence): never skipping a late commit.
 * - Lifecycle actions (`PgStreamLifecycle`): an append to a deleted stream
 *   fails with `StreamDeleted`, to an archived one with `StreamArchived`,
 *   writing nothing. Reading a stream is one query; only when it finds no
 *   event does one more ask the stream's row whether it is deleted (then
 *   `StreamDeleted`) or archived (then it reads `events_archive`, the same
 *   rows). The global log, subscriptions and `head` read both tables, each
 *   batch one limited index scan per table merged in log order. An append
 *   that waited for the stream's lock while an action committed is decided
 *   again; inside the caller's transaction it cannot be (its statement failed,
 *   aborting the transaction), so it fails with a `StoreError` (a
 *   serialization failure): retry the whole transaction, which then meets
 *   `StreamDeleted`, `StreamArchived` or a trimmed stream's next version.
 * - Subscriptions catch up in batches, then wait for `LISTEN` wake-ups with a
 *   polling fallback; a dropped listener connection is re-established, and
 *   since reading is by position nothing is lost or repeated.
 *
 * @since 0.1.0
 */
import { AppendCheck, EventStore, Observability, Position, ReadCheck, StreamName } from "@chronicle/core"
import { PgClient } from "@effect/sql-pg"
import { Array as Arr, Deferred, Duration, Effect, Layer, Metric, Option, Result, Schedule, Stream } from "effect"
import { SqlClient, type SqlError, type Statement } from "effect/sql"
import * as Append from "./internal/append.ts"
import { type EventRow, columns, storedColumns, toEnvelope } from "./internal/eventRows.ts"
import * as internalOptions from "./internal/options.ts"
import { isServerUnavailable, mapSqlError } from "./internal/sqlError.ts"
import * as WakeUps from "./internal/wakeUps.ts"
import * as PgSchema from "./PgSchema.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends internalOptions.Options {
  /** The size limit of one event's JSON, checked before the database (default 1 MiB). */
  readonly maxEventBytes?: number | undefined
  /** Events fetched per round trip when reading (default 1000). */
  readonly batchSize?: number | undefined
  /** How often a caught-up subscription polls when no `NOTIFY` arrives (default 1 s). */
  readonly pollInterval?: Duration.Input | undefined
  /**
   * At most one `NOTIFY` per interval (default 10 ms): other processes' subscribers learn of
   * an append up to this much later; this process's, at once.
   */
  readonly notifyInterval?: Duration.Input | undefined
  /** Run the migrations when the layer is built (default true). */
  readonly migrate?: boolean | undefined
  /** How often to update {@link horizonStalledSeconds} (default 5 s). */
  readonly horizonInterval?: Duration.Input | undefined
}

/**
 * The stalled-log-horizon signal: for how many seconds committed events have
 * been held back from readers because an older transaction is still open
 * (readers see the log only below the oldest running transaction; 0 when
 * they see every commit). Growing values mean one long transaction keeps
 * every subscription and projection waiting: find it in `pg_stat_activity`
 * (oldest `xact_start` with a `backend_xid`) and end it.
 *
 * @since 0.1.0
 * @category observability
 */
export const horizonStalledSeconds = Metric.gauge("chronicle_log_horizon_stalled_seconds", {
  description: "Seconds committed events have waited behind an older open transaction (0: readers see every commit)"
})

/** The tables events are read from: the hot one, and the archive (see `PgStreamLifecycle`). */
type Table = "events" | "events_archive"

/** Failed subscription reads (250 ms apart) before a warning. */
const outageWarning = 8

/**
 * Builds the store on the `SqlClient` (and `PgClient`, for `LISTEN`) in
 * context. Runs the migrations first unless `migrate: false`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("PgEventStore.make")(function* (options?: Options) {
  const sql = yield* SqlClient.SqlClient
  const pg = yield* PgClient.PgClient
  const schema = internalOptions.schemaOf(options)
  const maxEventBytes = options?.maxEventBytes ?? EventStore.defaultMaxEventBytes
  const defaultBatch = ReadCheck.batchSize(options?.batchSize, 1000)
  const pollInterval = Duration.fromInputUnsafe(options?.pollInterval ?? "1 second")
  const notifyInterval = Duration.fromInputUnsafe(options?.notifyInterval ?? "10 millis")
  if (options?.migrate !== false) yield* PgSchema.migrate(schema)

  const wakeUps = yield* WakeUps.make(sql, pg, schema, notifyInterval)

  // The oldest committed event readers cannot see yet: how long the horizon has been stuck.
  const stalled = Metric.withAttributes(horizonStalledSeconds, { schema })
  yield* sql<{ seconds: number }>`
    SELECT coalesce(extract(epoch FROM clock_timestamp() - min(recorded_at)), 0)::float8 AS seconds
    FROM ${sql(schema)}.events WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot())`.pipe(
    Effect.flatMap(([row]) => Metric.update(stalled, row?.seconds ?? 0)),
    Effect.ignore,
    Effect.repeat(Schedule.spaced(options?.horizonInterval ?? "5 seconds")),
    Effect.forkScoped
  )

  const append: EventStore.EventStore["Service"]["append"] = (stream, events, expectedVersion) => {
    const part = { stream, events, expectedVersion }
    const checked = AppendCheck.check(part, maxEventBytes)
    if (Result.isFailure(checked)) return Effect.fail(checked.failure)
    return Append.one(sql, schema, { append: part, events: checked.success }).pipe(
      Effect.tap(() => wakeUps.announce),
      mapSqlError("EventStore.append")
    )
  }

  const appendMany: EventStore.EventStore["Service"]["appendMany"] = (appends) => {
    // Every part is checked before any SQL runs.
    const checked = AppendCheck.checkMany(appends, maxEventBytes)
    if (Result.isFailure(checked)) return Effect.fail(checked.failure)
    const order = checked.success
      .map((part, i) => [part, i] as const)
      .sort(([a], [b]) => (a.append.stream < b.append.stream ? -1 : a.append.stream > b.append.stream ? 1 : 0))
    // The first append takes every stream's lock before it writes: the transaction then gets its
    // id after every writer it waited for, and each stream stays in version order in the log.
    const streams = order.length > 1 ? order.map(([part]) => part.append.stream) : []
    return sql
      .withTransaction(
        Effect.map(
          Effect.forEach(order, ([part], i) => Append.checked(sql, schema, part, i === 0 ? streams : [])),
          (results) => {
            const inInputOrder: Array<EventStore.AppendResult> = new Array(appends.length)
            order.forEach(([, index], i) => {
              inInputOrder[index] = results[i]!
            })
            return inInputOrder
          }
        )
      )
      .pipe(
        Effect.tap(() => wakeUps.announce),
        mapSqlError("EventStore.appendMany")
      )
  }

  const selected = sql.literal(columns)
  const stored = sql.literal(storedColumns)

  /** One page of a stream from `table` (the hot events or the archive). */
  const streamPage = (table: Table, stream: string, backward: boolean, from: number, limit: number) =>
    backward
      ? sql<EventRow>`SELECT ${selected} FROM ${sql(schema)}.${sql(table)}
          WHERE stream = ${stream} AND stream_version <= ${from}
          ORDER BY stream_version DESC LIMIT ${limit}`
      : sql<EventRow>`SELECT ${selected} FROM ${sql(schema)}.${sql(table)}
          WHERE stream = ${stream} AND stream_version >= ${from}
          ORDER BY stream_version LIMIT ${limit}`

  /**
   * Where a stream whose page came back empty is read from (one more query, only then): nowhere
   * when it is deleted, the archive when it is archived, else the hot events.
   */
  const tableOf = (stream: StreamName.StreamName) =>
    Effect.flatMap(
      sql<{
        state: string
        version: number
      }>`SELECT state, version FROM ${sql(schema)}.streams WHERE stream = ${stream}`,
      ([row]): Effect.Effect<Table, EventStore.StreamDeleted> =>
        row?.state === "deleted"
          ? Effect.fail(new EventStore.StreamDeleted({ stream, version: row.version }))
          : Effect.succeed(row?.state === "archived" ? "events_archive" : "events")
    )

  const readStream = (stream: StreamName.StreamName, readOptions?: EventStore.ReadStreamOptions) => {
    const { direction, from, maxCount: max } = ReadCheck.streamRange(readOptions)
    // A name no append accepts is a stream that does not exist (PostgreSQL cannot even compare some).
    if (max === 0 || !StreamName.isStreamName(stream)) return Stream.empty
    const backward = direction === "backward"
    return Stream.paginate({ from, read: 0, table: "events" as Table }, (cursor) =>
      Effect.gen(function* () {
        const limit = Math.min(defaultBatch, max - cursor.read)
        let table = cursor.table
        let rows = yield* streamPage(table, stream, backward, cursor.from, limit)
        // Archived or restored since the last page (or before the first): the events moved.
        if (rows.length === 0) {
          const current = yield* tableOf(stream)
          if (current !== table) {
            table = current
            rows = yield* streamPage(table, stream, backward, cursor.from, limit)
          }
        }
        const read = cursor.read + rows.length
        const last = rows[rows.length - 1]
        const more = rows.length === limit && read < max && last !== undefined
        return [
          rows.map(toEnvelope),
          more
            ? Option.some({ from: backward ? last.stream_version - 1 : last.stream_version + 1, read, table })
            : Option.none()
        ] as const
      }).pipe(mapSqlError("EventStore.readStream"))
    )
  }

  /**
   * The rows of the hot events and of the archive that match `where`, merged in `order`: each
   * table's index scan stops at `limit`, and the two are merged (a `Merge Append`, not a sort).
   */
  const bothTables = (
    select: Statement.Fragment,
    where: Statement.Fragment,
    order: Statement.Fragment,
    limit: number
  ) =>
    sql<EventRow>`SELECT ${select} FROM (
        (SELECT ${stored} FROM ${sql(schema)}.events e WHERE ${where} ORDER BY ${order} LIMIT ${limit})
        UNION ALL
        (SELECT ${stored} FROM ${sql(schema)}.events_archive e WHERE ${where} ORDER BY ${order} LIMIT ${limit})
      ) e
      ORDER BY ${order} LIMIT ${limit}`

  /**
   * A partition's streams only: the hash stored on the stream's row (the
   * function itself for an event whose row is gone), modulo the count.
   */
  const partitionFilter = (requested: EventStore.ReadAllOptions["partition"]) => {
    const partition = ReadCheck.partition(requested)
    return partition === "all"
      ? sql.literal("")
      : partition === "none"
        ? sql.literal("AND false")
        : sql`AND coalesce(
          (SELECT st.partition_hash FROM ${sql(schema)}.streams st WHERE st.stream = e.stream),
          ${sql(schema)}.partition_hash(e.stream)
        ) % ${partition.count} = ${partition.index}`
  }

  /** One batch of the global log after `after`, below the oldest running transaction. */
  const logPage = (after: Position.Position, filter: EventStore.ReadAllOptions | undefined, limit: number) => {
    // Names PostgreSQL cannot store faithfully match no event.
    const categories = filter?.categories?.filter(AppendCheck.isStorableText)
    const types = filter?.types?.filter(AppendCheck.isStorableText)
    return bothTables(
      selected,
      sql`(transaction_id, sequence) > (${after.commit.toString()}::xid8, ${after.sequence.toString()}::int8)
        AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ${categories === undefined ? sql.literal("") : sql`AND category = ANY(${categories}::text[])`}
        ${types === undefined ? sql.literal("") : sql`AND type = ANY(${types}::text[])`}
        ${partitionFilter(filter?.partition)}`,
      sql.literal("transaction_id, sequence"),
      limit
    ).pipe(Effect.map(Arr.map(toEnvelope)))
  }

  const head = bothTables(
    sql.literal("transaction_id::text AS commit, sequence"),
    sql`transaction_id < pg_snapshot_xmin(pg_current_snapshot())`,
    sql.literal("transaction_id DESC, sequence DESC"),
    1
  ).pipe(
    Effect.map((rows) =>
      rows[0] === undefined ? Position.start : Position.make(BigInt(rows[0].commit), BigInt(rows[0].sequence))
    ),
    mapSqlError("EventStore.head")
  )

  const readAll = (readOptions?: EventStore.ReadAllOptions) =>
    Stream.unwrap(
      Effect.map(head, (until) => {
        const batch = ReadCheck.batchSize(readOptions?.batchSize, defaultBatch)
        return Stream.paginate(ReadCheck.after(readOptions?.after), (after) =>
          logPage(after, readOptions, batch).pipe(
            Effect.map((envelopes) => {
              const upToHead = envelopes.filter((e) => !Position.isAfter(e.position, until))
              const last = upToHead[upToHead.length - 1]
              return [
                upToHead,
                last !== undefined && upToHead.length === batch && Position.isAfter(until, last.position)
                  ? Option.some(last.position)
                  : Option.none()
              ] as const
            }),
            mapSqlError("EventStore.readAll")
          )
        )
      })
    )

  const subscribe = (readOptions?: EventStore.SubscribeOptions) => {
    const batch = ReadCheck.batchSize(readOptions?.batchSize, defaultBatch)
    return Stream.paginate(readOptions?.after, (from) =>
      Effect.gen(function* () {
        const after = ReadCheck.after(from)
        const wakeUp = wakeUps.next()
        // Reading is by position, so after a lost connection the page is simply read again:
        // the subscription waits out an outage instead of failing, and loses or repeats nothing.
        // Only an outage that lasts is worth a warning: a server shutting down with the app (a
        // Ctrl-C reaches both) or restarting drops connections for a moment.
        let failures = 0
        const envelopes = yield* logPage(after, readOptions, batch).pipe(
          Effect.tapError((error) =>
            ++failures === outageWarning
              ? Effect.logWarning("Chronicle: subscription reads have failed for 2 seconds; retrying", error.message)
              : Effect.logDebug("Chronicle: subscription read failed; retrying", error.message)
          ),
          Effect.retry({ while: isServerUnavailable, schedule: Schedule.spaced("250 millis") })
        )
        if (envelopes.length === 0) {
          // Caught up: wait for a NOTIFY, or poll (a long transaction may have held the log back).
          if (readOptions?.onCaughtUp !== undefined) yield* readOptions.onCaughtUp
          yield* Effect.timeoutOption(Deferred.await(wakeUp), pollInterval)
          return [envelopes, Option.some(after)] as const
        }
        return [envelopes, Option.some(envelopes[envelopes.length - 1]!.position)] as const
      }).pipe(mapSqlError("EventStore.subscribe"))
    )
  }

  return EventStore.EventStore.of(
    Observability.instrument({
      append,
      appendMany,
      readStream,
      streamVersion: (stream) =>
        StreamName.isStreamName(stream)
          ? sql<{ version: number }>`SELECT version FROM ${sql(schema)}.streams WHERE stream = ${stream}`.pipe(
              Effect.map((rows) => rows[0]?.version ?? -1),
              mapSqlError("EventStore.streamVersion")
            )
          : Effect.succeed(-1),
      readAll,
      subscribe,
      head
    })
  )
})

/**
 * The `EventStore` layer on the `PgClient` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<EventStore.EventStore, SqlError.SqlError, PgClient.PgClient | SqlClient.SqlClient> =>
  Layer.effect(EventStore.EventStore, make(options))
