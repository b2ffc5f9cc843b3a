// The shop's CLI as a process, against a seeded database: output and exit codes.
import { PgServer } from "@chronicle/embedded-postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as App from "../src/App.ts"

const cliPath = fileURLToPath(new URL("../src/cli.ts", import.meta.url))

const cli = (databaseUrl: string, ...args: Array<string>) =>
  Effect.promise(
    () =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [cliPath, ...args],
          { env: { ...process.env, DATABASE_URL: databaseUrl } },
          (error, stdout, stderr) =>
            resolve({ code: error === null ? 0 : ((error.code as number) ?? 1), stdout, stderr })
        )
      })
  )

it.live(
  "runs the operations commands against a seeded database",
  () =>
    Effect.gen(function* () {
      const url = yield* PgHarness.createDatabase("shop_cli")
      const port = yield* Effect.promise(() => PgServer.freePort())
      // Seed through the real app.
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.build(App.layer(url, port))
          const post = (path: string, body: unknown) =>
            Effect.promise(() =>
              fetch(`http://127.0.0.1:${port}${path}`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify(body)
              })
            )
          yield* post("/orders", {
            orderId: "o-1",
            customerId: "c-1",
            items: [{ productId: "p", quantity: 1, unitPrice: 700 }],
            currency: "EUR"
          })
          yield* post("/orders/o-1/pay", { paymentReference: "r", amount: 700 })
          yield* Effect.sleep("500 millis")
        })
      )

      const migrate = yield* cli(url, "migrate")
      assert.strictEqual(migrate.code, 0, migrate.stderr)
      const streams = yield* cli(url, "streams", "order")
      assert.strictEqual(streams.code, 0, streams.stderr)
      assert.include(streams.stdout, "order-o-1  version 1")
      const events = yield* cli(url, "events", "order-o-1")
      assert.include(events.stdout, "OrderPlaced@3")
      assert.include(events.stdout, "PaymentConfirmed@1")
      const state = yield* cli(url, "state", "order-o-1", "--version", "0")
      assert.include(state.stdout, '"status": "Pending"')
      const status = yield* cli(url, "projections", "status")
      assert.match(status.stdout, /revenue-by-day@v1 +checkpoint/)
      const rebuild = yield* cli(url, "projections", "rebuild", "revenue-by-day")
      assert.strictEqual(rebuild.code, 0, rebuild.stderr)
      assert.match(rebuild.stdout, /\[#+\] 100 %/)
      const parked = yield* cli(url, "dead-letters", "list")
      assert.include(parked.stdout, "No parked events.")
      const help = yield* cli(url, "--help")
      assert.include(help.stdout, "projections")

      for (const args of [
        ["events", "order-missing"],
        ["state", "order-o-1", "--at", "not-a-time"],
        ["projections", "rebuild", "nope"],
        ["events"]
      ]) {
        const failed = yield* cli(url, ...args)
        assert.notStrictEqual(failed.code, 0, `${args.join(" ")} should fail`)
      }
      const unreachable = yield* cli("postgres://postgres:postgres@127.0.0.1:1/none", "streams", "order")
      assert.notStrictEqual(unreachable.code, 0)
      assert.include(unreachable.stderr, "Cannot reach PostgreSQL")
      const unknown = yield* cli(url, "events", "order-missing")
      assert.include(unknown.stderr, "Stream order-missing does not exist")
    }),
  120_000
)
