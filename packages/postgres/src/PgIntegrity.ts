/**
 * The PostgreSQL `Integrity` service: the stored hash chains, as
 * `Integrity.verify` in @chronicle/core checks them. The append statements
 * chain each stream under its lock (migration 4 in `PgSchema`); this module
 * only reads what is stored: each event's hash, its data and metadata as
 * their stored JSON text and its recorded-at time in microseconds, with its
 * stream row (version and last hash), in (stream, version) order, by keyset
 * pages on the (stream, stream_version) key; then the stream rows no event
 * goes with. Archived events (`events_archive`) are listed with the hot ones,
 * merged in the same order, and each head carries its stream's lawful-removal
 * marker (`removed_before`, `removed_hash`: see `PgStreamLifecycle`), from
 * which `verify` checks the chain. Pages are separate statements, not one long transaction, so
 * verifying never holds the log's readers back; a stream appended to
 * meanwhile is read with its newer head.
 *
 * @since 0.1.0
 */
import { Integrity, type StoreError, StreamName } from "@chronicle/core"
import { Effect, Layer, Option, Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as internalOptions from "./internal/options.ts"
import { mapSqlError } from "./internal/sqlError.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends internalOptions.Options {
  /** Rows read per round trip (default 1000). */
  readonly batchSize?: number | undefined
}

/** A stream row's head, with its lawful-removal marker. */
interface HeadColumns {
  readonly head_version: number | null
  readonly head_hash: Uint8Array | null
  readonly removed_before: number | null
  readonly removed_hash: Uint8Array | null
}

/** An event row with its stream row, as verification reads it. */
interface LinkRow extends HeadColumns {
  readonly event_id: string
  readonly stream: string
  readonly stream_version: number
  readonly type: string
  readonly schema_version: number
  readonly data: string
  readonly metadata: string
  readonly recorded_at: string
  readonly hash: Uint8Array | null
}

interface HeadRow extends HeadColumns {
  readonly stream: string
}

const toHead = (stream: string, row: HeadColumns): Integrity.StreamHead | undefined =>
  row.head_version === null
    ? undefined
    : {
        stream,
        version: row.head_version,
        hash: row.head_hash,
        removedBefore: row.removed_before ?? 0,
        removedHash: row.removed_hash
      }

const toLink = (row: LinkRow): Integrity.Link => ({
  _tag: "Event",
  event: {
    eventId: row.event_id,
    stream: row.stream,
    streamVersion: row.stream_version,
    type: row.type,
    schemaVersion: row.schema_version,
    data: row.data,
    metadata: row.metadata,
    recordedAtMicros: BigInt(row.recorded_at),
    hash: row.hash
  },
  head: toHead(row.stream, row)
})

/**
 * Builds the service on the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("PgIntegrity.make")(function* (options?: Options) {
  const sql = yield* SqlClient.SqlClient
  const table = sql(internalOptions.schemaOf(options))
  const limit = options?.batchSize ?? 1000

  /** Pages of `page(after)`, each after the last row of the one before, until one is short. */
  const pages = <Row, Cursor>(
    start: Cursor,
    page: (after: Cursor) => Effect.Effect<ReadonlyArray<Row>, SqlError.SqlError>,
    cursorOf: (row: Row) => Cursor
  ): Stream.Stream<Row, StoreError.StoreError> =>
    Stream.paginate(start, (after) =>
      page(after).pipe(
        Effect.map((rows) => {
          const last = rows[rows.length - 1]
          const more = rows.length === limit && last !== undefined
          return [rows, more ? Option.some(cursorOf(last)) : Option.none()] as const
        }),
        mapSqlError("Integrity.links")
      )
    )

  const headColumns = sql.literal(
    "st.version AS head_version, st.hash AS head_hash, st.removed_before, st.removed_hash"
  )

  /** The events of the hot table and of the archive (a stream's are in one or the other), merged. */
  const eventPage = (stream: StreamName.StreamName | undefined, after: { stream: string; version: number }) => {
    const branch = (events: "events" | "events_archive") => sql`
      SELECT e.event_id, e.stream, e.stream_version, e.type, e.schema_version, e.data::text AS data,
             e.metadata::text AS metadata, (extract(epoch FROM e.recorded_at) * 1000000)::int8::text AS recorded_at,
             e.hash, ${headColumns}
      FROM ${table}.${sql(events)} e LEFT JOIN ${table}.streams st ON st.stream = e.stream
      WHERE ${
        stream === undefined
          ? sql`(e.stream, e.stream_version) > (${after.stream}, ${after.version})`
          : sql`e.stream = ${stream} AND e.stream_version > ${after.version}`
      }
      ORDER BY e.stream, e.stream_version LIMIT ${limit}`
    // Each table's scan stops at the page's size; the two are merged (a `Merge Append`).
    return sql<LinkRow>`(${branch("events")}) UNION ALL (${branch("events_archive")})
      ORDER BY stream, stream_version LIMIT ${limit}`
  }

  /** Stream rows no event goes with (a deleted stream's, for one). */
  const headPage = (stream: StreamName.StreamName | undefined, after: string) =>
    sql<HeadRow>`
      SELECT st.stream, ${headColumns} FROM ${table}.streams st
      WHERE st.stream > ${after} ${stream === undefined ? sql.literal("") : sql`AND st.stream = ${stream}`}
        AND NOT EXISTS (SELECT FROM ${table}.events e WHERE e.stream = st.stream)
        AND NOT EXISTS (SELECT FROM ${table}.events_archive e WHERE e.stream = st.stream)
      ORDER BY st.stream LIMIT ${limit}`

  const links = (stream?: StreamName.StreamName): Stream.Stream<Integrity.Link, StoreError.StoreError> => {
    // A name no append accepts names no stored stream (PostgreSQL cannot even compare some).
    if (stream !== undefined && !StreamName.isStreamName(stream)) return Stream.empty
    const events = pages(
      { stream: "", version: -1 },
      (after) => eventPage(stream, after),
      (row) => ({ stream: row.stream, version: row.stream_version })
    ).pipe(Stream.map(toLink))
    const heads = pages(
      "",
      (after) => headPage(stream, after),
      (row) => row.stream
    ).pipe(Stream.map((row): Integrity.Link => ({ _tag: "Head", head: toHead(row.stream, row)! })))
    return Stream.concat(events, heads)
  }

  return Integrity.Integrity.of({
    links,
    size: (stream) =>
      stream !== undefined && !StreamName.isStreamName(stream)
        ? Effect.succeed(0)
        : sql<{ total: string }>`
        SELECT coalesce(sum(version + 1 - removed_before), 0)::text AS total FROM ${table}.streams
        ${stream === undefined ? sql.literal("") : sql`WHERE stream = ${stream}`}`.pipe(
            Effect.map((rows) => Number(rows[0]?.total ?? 0)),
            mapSqlError("Integrity.size")
          )
  })
})

/**
 * The `Integrity` layer on the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Integrity.Integrity, never, SqlClient.SqlClient> =>
  Layer.effect(Integrity.Integrity, make(options))
