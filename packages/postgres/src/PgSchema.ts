/**
 * The database schema of the PostgreSQL stores and its migrations.
 *
 * Everything lives in one PostgreSQL schema (default `chronicle`), so several
 * bounded contexts can share a database. Migrations are versioned and
 * idempotent: {@link migrate} applies the ones a database lacks, under an
 * advisory lock, and records them in `<schema>.migrations`.
 *
 * Events are stored with the id of the transaction that wrote them
 * (`xid8`). Readers of the global log only read below the oldest transaction
 * still running (`pg_snapshot_xmin(pg_current_snapshot())`), ordered by
 * transaction id then sequence, so an event that commits late is never
 * skipped. One long-open write transaction holds every reader back: bound it
 * with `idle_in_transaction_session_timeout`, and watch projection lag.
 *
 * In that order each stream must read in version order. An append locks its
 * stream (a transaction-scoped advisory lock) before it writes, so a
 * transaction that has not written yet gets its id at the insert, after every
 * earlier writer of the stream committed; a multi-stream append locks all its
 * streams, in name order, before its first write (its first `append` call
 * takes them all). A transaction that wrote before the lock has an older id:
 * when a writer committed to the stream in between, the append is refused
 * (`LogOrderConflict`) rather than read out of order. Each event records where
 * its append starts (`append_first`), so an idempotent repeat is exactly one
 * earlier append.
 *
 * Over 300 lines because migrations are history: each stays exactly as
 * databases applied it.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

/**
 * The default schema name.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSchema = "chronicle"

/**
 * A schema name as a quoted SQL identifier.
 *
 * @since 0.1.0
 * @category utils
 */
export const quote = (identifier: string): string => `"${identifier.replaceAll('"', '""')}"`

/**
 * The `LISTEN/NOTIFY` channel on which appends to a schema are announced.
 *
 * @since 0.1.0
 * @category utils
 */
export const channel = (schema: string): string => `chronicle_appends_${schema}`.slice(0, 63)

