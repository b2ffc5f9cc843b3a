// Who holds a projection's lease on PostgreSQL, as another process sees it: the lease session's
// application_name (`chronicle:<host>:<pid>`), its backend pid and client address; a lease of another
// schema with the same name is not confused with it.
import { Lease } from "@chronicle/core"
import { PgLease } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { hostname } from "node:os"

/** A process's view of the database: its own pool, and the leases of `schema` on it. */
const processOn = (url: string, schema?: string) =>
  Effect.map(
    Layer.build(
      PgLease.layer({ schema }).pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })))
    ),
    (context) => ({ lease: Context.get(context, Lease.Lease), sql: Context.get(context, SqlClient.SqlClient) })
  )

it.live(
  "another process sees the holder's application_name, backend pid and client address",
  () =>
    Effect.gen(function* () {
      const url = yield* PgHarness.createDatabase()
      const holder = yield* processOn(url)
      const observer = yield* processOn(url)
      const otherSchema = yield* processOn(url, "elsewhere")
      yield* Effect.asVoid(holder.lease.acquire("balances@v1"))

      const seen = yield* observer.lease.holder("balances@v1")
      assert.isTrue(Option.isSome(seen), "the observer sees a holder")
      const { label, session } = Option.getOrThrow(seen)
      assert.strictEqual(label, `chronicle:${hostname()}:${process.pid}`.slice(0, 63))
      const [backend] = yield* observer.sql<{ pid: number }>`
        SELECT pid FROM pg_stat_activity WHERE application_name = ${label}`
      assert.strictEqual(session, `backend pid ${backend!.pid}, client 127.0.0.1`)

      assert.isTrue(Option.isNone(yield* observer.lease.holder("balances@v2")), "another name is free")
      assert.isTrue(Option.isNone(yield* otherSchema.lease.holder("balances@v1")), "another schema's lease is free")
    }).pipe(Effect.scoped),
  60_000
)
