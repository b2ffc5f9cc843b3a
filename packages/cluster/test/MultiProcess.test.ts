// Three runner processes (NodeClusterSocket, shard and runner state in PostgreSQL) host the account
// stream entities; this process is a client-only member sending commands to a few hot streams from
// many fibers. One runner is SIGKILLed mid-run and a fourth joins. Every command carries its own
// idempotency key, so its event id is known in advance: each acknowledged command must be stored
// exactly once (at the version its reply named), every stream's versions contiguous.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EventStore, StreamName } from "@chronicle/core"
import { Account } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { NodeClusterSocket } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Redacted, Ref, Stream } from "effect"
import type { SqlClient } from "effect/sql"
import { StreamEntity } from "../src/index.ts"
import { Accounts, shardingConfig } from "./fixtures/accounts.ts"

/** A runner process; `SIGKILL` on release if it still runs. Resolves once it logged "ready". */
const startRunner = (url: string, port: number, script = "runner.ts", env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly child: ChildProcess; readonly loaded: Set<string> }>((resume) => {
      const child = spawn(process.execPath, [join(import.meta.dirname, "fixtures", script)], {
        env: { ...process.env, ...env, DATABASE_URL: url, PORT: String(port) },
        stdio: ["ignore", "pipe", "pipe"]
      })
      const loaded = new Set<string>()
      let output = ""
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString()
        for (const match of output.matchAll(/loaded (\S+)/g)) loaded.add(match[1]!)
        if (output.includes(`runner ${port} ready`)) resume(Effect.succeed({ child, loaded }))
      })
      child.stderr!.on("data", (chunk: Buffer) => {
        output += chunk.toString()
      })
      child.on("exit", (code) => resume(Effect.die(new Error(`runner ${port} exited (${code}): ${output}`))))
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

/** A fresh database with its schema (first, so the runners do not race to migrate it), and its event store. */
const database = (name: string) =>
  Effect.gen(function* () {
    const url = yield* PgHarness.createDatabase(name)
    const Pg = PgClient.layer({ url: Redacted.make(url), maxConnections: 8 })
    const stores = yield* Layer.build(PgStore.layerStores().pipe(Layer.provideMerge(Pg)))
    return { url, Pg, store: Context.get(stores, EventStore.EventStore) }
  })

/** This process as a client-only member of the cluster: a function sending commands to the accounts. */
const accountsClient = (Pg: Layer.Layer<SqlClient.SqlClient, unknown>) =>
  Effect.flatMap(
    Layer.build(NodeClusterSocket.layer({ clientOnly: true, storage: "sql", shardingConfig }).pipe(Layer.provide(Pg))),
    (client) => StreamEntity.client(Accounts).pipe(Effect.provideContext(client))
  )

interface Ack {
  readonly stream: string
  readonly key: string
  readonly version: number
  readonly repeat: boolean
  readonly at: number
}

const streams = ["h0", "h1", "h2", "h3", "h4", "h5"]
const writersPerStream = 4