// Each migration is a list of statements (the driver runs one statement per query).
const migrations = (
  schema: string,
  s = quote(schema)
): ReadonlyArray<readonly [id: number, name: string, statements: ReadonlyArray<string>]> => [
  [
    1,
    "event store",
    [
      `CREATE TABLE ${s}.streams (
      stream text PRIMARY KEY,
      version integer NOT NULL
    )`,
      `CREATE TABLE ${s}.events (
      transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
      sequence bigint GENERATED ALWAYS AS IDENTITY,
      event_id uuid NOT NULL,
      stream text NOT NULL,
      stream_version integer NOT NULL,
      category text NOT NULL,
      type text NOT NULL,
      schema_version integer NOT NULL,
      data json NOT NULL,
      metadata json NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT statement_timestamp(),
      CONSTRAINT events_log PRIMARY KEY (transaction_id, sequence),
      CONSTRAINT events_event_id UNIQUE (event_id),
      CONSTRAINT events_stream_version UNIQUE (stream, stream_version)
    )`,
      `CREATE INDEX events_category ON ${s}.events (category, transaction_id, sequence)`,
      `CREATE FUNCTION ${s}.append(
      p_stream text, p_category text, p_expected_kind text, p_expected integer,
      p_ids uuid[], p_types text[], p_schema_versions integer[], p_data text[], p_metadata text[]
    ) RETURNS TABLE (status text, stream_version integer, commits text[], sequences text[])
    LANGUAGE plpgsql AS $fn$
    DECLARE
      v_current integer;
      v_first_stream text;
      v_first_version integer;
      v_first_transaction xid8;
      v_count integer := cardinality(p_ids);
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended(p_stream, 0));

      SELECT e.stream, e.stream_version, e.transaction_id INTO v_first_stream, v_first_version, v_first_transaction
        FROM ${s}.events e WHERE e.event_id = p_ids[1];
      IF FOUND THEN
        -- A repeat is the whole of an earlier append: the same ids, in order, and nothing
        -- else that its transaction wrote to the stream.
        IF v_first_stream = p_stream AND v_count = (
          SELECT count(*) FROM ${s}.events e WHERE e.stream = p_stream AND e.transaction_id = v_first_transaction
        ) AND v_count = (
          SELECT count(*) FROM ${s}.events e
          WHERE e.stream = p_stream
            AND e.stream_version BETWEEN v_first_version AND v_first_version + v_count - 1
            AND e.event_id = p_ids[e.stream_version - v_first_version + 1]
        ) THEN
          RETURN QUERY
            SELECT 'repeat', v_first_version + v_count - 1,
                   array_agg(e.transaction_id::text ORDER BY e.stream_version),
                   array_agg(e.sequence::text ORDER BY e.stream_version)
            FROM ${s}.events e
            WHERE e.stream = p_stream
              AND e.stream_version BETWEEN v_first_version AND v_first_version + v_count - 1;
        ELSE
          RETURN QUERY SELECT 'duplicate', -1, NULL::text[], NULL::text[];
        END IF;
        RETURN;
      END IF;

      SELECT st.version INTO v_current FROM ${s}.streams st WHERE st.stream = p_stream;
      IF NOT FOUND THEN v_current := -1; END IF;
      IF (p_expected_kind = 'exact' AND v_current <> p_expected)
        OR (p_expected_kind = 'no_stream' AND v_current <> -1)
        OR (p_expected_kind = 'stream_exists' AND v_current < 0) THEN
        RETURN QUERY SELECT 'wrong_version', v_current, NULL::text[], NULL::text[];
        RETURN;
      END IF;

      RETURN QUERY
        WITH inserted AS (
          INSERT INTO ${s}.events (event_id, stream, stream_version, category, type, schema_version, data, metadata)
          SELECT u.id, p_stream, v_current + u.ord::integer, p_category, u.type, u.schema_version, u.data::json, u.metadata::json
          FROM unnest(p_ids, p_types, p_schema_versions, p_data, p_metadata)
            WITH ORDINALITY AS u(id, type, schema_version, data, metadata, ord)
          RETURNING ${s}.events.transaction_id, ${s}.events.sequence, ${s}.events.stream_version
        )
        SELECT 'ok', v_current + v_count,
               array_agg(i.transaction_id::text ORDER BY i.stream_version),
               array_agg(i.sequence::text ORDER BY i.stream_version)
        FROM inserted i;

      INSERT INTO ${s}.streams AS st (stream, version) VALUES (p_stream, v_current + v_count)
        ON CONFLICT (stream) DO UPDATE SET version = excluded.version;
    END;
    $fn$`,
      `CREATE TABLE ${s}.snapshots (
      stream text PRIMARY KEY,
      stream_version integer NOT NULL,
      schema_version integer NOT NULL,
      state json NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT statement_timestamp()
    )`,
      `CREATE TABLE ${s}.checkpoints (
      name text PRIMARY KEY,
      commit_position bigint NOT NULL,
      sequence bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT statement_timestamp()
    )`,
      `CREATE TABLE ${s}.dead_letters (
      projection text NOT NULL,
      event_id uuid NOT NULL,
      envelope json NOT NULL,
      error text NOT NULL,
      commit_position bigint NOT NULL,
      sequence bigint NOT NULL,
      parked_at timestamptz NOT NULL DEFAULT statement_timestamp(),
      PRIMARY KEY (projection, event_id)
    )`
    ]
  ],
  [
    2,
    "exact repeats, log-order check, multi-stream locks",
    [
      // Where each event's append starts, so a repeat is exactly one append. Existing rows get
      // the first version their transaction wrote to the stream (two appends to one stream in
      // one transaction were not told apart before, and stay one append).
      `ALTER TABLE ${s}.events ADD COLUMN append_first integer`,
      `UPDATE ${s}.events e SET append_first = f.append_first
      FROM (
        SELECT stream, transaction_id, min(stream_version) AS append_first
        FROM ${s}.events GROUP BY stream, transaction_id
      ) f
      WHERE e.stream = f.stream AND e.transaction_id = f.transaction_id`,
      `ALTER TABLE ${s}.events ALTER COLUMN append_first SET NOT NULL`,
      `DROP FUNCTION ${s}.append(text, text, text, integer, uuid[], text[], integer[], text[], text[])`,
      // `p_lock_streams`: the first append of a multi-stream append takes the locks of all its
      // streams, in name order, before it writes; its transaction then gets its id after every
      // writer it waited for.
      `CREATE FUNCTION ${s}.append(
      p_stream text, p_category text, p_expected_kind text, p_expected integer,
      p_ids uuid[], p_types text[], p_schema_versions integer[], p_data text[], p_metadata text[],
      p_lock_streams text[] DEFAULT NULL
    ) RETURNS TABLE (status text, stream_version integer, commits text[], sequences text[])
    LANGUAGE plpgsql AS $fn$
    DECLARE
      v_current integer;
      v_first_stream text;
      v_first_version integer;
      v_count integer := cardinality(p_ids);
      v_lock text;
      v_transaction xid8;
    BEGIN
      IF cardinality(p_lock_streams) > 0 THEN
        FOR v_lock IN SELECT l.stream FROM unnest(p_lock_streams) AS l(stream) ORDER BY l.stream COLLATE "C" LOOP
          PERFORM pg_advisory_xact_lock(hashtextextended(v_lock, 0));
        END LOOP;
      END IF;
      PERFORM pg_advisory_xact_lock(hashtextextended(p_stream, 0));

      SELECT e.stream, e.stream_version INTO v_first_stream, v_first_version
        FROM ${s}.events e WHERE e.event_id = p_ids[1];
      IF FOUND THEN
        -- A repeat is exactly one earlier append: it starts at the first id, holds the same ids
        -- in order, and ends with them.
        IF v_first_stream = p_stream AND v_count = (
          SELECT count(*) FROM ${s}.events e
          WHERE e.stream = p_stream
            AND e.stream_version BETWEEN v_first_version AND v_first_version + v_count - 1
            AND e.append_first = v_first_version
            AND e.event_id = p_ids[e.stream_version - v_first_version + 1]
        ) AND NOT EXISTS (
          SELECT FROM ${s}.events e
          WHERE e.stream = p_stream AND e.stream_version = v_first_version + v_count
            AND e.append_first = v_first_version
        ) THEN
          RETURN QUERY
            SELECT 'repeat', v_first_version + v_count - 1,
                   array_agg(e.transaction_id::text ORDER BY e.stream_version),
                   array_agg(e.sequence::text ORDER BY e.stream_version)
            FROM ${s}.events e
            WHERE e.stream = p_stream
              AND e.stream_version BETWEEN v_first_version AND v_first_version + v_count - 1;
        ELSE
          RETURN QUERY SELECT 'duplicate', -1, NULL::text[], NULL::text[];
        END IF;
        RETURN;
      END IF;

      SELECT st.version INTO v_current FROM ${s}.streams st WHERE st.stream = p_stream;
      IF NOT FOUND THEN v_current := -1; END IF;

      -- The log is ordered by transaction id. A transaction that wrote before it took the lock
      -- has an id older than that of a writer that committed to the stream meanwhile: its events
      -- would read before that writer's. (A transaction without an id yet gets one at the insert,
      -- newer than every commit before the lock.)
      v_transaction := pg_current_xact_id_if_assigned();
      IF v_transaction IS NOT NULL AND v_transaction < (
        SELECT e.transaction_id FROM ${s}.events e WHERE e.stream = p_stream AND e.stream_version = v_current
      ) THEN
        RETURN QUERY SELECT 'log_order_conflict', v_current, NULL::text[], NULL::text[];
        RETURN;
      END IF;

      IF (p_expected_kind = 'exact' AND v_current <> p_expected)
        OR (p_expected_kind = 'no_stream' AND v_current <> -1)
        OR (p_expected_kind = 'stream_exists' AND v_current < 0) THEN
        RETURN QUERY SELECT 'wrong_version', v_current, NULL::text[], NULL::text[];
        RETURN;
      END IF;

      RETURN QUERY
        WITH inserted AS (
          INSERT INTO ${s}.events (event_id, stream, stream_version, append_first, category, type, schema_version, data, metadata)
          SELECT u.id, p_stream, v_current + u.ord::integer, v_current + 1, p_category, u.type, u.schema_version, u.data::json, u.metadata::json
          FROM unnest(p_ids, p_types, p_schema_versions, p_data, p_metadata)
            WITH ORDINALITY AS u(id, type, schema_version, data, metadata, ord)
          RETURNING ${s}.events.transaction_id, ${s}.events.sequence, ${s}.events.stream_version
        )
        SELECT 'ok', v_current + v_count,
               array_agg(i.transaction_id::text ORDER BY i.stream_version),
               array_agg(i.sequence::text ORDER BY i.stream_version)
        FROM inserted i;

      INSERT INTO ${s}.streams AS st (stream, version) VALUES (p_stream, v_current + v_count)
        ON CONFLICT (stream) DO UPDATE SET version = excluded.version;
    END;
    $fn$`
    ]
  ],
  [
    3,
    "discarded dead letters",
    [
      // A parked event discarded by an operator moves here with who, when and why; the same
      // event parked and discarded again gets another row.
      `CREATE TABLE ${s}.discarded_dead_letters (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      projection text NOT NULL,
      event_id uuid NOT NULL,
      envelope json NOT NULL,
      error text NOT NULL,
      commit_position bigint NOT NULL,
      sequence bigint NOT NULL,
      parked_at timestamptz NOT NULL,
      reason text NOT NULL,
      discarded_by text NOT NULL,
      discarded_at timestamptz NOT NULL DEFAULT statement_timestamp()
    )`,
      `CREATE INDEX discarded_dead_letters_projection ON ${s}.discarded_dead_letters (projection, id)`
    ]
  ]
]

