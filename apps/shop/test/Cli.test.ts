// The shop's CLI as a process: against a seeded database, and against the running app on the embedded
// default (`node src/main.ts` on a data folder of its own), with output and exit codes.
import { PgServer } from "@chronicle/embedded-postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as App from "../src/App.ts"

const cliPath = fileURLToPath(new URL("../src/cli.ts", import.meta.url))
const mainPath = fileURLToPath(new URL("../src/main.ts", import.meta.url))

/** The environment without a database or data folder set around the test run. */
const baseEnv = () => {
  const env = { ...process.env }
  delete env.DATABASE_URL
  delete env.CHRONICLE_DATA_DIR
  return env
}

/** Runs the CLI with these settings (`DATABASE_URL`, or `CHRONICLE_DATA_DIR` for the embedded default). */
const cliWith = (settings: Record<string, string>, ...args: Array<string>) =>
  Effect.promise(
    () =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [cliPath, ...args],
          { env: { ...baseEnv(), ...settings } },
          (error, stdout, stderr) =>
            resolve({ code: error === null ? 0 : ((error.code as number) ?? 1), stdout, stderr })
        )
      })
  )

const cli = (databaseUrl: string, ...args: Array<string>) => cliWith({ DATABASE_URL: databaseUrl }, ...args)

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
      assert.match(streams.stdout, /^order-o-1 +1$/m)
      const events = yield* cli(url, "events", "order-o-1")
      assert.include(events.stdout, "OrderPlaced@3")
      assert.include(events.stdout, "PaymentConfirmed@1")
      const state = yield* cli(url, "state", "order-o-1", "--at-version", "0")
      assert.include(state.stdout, '"status": "Pending"')
      const status = yield* cli(url, "projections", "status")
      assert.match(status.stdout, /^order-summary@v1 +— +inline \(current with every append\)/m)
      assert.match(status.stdout, /^revenue-by-day@v1 +\d+:\d+ +0 +0 +nobody$/m)
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

      // The stream lifecycle on PostgreSQL: export, trim after a snapshot (the order aggregate's policy), status.
      const exported = yield* cli(url, "export", "order-o-1")
      assert.strictEqual(exported.code, 0, exported.stderr)
      assert.deepStrictEqual(
        exported.stdout
          .trimEnd()
          .split("\n")
          .map((line) => JSON.parse(line).type),
        ["OrderPlaced", "PaymentConfirmed"]
      )
      assert.strictEqual(exported.stderr.trimEnd(), "Exported 2 events of 1 stream.")
      const trimmed = yield* cli(
        url,
        "streams",
        "trim",
        "order-o-1",
        "--before",
        "1",
        "--reason",
        "test",
        "--by",
        "ops"
      )
      assert.strictEqual(trimmed.code, 0, trimmed.stderr)
      assert.match(trimmed.stdout, /^Trimmed order-o-1: 1 event removed after a snapshot at version 1/)
      assert.include((yield* cli(url, "state", "order-o-1")).stdout, '"status": "Paid"')
      const streamStatus = yield* cli(url, "streams", "status", "order-o-1")
      assert.strictEqual(streamStatus.stdout.trimEnd(), "order-o-1: Live at version 1, events before version 1 trimmed")
      // The shop mounts no key store: forget says so in one line.
      const forget = yield* cli(url, "forget", "c-1", "--reason", "test")
      assert.strictEqual(forget.code, 1)
      assert.match(forget.stderr.trimEnd(), /^Cannot forget c-1: this CLI has no key store/)

      const unreachable = yield* cli("postgres://postgres:postgres@127.0.0.1:1/none", "streams", "order")
      assert.notStrictEqual(unreachable.code, 0)
      assert.include(unreachable.stderr, "Cannot reach PostgreSQL")
      const unknown = yield* cli(url, "events", "order-missing")
      assert.include(unknown.stderr, "Stream order-missing does not exist")
    }),
  120_000
)

const post = (port: number, path: string, body: unknown) =>
  Effect.promise(() =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    }).then((response) => response.status)
  )

/** The app as a process (`node src/main.ts`), stopped with SIGINT when the scope closes if still running. */
const startApp = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, [mainPath], { env: { ...baseEnv(), ...env }, stdio: "pipe" })
      let output = ""
      child.stdout.on("data", (chunk) => (output += chunk))
      child.stderr.on("data", (chunk) => (output += chunk))
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      return { child, exited, output: () => output }
    }),
    ({ child, exited }) =>
      Effect.promise(() => {
        if (child.exitCode === null) child.kill("SIGINT")
        return exited
      })
  )

