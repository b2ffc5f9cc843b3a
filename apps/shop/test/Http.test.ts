// End to end: the real app on a free port, against a real PostgreSQL, driven over HTTP.
import { PgServer } from "@chronicle/embedded-postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import * as App from "../src/App.ts"

const start = Effect.gen(function* () {
  const url = yield* PgHarness.createDatabase("shop_e2e")
  const port = yield* Effect.promise(() => PgServer.freePort())
  yield* Layer.build(App.layer(url, port))
  const base = `http://127.0.0.1:${port}`
  const call = (method: string, path: string, body?: unknown, raw?: string) =>
    Effect.promise(async () => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        ...(body !== undefined || raw !== undefined ? { body: raw ?? JSON.stringify(body) } : {})
      })
      const text = await response.text()
      let json: any
      try {
        json = JSON.parse(text)
      } catch {
        json = text
      }
      return { status: response.status, body: json }
    })
  return { call }
})

const order = (orderId: string, customerId = "cust-1") => ({
  orderId,
  customerId,
  items: [{ productId: "p-1", quantity: 2, unitPrice: 1250 }],
  currency: "EUR"
})

it.live("places, pays and cancels orders; answers 409 and 422; queries reflect the commands", () =>
  Effect.gen(function* () {
    const { call } = yield* start
    const placed = yield* call("POST", "/orders", order("o-1"))
    assert.strictEqual(placed.status, 200)
    assert.deepStrictEqual(
      [placed.body.version, placed.body.state.status, placed.body.state.total],
      [0, "Pending", 2500]
    )
    // The order summary is an inline projection: readable at once.
    const summary = yield* call("GET", "/orders/o-1")
    assert.deepStrictEqual(summary.body, {
      orderId: "o-1",
      customerId: "cust-1",
      status: "Pending",
      total: 2500,
      currency: "EUR",
      version: 0
    })

    const stale = yield* call("POST", "/orders/o-1/pay", { paymentReference: "r", amount: 2500, expectedVersion: 3 })
    assert.strictEqual(stale.status, 409)
    assert.strictEqual(stale.body.actualVersion, 0)
    const wrongAmount = yield* call("POST", "/orders/o-1/pay", { paymentReference: "r", amount: 1 })
    assert.strictEqual(wrongAmount.status, 422)
    assert.include(wrongAmount.body.reason, "does not match the total")
    const paid = yield* call("POST", "/orders/o-1/pay", { paymentReference: "r", amount: 2500, expectedVersion: 0 })
    assert.deepStrictEqual([paid.status, paid.body.version], [200, 1])
    const cancelPaid = yield* call("POST", "/orders/o-1/cancel", { reason: "late" })
    assert.deepStrictEqual([cancelPaid.status, cancelPaid.body._tag, cancelPaid.body.version], [422, "Terminated", 1])
    assert.include(cancelPaid.body.message, "reached a terminal state at version 1")
    assert.strictEqual((yield* call("POST", "/orders", order("o-1"))).status, 409, "placing twice: the stream exists")

    yield* call("POST", "/orders", order("o-2"))
    assert.strictEqual((yield* call("POST", "/orders/o-2/cancel", { reason: "changed mind" })).status, 200)
    const history = yield* call("GET", "/customers/cust-1/orders")
    assert.deepStrictEqual(
      history.body.map((o: any) => [o.orderId, o.status]),
      [
        ["o-1", "Paid"],
        ["o-2", "Cancelled"]
      ]
    )

    // Revenue by day is projected by a fiber: it catches up.
    const revenue = yield* call("GET", "/revenue").pipe(
      Effect.repeat({ until: (r) => r.body.length > 0, schedule: Schedule.spaced("50 millis") }),
      Effect.timeout("20 seconds")
    )
    assert.deepStrictEqual(
      revenue.body.map((r: any) => [r.currency, r.revenue, r.orders]),
      [["EUR", 2500, 1]]
    )

    const events = yield* call("GET", "/streams/order-o-1/events")
    assert.deepStrictEqual(
      events.body.map((e: any) => [e.type, e.streamVersion]),
      [
        ["OrderPlaced", 0],
        ["PaymentConfirmed", 1]
      ]
    )
    const asOf = yield* call("GET", "/streams/order-o-1/state?version=0")
    assert.strictEqual(asOf.body.state.status, "Pending")
    const now = yield* call("GET", "/streams/order-o-1/state")
    assert.strictEqual(now.body.state.status, "Paid")

    const docs = yield* call("GET", "/openapi.json")
    assert.strictEqual(docs.status, 200)
    assert.property(docs.body.paths, "/orders/{orderId}/pay")
  })
)

