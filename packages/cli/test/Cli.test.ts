import { Cli } from "@chronicle/cli"
import { CommandHandler, EventStore, ExpectedVersion, MemoryStore, Projection, StreamName } from "@chronicle/core"
import { Order } from "@chronicle/example"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Ref } from "effect"
import { Command } from "effect/cli"
import { TestConsole } from "effect/testing"

const revenue = (fail: Ref.Ref<boolean>, total: Ref.Ref<number>) =>
  Projection.make({
    name: "revenue",
    version: 1,
    codec: Order.OrderEvents,
    types: ["PaymentConfirmed"],
    failure: { action: "park" },
    handle: (e) =>
      Effect.flatMap(Ref.get(fail), (failing) =>
        failing ? Effect.fail(new Error("read model offline")) : Ref.update(total, (n) => n + e.event.amount)
      )
  })

const seed = Effect.gen(function* () {
  const orders = yield* CommandHandler.make({ decider: Order.decider, codec: Order.OrderEvents })
  for (const id of ["a", "b", "c"]) {
    const stream = StreamName.make("order", id)
    yield* orders.handle(
      stream,
      Order.PlaceOrder.make({
        orderId: id,
        customerId: "cust",
        items: [{ productId: "p", quantity: 1, unitPrice: 700 }],
        currency: "EUR"
      })
    )
    yield* orders.handle(stream, Order.ConfirmPayment.make({ paymentReference: `r-${id}`, amount: 700 }))
  }
  yield* (yield* EventStore.EventStore).append(
    StreamName.make("order", "legacy"),
    [
      {
        eventId: "01890000-0000-7000-8000-000000000001",
        type: "OrderPlaced",
        schemaVersion: 1,
        data: { orderId: "legacy", customerId: "old", product_ids: ["p-1"] },
        metadata: {}
      }
    ],
    ExpectedVersion.noStream
  )
})

const Stores = Layer.mergeAll(
  MemoryStore.layer(),
  MemoryStore.layer(),
  MemoryStore.layer(),
  TestConsole.layer,
  NodeServices.layer
)

const setup = Effect.gen(function* () {
  const fail = yield* Ref.make(false)
  const total = yield* Ref.make(0)
  yield* seed
  const cli = Cli.make({
    name: "shop",
    aggregates: [{ category: "order", decider: Order.decider, codec: Order.OrderEvents }],
    projections: [revenue(fail, total)],
    resets: { revenue: Ref.set(total, 0) }
  })
  const run = (...args: Array<string>) =>
    Effect.gen(function* () {
      const before = (yield* TestConsole.logLines).length
      const exit = yield* Effect.exit(Command.runWith(cli, { version: "0.1.0" })(args))
      const lines = (yield* TestConsole.logLines).slice(before).map(String)
      return { exit, output: lines.join("\n") }
    })
  return { run, fail, total }
})

describe("Cli", () => {
  it.live("lists streams, shows events decoded and raw, and state as of a version", () =>
    Effect.gen(function* () {
      const { run } = yield* setup
      const streams = yield* run("streams", "order")
      assert.strictEqual(streams.exit._tag, "Success")
      assert.include(streams.output, "order-a  version 1")
      assert.include(streams.output, "order-legacy  version 0")

      const decoded = yield* run("events", "order-legacy")
      assert.include(decoded.output, "OrderPlaced@1")
      assert.include(decoded.output, '"currency":"USD"')
      const raw = yield* run("events", "order-legacy", "--raw")
      assert.include(raw.output, '"product_ids":["p-1"]')

      const now = yield* run("state", "order-a")
      assert.include(now.output, "order-a at version 1")
      assert.include(now.output, '"status": "Paid"')
      const then = yield* run("state", "order-a", "--version", "0")
      assert.include(then.output, '"status": "Pending"')
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("rebuilds a projection with progress, reports status, parks and replays", () =>
    Effect.gen(function* () {
      const { fail, run, total } = yield* setup
      // A rebuild resets the read model and projects from the start: run twice, every payment counts once.
      for (let i = 0; i < 2; i++) {
        assert.strictEqual((yield* run("projections", "rebuild", "revenue")).exit._tag, "Success")
        assert.strictEqual(yield* Ref.get(total), 3 * 700)
      }
      yield* Ref.set(fail, true)
      const rebuilt = yield* run("projections", "rebuild", "revenue")
      assert.strictEqual(rebuilt.exit._tag, "Success")
      assert.match(rebuilt.output, /\[#+\] 100 %/)
      assert.include(rebuilt.output, "revenue@v1 rebuilt")

      const status = yield* run("projections", "status")
      assert.match(status.output, /revenue@v1 .* parked 3/)
      const parked = yield* run("dead-letters", "list", "revenue")
      assert.include(parked.output, "read model offline")
      const eventId = /revenue@v1 {2}(\S+)/.exec(parked.output)![1]!

      yield* Ref.set(fail, false)
      const replayed = yield* run("dead-letters", "replay", "revenue", eventId)
      assert.strictEqual(replayed.exit._tag, "Success")
      assert.strictEqual(yield* Ref.get(total), 700)
      assert.match((yield* run("projections", "status")).output, /parked 2/)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("fails with a clear message on bad input", () =>
    Effect.gen(function* () {
      const { run } = yield* setup
      const cases: Array<[Array<string>, RegExp]> = [
        [["events", "order-nope"], /Stream order-nope does not exist/],
        [["events", "nodash"], /Invalid stream name/],
        [["state", "order-a", "--at", "yesterday-ish"], /is not a timestamp/],
        [["state", "invoice-1"], /No aggregate is registered for category "invoice"/],
        [["projections", "rebuild", "nope"], /Unknown projection "nope"/],
        [["dead-letters", "replay", "revenue", "0190"], /No event 0190 is parked/]
      ]
      for (const [args, message] of cases) {
        const { exit } = yield* run(...args)
        assert.strictEqual(exit._tag, "Failure", args.join(" "))
        if (exit._tag === "Failure") assert.match(String(exit.cause), message, args.join(" "))
      }
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})
