// DATABASE_URL or an embedded server: the configuration decides, and an embedded server lives exactly as
// long as the scope. The configuration is given explicitly, so a DATABASE_URL set around the test run
// changes nothing here.
import { DatabaseUrl } from "@chronicle/embedded-postgres"
import { PgClient } from "@effect/sql-pg"
import { assert, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Redacted, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"

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

/**
 * A data folder in a temporary directory, deleted when the scope closes; in a folder that does not
 * exist yet, as `.data/postgres` in a fresh clone.
 */
const dataFolder = Effect.map(
  Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "chronicle-shared-test-"))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  ),
  (parent) => join(parent, ".data", "postgres")
)

const recordOf = (dataDir: string) =>
  Effect.promise(() =>
    readFile(join(dataDir, "chronicle-server.json"), "utf8").then(
      (text) => JSON.parse(text) as { url: string; pid: number; port: number; startedAt: string },
      () => undefined
    )
  )

const selectOne = (url: string) =>
  SqlClient.SqlClient.use((sql) => sql<{ one: number }>`SELECT 1 AS one`).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
  )

/** Uses the data folder's server for as long as the returned scope is open. */
const user = (dataDir: string) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const url = yield* DatabaseUrl.configuredOrEmbedded({ dataDir }).pipe(withEnv({}), Scope.provide(scope))
    return { url, leave: Scope.close(scope, Exit.void) }
  })

it.live("on a data folder the server is recorded, shared, and stopped by the last user to leave", () =>
  Effect.gen(function* () {
    const dataDir = yield* dataFolder
    const first = yield* user(dataDir)
    const record = yield* recordOf(dataDir)
    assert.isDefined(record, "the running server is recorded in its data folder")
    assert.strictEqual(record!.url, first.url)
    assert.strictEqual(record!.port, Number(new URL(first.url).port))
    assert.isTrue(Number.isInteger(record!.pid) && record!.pid > 0)

    const second = yield* user(dataDir)
    assert.strictEqual(second.url, first.url, "the second user gets the recorded server")
    yield* first.leave
    assert.deepStrictEqual(yield* selectOne(second.url), [{ one: 1 }], "the server outlives its starter while used")
    assert.deepStrictEqual(yield* recordOf(dataDir), record)

    yield* second.leave
    assert.isFalse(yield* listening(record!.port), "the last user to leave stops the server")
    assert.isUndefined(yield* recordOf(dataDir), "and removes the record")
  }).pipe(Effect.scoped)
)

it.live("a stale record (a crashed server) is replaced by a server started now", () =>
  Effect.gen(function* () {
    const dataDir = yield* dataFolder
    const first = yield* user(dataDir)
    const live = (yield* recordOf(dataDir))!
    yield* first.leave
    // What a crash leaves: the record of a server that no longer runs.
    const stale = { ...live, url: "postgres://postgres:postgres@127.0.0.1:1/postgres", port: 1 }
    yield* Effect.promise(() => writeFile(join(dataDir, "chronicle-server.json"), JSON.stringify(stale)))
    const next = yield* user(dataDir)
    assert.notStrictEqual(next.url, stale.url)
    assert.deepStrictEqual(yield* selectOne(next.url), [{ one: 1 }])
    assert.strictEqual((yield* recordOf(dataDir))?.url, next.url, "the record names the new server")
    yield* next.leave
  }).pipe(Effect.scoped)
)

const fixture = fileURLToPath(new URL("./fixtures/useServer.ts", import.meta.url))

/** A separate process using the data folder's server; `leave` closes its stdin and waits for it to exit. */
const processUsing = (dataDir: string) =>
  Effect.promise(
    () =>
      new Promise<{ url: string; leave: () => Promise<number | null> }>((resolve, reject) => {
        const env = { ...process.env }
        delete env.DATABASE_URL
        const child = spawn(process.execPath, [fixture, dataDir], { env, stdio: ["pipe", "pipe", "inherit"] })
        const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
        child.once("error", reject)
        void exited.then((code) => reject(new Error(`the process exited early with code ${code}`)))
        createInterface({ input: child.stdout }).on("line", (line) => {
          if (!line.startsWith('{"url"')) return
          resolve({
            url: (JSON.parse(line) as { url: string }).url,
            leave: () => {
              child.stdin.end()
              return exited
            }
          })
        })
      })
  )

it.live("processes starting at once on one data folder start one PostgreSQL between them", () =>
  Effect.gen(function* () {
    const dataDir = yield* dataFolder
    const users = yield* Effect.all([processUsing(dataDir), processUsing(dataDir), processUsing(dataDir)], {
      concurrency: "unbounded"
    })
    const urls = new Set(users.map((u) => u.url))
    assert.strictEqual(urls.size, 1, `one server for all: ${[...urls].join(", ")}`)
    const [url] = [...urls]
    assert.strictEqual((yield* recordOf(dataDir))?.url, url)
    assert.deepStrictEqual(yield* selectOne(url!), [{ one: 1 }])
    // They leave one by one; the server stays up until the last one has left.
    for (const [i, u] of users.entries()) {
      assert.strictEqual(yield* Effect.promise(u.leave), 0, "a user process exits cleanly")
      const up = yield* listening(Number(new URL(url!).port))
      assert.strictEqual(up, i < users.length - 1, `after ${i + 1} of ${users.length} left`)
    }
    assert.isUndefined(yield* recordOf(dataDir))
  }).pipe(Effect.scoped)
)