/** Waits until the app answers HTTP on `port` (or fails with its output if it exits first). */
const listening = (app: { readonly child: ChildProcess; readonly output: () => string }, port: number) =>
  Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/openapi.json`)).pipe(
    Effect.retry({
      while: () => app.child.exitCode === null,
      schedule: Schedule.spaced("200 millis"),
      times: 300
    }),
    Effect.catch(() => Effect.die(new Error(`the app did not start:\n${app.output()}`)))
  )

it.live(
  "reaches the running app's embedded database, leaves it running, and --help starts nothing",
  () =>
    Effect.gen(function* () {
      const parent = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "chronicle-shop-cli-"))),
        (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
      )
      const dataDir = join(parent, "postgres")
      const embedded = { CHRONICLE_DATA_DIR: dataDir }

      // Without the app, --help and --version start no database (the data folder is never created).
      const help = yield* cliWith(embedded, "--help")
      assert.strictEqual(help.code, 0, help.stderr)
      assert.include(help.stdout, "dead-letters")
      assert.strictEqual((yield* cliWith(embedded, "--version")).stdout.trim(), "chronicle v0.1.0")
      assert.isFalse(existsSync(dataDir), "--help started PostgreSQL")

      const port = yield* Effect.promise(() => PgServer.freePort())
      const app = yield* startApp({ ...embedded, PORT: String(port) })
      yield* listening(app, port)
      const record = JSON.parse(yield* Effect.promise(() => readFile(join(dataDir, "chronicle-server.json"), "utf8")))
      assert.isBelow(
        yield* post(port, "/orders", {
          orderId: "o-1",
          customerId: "c-1",
          items: [{ productId: "p", quantity: 1, unitPrice: 700 }],
          currency: "EUR"
        }),
        300
      )

      const streams = yield* cliWith(embedded, "streams", "order")
      assert.strictEqual(streams.code, 0, streams.stderr)
      assert.strictEqual(streams.stdout, "STREAM     VERSION\norder-o-1  0\n")
      assert.strictEqual(streams.stderr, "")
      const status = yield* cliWith(embedded, "projections", "status")
      assert.strictEqual(status.code, 0, status.stderr)
      // The app's projectors hold the leases: their sessions name the app's process.
      const appHolds = new RegExp(
        `^revenue-by-day@v1 .* chronicle:${hostname()}:${app.child.pid} \\(backend pid \\d+`,
        "m"
      )
      assert.match(status.stdout, appHolds)

      // Failures: one line on stderr, exit code 1, nothing on stdout.
      for (const [args, line] of [
        [["streams", "nope"], /^No streams in category "nope"\. Categories with an aggregate: order, account$/],
        [["state", "order-o-1", "-v", "0"], /^Unrecognized flag: -v .*\(see: chronicle state --help\)$/],
        [["events", "order-missing"], /^Stream order-missing does not exist/]
      ] as const) {
        const failed = yield* cliWith(embedded, ...args)
        assert.strictEqual(failed.code, 1, args.join(" "))
        assert.strictEqual(failed.stdout, "", args.join(" "))
        assert.match(failed.stderr.trimEnd(), line, args.join(" "))
        assert.strictEqual(failed.stderr.trimEnd().split("\n").length, 1, failed.stderr)
      }

      // The CLI used the app's server and left it running: same record, and the app still serves.
      const after = JSON.parse(yield* Effect.promise(() => readFile(join(dataDir, "chronicle-server.json"), "utf8")))
      assert.deepStrictEqual(after, record)
      assert.isBelow(yield* post(port, "/orders/o-1/pay", { paymentReference: "r", amount: 700 }), 300)
      const paid = yield* cliWith(embedded, "state", "order-o-1")
      assert.include(paid.stdout, '"status": "Paid"')

      // Ctrl-C stops the app, and with it (the last user) the server.
      app.child.kill("SIGINT")
      const code = yield* Effect.promise(() => app.exited).pipe(
        Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.die(new Error("the app did not stop")) })
      )
      assert.isNotNull(code, `the app exits on SIGINT:\n${app.output()}`)
      assert.isFalse(existsSync(join(dataDir, "chronicle-server.json")), "the server is no longer recorded")
      assert.throws(() => process.kill(record.pid, 0), /ESRCH/, "the server process has stopped")
    }).pipe(Effect.scoped),
  180_000
)
