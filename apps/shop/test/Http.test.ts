// End to end: the real app on a free port, against a real PostgreSQL, driven over HTTP.
import { PgServer } from "@chronicle/embedded-postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Cause, Effect, Layer, Logger, Redacted, Schedule } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import packageJson from "../package.json" with { type: "json" }
import * as App from "../src/App.ts"

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: any
}

const start = Effect.gen(function* () {
  const url = yield* PgHarness.createDatabase("shop_e2e")
  const port = yield* Effect.promise(() => PgServer.freePort())
  // Every log line of the app, to check what it logs at which level.
  const logs: Array<{ readonly level: string; readonly message: string; readonly cause: string }> = []
  const capture = Logger.make(({ cause, logLevel, message }) => {
    logs.push({
      level: logLevel,
      message: Array.isArray(message) ? message.join(" ") : String(message),
      cause: Cause.pretty(cause)
    })
  })
  yield* Layer.build(App.layer(url, port)).pipe(Effect.provide(Logger.layer([capture])))
  const base = `http://127.0.0.1:${port}`
  const request = (
    method: string,
    path: string,
    options: { readonly body?: unknown; readonly raw?: string; readonly headers?: Record<string, string> } = {}
  ) =>
    Effect.promise(async (): Promise<Answer> => {
      const response = await fetch(`${base}${path}`, {
        method,
        redirect: "manual",
        headers: { "content-type": "application/json", ...options.headers },
        ...(options.body !== undefined || options.raw !== undefined
          ? { body: options.raw ?? JSON.stringify(options.body) }
          : {})
      })
      const text = await response.text()
      let json: any
      try {
        json = JSON.parse(text)
      } catch {
        json = text
      }
      return { status: response.status, headers: response.headers, body: json }
    })
  const call = (method: string, path: string, body?: unknown, raw?: string) =>
    request(method, path, { ...(body === undefined ? {} : { body }), ...(raw === undefined ? {} : { raw }) })
  // The store's tables, read and written behind the app's back.
  const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 }).pipe(
    Effect.provide(Reactivity.layer),
    Effect.orDie
  )
  const eventCount = sql<{ n: string }>`SELECT count(*)::text AS n FROM chronicle.events`.pipe(
    Effect.map((rows) => Number(rows[0]!.n)),
    Effect.orDie
  )
  return { call, request, sql, eventCount, logs }
})

/** The problem an answer carries: an RFC 9457 body in application/problem+json. */
const problem = (answer: Answer, status: number, type: string) => {
  assert.strictEqual(answer.status, status, JSON.stringify(answer.body))
  assert.strictEqual(answer.headers.get("content-type"), "application/problem+json")
  assert.deepStrictEqual([answer.body.status, answer.body.type], [status, type])
  assert.isString(answer.body.title)
  return answer.body
}

const order = (orderId: string, customerId = "cust-1") => ({
  orderId,
  customerId,
  items: [{ productId: "p-1", quantity: 2, unitPrice: 1250 }],
  currency: "EUR"
})