describe("StreamEntity across processes", () => {
  it.live(
    "3 runners, one SIGKILLed and one joining: every acknowledged command landed once, versions contiguous",
    () =>
      Effect.gen(function* () {
        const { Pg, store, url } = yield* database("chronicle_cluster")
        const base = 41000 + Math.floor(Math.random() * 2000)
        const runners = yield* Effect.forEach([0, 1, 2], (i) => startRunner(url, base + i), {
          concurrency: "unbounded"
        })
        const send = yield* accountsClient(Pg)

        for (const id of streams) {
          yield* send(id, Account.OpenAccount.make({ accountId: id, owner: "ada" }), { idempotencyKey: "open" }).pipe(
            Effect.timeout("60 seconds")
          )
        }

        const acks = yield* Ref.make<Array<Ack>>([])
        const failures = yield* Ref.make<Array<string>>([])
        const stop = yield* Deferred.make<void>()
        let counter = 0
        const writer = (id: string, w: number) =>
          Effect.gen(function* () {
            while (!(yield* Deferred.isDone(stop))) {
              const key = `${id}/${w}/${counter++}`
              const result = yield* Effect.result(
                send(id, Account.Deposit.make({ amount: 1 }), { idempotencyKey: key }).pipe(
                  Effect.timeout("30 seconds")
                )
              )
              if (result._tag === "Success") {
                const reply = result.success
                yield* Ref.update(acks, (all) => [
                  ...all,
                  { stream: id, key, version: reply.version, repeat: reply.events.length === 0, at: Date.now() }
                ])
              } else {
                yield* Ref.update(failures, (all) => [...all, `${key}: ${String(result.failure)}`])
              }
            }
          })
        const fibers = yield* Effect.forEach(
          streams.flatMap((id) => Array.from({ length: writersPerStream }, (_, w) => [id, w] as const)),
          ([id, w]) => Effect.forkChild(writer(id, w))
        )

        yield* Effect.sleep("3 seconds")
        // Kill the runner that hosts the most hot streams (at least two of the six).
        const victim = runners.reduce((a, b) => (b.loaded.size > a.loaded.size ? b : a))
        const cutOff = new Set(victim.loaded)
        const killedAt = Date.now()
        victim.child.kill("SIGKILL")
        yield* Effect.sleep("2 seconds")
        yield* startRunner(url, base + 3)
        yield* Effect.sleep("10 seconds")
        yield* Deferred.succeed(stop, undefined)
        yield* Fiber.joinAll(fibers)

        assert.strictEqual(victim.child.signalCode, "SIGKILL", "the runner was killed")
        assert.isAtLeast(cutOff.size, 2, "the killed runner hosted hot streams")
        let failover = 0
        const all = yield* Ref.get(acks)
        const failed = yield* Ref.get(failures)
        const report: Array<string> = []
        let stored = 0
        for (const id of streams) {
          const stream = StreamName.make("account", id)
          const envelopes = yield* Stream.runCollect(store.readStream(stream))
          stored += envelopes.length
          assert.deepStrictEqual(
            envelopes.map((e) => e.streamVersion),
            envelopes.map((_, i) => i),
            `${id}: contiguous versions`
          )
          const byId = new Map<string, number>()
          for (const envelope of envelopes) byId.set(envelope.eventId, (byId.get(envelope.eventId) ?? 0) + 1)
          assert.strictEqual(byId.size, envelopes.length, `${id}: no event stored twice`)
          const versionOf = new Map(envelopes.map((e) => [e.eventId, e.streamVersion]))
          const mine = all.filter((ack) => ack.stream === id)
          for (const ack of mine) {
            // The event id CommandHandler and the entity derive from the command's idempotency key.
            const [data] = yield* Account.AccountEvents.toEventData(
              [Account.Deposited.make({ amount: 1 })],
              undefined,
              JSON.stringify([ack.key, stream])
            )
            const version = versionOf.get(data!.eventId)
            assert.isDefined(version, `${ack.key}: acknowledged, so stored`)
            if (!ack.repeat) assert.strictEqual(version, ack.version, `${ack.key}: at the version its reply named`)
          }
          const deposits = envelopes.filter((e) => e.type === "Deposited").length
          assert.isAtLeast(deposits, mine.length, `${id}: no acknowledged deposit lost`)
          // The longest silence of this stream after the kill: its fail-over time if the killed runner owned it.
          const times = [killedAt, ...mine.map((ack) => ack.at).filter((at) => at >= killedAt)].sort((a, b) => a - b)
          let gap = 0
          for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!)
          if (cutOff.has(stream)) failover = Math.max(failover, gap)
          report.push(
            `${id}: ${mine.length} acked, ${deposits} stored, longest gap after kill ${gap} ms` +
              (cutOff.has(stream) ? " (on the killed runner)" : "")
          )
        }
        console.log(
          [
            `multi-process: ${all.length} acknowledged (${all.filter((a) => a.repeat).length} re-runs found done), ` +
              `${failed.length} failed/timed out, ${stored} events stored; ` +
              `the killed runner's streams answered again after ${failover} ms at most`,
            ...report,
            ...failed.slice(0, 5)
          ].join("\n")
        )
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "a runner killed after an append commits, before it answers: the command runs again elsewhere, and takes effect once",
    () =>
      Effect.gen(function* () {
        const { Pg, store, url } = yield* database("chronicle_redelivery")
        const base = 43000 + Math.floor(Math.random() * 2000)
        // The first runner to append a deposit of 13 dies right after the commit (the marker file says who did).
        const marker = join(mkdtempSync(join(tmpdir(), "chronicle-crash-")), "crashed")
        const runners = yield* Effect.forEach(
          [0, 1],
          (i) => startRunner(url, base + i, "crashRunner.ts", { CRASH_MARKER: marker }),
          { concurrency: "unbounded" }
        )
        const send = yield* accountsClient(Pg)
        yield* send("crash", Account.OpenAccount.make({ accountId: "crash", owner: "ada" })).pipe(
          Effect.timeout("60 seconds")
        )
        const sentAt = Date.now()
        const reply = yield* send("crash", Account.Deposit.make({ amount: 13 })).pipe(Effect.timeout("90 seconds"))
        const answeredAfter = Date.now() - sentAt

        assert.strictEqual(runners.filter(({ child }) => child.signalCode === "SIGKILL").length, 1, "one runner died")
        // The answer came from the re-run, which found the command's events recorded under its key.
        assert.deepStrictEqual(reply.events, [])
        assert.strictEqual(reply.version, 1)
        assert.strictEqual(reply.state.balance, 13)
        const envelopes = yield* Stream.runCollect(store.readStream(StreamName.make("account", "crash")))
        assert.deepStrictEqual(
          envelopes.map((e) => [e.streamVersion, e.type, e.data]),
          [
            [0, "AccountOpened", { accountId: "crash", owner: "ada" }],
            [1, "Deposited", { amount: 13 }]
          ]
        )
        console.log(`re-delivery: the killed runner's command was answered by the other after ${answeredAfter} ms`)
      }).pipe(Effect.scoped),
    200_000
  )
})
