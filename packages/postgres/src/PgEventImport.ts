/**
 * The PostgreSQL import (the core `EventImport` service): bulk writes of
 * events into new streams with their ids, versions, recorded-at times and
 * metadata as given, the stream rows and hash chains in step.
 *
 * A batch is one transaction: it takes its streams' advisory locks (as
 * appends take them, in name order, so an append to one of those streams
 * waits for the batch or the batch for it), reads the streams' rows and
 * whether they have events, inserts the events with an
 * `INSERT … SELECT FROM unnest(…)` per chunk of 2 500, in the order given (so
 * the log reads them in that order, after everything before), and writes the
 * stream rows. The hashes are computed here, with node:crypto, over the bytes
 * `Integrity.hashInput` gives for exactly the JSON text stored, each chunk's
 * while the server inserts the chunk before. After the commit
 * it sends the schema's `NOTIFY`, so subscriptions read the batch at once.
 *
 * Why not `COPY … FROM STDIN`: `@effect/sql-pg` speaks the wire protocol
 * itself and refuses `COPY` ("COPY is not supported"); a second driver for it
 * would write outside the caller's pool and transaction.
 *
 * @since 0.1.0
 */
import { EventImport, EventStore, Integrity, StreamName } from "@chronicle/core"
import { PgClient } from "@effect/sql-pg"
import { DateTime, Effect, Fiber, Layer } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { hash as oneShotHash } from "node:crypto"
import * as internalOptions from "./internal/options.ts"
import { mapSqlError } from "./internal/sqlError.ts"
import * as PgSchema from "./PgSchema.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends internalOptions.Options {
  /** The size limit of one event's JSON, as the event store's (default 1 MiB). */
  readonly maxEventBytes?: number | undefined
}

/** A batch stream's row, read under its lock. */
interface StreamRow {
  readonly stream: string
  readonly version: number | null
  readonly hash: Uint8Array | null
  readonly has_events: boolean
}

const genesis = Buffer.from(Integrity.genesis)

/**
 * Events per `INSERT` within a batch (the batch stays one transaction): small enough that the
 * hashing of the next chunk overlaps the server's work on this one, large enough that the
 * statements' fixed costs stay small.
 */
const chunkSize = 2_500

