// DATABASE_URL or an embedded server: the configuration decides, and an embedded server lives exactly as
// long as the scope. The configuration is given explicitly, so a DATABASE_URL set around the test run
// changes nothing here.
import { DatabaseUrl } from "@chronicle/embedded-postgres"
import { PgClient } from "@effect/sql-pg"
import { assert, it } from "@effect/vitest"
import { ConfigProvider, Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

const withEnv =
  (env: Record<string, string>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provideService(effect, ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

/** Whether something accepts TCP connections on the loopback port. */
const listening = (port: number) =>
  Effect.promise(
    () =>
      new Promise<boolean>((resolve) => {
        const socket = connect(port, "127.0.0.1")
        socket.once("connect", () => {
          socket.destroy()
          resolve(true)
        })
        socket.once("error", () => resolve(false))
      })
  )

it.live("without DATABASE_URL it starts a server that answers, and stops it when the scope closes", () =>
  Effect.gen(function* () {
    const port = yield* Effect.scoped(
      Effect.gen(function* () {
        const url = yield* DatabaseUrl.configuredOrEmbedded().pipe(withEnv({}))
        const rows = yield* SqlClient.SqlClient.use((sql) => sql<{ one: number }>`SELECT 1 AS one`).pipe(
          Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
        )
        assert.deepStrictEqual(rows, [{ one: 1 }])
        return Number(new URL(url).port)
      })
    )
    assert.isFalse(yield* listening(port), `nothing should listen on port ${port} once the scope is closed`)
  })
)

it.live("with DATABASE_URL it returns that URL and starts nothing", () =>
  Effect.gen(function* () {
    const parent = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "chronicle-url-test-"))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    )
    const dataDir = join(parent, "postgres")
    const configured = "postgres://someone:secret@db.example:5432/shop"
    const url = yield* Effect.scoped(
      DatabaseUrl.configuredOrEmbedded({ dataDir }).pipe(withEnv({ DATABASE_URL: configured }))
    )
    assert.strictEqual(url, configured)
    assert.isFalse(existsSync(dataDir), "a started server would have created its data directory")
  })
)
