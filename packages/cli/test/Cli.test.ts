import { Cli } from "@chronicle/cli"
import {
  CommandHandler,
  DeadLetterStore,
  EventStore,
  ExpectedVersion,
  Lease,
  MemoryStore,
  Projection,
  StreamName
} from "@chronicle/core"
import { Order } from "@chronicle/example"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Ref } from "effect"
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

/** Inline: counts placed orders, in the same unit of work as each append. */
const placed = (count: Ref.Ref<number>) =>
  Projection.make({
    name: "placed",
    version: 1,
    codec: Order.OrderEvents,
    types: ["OrderPlaced"],
    handle: () => Ref.update(count, (n) => n + 1)
  })

const orders = Effect.flatMap(Ref.make(0), (count) =>
  CommandHandler.make({ decider: Order.decider, codec: Order.OrderEvents, inline: [placed(count)] })
)

const pay = (id: string) =>
  Effect.flatMap(orders, (handler) =>
    handler.handle(
      StreamName.make("order", id),
      Order.ConfirmPayment.make({ paymentReference: `r-${id}`, amount: 700 })
    )
  )

const seed = Effect.gen(function* () {
  const handler = yield* orders
  for (const id of ["a", "b", "c"]) {
    const stream = StreamName.make("order", id)
    yield* handler.handle(
      stream,
      Order.PlaceOrder.make({
        orderId: id,
        customerId: "cust",
        items: [{ productId: "p", quantity: 1, unitPrice: 700 }],
        currency: "EUR"
      })
    )
    yield* handler.handle(stream, Order.ConfirmPayment.make({ paymentReference: `r-${id}`, amount: 700 }))
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
    inline: [placed(yield* Ref.make(0))],
    resets: { revenue: Ref.set(total, 0) }
  })
  const run = (...args: Array<string>) =>
    Effect.gen(function* () {
      const [out, err] = [(yield* TestConsole.logLines).length, (yield* TestConsole.errorLines).length]
      const exit = yield* Effect.exit(Cli.runWith(cli, { version: "0.1.0" })(args))
      const output = (yield* TestConsole.logLines).slice(out).map(String).join("\n")
      const errors = (yield* TestConsole.errorLines).slice(err).map(String)
      return { exit, output, errors }
    })
  return { run, fail, total }
})

/** The cells of the table row that starts with `first` (columns are two or more spaces apart). */
const row = (output: string, first: string) => {
  const line = output.split("\n").find((l) => l.startsWith(`${first} `))
  assert.isDefined(line, `no row for ${first} in:\n${output}`)
  return line!.split(/ {2,}/)
}

/** Whether every line of a table starts its columns at the same offsets as its header. */
const aligned = (output: string) => {
  const lines = output.split("\n")
  const header = lines.findIndex((l) => /^[A-Z][A-Z ()]+$/.test(l))
  const starts = (l: string) => [...l.matchAll(/(?<= {2})\S/g)].map((m) => m.index)
  const columns = starts(lines[header]!)
  return lines.slice(header + 1).every((l) => columns.every((c) => l[c - 1] === " " && l[c] !== " "))
}