it.live("places, pays and cancels orders; answers 409, 412 and 422 problems; queries reflect the commands", () =>
  Effect.gen(function* () {
    const { call, request } = yield* start
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

    assert.strictEqual(placed.headers.get("etag"), '"0"')
    assert.deepStrictEqual(placed.body.events, ["OrderPlaced"])
    assert.match(placed.body.position.commit, /^\d+$/)
    assert.match(placed.body.position.sequence, /^\d+$/)

    const stale = yield* call("POST", "/orders/o-1/pay", { paymentReference: "r", amount: 2500, expectedVersion: 3 })
    const conflict = problem(stale, 409, "urn:chronicle:problem:version-conflict")
    assert.deepStrictEqual([conflict.stream, conflict.expectedVersion, conflict.actualVersion], ["order-o-1", 3, 0])
    assert.include(conflict.detail, "Read it again")
    const staleIfMatch = yield* request("POST", "/orders/o-1/pay", {
      body: { paymentReference: "r", amount: 2500 },
      headers: { "if-match": '"3"' }
    })
    const precondition = problem(staleIfMatch, 412, "urn:chronicle:problem:precondition-failed")
    assert.deepStrictEqual([precondition.expectedVersion, precondition.actualVersion], [3, 0])
    const disagree = yield* request("POST", "/orders/o-1/pay", {
      body: { paymentReference: "r", amount: 2500, expectedVersion: 0 },
      headers: { "if-match": '"1"' }
    })
    assert.include(problem(disagree, 400, "urn:chronicle:problem:invalid-request").detail, "If-Match names version 1")
    const wrongAmount = yield* call("POST", "/orders/o-1/pay", { paymentReference: "r", amount: 1 })
    const rejected = problem(wrongAmount, 422, "urn:chronicle:problem:rejected")
    assert.deepStrictEqual([rejected.stream, rejected.command], ["order-o-1", "ConfirmPayment"])
    assert.include(rejected.reason, "does not match the total")
    const paid = yield* request("POST", "/orders/o-1/pay", {
      body: { paymentReference: "r", amount: 2500, expectedVersion: 0 },
      headers: { "if-match": '"0"' }
    })
    assert.deepStrictEqual([paid.status, paid.body.version, paid.headers.get("etag")], [200, 1, '"1"'])
    assert.isTrue(BigInt(paid.body.position.commit) >= BigInt(placed.body.position.commit))
    const cancelPaid = yield* call("POST", "/orders/o-1/cancel", { reason: "late" })
    const terminated = problem(cancelPaid, 422, "urn:chronicle:problem:terminated")
    assert.deepStrictEqual([terminated.stream, terminated.version], ["order-o-1", 1])
    assert.include(terminated.detail, "final state at version 1")
    const twice = problem(yield* call("POST", "/orders", order("o-1")), 409, "urn:chronicle:problem:already-exists")
    assert.deepStrictEqual([twice.stream, twice.actualVersion], ["order-o-1", 1])
    assert.include(twice.detail, "already exists")
    assert.notInclude(twice.detail, "retry")

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
    problem(yield* call("POST", "/accounts/alice/withdraw", { amount: 5000 }), 422, "urn:chronicle:problem:rejected")
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

it.live("X-Await-Projections: a command answers once the read models include it, so the next read sees the write", () =>
  Effect.gen(function* () {
    const { eventCount, request } = yield* start
    const awaiting = (projections: string) => ({ "x-await-projections": projections })
    const opened = yield* request("POST", "/accounts", {
      body: { accountId: "carol", owner: "Carol" },
      headers: awaiting("account-balance")
    })
    assert.deepStrictEqual(opened.body.projections, { "account-balance": "caught-up" })
    // Each read right after an awaited command sees that command: no polling.
    for (let i = 1; i <= 15; i++) {
      const deposited = yield* request("POST", "/accounts/carol/deposit", {
        body: { amount: 10 },
        headers: awaiting("account-balance")
      })
      assert.deepStrictEqual(deposited.body.projections, { "account-balance": "caught-up" })
      assert.strictEqual((yield* request("GET", "/accounts/carol")).body.balance, 10 * i)
    }
    yield* request("POST", "/orders", { body: order("order-await") })
    const paid = yield* request("POST", "/orders/order-await/pay", {
      body: { paymentReference: "pay-1", amount: 2500 },
      headers: awaiting("revenue-by-day,account-balance")
    })
    // The payment is none of the balances' business: caught up without handling it.
    assert.deepStrictEqual(paid.body.projections, { "revenue-by-day": "caught-up", "account-balance": "caught-up" })
    const revenue = yield* request("GET", "/revenue")
    assert.strictEqual(
      revenue.body.reduce((sum: number, day: any) => sum + day.revenue, 0),
      2500
    )
    const before = yield* eventCount
    const refused = yield* request("POST", "/accounts/carol/deposit", {
      body: { amount: 10 },
      headers: awaiting("nope")
    })
    assert.deepStrictEqual(problem(refused, 400, "about:blank").errors[0].path, ["headers", "x-await-projections"])
    assert.strictEqual(yield* eventCount, before, "nothing written")
  })
)

const badRequest = "about:blank"
const notFound = "urn:chronicle:problem:not-found"

it.live("every error is a problem: 400 with the schema path, 404, 409, 413, 415; bad requests write nothing", () =>
  Effect.gen(function* () {
    const { eventCount, request, sql } = yield* start
    yield* request("POST", "/orders", { body: order("o-9") })
    yield* request("POST", "/accounts", { body: { accountId: "alice", owner: "Alice" } })
    const before = yield* eventCount
    const json = (body: unknown) => ({ body })
    const raw = (text: string) => ({ raw: text })
    const cases: Array<
      [
        method: string,
        path: string,
        options: Parameters<typeof request>[2],
        status: number,
        type: string,
        path?: Array<string>
      ]
    > = [
      ["POST", "/orders", raw("{not json"), 400, badRequest, ["payload"]],
      ["POST", "/orders", raw('{"orderId":"o-1'), 400, badRequest, ["payload"]],
      ["POST", "/orders", raw('"5"'), 400, badRequest, ["payload"]],
      ["POST", "/orders", raw("1.5"), 400, badRequest, ["payload"]],
      ["POST", "/orders", raw("null"), 400, badRequest, ["payload"]],
      ["POST", "/orders", json({}), 400, badRequest, ["payload", "orderId"]],
      ["POST", "/orders", json({ ...order("o-10"), items: "many" }), 400, badRequest, ["payload", "items"]],
      ["POST", "/orders", json({ ...order("o-11"), items: [] }), 400, badRequest, ["payload", "items"]],
      ["POST", "/orders", json({ ...order("o-12"), currency: "euros" }), 400, badRequest, ["payload", "currency"]],
      ["POST", "/orders", json(order("o'; DROP TABLE chronicle.events;--")), 400, badRequest, ["payload", "orderId"]],
      ["POST", "/orders", json(order("bestellung-ü")), 400, badRequest, ["payload", "orderId"]],
      ["POST", "/orders", json(order('o"13')), 400, badRequest, ["payload", "orderId"]],
      ["POST", "/accounts/alice/deposit", json({ amount: 0 }), 400, badRequest, ["payload", "amount"]],
      ["POST", "/accounts/alice/deposit", json({ amount: 2.5 }), 400, badRequest, ["payload", "amount"]],
      [
        "POST",
        "/orders/o-9/pay",
        json({ paymentReference: "r", amount: "lots" }),
        400,
        badRequest,
        ["payload", "amount"]
      ],
      [
        "POST",
        `/orders/${encodeURIComponent("o'9")}/pay`,
        json({ paymentReference: "r", amount: 1 }),
        400,
        badRequest,
        ["params", "orderId"]
      ],
      [
        "POST",
        "/orders/o-9/cancel",
        { body: { reason: "r" }, headers: { "x-actor": "two words" } },
        400,
        badRequest,
        ["headers", "x-actor"]
      ],
      [
        "POST",
        "/orders/o-9/cancel",
        { body: { reason: "r" }, headers: { "if-match": "3" } },
        400,
        badRequest,
        ["headers", "if-match"]
      ],
      ["GET", "/streams/nodash/events", {}, 400, badRequest, ["params", "stream"]],
      ["GET", "/streams/order-o-9/events?limit=0", {}, 400, badRequest, ["query", "limit"]],
      ["GET", "/streams/order-o-9/events?limit=5000", {}, 400, badRequest, ["query", "limit"]],
      ["GET", "/streams/order-o-9/state?version=abc", {}, 400, badRequest, ["query", "version"]],
      ["GET", "/streams/order-o-9/state?version=", {}, 400, badRequest, ["query", "version"]],
      ["GET", "/streams/order-o-9/state?version=1.5", {}, 400, badRequest, ["query", "version"]],
      ["GET", "/streams/order-o-9/state?version=-1", {}, 400, badRequest, ["query", "version"]],
      ["GET", "/streams/order-o-9/state?at=yesterday", {}, 400, "urn:chronicle:problem:invalid-request"],
      [
        "GET",
        "/streams/order-o-9/state?version=0&at=2026-01-01T00:00:00Z",
        {},
        400,
        "urn:chronicle:problem:invalid-request"
      ],
      [
        "POST",
        "/orders",
        raw(JSON.stringify({ ...order("o-14"), pad: "x".repeat(2 * 1024 * 1024) })),
        413,
        "urn:chronicle:problem:payload-too-large"
      ],
      [
        "POST",
        "/orders",
        { raw: "orderId=o-15", headers: { "content-type": "application/x-www-form-urlencoded" } },
        415,
        "urn:chronicle:problem:unsupported-media-type"
      ],
      ["GET", "/orders/unknown-order", {}, 404, notFound],
      ["GET", "/accounts/nobody", {}, 404, notFound],
      ["GET", "/streams/order-nope/events", {}, 404, notFound],
      ["GET", "/streams/order-nope/state", {}, 404, notFound],
      ["GET", "/streams/thing-1/state", {}, 404, notFound],
      ["GET", "/no/such/route", {}, 404, notFound],
      ["POST", "/orders/unknown/pay", json({ paymentReference: "r", amount: 1 }), 404, notFound],
      ["POST", "/orders/unknown/cancel", { body: { reason: "r" }, headers: { "if-match": '"0"' } }, 404, notFound],
      ["POST", "/accounts/nobody/deposit", json({ amount: 5 }), 404, notFound],
      ["POST", "/accounts/nobody/withdraw", json({ amount: 5, expectedVersion: 0 }), 404, notFound],
      ["POST", "/transfers", json({ transferId: "t-1", from: "nobody", to: "alice", amount: 5 }), 404, notFound],
      ["POST", "/orders", json(order("o-9")), 409, "urn:chronicle:problem:already-exists"],
      [
        "POST",
        "/accounts",
        json({ accountId: "alice", owner: "Alice again" }),
        409,
        "urn:chronicle:problem:already-exists"
      ]
    ]
    for (const [method, path, options, status, type, where] of cases) {
      const body = problem(yield* request(method, path, options), status, type)
      assert.isString(body.detail, `${method} ${path}`)
      if (where !== undefined)
        assert.isTrue(
          body.errors.some(
            (error: { path: Array<string> }) =>
              JSON.stringify(error.path.slice(0, where.length)) === JSON.stringify(where)
          ),
          `${method} ${path}: ${JSON.stringify(body.errors)}`
        )
    }
    const unknownOrder = yield* request("POST", "/orders/unknown/pay", json({ paymentReference: "r", amount: 1 }))
    assert.deepStrictEqual([unknownOrder.body.stream, unknownOrder.body.title], ["order-unknown", "Not found"])
    const tooLarge = yield* request("POST", "/orders", raw(JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) })))
    assert.strictEqual(tooLarge.body.maxBytes, 1024 * 1024)
    const form = yield* request("POST", "/orders", { raw: "a=1", headers: { "content-type": "text/plain" } })
    assert.strictEqual(form.body.contentType, "text/plain")

    // Nothing was written, and the SQL text in an id did nothing.
    assert.strictEqual(yield* eventCount, before)
    const tables = yield* sql<{ name: string }>`
      SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'chronicle' AND table_name = 'events'`
    assert.strictEqual(tables.length, 1)
  })
)