/**
 * Creates or upgrades the schema: applies the migrations this database lacks,
 * in order, each in its own transaction, under an advisory lock so concurrent
 * starts do not race. Safe to run on every start. `upTo` stops after that
 * migration (default: all), e.g. to test an upgrade from an older schema.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = Effect.fn("PgSchema.migrate")(function* (
  schema: string = defaultSchema,
  options?: { readonly upTo?: number | undefined }
) {
  const sql = yield* SqlClient.SqlClient
  const s = quote(schema)
  yield* sql.withTransaction(
    Effect.gen(function* () {
      yield* sql`SELECT pg_advisory_xact_lock(hashtextextended(${`chronicle-migrate:${schema}`}, 0))`
      yield* sql.unsafe(`CREATE SCHEMA IF NOT EXISTS ${s}`)
      yield* sql.unsafe(
        `CREATE TABLE IF NOT EXISTS ${s}.migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`
      )
      const applied = new Set(
        (yield* sql.unsafe<{ id: number }>(`SELECT id FROM ${s}.migrations`)).map((row) => row.id)
      )
      for (const [id, name, statements] of migrations(schema)) {
        if (applied.has(id) || id > (options?.upTo ?? Number.POSITIVE_INFINITY)) continue
        for (const statement of statements) yield* sql.unsafe(statement).unprepared
        yield* sql.unsafe(`INSERT INTO ${s}.migrations (id, name) VALUES ($1, $2)`, [id, name])
      }
    })
  )
}) as (
  schema?: string,
  options?: { readonly upTo?: number | undefined }
) => Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient>

/**
 * The migrations this database lacks, by name (empty when the schema is up
 * to date): what a readiness check or `migrate` would apply.
 *
 * @since 0.1.0
 * @category migrations
 */
export const pending = Effect.fn("PgSchema.pending")(function* (schema: string = defaultSchema) {
  const sql = yield* SqlClient.SqlClient
  const [exists] = yield* sql<{ table: string | null }>`SELECT to_regclass(${`${quote(schema)}.migrations`}) AS table`
  const applied = new Set(
    exists?.table == null
      ? []
      : (yield* sql.unsafe<{ id: number }>(`SELECT id FROM ${quote(schema)}.migrations`)).map((row) => row.id)
  )
  return migrations(schema)
    .filter(([id]) => !applied.has(id))
    .map(([, name]) => name)
})
