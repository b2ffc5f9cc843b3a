// The shop in cluster mode, as the README runs it: three `pnpm start` processes on one PostgreSQL,
// each serving HTTP and each a runner (CHRONICLE_MODE=cluster). Commands sent to any of them reach
// the stream's one writer; transfers complete through the process manager, a cluster singleton; a
// runner SIGKILLed mid-run has its streams answer again through the others.
import { PgHarness } from "@chronicle/testing"
import { PgServer } from "@chronicle/embedded-postgres"
import { assert, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

interface Shop {
  readonly port: number
  readonly child: ChildProcess
}

/** A shop process in cluster mode on `url`; SIGKILLed on release if it still runs. */
const startShop = (url: string) =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => PgServer.freePort())
      const runnerPort = yield* Effect.promise(() => PgServer.freePort())
      return yield* Effect.callback<Shop>((resume) => {
        const child = spawn(process.execPath, [main], {
          env: {
            ...process.env,
            DATABASE_URL: url,
            PORT: String(port),
            CHRONICLE_MODE: "cluster",
            CHRONICLE_RUNNER_PORT: String(runnerPort),
            NO_COLOR: "1"
          },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let output = ""
        const collect = (chunk: Buffer) => {
          output += chunk.toString()
          if (output.includes("in cluster mode")) resume(Effect.succeed({ port, child }))
        }
        child.stdout!.on("data", collect)
        child.stderr!.on("data", collect)
        child.on("exit", (code) => resume(Effect.die(new Error(`shop on ${port} exited (${code}): ${output}`))))
      })
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

const post = (shop: Shop, path: string, body: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${shop.port}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    return { status: response.status, body: (await response.json()) as { version?: number; state?: unknown } }
  })

const get = (shop: Shop, path: string) =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${shop.port}${path}`)
    return (await response.json()) as { balance?: number }
  })

it.live(
  "three shops in cluster mode: one writer per stream, transfers complete, a killed runner's streams answer again",
  () =>
    Effect.gen(function* () {
      const url = yield* PgHarness.createDatabase("chronicle_shop_cluster")
      // Started together: their migrations race on an empty database.
      const shops = yield* Effect.all([startShop(url), startShop(url), startShop(url)], { concurrency: "unbounded" })
      const [s1, s2, s3] = shops as [Shop, Shop, Shop]
      // Shards settle among the three within about a second (refreshAssignmentsInterval).
      yield* Effect.sleep("3 seconds")
      const accounts = Array.from({ length: 8 }, (_, i) => `acct-${i}`)
      for (const [i, id] of accounts.entries()) {
        const opened = yield* post(shops[i % 3]!, "/accounts", { accountId: id, owner: `Owner ${i}` })
        assert.strictEqual(opened.status, 200, JSON.stringify(opened.body))
      }

      // 60 deposits of 1 to one account, 20 through each shop, concurrently.
      const deposits = yield* Effect.forEach(
        Array.from({ length: 60 }, (_, i) => shops[i % 3]!),
        (shop) => post(shop, "/accounts/acct-0/deposit", { amount: 1 }),
        { concurrency: 12 }
      )
      assert.deepStrictEqual(
        deposits.map((d) => d.status),
        deposits.map(() => 200)
      )
      // One writer: every deposit got its own version, 1 to 60.
      assert.deepStrictEqual(
        deposits.map((d) => d.body.version!).sort((a, b) => a - b),
        Array.from({ length: 60 }, (_, i) => i + 1)
      )

      // Transfers from acct-0 to the others, sent through different shops.
      for (const [i, to] of accounts.slice(1).entries()) {
        const sent = yield* post(shops[i % 3]!, "/transfers", { transferId: `t-${i}`, from: "acct-0", to, amount: 5 })
        assert.strictEqual(sent.status, 200, JSON.stringify(sent.body))
      }
      const credited = (id: string) => Effect.map(get(s1, `/accounts/${id}`), (account) => account.balance)
      for (const to of accounts.slice(1)) {
        const balance = yield* credited(to).pipe(
          Effect.repeat({ until: (balance) => balance === 5, schedule: Schedule.spaced("200 millis"), times: 100 })
        )
        assert.strictEqual(balance, 5, `${to} was credited by its transfer`)
      }

      // A runner dies. Every account answers again through the other two shops.
      s3.child.kill("SIGKILL")
      const killedAt = Date.now()
      const recovered = yield* Effect.forEach(
        accounts,
        (id, i) =>
          post([s1, s2][i % 2]!, `/accounts/${id}/deposit`, { amount: 1 }).pipe(
            Effect.map((reply) => ({ id, status: reply.status, seconds: (Date.now() - killedAt) / 1000 }))
          ),
        { concurrency: "unbounded" }
      )
      const slowest = Math.max(...recovered.map((r) => r.seconds))
      console.log(`cluster-mode shop: every account answered within ${slowest.toFixed(1)} s of the SIGKILL`)
      assert.deepStrictEqual(
        recovered.map((r) => r.status),
        accounts.map(() => 200)
      )
      assert.isBelow(slowest, 10, "the killed runner's shards moved")
      // acct-0: 60 deposits, 7 transfers out, 1 more deposit; read back through its entity.
      const state = yield* post(s2, "/accounts/acct-0/deposit", { amount: 1 })
      assert.strictEqual((state.body.state as { balance: number }).balance, 60 - 35 + 2)
      assert.strictEqual(state.body.version, 60 + 7 + 2)
    }).pipe(Effect.scoped),
  120_000
)