it.live("an undecodable stored event is a 500 problem with an error id, logged at ERROR with the cause", () =>
  Effect.gen(function* () {
    const { call, logs, sql } = yield* start
    yield* call("POST", "/orders", order("o-1"))
    // A row no codec can read: OrderPlaced without its fields.
    yield* sql`INSERT INTO chronicle.streams (stream, version) VALUES ('order-broken', 0)`
    yield* sql`
      INSERT INTO chronicle.events
      (event_id, stream, stream_version, category, type, schema_version, data, metadata, append_first)
      VALUES (gen_random_uuid(), 'order-broken', 0, 'order', 'OrderPlaced', 3, '{"nope":1}', '{}', 0)`
    for (const [method, path, body] of [
      ["GET", "/streams/order-broken/state", undefined],
      ["POST", "/orders/broken/cancel", { reason: "r" }]
    ] as const) {
      const answer = yield* call(method, path, body)
      const failed = problem(answer, 500, "about:blank")
      assert.match(failed.instance, /^urn:uuid:[0-9a-f-]{36}$/)
      const errorId = failed.instance.slice("urn:uuid:".length)
      assert.include(failed.detail, errorId)
      const logged = logs.find((line) => line.message.includes(errorId))
      assert.isDefined(logged, `${method} ${path}: no log line names ${errorId}`)
      assert.strictEqual(logged!.level, "Error")
      assert.include(logged!.cause, "OrderPlaced")
    }
    // The other streams still answer.
    assert.strictEqual((yield* call("GET", "/streams/order-o-1/state")).status, 200)
  })
)

