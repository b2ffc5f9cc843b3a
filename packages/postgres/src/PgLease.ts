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
 * the server's `max_connections`. A lease session's `application_name` is
 * `chronicle:<host>:<pid>`: `holder` reads it, with the session's backend pid
 * and client address, from `pg_locks` and `pg_stat_activity`.
 *
 * @since 0.1.0
 */
import { Lease } from "@chronicle/core"
import { PgClient, PgConnection } from "@effect/sql-pg"
import { Effect, Layer, Option, Schedule } from "effect"
import { hostname } from "node:os"
import * as internalOptions from "./internal/options.ts"
import { storeError } from "./internal/sqlError.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type Options = internalOptions.Options

interface HolderRow {
  readonly application_name: string
  readonly pid: number
  readonly client_addr: string | null
}

/** How a lease session names itself, so `holder` (and `pg_stat_activity`) says which process holds a lease. */
const applicationName = `chronicle:${hostname()}:${process.pid}`.slice(0, 63)

/**
 * Leases on the `PgClient` in context; the schema names the locks, so
 * bounded contexts sharing a database keep their leases apart.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Lease.Lease, never, PgClient.PgClient> =>
  Layer.effect(
    Lease.Lease,
    PgClient.PgClient.useSync((pg) => {
      const schema = internalOptions.schemaOf(options)
      const lockKey = (name: string) => `chronicle-projection:${schema}:${name}`
      return {
        holder: (name: string) =>
          pg<HolderRow>`SELECT a.application_name, a.pid, host(a.client_addr) AS client_addr
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND ((l.classid::int8 << 32) | l.objid::int8) = hashtextextended(${lockKey(name)}, 0)`.pipe(
            Effect.map((rows) =>
              Option.map(Option.fromUndefinedOr(rows[0]), (row) => ({
                label: row.application_name,
                session: `backend pid ${row.pid}${row.client_addr === null ? "" : `, client ${row.client_addr}`}`
              }))
            ),
            Effect.mapError(storeError("Projector lease holder"))
          ),
        acquire: (name: string) =>
          Effect.gen(function* () {
            const session = yield* PgConnection.make({ ...pg.config, applicationName })
            const key = lockKey(name)
            yield* session.query("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked", [key]).pipe(
              Effect.flatMap((result) =>
                result.rows[0]?.locked === true ? Effect.void : Effect.fail("busy" as const)
              ),
              Effect.retry({ while: (e) => e === "busy", schedule: Schedule.spaced("500 millis") })
            )
            return session.query("SELECT 1").pipe(
              Effect.delay("2 seconds"),
              Effect.forever,
              Effect.mapError(() => new Lease.LeaseLost({ projection: name }))
            )
          }).pipe(Effect.mapError(storeError("Projector lease")))
      }
    })
  )