it.live("accounts and transfers: balances from the read model, compensation when the target is missing", () =>
  Effect.gen(function* () {
    const { call } = yield* start
    assert.strictEqual((yield* call("POST", "/accounts", { accountId: "alice", owner: "Alice" })).status, 200)
    yield* call("POST", "/accounts", { accountId: "bob", owner: "Bob" })
    yield* call("POST", "/accounts/alice/deposit", { amount: 1000 })
    assert.strictEqual((yield* call("POST", "/accounts/alice/withdraw", { amount: 5000 })).status, 422)
    assert.strictEqual(
      (yield* call("POST", "/transfers", { transferId: "t1", from: "alice", to: "bob", amount: 300 })).status,
      200
    )
    assert.strictEqual(
      (yield* call("POST", "/transfers", { transferId: "t2", from: "alice", to: "nobody", amount: 100 })).status,
      200
    )
    const settled = (id: string, balance: number) =>
      call("GET", `/accounts/${id}`).pipe(
        Effect.repeat({ until: (r) => r.body.balance === balance, schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("20 seconds")
      )
    yield* settled("bob", 300)
    // The transfer to a missing account was debited, then reversed by the process manager.
    yield* settled("alice", 700)
    const alice = yield* call("GET", "/streams/account-alice/events")
    assert.deepStrictEqual(
      alice.body.map((e: any) => e.type),
      ["AccountOpened", "Deposited", "TransferDebited", "TransferDebited", "TransferDebitReversed"]
    )
  })
)

it.live("malformed requests get a 4xx and change nothing", () =>
  Effect.gen(function* () {
    const { call } = yield* start
    yield* call("POST", "/orders", order("o-9"))
    const cases: Array<[string, string, unknown, string | undefined]> = [
      ["POST", "/orders", undefined, "{not json"],
      ["POST", "/orders", { ...order("o-10"), items: "many" }, undefined],
      ["POST", "/orders", { ...order("o-11"), items: [] }, undefined],
      ["POST", "/orders", { ...order("o-12"), currency: "euros" }, undefined],
      ["POST", "/orders", { ...order("o'; DROP TABLE x;--") }, undefined],
      ["POST", "/orders/o-9/pay", { paymentReference: "r", amount: "lots" }, undefined],
      ["POST", "/orders", undefined, JSON.stringify({ ...order("o-13"), pad: "x".repeat(12 * 1024 * 1024) })],
      ["GET", "/orders/unknown-order", undefined, undefined],
      ["GET", "/streams/nodash/events", undefined, undefined],
      ["GET", "/streams/order-nope/events", undefined, undefined],
      ["GET", "/streams/order-o-9/state?at=yesterday", undefined, undefined]
    ]
    for (const [method, path, body, raw] of cases) {
      const response = yield* call(method, path, body, raw)
      assert.isTrue(response.status >= 400 && response.status < 500, `${method} ${path}: ${response.status}`)
    }
    const events = yield* call("GET", "/streams/order-o-9/events")
    assert.strictEqual(events.body.length, 1, "nothing was appended")
    for (const id of ["o-10", "o-11", "o-12", "o-13"])
      assert.strictEqual((yield* call("GET", `/orders/${id}`)).status, 404)
  })
)