it.live("HTTP concurrency: ETag on reads and commands, If-Match, paging with a next link", () =>
  Effect.gen(function* () {
    const { call, request } = yield* start
    yield* call("POST", "/accounts", { accountId: "alice", owner: "Alice" })
    for (let i = 1; i <= 4; i++) yield* call("POST", "/accounts/alice/deposit", { amount: i })
    const state = yield* call("GET", "/streams/account-alice/state")
    assert.deepStrictEqual([state.body.version, state.headers.get("etag")], [4, '"4"'])
    const asOf = yield* call("GET", "/streams/account-alice/state?version=2")
    assert.deepStrictEqual([asOf.body.state.balance, asOf.headers.get("etag")], [3, '"2"'])

    // A client that read version 4 writes with If-Match; a second one with the same ETag is stale.
    const first = yield* request("POST", "/accounts/alice/withdraw", {
      body: { amount: 1 },
      headers: { "if-match": '"4"' }
    })
    assert.deepStrictEqual([first.status, first.headers.get("etag")], [200, '"5"'])
    const second = yield* request("POST", "/accounts/alice/withdraw", {
      body: { amount: 1 },
      headers: { "if-match": '"4"' }
    })
    problem(second, 412, "urn:chronicle:problem:precondition-failed")
    const any = yield* request("POST", "/accounts/alice/deposit", { body: { amount: 1 }, headers: { "if-match": "*" } })
    assert.strictEqual(any.headers.get("etag"), '"6"')

    // Pages of 3: versions 0-2, 3-5, then 6 with no next link.
    const pages: Array<Array<number>> = []
    let next: string | undefined = "/streams/account-alice/events?limit=3"
    while (next !== undefined) {
      const page: Answer = yield* call("GET", next)
      assert.strictEqual(page.headers.get("etag"), '"6"')
      pages.push(page.body.map((e: any) => e.streamVersion))
      next = /^<([^>]+)>; rel="next"$/.exec(page.headers.get("link") ?? "")?.[1]
    }
    assert.deepStrictEqual(pages, [[0, 1, 2], [3, 4, 5], [6]])
    const from = yield* call("GET", "/streams/account-alice/events?fromVersion=5")
    assert.deepStrictEqual(
      from.body.map((e: any) => e.streamVersion),
      [5, 6]
    )
    assert.isNull(from.headers.get("link"))
    const beyond = yield* call("GET", "/streams/account-alice/events?fromVersion=50")
    assert.deepStrictEqual([beyond.status, beyond.body], [200, []])
  })
)

