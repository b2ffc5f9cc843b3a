// `pnpm start` as a process (on a throw-away embedded PostgreSQL): it says it listens only once it
// does, stops on Ctrl-C or SIGTERM with one "stopped" line and exit code 0, and refuses a busy port
// with one line and exit code 1.
import { PgServer } from "@chronicle/embedded-postgres"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

interface Run {
  readonly child: ChildProcess
  /** Everything written to stdout and stderr so far. */
  readonly output: () => string
  readonly exited: Promise<number | null>
}

const start = (port: number, extraEnv: Record<string, string> = {}): Run => {
  const { DATABASE_URL: _, ...env } = process.env
  // A process group of its own, as a terminal gives it: a Ctrl-C reaches the app and its database.
  const child = spawn(process.execPath, [main], {
    env: { ...env, PORT: String(port), CHRONICLE_STORE: "ephemeral", NO_COLOR: "1", ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true
  })
  let output = ""
  child.stdout!.on("data", (chunk) => {
    output += chunk
  })
  child.stderr!.on("data", (chunk) => {
    output += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, output: () => output, exited }
}

/** Waits for the "listens on" line, then checks the server really answers. */
const listening = (run: Run, port: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < 600 && !run.output().includes("listens on"); i++) await new Promise((r) => setTimeout(r, 100))
    assert.include(run.output(), `listens on http://localhost:${port}`)
    const live = await fetch(`http://127.0.0.1:${port}/health/live`)
    assert.strictEqual(live.status, 200, "the server listens once it says so")
  })

it.live("Ctrl-C (SIGINT to the process group, database included): one stopped line, exit code 0", () =>
  Effect.gen(function* () {
    const port = yield* Effect.promise(() => PgServer.freePort())
    const run = start(port)
    yield* listening(run, port)
    process.kill(-run.child.pid!, "SIGINT")
    const code = yield* Effect.promise(() => run.exited)
    const lines = run.output().trim().split("\n")
    assert.strictEqual(code, 0, run.output())
    assert.include(lines.at(-1), "The shop stopped")
    assert.strictEqual(lines.filter((line) => line.includes("stopped")).length, 1, run.output())
    assert.notMatch(run.output(), /WARN|ERROR|retrying|Connection closed/, "nothing but the stop is reported")
    assert.notInclude(run.output(), "Sent HTTP response", "requests are logged at DEBUG, below the default level")
  })
)

it.live("SIGTERM with JSON logs at DEBUG: one JSON object per line, requests at DEBUG, one stopped line, exit 0", () =>
  Effect.gen(function* () {
    const port = yield* Effect.promise(() => PgServer.freePort())
    const run = start(port, { CHRONICLE_LOG_FORMAT: "json", CHRONICLE_LOG_LEVEL: "debug" })
    yield* listening(run, port)
    process.kill(run.child.pid!, "SIGTERM")
    const code = yield* Effect.promise(() => run.exited)
    assert.strictEqual(code, 0, run.output())
    const logs = run
      .output()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { message: unknown; level: string; annotations: Record<string, unknown> })
    const request = logs.find((log) => log.annotations["http.url"] === "/health/live")
    assert.deepInclude(request, { message: "Sent HTTP response", level: "DEBUG" })
    assert.deepInclude(logs.at(-1), { message: "The shop stopped", level: "INFO" })
    assert.strictEqual(logs.filter((log) => String(log.message).includes("stopped")).length, 1)
  })
)

it.live("a busy port: one line saying so and what to do, exit code 1, no stack trace", () =>
  Effect.gen(function* () {
    const port = yield* Effect.promise(() => PgServer.freePort())
    const taken = createServer()
    yield* Effect.acquireRelease(
      Effect.promise(() => new Promise<void>((resolve) => taken.listen(port, resolve))),
      () => Effect.promise(() => new Promise<void>((resolve) => taken.close(() => resolve())))
    )
    const run = start(port)
    const code = yield* Effect.promise(() => run.exited)
    assert.strictEqual(code, 1, run.output())
    const errors = run
      .output()
      .split("\n")
      .filter((line) => line.includes("ERROR"))
    assert.deepStrictEqual(errors.length, 1, run.output())
    assert.include(errors[0], `Port ${port} is in use; set PORT to a free one`)
    assert.notInclude(run.output(), "listens on")
    assert.notMatch(run.output(), /EADDRINUSE|\n\s+at /, "no stack trace")
  })
)
