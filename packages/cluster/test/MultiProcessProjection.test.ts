// Three runner processes (NodeClusterSocket, shard and runner state in PostgreSQL) run the six
// partitions of a tally projection that is NOT idempotent (`n = n + 1` per event) as cluster
// singletons. The runner running the most partitions is SIGKILLed mid-catch-up (its transactions
// die with it); its partitions start again on the survivors from their checkpoints. The tally must
// equal a fold from scratch, with every event applied exactly once: none twice, none missed.
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { CheckpointStore, EventStore, Projector } from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schedule } from "effect"
import { appendPayments, createTables, journalStats, rows, tally } from "./fixtures/tally.ts"

const runnerScript = join(import.meta.dirname, "fixtures", "projectionRunner.ts")

interface Runner {
  readonly port: number
  readonly child: ChildProcess
  /** Partitions this runner runs now. */
  readonly running: Set<string>
  /** Every partition this runner ever started. */
  readonly started: Set<string>
}

/** A runner process; `SIGKILL` on release if it still runs. Resolves once it logged "ready". */
const startRunner = (url: string, port: number) =>
  Effect.acquireRelease(
    Effect.callback<Runner>((resume) => {
      const child = spawn(process.execPath, [runnerScript], {
        env: { ...process.env, DATABASE_URL: url, PORT: String(port) },
        stdio: ["ignore", "pipe", "pipe"]
      })
      const runner: Runner = { port, child, running: new Set(), started: new Set() }
      let output = ""
      let lines = ""
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString()
        lines += chunk.toString()
        const complete = lines.split("\n")
        lines = complete.pop()!
        for (const line of complete) {
          const started = /started (\S+)/.exec(line)
          if (started !== null) {
            runner.running.add(started[1]!)
            runner.started.add(started[1]!)
          }
          const stopped = /stopped (\S+)/.exec(line)
          if (stopped !== null) runner.running.delete(stopped[1]!)
        }
        if (output.includes(`runner ${port} ready`)) resume(Effect.succeed(runner))
      })
      child.stderr!.on("data", (chunk: Buffer) => {
        output += chunk.toString()
      })
      child.on("exit", (code) => resume(Effect.die(new Error(`runner ${port} exited (${code}): ${output}`))))
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

describe("PartitionedProjection across processes", () => {
  it.live(
    "3 runners, the busiest SIGKILLed mid-catch-up: the non-idempotent tally equals the fold, 0 applied twice, 0 missed",
    () =>
      Effect.gen(function* () {
        const url = yield* PgHarness.createDatabase("chronicle_partitions")
        const Pg = PgClient.layer({ url: Redacted.make(url), maxConnections: 8 })
        // The schema and the tables first, so the runners do not race to create them.
        const stores = yield* Layer.build(PgStore.layerStores().pipe(Layer.provideMerge(Pg)))
        const withStores = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideContext(effect, stores)
        yield* withStores(Effect.andThen(createTables("live"), createTables("fold")))
        yield* withStores(appendPayments(3000))

        const base = 43000 + Math.floor(Math.random() * 2000)
        const runners = yield* Effect.forEach([0, 1, 2], (i) => startRunner(url, base + i), {
          concurrency: "unbounded"
        })
        // More events while the partitions catch up.
        yield* withStores(appendPayments(1000, 3000))
        const journaled = withStores(Effect.map(journalStats("live"), (s) => s.applied))
        yield* Effect.repeat(journaled, {
          until: (n) => n >= 800,
          schedule: Schedule.spaced("50 millis")
        }).pipe(Effect.timeout("60 seconds"))

        // Kill the runner running the most partitions while the catch-up is under way.
        const victim = runners.reduce((a, b) => (b.running.size > a.running.size ? b : a))
        const cutOff = new Set(victim.running)
        const before = yield* journaled
        victim.child.kill("SIGKILL")
        const killedAt = Date.now()
        yield* withStores(appendPayments(1000, 4000))

        const head = yield* withStores(EventStore.EventStore.use((store) => store.head))
        const caughtUp = withStores(
          Effect.map(
            CheckpointStore.CheckpointStore.use((c) => c.list),
            (list) => [0, 1, 2, 3, 4, 5].every((p) => (list.get(`tally@v1/p${p}of6`)?.sequence ?? -1n) >= head.sequence)
          )
        )
        yield* Effect.repeat(caughtUp, { until: (done) => done, schedule: Schedule.spaced("100 millis") }).pipe(
          Effect.timeout("90 seconds")
        )
        const caughtUpAfter = Date.now() - killedAt

        assert.strictEqual(victim.child.signalCode, "SIGKILL", "the runner was killed")
        assert.isAtLeast(cutOff.size, 1, "the killed runner ran partitions")
        assert.isBelow(before, 4000, "killed mid-catch-up")
        const survivors = runners.filter((r) => r !== victim)
        for (const partition of cutOff) {
          assert.isTrue(
            survivors.some((r) => r.running.has(partition)),
            `${partition} moved to a survivor`
          )
        }
        // Exactly one survivor runs each partition now.
        for (const p of [0, 1, 2, 3, 4, 5]) {
          const name = `tally@v1/p${p}of6`
          assert.strictEqual(survivors.filter((r) => r.running.has(name)).length, 1, `${name}: one owner`)
        }

        // The fold from scratch, in this process: one unpartitioned pass over the whole log.
        yield* withStores(Projector.catchUp(tally({ name: "fold", partitions: 1, runner: "fold", suffix: "fold" })))
        const [live, fold] = yield* withStores(Effect.all([rows("live"), rows("fold")]))
        assert.deepStrictEqual(live, fold)
        const stats = yield* withStores(journalStats("live"))
        assert.strictEqual(stats.distinct_events, 5000, "0 missed")
        assert.strictEqual(stats.applied, stats.distinct_events, "0 applied twice")
        assert.isAtLeast(stats.runners, 2)
        console.log(
          `multi-process projection: 6 partitions on 3 runners; killed r${victim.port} running ` +
            `${[...cutOff].join(", ")} after ${before} events applied; all 5000 applied once, every partition ` +
            `at the head ${caughtUpAfter} ms after the kill; partitions per runner: ` +
            runners.map((r) => `r${r.port}: ${[...r.started].join(" ")}`).join("; ")
        )
      }).pipe(Effect.scoped),
    180_000
  )
})