it.live("request context: X-Request-Id or traceparent becomes the correlation id, X-Actor the actor; echoed back", () =>
  Effect.gen(function* () {
    const { call, request } = yield* start
    const opened = yield* request("POST", "/accounts", {
      body: { accountId: "alice", owner: "Alice" },
      headers: { "x-request-id": "req-open-1", "x-actor": "clerk-ana" }
    })
    assert.strictEqual(opened.headers.get("x-request-id"), "req-open-1")
    const traced = yield* request("POST", "/accounts/alice/deposit", {
      body: { amount: 1000 },
      headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }
    })
    assert.strictEqual(traced.headers.get("x-request-id"), "0af7651916cd43dd8448eb211c80319c")
    const fresh = yield* call("POST", "/accounts", { accountId: "bob", owner: "Bob" })
    const freshId = fresh.headers.get("x-request-id")!
    assert.match(freshId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/)
    // Errors carry it too.
    const missing = yield* request("GET", "/nope", { headers: { "x-request-id": "req-404" } })
    assert.deepStrictEqual([missing.status, missing.headers.get("x-request-id")], [404, "req-404"])

    const alice = (yield* call("GET", "/streams/account-alice/events")).body
    assert.deepStrictEqual(
      alice.map((e: any) => e.metadata),
      [
        { correlationId: "req-open-1", causationId: "req-open-1", actor: "clerk-ana" },
        { correlationId: "0af7651916cd43dd8448eb211c80319c", causationId: "0af7651916cd43dd8448eb211c80319c" }
      ].map((metadata, i) => ({ ...metadata, ...pick(alice[i].metadata, ["traceParent"]) }))
    )
    const bob = (yield* call("GET", "/streams/account-bob/events")).body
    assert.strictEqual(bob[0].metadata.correlationId, freshId)

    // The transfer's process manager continues the chain: the credit is caused by the debit, same correlation.
    yield* request("POST", "/transfers", {
      body: { transferId: "t-1", from: "alice", to: "bob", amount: 300 },
      headers: { "x-request-id": "req-transfer-1", "x-actor": "clerk-ana" }
    })
    const credit = yield* call("GET", "/streams/account-bob/events").pipe(
      Effect.repeat({ until: (r) => r.body.length === 2, schedule: Schedule.spaced("50 millis") }),
      Effect.timeout("20 seconds"),
      Effect.map((r) => r.body[1])
    )
    const debit = (yield* call("GET", "/streams/account-alice/events")).body.at(-1)
    assert.deepStrictEqual([debit.type, credit.type], ["TransferDebited", "TransferCredited"])
    assert.deepStrictEqual(
      [debit.metadata.correlationId, debit.metadata.causationId, debit.metadata.actor],
      ["req-transfer-1", "req-transfer-1", "clerk-ana"]
    )
    assert.deepStrictEqual(
      [credit.metadata.correlationId, credit.metadata.causationId, credit.metadata.actor],
      ["req-transfer-1", debit.eventId, "money-transfers"]
    )
  })
)

