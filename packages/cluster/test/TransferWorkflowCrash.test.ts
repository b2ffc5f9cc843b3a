// Transfer workflows whose runner process dies mid-transfer (fixtures/transferRunner.ts, one runner
// process, restarted on the same address after each death). This process is a client-only cluster
// member that starts the workflow and polls it. The workflow resumes each time (its unfinished step
// runs again) and ends; the event store holds each step's effect once.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CommandHandler, EventStore, StreamName } from "@chronicle/core"
import { Account, TransferWorkflow } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { NodeClusterSocket } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Redacted, Schedule, Stream } from "effect"
import { ClusterWorkflowEngine } from "effect/cluster"
import { shardingConfig } from "./fixtures/transfers.ts"

const runnerScript = join(import.meta.dirname, "fixtures", "transferRunner.ts")
const { Transfer } = TransferWorkflow

interface Runner {
  readonly child: ChildProcess
  readonly output: () => string
  /** Resolves with the signal once the process is gone. */
  readonly exited: Effect.Effect<string | null>
}

/** A runner process, resolved once it logged "ready"; `SIGKILL` on release if it still runs. */
const startRunner = (env: Record<string, string>, port: number) =>
  Effect.acquireRelease(
    Effect.callback<Runner>((resume) => {
      const child = spawn(process.execPath, [runnerScript], {
        env: { ...process.env, ...env, PORT: String(port) },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      let ready = false
      const gone = new Promise<string | null>((done) => child.on("exit", (_code, signal) => done(signal)))
      const runner: Runner = { child, output: () => output, exited: Effect.promise(() => gone) }
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString()
        if (!ready && output.includes(`runner ${port} ready`)) {
          ready = true
          resume(Effect.succeed(runner))
        }
      })
      child.stderr!.on("data", (chunk: Buffer) => {
        output += chunk.toString()
      })
      child.on("exit", (code) => {
        if (!ready) resume(Effect.die(new Error(`runner ${port} exited (${code}) before ready: ${output}`)))
      })
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

/** A fresh database with its schema, two accounts, and this process as a client-only cluster member. */
const setup = (from: string, to: string) =>
  Effect.gen(function* () {
    const url = yield* PgHarness.createDatabase("chronicle_transfer")
    const Pg = PgClient.layer({ url: Redacted.make(url), maxConnections: 8 })
    // The schema first, so the runner and this process do not race to migrate it.
    const stores = yield* Layer.build(PgStore.layerStores().pipe(Layer.provideMerge(Pg)))
    const accounts = yield* CommandHandler.make({ decider: Account.decider, codec: Account.AccountEvents }).pipe(
      Effect.provideContext(stores)
    )
    yield* accounts.handle(stream(from), Account.OpenAccount.make({ accountId: from, owner: "ada" }))
    yield* accounts.handle(stream(from), Account.Deposit.make({ amount: 100 }))
    yield* accounts.handle(stream(to), Account.OpenAccount.make({ accountId: to, owner: "bob" }))
    const client = yield* Layer.build(
      ClusterWorkflowEngine.layer.pipe(
        Layer.provideMerge(NodeClusterSocket.layer({ clientOnly: true, storage: "sql", shardingConfig })),
        Layer.provide(Pg)
      )
    )
    const store = yield* EventStore.EventStore.pipe(Effect.provideContext(stores))
    const eventsOf = (transferId: string) =>
      Effect.map(Stream.runCollect(store.readAll()), (all) =>
        all.filter((e) => e.metadata.correlationId === transferId)
      )
    const balanceOf = (id: string) => Effect.map(accounts.load(stream(id)), (loaded) => loaded.state.balance)
    /** The workflow's result, once it is complete. */
    const outcome = (executionId: string) =>
      Transfer.poll(executionId).pipe(
        Effect.provideContext(client),
        Effect.flatMap((polled) =>
          Option.isSome(polled) && polled.value._tag === "Complete"
            ? Effect.succeed(polled.value.exit)
            : Effect.fail("not yet")
        ),
        Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 300 }),
        Effect.flatMap((exit) =>
          Exit.isSuccess(exit) ? Effect.succeed(exit.value) : Effect.die(new Error(`workflow failed: ${exit}`))
        )
      )
    return { url, client, eventsOf, balanceOf, outcome }
  })

const stream = (id: string) => StreamName.make("account", id)
const newPort = () => 43000 + Math.floor(Math.random() * 2000)
const crashDir = () => mkdtempSync(join(tmpdir(), "transfer-crash-"))
const count = (log: string, pattern: RegExp) => log.match(pattern)?.length ?? 0

describe("TransferWorkflow across runner crashes", () => {
  it.live(
    "SIGKILLed after the debit and after the credit: the workflow resumes, completes, each step's effect once",
    () =>
      Effect.gen(function* () {
        const { url, client, eventsOf, balanceOf, outcome } = yield* setup("x1", "x2")
        const env = { DATABASE_URL: url, CRASH_DIR: crashDir(), CRASH_AFTER: "debit,credit" }
        const port = newPort()
        const outputs: Array<string> = []
        let runner = yield* startRunner(env, port)
        const payload = { transferId: "t-crash", from: "x1", to: "x2", amount: 30 }
        const started = Date.now()
        const executionId = yield* Transfer.execute(payload, { discard: true }).pipe(Effect.provideContext(client))

        // Two crashes: each time, wait for the runner to die and start it again on the same address.
        const crashes: Array<number> = []
        for (let crash = 0; crash < 2; crash++) {
          const signal = yield* runner.exited.pipe(Effect.timeout("60 seconds"))
          assert.strictEqual(signal, "SIGKILL", runner.output())
          crashes.push(Date.now() - started)
          outputs.push(runner.output())
          runner = yield* startRunner(env, port)
        }
        const result = yield* outcome(executionId)
        const took = Date.now() - started
        outputs.push(runner.output())
        const log = outputs.join("\n")
        console.log(`crash test: killed at ${crashes.join(" ms, ")} ms, completed after ${took} ms`)

        assert.strictEqual(result._tag, "Completed")
        assert.include(log, "crashes after debit t-crash")
        assert.include(log, "crashes after credit t-crash")
        // Each step that crashed before its result was journaled ran again after the restart …
        assert.strictEqual(count(log, /did debit t-crash/g), 2, log)
        assert.strictEqual(count(log, /did credit t-crash/g), 2, log)
        // … and its effect is stored once.
        const events = yield* eventsOf("t-crash")
        assert.deepStrictEqual(
          events.map((e) => e.type),
          ["TransferDebited", "TransferCredited"]
        )
        assert.strictEqual(events[1]!.metadata.causationId, events[0]!.eventId)
        assert.strictEqual(yield* balanceOf("x1"), 70)
        assert.strictEqual(yield* balanceOf("x2"), 30)
      }),
    180_000
  )

  it.live(
    "SIGKILLed while the credit waits, back after the deadline, SIGKILLed after the refund: compensated once",
    () =>
      Effect.gen(function* () {
        const deadlineMs = 4_000
        const { url, client, eventsOf, balanceOf, outcome } = yield* setup("y1", "slow-y")
        const env = { DATABASE_URL: url, CRASH_DIR: crashDir(), CRASH_AFTER: "refund", DEADLINE_MS: String(deadlineMs) }
        const port = newPort()
        const outputs: Array<string> = []
        const first = yield* startRunner(env, port)
        const started = Date.now()
        const executionId = yield* Transfer.execute(
          { transferId: "t-wait", from: "y1", to: "slow-y", amount: 30 },
          { discard: true }
        ).pipe(Effect.provideContext(client))
        // Killed from outside while the credit step waits; restarted only once the deadline passed.
        while (!first.output().includes("waits for credit t-wait")) yield* Effect.sleep("50 millis")
        const waitingAt = Date.now() - started
        first.child.kill("SIGKILL")
        yield* first.exited
        outputs.push(first.output())
        yield* Effect.sleep(Math.max(0, deadlineMs + 500 - (Date.now() - started)))
        // The restarted runner finds the deadline passed (it was journaled): it declines at once,
        // refunds, and dies right after the refund's command committed.
        const second = yield* startRunner(env, port)
        assert.strictEqual(yield* second.exited.pipe(Effect.timeout("60 seconds")), "SIGKILL", second.output())
        outputs.push(second.output())
        const third = yield* startRunner(env, port)
        const result = yield* outcome(executionId)
        const took = Date.now() - started
        outputs.push(third.output())
        const log = outputs.join("\n")
        console.log(
          `deadline crash test: credit waiting at ${waitingAt} ms (killed), deadline ${deadlineMs} ms, compensated after ${took} ms`
        )

        assert.strictEqual(result._tag, "Compensated")
        // The credit waited in the first run only: after the restart the journaled deadline had passed.
        assert.strictEqual(count(log, /waits for credit t-wait/g), 1, log)
        assert.strictEqual(count(log, /did decline t-wait/g), 1, log)
        assert.strictEqual(count(log, /did refund t-wait/g), 2, log)
        const events = yield* eventsOf("t-wait")
        assert.deepStrictEqual(
          events.map((e) => e.type),
          ["TransferDebited", "TransferCreditDeclined", "TransferDebitReversed"]
        )
        assert.strictEqual(yield* balanceOf("y1"), 100)
        assert.strictEqual(yield* balanceOf("slow-y"), 0)
      }),
    180_000
  )
})
