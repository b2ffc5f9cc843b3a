// Health over HTTP against a real PostgreSQL: live and ready; not ready while the database is away
// (ready again once it is back) or when a projection halts.
import { CommandHandler, Projection, Projector, ProjectorStatus, StreamName } from "@chronicle/core"
import { PgServer } from "@chronicle/embedded-postgres"
import { Account } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { NodeHttpServer } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { assert, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import * as Reactivity from "effect/reactivity/Reactivity"
import { createServer } from "node:http"
import * as App from "../src/App.ts"
import * as Operations from "../src/Operations.ts"

interface Check {
  readonly name: string
  readonly status: "pass" | "fail"
  readonly detail?: string
}

const get = (base: string, path: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${base}${path}`)
    return { status: response.status, body: (await response.json()) as { status: string; checks: Array<Check> } }
  })

/** Polls `path` until `until` holds (the app reacts to the database asynchronously). */
const eventually = (base: string, path: string, until: (r: Effect.Success<ReturnType<typeof get>>) => boolean) =>
  get(base, path).pipe(Effect.repeat({ until, schedule: Schedule.spaced("100 millis") }), Effect.timeout("30 seconds"))

/** Runs a statement on the test server's maintenance database. */
const onServer = (statement: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* PgClient.make({ url: Redacted.make(PgHarness.serverUrl()), maxConnections: 1 })
      yield* sql.unsafe(statement)
    })
  ).pipe(Effect.provide(Reactivity.layer), Effect.orDie)

const failing = (checks: ReadonlyArray<Check>) => checks.filter((check) => check.status === "fail").map((c) => c.name)

it.live("ready while the database answers; 503 naming the database while it is away; ready again after", () =>
  Effect.gen(function* () {
    const url = yield* PgHarness.createDatabase("shop_health")
    const database = new URL(url).pathname.slice(1)
    const port = yield* Effect.promise(() => PgServer.freePort())
    const base = `http://127.0.0.1:${port}`
    yield* Layer.build(App.layer(url, port))

    assert.deepStrictEqual(yield* get(base, "/health/live"), { status: 200, body: { status: "up" } as any })
    const ready = yield* eventually(base, "/health/ready", (r) => r.status === 200)
    assert.strictEqual(ready.body.status, "ready")
    assert.deepStrictEqual(
      ready.body.checks.map((check) => [check.name, check.status]),
      [
        ["database", "pass"],
        ["migrations", "pass"],
        ["projection revenue-by-day@v1", "pass"],
        ["projection account-balance@v1", "pass"],
        ["projection money-transfers@v1", "pass"]
      ]
    )

    // The database goes away: no new connections, the open ones cut.
    yield* onServer(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`)
    yield* onServer(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}'`)
    const away = yield* eventually(base, "/health/ready", (r) => r.status === 503)
    assert.strictEqual(away.body.status, "not ready")
    assert.include(failing(away.body.checks), "database")
    assert.strictEqual((yield* get(base, "/health/live")).status, 200, "the process is still up")

    yield* onServer(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`)
    const back = yield* eventually(base, "/health/ready", (r) => r.status === 200)
    assert.deepStrictEqual(failing(back.body.checks), [])
  })
)

/** A projection that cannot handle anything, and halts on its first event. */
const fragile = Projection.make({
  name: "fragile",
  version: 1,
  codec: Account.AccountEvents,
  failure: { action: "halt", retry: Schedule.recurs(0) },
  handle: () => Effect.fail("the read model is broken")
})

it.live("503 naming a halted projection and its error", () =>
  Effect.gen(function* () {
    const url = yield* PgHarness.createDatabase("shop_halt")
    const port = yield* Effect.promise(() => PgServer.freePort())
    const base = `http://127.0.0.1:${port}`
    const context = yield* Layer.build(
      HttpRouter.serve(Operations.Routes, { disableListenLog: true }).pipe(
        Layer.provide(Projector.layer([fragile])),
        Layer.provide(NodeHttpServer.layer(createServer, { port })),
        Layer.provideMerge(PgStore.layer({ url: Redacted.make(url) })),
        Layer.provideMerge(ProjectorStatus.layer)
      )
    )
    assert.strictEqual((yield* eventually(base, "/health/ready", (r) => r.status === 200)).status, 200)

    const accounts = yield* CommandHandler.make({ decider: Account.decider, codec: Account.AccountEvents }).pipe(
      Effect.provide(context)
    )
    yield* accounts.handle(
      StreamName.make("account", "a-1"),
      Account.OpenAccount.make({ accountId: "a-1", owner: "ann" })
    )

    const halted = yield* eventually(base, "/health/ready", (r) => r.status === 503)
    const check = halted.body.checks.find((c) => c.name === "projection fragile@v1")
    assert.strictEqual(check?.status, "fail")
    assert.match(check?.detail ?? "", /^halted: .*the read model is broken/)
    assert.deepStrictEqual(failing(halted.body.checks), ["projection fragile@v1"])
  })
)