const pick = (record: Record<string, unknown>, keys: Array<string>) =>
  Object.fromEntries(keys.filter((key) => record[key] !== undefined).map((key) => [key, record[key]]))

it.live("CORS preflight, / redirects to /docs", () =>
  Effect.gen(function* () {
    const { request } = yield* start
    const preflight = yield* request("OPTIONS", "/orders", {
      headers: {
        origin: "https://shop.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, if-match, x-actor"
      }
    })
    assert.strictEqual(preflight.status, 204)
    assert.strictEqual(preflight.headers.get("access-control-allow-origin"), "*")
    assert.include(preflight.headers.get("access-control-allow-methods"), "POST")
    assert.include(preflight.headers.get("access-control-allow-headers"), "if-match")
    const read = yield* request("GET", "/revenue", { headers: { origin: "https://shop.example" } })
    assert.strictEqual(read.headers.get("access-control-allow-origin"), "*")
    assert.include(read.headers.get("access-control-expose-headers"), "etag")
    const root = yield* request("GET", "/")
    assert.deepStrictEqual([root.status, root.headers.get("location")], [302, "/docs"])
  })
)

it.live("the OpenAPI document: summaries, every status, integer versions, plain names, examples that succeed", () =>
  Effect.gen(function* () {
    const { call, request } = yield* start
    const doc = (yield* call("GET", "/openapi.json")).body
    assert.strictEqual(doc.info.version, packageJson.version)
    assert.isString(doc.info.description)
    for (const tag of doc.tags) assert.isString(tag.description, tag.name)
    const statuses = (path: string, method: string) => Object.keys(doc.paths[path][method].responses).sort()
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths))
      for (const [method, operation] of Object.entries<any>(item)) {
        assert.isString(operation.summary, `${method} ${path}`)
        assert.isString(operation.description, `${method} ${path}`)
        assert.includeMembers(Object.keys(operation.responses), ["200", "400", "500"], `${method} ${path}`)
        if (method === "post") assert.includeMembers(Object.keys(operation.responses), ["413", "415"], path)
        for (const [status, response] of Object.entries<any>(operation.responses))
          if (status !== "200") assert.property(response.content, "application/problem+json", `${path} ${status}`)
      }
    assert.deepStrictEqual(statuses("/orders/{orderId}/pay", "post"), [
      "200",
      "400",
      "404",
      "409",
      "412",
      "413",
      "415",
      "422",
      "500",
      "503"
    ])
    assert.deepStrictEqual(statuses("/orders", "post"), ["200", "400", "409", "413", "415", "500", "503"])
    assert.deepStrictEqual(statuses("/streams/{stream}/state", "get"), ["200", "400", "404", "500"])
    assert.property(doc.paths["/orders/{orderId}/pay"].post.responses["200"].headers, "etag")
    const version = doc.paths["/streams/{stream}/state"].get.parameters.find((p: any) => p.name === "version")
    assert.deepStrictEqual(version.schema.type, "integer")
    assert.deepStrictEqual(
      Object.keys(doc.components.schemas).filter((name) => name.endsWith("Encoded")),
      [],
      "no …Encoded component names"
    )
    assert.match(doc.components.schemas.OrderId.pattern, /A-Za-z0-9/)
    assert.strictEqual(doc.components.schemas.Currency.pattern, "^[A-Z]{3}$")

    // The examples, sent as Scalar's "Test Request" sends them, succeed in this order.
    const example = (path: string) => {
      const schema = doc.paths[path].post.requestBody.content["application/json"].schema
      const resolved = schema.$ref ? doc.components.schemas[schema.$ref.split("/").at(-1)] : schema
      return resolved.examples[0]
    }
    const param = (name: string) => doc.components.schemas[name].examples[0]
    const sends: Array<[string, string]> = [
      ["/orders", "/orders"],
      ["/orders/{orderId}/pay", `/orders/${param("OrderId")}/pay`],
      ["/accounts", "/accounts"],
      ["/accounts/{accountId}/deposit", `/accounts/${param("AccountId")}/deposit`],
      ["/accounts/{accountId}/withdraw", `/accounts/${param("AccountId")}/withdraw`],
      ["/transfers", "/transfers"]
    ]
    for (const [path, url] of sends) {
      const answer = yield* request("POST", url, { body: example(path) })
      assert.strictEqual(answer.status, 200, `${url}: ${JSON.stringify(answer.body)}`)
    }
    const cancel = example("/orders/{orderId}/cancel")
    yield* request("POST", "/orders", { body: { ...example("/orders"), orderId: "order-1002" } })
    assert.strictEqual((yield* request("POST", "/orders/order-1002/cancel", { body: cancel })).status, 200)
  })
)