/**
 * Builds the import on the `SqlClient` (and `PgClient`, for the `NOTIFY`) in
 * context. The tables must exist (the event store's layer migrates them).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("PgEventImport.make")(function* (options?: Options) {
  const sql = yield* SqlClient.SqlClient
  const pg = yield* PgClient.PgClient
  const schema = internalOptions.schemaOf(options)
  const s = PgSchema.quote(schema)
  const channel = PgSchema.channel(schema)

  const lockText = `SELECT count(*)::int4 AS locked FROM (
      SELECT pg_advisory_xact_lock(hashtextextended(l.stream, 0))
      FROM (SELECT stream FROM unnest($1::text[]) AS u(stream) ORDER BY stream COLLATE "C" OFFSET 0) AS l
    ) AS locks`
  const streamsText = `SELECT u.stream, st.version, st.hash,
      EXISTS (SELECT FROM ${s}.events e WHERE e.stream = u.stream) AS has_events
    FROM unnest($1::text[]) AS u(stream) LEFT JOIN ${s}.streams st ON st.stream = u.stream`
  const insertText = `INSERT INTO ${s}.events
      (event_id, stream, stream_version, append_first, category, type, schema_version, data, metadata, recorded_at, hash)
    SELECT u.id, u.stream, u.version, u.first, u.category, u.type, u.schema_version, u.data::json, u.metadata::json,
      u.recorded_at, u.hash
    FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::int4[], $5::text[], $6::text[], $7::int4[], $8::text[],
      $9::text[], $10::timestamptz[], $11::bytea[])
      WITH ORDINALITY AS u(id, stream, version, first, category, type, schema_version, data, metadata, recorded_at, hash, ord)
    ORDER BY u.ord`
  const streamRowsText = `INSERT INTO ${s}.streams AS st (stream, version, hash)
    SELECT u.stream, u.version, u.hash FROM unnest($1::text[], $2::int4[], $3::bytea[]) AS u(stream, version, hash)
    ON CONFLICT (stream) DO UPDATE SET version = excluded.version, hash = excluded.hash`

  /** The store's version of each batch stream, read under the locks, refused unless it is the expected one. */
  const checkStreams = Effect.fnUntraced(function* (batch: EventImport.Batch) {
    const rows = yield* sql.unsafe<StreamRow>(streamsText, [batch.streams.map((part) => part.stream)])
    const found = new Map(rows.map((row) => [row.stream, row]))
    const previous = new Map<string, Buffer>()
    for (const { stream, expectedVersion } of batch.streams) {
      const row = found.get(stream)
      const version = row?.version ?? -1
      if (version !== expectedVersion || (expectedVersion < 0 && row?.has_events === true)) {
        return yield* new EventImport.StreamExists({
          stream,
          version,
          reason:
            expectedVersion >= 0
              ? `it moved on to version ${version} while the import ran (another writer appended)`
              : row?.version == null
                ? "it has events but no recorded version (rows written around the store)"
                : `it already exists, at version ${version}`
        })
      }
      previous.set(stream, row?.hash == null ? genesis : Buffer.from(row.hash))
    }
    return previous
  })

  /**
   * The columns of the batch's events from `start` to `end`, each event's hash chained from its
   * stream's last hash in `previous` (which ends at each stream's new last hash); `last` gets each
   * stream's new version and `first` its first version in the batch. The hashes and recorded-at times
   * go as `Buffer`s and `Date`s, which the driver sends in binary (no hex or ISO text to build and
   * parse again).
   */
  const columnsOf = (
    events: ReadonlyArray<EventImport.CheckedImport>,
    start: number,
    end: number,
    previous: Map<string, Buffer>,
    last: Map<string, number>,
    first: Map<string, number>
  ) => {
    const n = end - start
    const ids = new Array<string>(n)
    const streams = new Array<string>(n)
    const versions = new Array<number>(n)
    const firsts = new Array<number>(n)
    const categories = new Array<string>(n)
    const types = new Array<string>(n)
    const schemaVersions = new Array<number>(n)
    const data = new Array<string>(n)
    const metadata = new Array<string>(n)
    const recordedAt = new Array<Date>(n)
    const hashes = new Array<Buffer>(n)
    for (let i = 0; i < n; i++) {
      const { checked, recordedAt: at, stream, streamVersion } = events[start + i]!
      const millis = DateTime.toEpochMillis(at)
      const hash = oneShotHash(
        "sha256",
        Integrity.hashInput(previous.get(stream)!, {
          eventId: checked.event.eventId,
          stream,
          streamVersion,
          type: checked.event.type,
          schemaVersion: checked.event.schemaVersion,
          data: checked.dataJson,
          metadata: checked.metadataJson,
          recordedAtMicros: BigInt(millis) * 1000n
        }),
        "buffer"
      )
      previous.set(stream, hash)
      last.set(stream, streamVersion)
      let streamFirst = first.get(stream)
      if (streamFirst === undefined) {
        streamFirst = streamVersion
        first.set(stream, streamVersion)
      }
      ids[i] = checked.event.eventId
      streams[i] = stream
      versions[i] = streamVersion
      firsts[i] = streamFirst
      categories[i] = StreamName.category(stream)
      types[i] = checked.event.type
      schemaVersions[i] = checked.event.schemaVersion
      data[i] = checked.dataJson
      metadata[i] = checked.metadataJson
      recordedAt[i] = new Date(millis)
      hashes[i] = hash
    }
    return [ids, streams, versions, firsts, categories, types, schemaVersions, data, metadata, recordedAt, hashes]
  }

  /**
   * Inserts the batch's events in chunks of `chunkSize`, in order, one statement each, and computes
   * each next chunk's hashes and columns while the server inserts the one before: the server's
   * insert (its heap and four indexes) and this process's hashing then run side by side, on two
   * cores, instead of one after the other. Ends with each stream's new version in `last`.
   */
  const insertEvents = Effect.fnUntraced(function* (
    batch: EventImport.Batch,
    previous: Map<string, Buffer>,
    last: Map<string, number>
  ) {
    const first = new Map<string, number>()
    const events = batch.events
    let inFlight: Fiber.Fiber<unknown, SqlError.SqlError> | undefined
    for (let start = 0; start < events.length; start += chunkSize) {
      const columns = columnsOf(events, start, Math.min(events.length, start + chunkSize), previous, last, first)
      // The chunks go one after the other, so the log's order is the order given.
      if (inFlight !== undefined) yield* Fiber.join(inFlight)
      inFlight = yield* Effect.forkChild(sql.unsafe(insertText, columns), { startImmediately: true })
    }
    if (inFlight !== undefined) yield* Fiber.join(inFlight)
  })

  /** An event id of the batch that the store records already (the insert's unique violation), as an error. */
  const takenId = Effect.fnUntraced(function* (batch: EventImport.Batch) {
    const [taken] = yield* sql.unsafe<{ event_id: string; stream: string; stream_version: number }>(
      `SELECT event_id::text, stream, stream_version FROM ${s}.events WHERE event_id = ANY($1::uuid[]) LIMIT 1`,
      [batch.events.map((event) => event.checked.event.eventId)]
    )
    const event = batch.events.find((e) => e.checked.event.eventId === taken?.event_id) ?? batch.events[0]!
    return new EventImport.InvalidImport({
      stream: event.stream,
      streamVersion: event.streamVersion,
      reason:
        taken === undefined
          ? "one of its batch's event ids is already recorded in this store"
          : `event id ${taken.event_id} is already recorded in this store (${JSON.stringify(taken.stream)}, version ${taken.stream_version})`
    })
  })

  const write = (batch: EventImport.Batch) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          yield* sql.unsafe(lockText, [batch.streams.map((part) => part.stream)])
          const previous = yield* checkStreams(batch)
          const last = new Map<string, number>()
          yield* insertEvents(batch, previous, last)
          yield* sql.unsafe(streamRowsText, [
            [...last.keys()],
            [...last.values()],
            [...last.keys()].map((stream) => previous.get(stream)!)
          ])
          yield* sql.afterCommit(Effect.ignore(pg.notify(channel, "")))
        })
      )
      .pipe(
        Effect.catchTag("SqlError", (error) =>
          error.reason._tag === "UniqueViolation" && error.reason.constraint === "events_event_id"
            ? Effect.flatMap(takenId(batch), Effect.fail)
            : Effect.fail(error)
        ),
        mapSqlError("EventImport.importEvents")
      )

  return EventImport.EventImport.of(
    EventImport.make(
      {
        versions: (streams) =>
          sql
            .unsafe<{ stream: string; version: number }>(
              `SELECT stream, version FROM ${s}.streams WHERE stream = ANY($1::text[])`,
              [streams]
            )
            .pipe(
              Effect.map((rows) => new Map(rows.map((row) => [row.stream, row.version]))),
              mapSqlError("EventImport.importEvents")
            ),
        storedIds: (stream, from, count) =>
          sql
            .unsafe<{ event_id: string }>(
              `SELECT event_id::text FROM ${s}.events WHERE stream = $1 AND stream_version >= $2
              ORDER BY stream_version LIMIT $3`,
              [stream, from, count]
            )
            .pipe(
              Effect.map((rows) => rows.map((row) => row.event_id)),
              mapSqlError("EventImport.importEvents")
            ),
        write
      },
      options?.maxEventBytes ?? EventStore.defaultMaxEventBytes
    )
  )
})

/**
 * The `EventImport` layer on the `PgClient` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<EventImport.EventImport, never, PgClient.PgClient | SqlClient.SqlClient> =>
  Layer.effect(EventImport.EventImport, make(options))
