/**
 * `pnpm demo`: a scripted walkthrough of the shop on the embedded PostgreSQL
 * (kept in apps/shop/.data; `DATABASE_URL` to use another server). It starts
 * the real app, drives it over HTTP, and prints what happens.
 */
import { CommandHandler, EventStore, ExpectedVersion, Projection, Projector, StreamName } from "@chronicle/core"
import { PgServer } from "@chronicle/embedded-postgres"
import { Account, Order, Transfer } from "@chronicle/example"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Duration, Effect, Layer, Metric, Ref, References } from "effect"
import { SqlClient } from "effect/sql"
import * as App from "./App.ts"
import * as ReadModels from "./ReadModels.ts"

const step = (n: number, title: string) => Console.log(`\n${n}. ${title}`)
const show = (line: string) => Console.log(`   ${line}`)

const program = Effect.gen(function* () {
  const url = yield* App.databaseUrl
  const port = yield* Effect.promise(() => PgServer.freePort())
  const context = yield* Layer.build(App.layer(url, port))
  const run = <A, E>(effect: Effect.Effect<A, E, any>) => Effect.provide(effect, context) as Effect.Effect<A, E>
  const http = (method: "GET" | "POST", path: string, body?: unknown) =>
    Effect.promise(async () => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
      return { status: response.status, body: (await response.json()) as any }
    })
  const id = Date.now().toString(36)
  yield* Console.log(`Chronicle shop demo — the app is serving http://127.0.0.1:${port} (docs at /docs)`)

  yield* step(1, "Place an order, pay it, and cancel another (POST /orders, /pay, /cancel)")
  const placed = yield* http("POST", "/orders", {
    orderId: `o-${id}`,
    customerId: `alice-${id}`,
    items: [{ productId: "book", quantity: 2, unitPrice: 1250 }],
    currency: "EUR"
  })
  yield* show(
    `placed order-o-${id}: ${placed.status}, version ${placed.body.version}, total ${placed.body.state.total} (cents)`
  )
  const paid = yield* http("POST", `/orders/o-${id}/pay`, {
    paymentReference: "pay-1",
    amount: 2500,
    expectedVersion: 0
  })
  yield* show(`paid: ${paid.status}, status ${paid.body.state.status}`)
  yield* http("POST", "/orders", {
    orderId: `o2-${id}`,
    customerId: `alice-${id}`,
    items: [{ productId: "pen", quantity: 1, unitPrice: 300 }],
    currency: "EUR"
  })
  const cancelled = yield* http("POST", `/orders/o2-${id}/cancel`, { reason: "changed my mind" })
  yield* show(`cancelled order-o2-${id}: ${cancelled.status}, status ${cancelled.body.state.status}`)
  const refused = yield* http("POST", `/orders/o-${id}/cancel`, { reason: "too late" })
  yield* show(`cancelling the paid order: ${refused.status} — ${refused.body.detail}`)
  const stale = yield* http("POST", `/orders/o-${id}/pay`, {
    paymentReference: "pay-2",
    amount: 2500,
    expectedVersion: 0
  })
  yield* show(
    `paying again with a stale expectedVersion 0: ${stale.status}, the stream is at ${stale.body.actualVersion}`
  )

  yield* step(2, "A conflict, retried: two writers (think two processes) deposit into one account at once")
  const account = Transfer.accountStream(`dora-${id}`)
  yield* run(
    Effect.gen(function* () {
      const writer = CommandHandler.make({ decider: Account.decider, codec: Account.AccountEvents })
      const [a, b] = [yield* writer, yield* writer]
      yield* a.handle(account, Account.OpenAccount.make({ accountId: `dora-${id}`, owner: "Dora" }))
      const outcomes = yield* Effect.all(
        [
          a.handle(account, Account.Deposit.make({ amount: 100 })),
          b.handle(account, Account.Deposit.make({ amount: 50 }))
        ],
        { concurrency: "unbounded" }
      )
      for (const [name, outcome] of [
        ["writer A", outcomes[0]],
        ["writer B", outcomes[1]]
      ] as const) {
        yield* show(
          `${name}: deposit applied at version ${outcome.version} after ${outcome.attempts} attempt(s)` +
            (outcome.attempts > 1 ? " — it met WrongExpectedVersion, reloaded and decided again" : "")
        )
      }
      yield* show(`balance: ${(yield* a.load(account)).state.balance}`)
    }).pipe(Effect.scoped)
  )

  yield* step(3, "A legacy OrderPlaced stored as schema v1 ({ product_ids }) loads through the upcasters as v3")
  const legacy = StreamName.make("order", `legacy-${id}`)
  yield* run(
    EventStore.EventStore.use((store) =>
      store.append(
        legacy,
        [
          {
            eventId: crypto.randomUUID(),
            type: "OrderPlaced",
            schemaVersion: 1,
            data: { orderId: `legacy-${id}`, customerId: `carol-${id}`, product_ids: ["lamp", "desk"] },
            metadata: { actor: "import-2019" }
          }
        ],
        ExpectedVersion.noStream
      )
    )
  )
  const legacyState = yield* http("GET", `/streams/${legacy}/state`)
  yield* show(`stored: OrderPlaced v1 {"product_ids":["lamp","desk"]}`)
  yield* show(`loaded: ${JSON.stringify(legacyState.body.state)}`)

  yield* step(4, "Temporal query: the paid order as of version 0")
  const asOf = yield* http("GET", `/streams/order-o-${id}/state?version=0`)
  const now = yield* http("GET", `/streams/order-o-${id}/state`)
  yield* show(`as of version 0: ${asOf.body.state.status}; now (version ${now.body.version}): ${now.body.state.status}`)

  yield* step(5, "Read models: the order summary (inline: read-your-writes), a customer's orders, revenue by day")
  const summary = yield* http("GET", `/orders/o-${id}`)
  yield* show(`GET /orders/o-${id} → ${JSON.stringify(summary.body)}`)
  const history = yield* http("GET", `/customers/alice-${id}/orders`)
  yield* show(
    `GET /customers/alice-${id}/orders → ${history.body.map((o: any) => `${o.orderId}:${o.status}`).join(", ")}`
  )
  yield* Effect.sleep("1 second")
  const revenue = yield* http("GET", "/revenue")
  yield* show(`GET /revenue → ${JSON.stringify(revenue.body)}`)
  for (const projection of ReadModels.projected) {
    const metrics = Projector.metrics(Projection.checkpointName(projection))
    const lag = yield* Metric.value(metrics.lagEvents)
    const handled = yield* Metric.value(metrics.handled)
    yield* show(
      `${Projection.checkpointName(projection).padEnd(20)} lag ${lag.value} events, ${handled.count} handled by this process`
    )
  }

  yield* step(6, "Rebuild a projection from position 0 beside the live one, with progress")
  const table = `shop.demo_event_counts_${id}`
  yield* run(
    SqlClient.SqlClient.use((sql) => sql.unsafe(`CREATE TABLE ${table} (type text PRIMARY KEY, events int NOT NULL)`))
  )
  const counts = Projection.makeBatched({
    name: `demo-event-counts-${id}`,
    version: 1,
    codec: Order.OrderEvents,
    batchSize: 2,
    handleBatch: (events) =>
      SqlClient.SqlClient.use((sql) =>
        Effect.forEach(events, (e) =>
          sql.unsafe(
            `INSERT INTO ${table} VALUES ($1, 1) ON CONFLICT (type) DO UPDATE SET events = ${table}.events + 1`,
            [e.type]
          )
        )
      )
  })
  const lastLine = yield* Ref.make("")
  yield* run(
    Projector.rebuild(counts, {
      takeOver: Console.log("   caught up: switching readers over (in the same transaction as the last batch)"),
      onProgress: (p) => {
        const width = 24
        const filled = p.total === 0 ? width : Math.round((p.done / p.total) * width)
        const line =
          `   [${"#".repeat(filled)}${".".repeat(width - filled)}] ${p.done}/${p.total} events, ` +
          `${Math.round(p.eventsPerSecond)} events/s, ETA ${Duration.format(Duration.seconds(Math.ceil(Duration.toSeconds(p.eta))))}`
        return Effect.flatMap(Ref.getAndSet(lastLine, line), (previous) =>
          previous === line ? Effect.void : Console.log(line)
        )
      }
    })
  )
  const rebuilt = yield* run(
    SqlClient.SqlClient.use((sql) =>
      sql.unsafe<{ type: string; events: number }>(`SELECT * FROM ${table} ORDER BY type`)
    )
  )
  yield* show(`rebuilt: ${rebuilt.map((r) => `${r.type}=${r.events}`).join(", ")}`)
  yield* run(SqlClient.SqlClient.use((sql) => sql.unsafe(`DROP TABLE ${table}`)))

  yield* Console.log("\nDone. `pnpm start` serves this API until stopped; the CLI: pnpm chronicle --help")
}).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Warn"))

NodeRuntime.runMain(program)