describe("Cli", () => {
  it.live("lists streams, shows events decoded and raw, and state as of a version", () =>
    Effect.gen(function* () {
      const { run } = yield* setup
      const streams = yield* run("streams", "order")
      assert.strictEqual(streams.exit._tag, "Success")
      assert.deepStrictEqual(row(streams.output, "order-a"), ["order-a", "1"])
      assert.deepStrictEqual(row(streams.output, "order-legacy"), ["order-legacy", "0"])
      assert.isTrue(aligned(streams.output), streams.output)

      const decoded = yield* run("events", "order-legacy")
      assert.include(decoded.output, "OrderPlaced@1")
      assert.include(decoded.output, '"currency":"USD"')
      assert.isTrue(aligned((yield* run("events", "order-a")).output))
      const raw = yield* run("events", "order-legacy", "--raw")
      assert.include(raw.output, '"product_ids":["p-1"]')

      const now = yield* run("state", "order-a")
      assert.include(now.output, "order-a at version 1")
      assert.include(now.output, '"status": "Paid"')
      const then = yield* run("state", "order-a", "--at-version", "0")
      assert.include(then.output, '"status": "Pending"')
      // `-v` is no flag: it neither prints the program's version nor means a stream version.
      const short = yield* run("state", "order-a", "-v", "0")
      assert.strictEqual(short.exit._tag, "Failure")
      assert.notInclude(short.output, "0.1.0")
      assert.strictEqual(short.errors.length, 1, short.errors.join("\n"))
      assert.match(short.errors[0]!, /-v.*\(see: shop state --help\)$/)
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
      assert.strictEqual(row(status.output, "revenue@v1")[3], "3", "parked")
      assert.isTrue(aligned(status.output), status.output)
      const parked = yield* run("dead-letters", "list", "revenue")
      assert.include(parked.output, "read model offline")
      assert.isTrue(aligned(parked.output), parked.output)
      const eventId = row(parked.output, "revenue@v1")[1]!

      yield* Ref.set(fail, false)
      const replayed = yield* run("dead-letters", "replay", "revenue", eventId)
      assert.strictEqual(replayed.exit._tag, "Success")
      assert.strictEqual(yield* Ref.get(total), 700)
      assert.strictEqual(row((yield* run("projections", "status")).output, "revenue@v1")[3], "2")
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("discards a parked event with a reason, and keeps the record", () =>
    Effect.gen(function* () {
      const { fail, run, total } = yield* setup
      yield* Ref.set(fail, true)
      yield* run("projections", "rebuild", "revenue")
      const [first, second] = (yield* (yield* DeadLetterStore.DeadLetterStore).list("revenue@v1")).map(
        (p) => p.envelope.eventId
      )
      const discarded = yield* run(
        "dead-letters",
        "discard",
        "revenue",
        first!,
        "--reason",
        "a test payment",
        "--by",
        "ops"
      )
      assert.strictEqual(discarded.exit._tag, "Success", discarded.errors.join("\n"))
      assert.include(discarded.output, `Discarded ${first}`)
      assert.strictEqual(yield* Ref.get(total), 0, "a discarded event is not handled")
      const list = (yield* run("dead-letters", "list", "revenue")).output
      assert.notInclude(list, first!)
      assert.include(list, second!)
      const record = yield* run("dead-letters", "list", "--discarded")
      assert.deepStrictEqual(row(record.output, "revenue@v1").slice(1, 2), [first])
      assert.deepStrictEqual(row(record.output, "revenue@v1").slice(-2), ["ops", "a test payment"])
      assert.isTrue(aligned(record.output), record.output)

      const again = yield* run("dead-letters", "discard", "revenue", first!, "--reason", "twice")
      assert.strictEqual(again.exit._tag, "Failure")
      assert.deepStrictEqual(again.errors, [
        `No event ${first} is parked for revenue@v1. See: dead-letters list revenue@v1`
      ])
      const noReason = yield* run("dead-letters", "discard", "revenue", second!)
      assert.strictEqual(noReason.exit._tag, "Failure", "a discard needs a reason")
      assert.strictEqual(noReason.errors.length, 1)
      assert.include(noReason.errors[0], "--help")
      assert.include((yield* run("dead-letters", "list", "revenue")).output, second!)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live(
    "status: inline projections are current, a filtered projection's lag counts only its events, and who holds the lease",
    () =>
      Effect.gen(function* () {
        const { run } = yield* setup
        const before = (yield* run("projections", "status")).output
        assert.deepStrictEqual(row(before, "placed@v1").slice(1), ["—", "inline (current with every append)", "—", "—"])
        // Never run: all three payments are ahead of it (not the other events of the log).
        assert.deepStrictEqual(row(before, "revenue@v1").slice(1, 3), ["none", "3"])

        yield* run("projections", "rebuild", "revenue")
        // Caught up: later events it does not handle are no lag.
        yield* Effect.flatMap(orders, (handler) =>
          handler.handle(
            StreamName.make("order", "d"),
            Order.PlaceOrder.make({
              orderId: "d",
              customerId: "cust",
              items: [{ productId: "p", quantity: 1, unitPrice: 700 }],
              currency: "EUR"
            })
          )
        )
        const caughtUp = (yield* run("projections", "status")).output
        assert.strictEqual(row(caughtUp, "revenue@v1")[2], "0")
        assert.strictEqual(row(caughtUp, "revenue@v1")[4], "nobody")
        yield* pay("d")
        yield* Effect.asVoid((yield* Lease.Lease).acquire("revenue@v1"))
        const behind = (yield* run("projections", "status")).output
        assert.strictEqual(row(behind, "revenue@v1")[2], "1")
        assert.match(row(behind, "revenue@v1")[4]!, /^fiber #\d+ in this process$/)
        assert.isTrue(aligned(behind), behind)
      }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("fails with a clear message on bad input", () =>
    Effect.gen(function* () {
      const { run } = yield* setup
      const cases: Array<[Array<string>, RegExp]> = [
        [["streams", "nope"], /No streams in category "nope"\. Categories with an aggregate: order/],
        [["events", "order-nope"], /Stream order-nope does not exist/],
        [["events", "nodash"], /Invalid stream name/],
        [["state", "order-a", "--at", "yesterday-ish"], /is not a timestamp/],
        [["state", "invoice-1"], /No aggregate is registered for category "invoice"/],
        [["projections", "rebuild", "nope"], /Unknown projection "nope"/],
        [["dead-letters", "replay", "revenue", "0190"], /No event 0190 is parked/]
      ]
      for (const [args, message] of cases) {
        const { errors, exit } = yield* run(...args)
        assert.strictEqual(exit._tag, "Failure", args.join(" "))
        assert.strictEqual(errors.length, 1, `one line: ${errors.join("\n")}`)
        assert.match(errors[0]!, message, args.join(" "))
      }
      // A usage error is one line with a hint, not the help.
      const usage = yield* run("projections", "rebuild")
      assert.strictEqual(usage.exit._tag, "Failure")
      assert.strictEqual(usage.output, "", "no help dump")
      assert.deepStrictEqual(usage.errors.length, 1)
      assert.match(usage.errors[0]!, /\(see: shop projections rebuild --help\)$/)
      const help = yield* run("state", "--help")
      assert.strictEqual(help.exit._tag, "Success")
      assert.include(help.output, "--at-version")
      assert.strictEqual((yield* run("--version")).output.trim(), "shop v0.1.0")
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  // Tampering needs a store that can be altered behind its back: apps/shop/test/Verify.test.ts.
  it.live("verify counts the streams and events it checked, of the store or of one stream", () =>
    Effect.gen(function* () {
      const { run } = yield* setup
      const all = yield* run("verify")
      assert.strictEqual(all.exit._tag, "Success", all.errors.join("\n"))
      assert.strictEqual(all.output, "4 streams, 7 events verified")
      assert.strictEqual((yield* run("verify", "order-a")).output, "1 stream, 2 events verified")
      assert.strictEqual((yield* run("verify", "order-nope")).output, "0 streams, 0 events verified")
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})
