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
import { genesis } from "./internal/chain.ts"

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

/** Stored events chained per batch, so a long backfill logs its progress. */
const chainBatch = 10_000

/**
 * Migration 4's backfill: chains the events a database already holds, in
 * batches of {@link chainBatch} in (stream, version) order, logging progress
 * when there are more.
 */
const chainStored =
  (s: string) =>
  (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError.SqlError> =>
    Effect.gen(function* () {
      const [count] = yield* sql.unsafe<{ total: string }>(`SELECT count(*)::text AS total FROM ${s}.events`)
      const total = Number(count?.total ?? 0)
      let after: { readonly stream: string | null; readonly version: number } = { stream: null, version: -1 }
      for (let done = 0; done < total; ) {
        const [batch] = yield* sql.unsafe<{ last_stream: string | null; last_version: number; chained: number }>(
          `SELECT * FROM ${s}.chain_stored($1, $2, $3)`,
          [after.stream, after.version, chainBatch]
        )
        if (batch === undefined || batch.chained === 0) return
        done += batch.chained
        after = { stream: batch.last_stream, version: batch.last_version }
        if (total > chainBatch) {
          yield* Effect.logInfo(`Chronicle: chained ${done} of ${total} stored events (migration 4)`)
        }
      }
    })

/** A migration step: one SQL statement (the driver runs one per query), or an effect. */
type Step = string | ((sql: SqlClient.SqlClient) => Effect.Effect<void, SqlError.SqlError>)

// Each migration is a list of steps.
const migrations = (
  schema: string,
  s = quote(schema)
): ReadonlyArray<readonly [id: number, name: string, steps: ReadonlyArray<Step>]> => [
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
  ],
  [
    4,
    "hash-chained streams",
    [
      // Each event's hash covers the previous event's hash (32 zero bytes before version 0) and
      // the event as stored: see `Integrity` in @chronicle/core, which checks it with the same
      // bytes. A stream's row keeps its last event's hash, so a deleted last event shows.
      `ALTER TABLE ${s}.events ADD COLUMN hash bytea`,
      `ALTER TABLE ${s}.streams ADD COLUMN hash bytea`,
      // A text as its UTF-8 byte length (4 bytes, big-endian) then its bytes.
      `CREATE FUNCTION ${s}.hash_text(p_text text) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $fn$ SELECT int4send(octet_length(convert_to(p_text, 'UTF8'))) || convert_to(p_text, 'UTF8') $fn$`,
      `CREATE FUNCTION ${s}.event_hash(
      p_previous bytea, p_id uuid, p_stream text, p_version integer, p_type text, p_schema_version integer,
      p_recorded_at timestamptz, p_data text, p_metadata text
    ) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $fn$ SELECT sha256(
      p_previous || ${s}.hash_text(p_id::text) || ${s}.hash_text(p_stream) || int4send(p_version)
      || ${s}.hash_text(p_type) || int4send(p_schema_version)
      || int8send((extract(epoch FROM p_recorded_at) * 1000000)::int8)
      || ${s}.hash_text(p_data) || ${s}.hash_text(p_metadata)
    ) $fn$`,
      // The hashes of an append's events, from the hash before the first.
      `CREATE FUNCTION ${s}.chain(
      p_previous bytea, p_stream text, p_first_version integer, p_recorded_at timestamptz,
      p_ids uuid[], p_types text[], p_schema_versions integer[], p_data text[], p_metadata text[]
    ) RETURNS bytea[]
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $fn$
    DECLARE
      v_hashes bytea[] := '{}';
      v_previous bytea := p_previous;
    BEGIN
      FOR i IN 1 .. coalesce(cardinality(p_ids), 0) LOOP
        v_previous := ${s}.event_hash(v_previous, p_ids[i], p_stream, p_first_version + i - 1, p_types[i],
          p_schema_versions[i], p_recorded_at, p_data[i], p_metadata[i]);
        v_hashes := array_append(v_hashes, v_previous);
      END LOOP;
      RETURN v_hashes;
    END;
    $fn$`,
      // Migration 2's function, chaining: the events' hashes from the stream row's, under its lock.
      `CREATE OR REPLACE FUNCTION ${s}.append(
      p_stream text, p_category text, p_expected_kind text, p_expected integer,
      p_ids uuid[], p_types text[], p_schema_versions integer[], p_data text[], p_metadata text[],
      p_lock_streams text[] DEFAULT NULL
    ) RETURNS TABLE (status text, stream_version integer, commits text[], sequences text[])
    LANGUAGE plpgsql AS $fn$
    DECLARE
      v_current integer;
      v_previous bytea;
      v_hashes bytea[];
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

      SELECT st.version, st.hash INTO v_current, v_previous FROM ${s}.streams st WHERE st.stream = p_stream;
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

      v_hashes := ${s}.chain(coalesce(v_previous, ${genesis}), p_stream, v_current + 1, statement_timestamp(),
        p_ids, p_types, p_schema_versions, p_data, p_metadata);
      RETURN QUERY
        WITH inserted AS (
          INSERT INTO ${s}.events (event_id, stream, stream_version, append_first, category, type, schema_version, data, metadata, recorded_at, hash)
          SELECT u.id, p_stream, v_current + u.ord::integer, v_current + 1, p_category, u.type, u.schema_version, u.data::json, u.metadata::json,
                 statement_timestamp(), v_hashes[u.ord]
          FROM unnest(p_ids, p_types, p_schema_versions, p_data, p_metadata)
            WITH ORDINALITY AS u(id, type, schema_version, data, metadata, ord)
          RETURNING ${s}.events.transaction_id, ${s}.events.sequence, ${s}.events.stream_version
        )
        SELECT 'ok', v_current + v_count,
               array_agg(i.transaction_id::text ORDER BY i.stream_version),
               array_agg(i.sequence::text ORDER BY i.stream_version)
        FROM inserted i;

      INSERT INTO ${s}.streams AS st (stream, version, hash) VALUES (p_stream, v_current + v_count, v_hashes[v_count])
        ON CONFLICT (stream) DO UPDATE SET version = excluded.version, hash = excluded.hash;
    END;
    $fn$`,
      // Chains the stored events, in batches (see `chainStored`).
      `CREATE FUNCTION ${s}.chain_stored(p_after_stream text, p_after_version integer, p_limit integer)
    RETURNS TABLE (last_stream text, last_version integer, chained integer)
    LANGUAGE plpgsql AS $fn$
    DECLARE
      r record;
      v_previous bytea;
      v_stream text := p_after_stream;
      v_version integer := p_after_version;
      v_count integer := 0;
    BEGIN
      SELECT e.hash INTO v_previous FROM ${s}.events e
        WHERE e.stream = p_after_stream AND e.stream_version = p_after_version;
      FOR r IN
        SELECT e.stream, e.stream_version, e.event_id, e.type, e.schema_version, e.recorded_at,
               e.data::text AS data, e.metadata::text AS metadata
        FROM ${s}.events e
        WHERE (e.stream, e.stream_version) > (coalesce(p_after_stream, ''), p_after_version)
        ORDER BY e.stream, e.stream_version
        LIMIT p_limit
      LOOP
        IF r.stream IS DISTINCT FROM v_stream THEN v_previous := ${genesis}; END IF;
        v_previous := ${s}.event_hash(v_previous, r.event_id, r.stream, r.stream_version, r.type,
          r.schema_version, r.recorded_at, r.data, r.metadata);
        UPDATE ${s}.events e SET hash = v_previous WHERE e.stream = r.stream AND e.stream_version = r.stream_version;
        v_stream := r.stream;
        v_version := r.stream_version;
        v_count := v_count + 1;
      END LOOP;
      RETURN QUERY SELECT v_stream, v_version, v_count;
    END;
    $fn$`,
      chainStored(s),
      `UPDATE ${s}.streams st SET hash = e.hash FROM ${s}.events e
      WHERE e.stream = st.stream AND e.stream_version = st.version`,
      `DROP FUNCTION ${s}.chain_stored(text, integer, integer)`
    ]
  ],
  [
    5,
    "subject keys",
    [
      // The keys of personal data (see PgKeyStore): one row per version of a subject's key; a
      // forgotten version keeps its row, with no key, so versions are never reused.
      `CREATE TABLE ${s}.subject_keys (
      subject text NOT NULL,
      version integer NOT NULL,
      key bytea,
      created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
      forgotten_at timestamptz,
      PRIMARY KEY (subject, version),
      CHECK ((key IS NULL) = (forgotten_at IS NOT NULL))
    )`
    ]
  ],
  [
    6,
    "stream lifecycle",
    [
      // Where a stream is in its life (see PgStreamLifecycle), and the marker of a lawful removal:
      // the versions below `removed_before` are gone, `removed_hash` is the hash of the last of them.
      `ALTER TABLE ${s}.streams
      ADD COLUMN state text NOT NULL DEFAULT 'live' CONSTRAINT streams_state CHECK (state IN ('live', 'archived', 'deleted')),
      ADD COLUMN removed_before integer NOT NULL DEFAULT 0,
      ADD COLUMN removed_hash bytea`,
      // Listing a category's streams in byte order is a range scan, whatever the database's collation.
      `CREATE INDEX streams_name ON ${s}.streams (stream COLLATE "C")`,
      // Archived streams' events, moved as they were: the same columns and values (position included).
      `CREATE TABLE ${s}.events_archive (
      transaction_id xid8 NOT NULL,
      sequence bigint NOT NULL,
      event_id uuid NOT NULL,
      stream text NOT NULL,
      stream_version integer NOT NULL,
      category text NOT NULL,
      type text NOT NULL,
      schema_version integer NOT NULL,
      data json NOT NULL,
      metadata json NOT NULL,
      recorded_at timestamptz NOT NULL,
      append_first integer NOT NULL,
      hash bytea,
      CONSTRAINT events_archive_log PRIMARY KEY (transaction_id, sequence),
      CONSTRAINT events_archive_event_id UNIQUE (event_id),
      CONSTRAINT events_archive_stream_version UNIQUE (stream, stream_version)
    )`,
      `CREATE INDEX events_archive_category ON ${s}.events_archive (category, transaction_id, sequence)`,
      // Fails the optimistic append's statement (see internal/append.ts) when the stream's row changed
      // between its snapshot and its lock (a lifecycle action meanwhile): a serialization failure, so
      // nothing it inserted stays.
      `CREATE FUNCTION ${s}.stream_changed(p_stream text) RETURNS integer
    LANGUAGE plpgsql AS $fn$
    BEGIN
      RAISE EXCEPTION 'stream % changed while the append waited for its lock', p_stream
        USING ERRCODE = 'serialization_failure';
    END;
    $fn$`,
      // Migration 4's function, which also refuses deleted and archived streams ('deleted' and
      // 'archived', first, as the in-memory store) and finds a taken id in the archive too. The
      // stream row is read before the idempotency lookup; everything else is unchanged.
      `CREATE OR REPLACE FUNCTION ${s}.append(
      p_stream text, p_category text, p_expected_kind text, p_expected integer,
      p_ids uuid[], p_types text[], p_schema_versions integer[], p_data text[], p_metadata text[],
      p_lock_streams text[] DEFAULT NULL
    ) RETURNS TABLE (status text, stream_version integer, commits text[], sequences text[])
    LANGUAGE plpgsql AS $fn$
    DECLARE
      v_current integer;
      v_previous bytea;
      v_state text;
      v_hashes bytea[];
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

      SELECT st.version, st.hash, st.state INTO v_current, v_previous, v_state
        FROM ${s}.streams st WHERE st.stream = p_stream;
      IF NOT FOUND THEN v_current := -1; END IF;
      IF v_state IN ('deleted', 'archived') THEN
        RETURN QUERY SELECT v_state, v_current, NULL::text[], NULL::text[];
        RETURN;
      END IF;

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
      -- An archived stream's ids stay taken (this stream is live, so they are another's).
      IF EXISTS (SELECT FROM ${s}.events_archive e WHERE e.event_id = ANY(p_ids)) THEN
        RETURN QUERY SELECT 'duplicate', -1, NULL::text[], NULL::text[];
        RETURN;
      END IF;

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

      v_hashes := ${s}.chain(coalesce(v_previous, ${genesis}), p_stream, v_current + 1, statement_timestamp(),
        p_ids, p_types, p_schema_versions, p_data, p_metadata);
      RETURN QUERY
        WITH inserted AS (
          INSERT INTO ${s}.events (event_id, stream, stream_version, append_first, category, type, schema_version, data, metadata, recorded_at, hash)
          SELECT u.id, p_stream, v_current + u.ord::integer, v_current + 1, p_category, u.type, u.schema_version, u.data::json, u.metadata::json,
                 statement_timestamp(), v_hashes[u.ord]
          FROM unnest(p_ids, p_types, p_schema_versions, p_data, p_metadata)
            WITH ORDINALITY AS u(id, type, schema_version, data, metadata, ord)
          RETURNING ${s}.events.transaction_id, ${s}.events.sequence, ${s}.events.stream_version
        )
        SELECT 'ok', v_current + v_count,
               array_agg(i.transaction_id::text ORDER BY i.stream_version),
               array_agg(i.sequence::text ORDER BY i.stream_version)
        FROM inserted i;

      INSERT INTO ${s}.streams AS st (stream, version, hash) VALUES (p_stream, v_current + v_count, v_hashes[v_count])
        ON CONFLICT (stream) DO UPDATE SET version = excluded.version, hash = excluded.hash;
    END;
    $fn$`
    ]
  ],
  [
    7,
    "stream partitions",
    [
      // Projection.partitionOf's hash: 32-bit FNV-1a of the name's UTF-8 bytes (unsigned).
      `CREATE FUNCTION ${s}.partition_hash(p_stream text) RETURNS bigint
      LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
      DECLARE
        v_bytes bytea := convert_to(p_stream, 'UTF8');
        v_hash bigint := 2166136261;
      BEGIN
        FOR i IN 0 .. length(v_bytes) - 1 LOOP
          v_hash := ((v_hash # get_byte(v_bytes, i)) * 16777619) % 4294967296;
        END LOOP;
        RETURN v_hash;
      END;
      $fn$`,
      // Computed once per stream, as its row is first written, so a partition's read looks it up.
      `ALTER TABLE ${s}.streams
      ADD COLUMN partition_hash bigint GENERATED ALWAYS AS (${s}.partition_hash(stream)) STORED`
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
      for (const [id, name, steps] of migrations(schema)) {
        if (applied.has(id) || id > (options?.upTo ?? Number.POSITIVE_INFINITY)) continue
        for (const step of steps) yield* typeof step === "string" ? sql.unsafe(step).unprepared : step(sql)
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
