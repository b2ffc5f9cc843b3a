import { Cli } from "@chronicle/cli"
import {
  CommandHandler,
  DeadLetterStore,
  Envelope,
  EventStore,
  ExpectedVersion,
  KeyStore,
  Lease,
  MemoryStore,
  PersonalData,
  Projection,
  StreamLifecycle,
  StreamName
} from "@chronicle/core"
import { Customer, Order } from "@chronicle/example"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Ref, Stream } from "effect"
import { TestConsole } from "effect/testing"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"

const revenue = (fail: Ref.Ref<boolean>, total: Ref.Ref<number>, partitions?: number) =>
  Projection.make({
    name: "revenue",
    version: 1,
    partitions,
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

const place = (id: string) =>
  Effect.flatMap(orders, (handler) =>
    handler.handle(
      StreamName.make("order", id),
      Order.PlaceOrder.make({
        orderId: id,
        customerId: "cust",
        items: [{ productId: "p", quantity: 1, unitPrice: 700 }],
        currency: "EUR"
      })
    )
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

/** The order aggregate as the CLI mounts it, with or without a snapshot policy. */
const orderAggregate = (snapshot: boolean): Cli.Aggregate => ({
  category: "order",
  decider: Order.decider,
  codec: Order.OrderEvents,
  ...(snapshot ? { snapshot: { schema: Order.OrderState, version: 1 } } : {})
})

/** The shop's CLI with `revenue` (in this many partitions) and the inline `placed`, over the stores in context. */
const mount = (extra?: {
  readonly snapshot?: boolean
  readonly aggregates?: ReadonlyArray<Cli.Aggregate>
  readonly partitions?: number
}) =>
  Effect.gen(function* () {
    const fail = yield* Ref.make(false)
    const total = yield* Ref.make(0)
    const cli = Cli.make({
      name: "shop",
      aggregates: [orderAggregate(extra?.snapshot ?? false), ...(extra?.aggregates ?? [])],
      projections: [revenue(fail, total, extra?.partitions)],
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

/** The seeded store and its CLI. */
const setup = (extra?: Parameters<typeof mount>[0]) => Effect.andThen(seed, mount(extra))

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
      const { run } = yield* setup()
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
      const { fail, run, total } = yield* setup()
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
      const { fail, run, total } = yield* setup()
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
        const { run } = yield* setup()
        const before = (yield* run("projections", "status")).output
        assert.deepStrictEqual(row(before, "placed@v1").slice(1), ["—", "inline (current with every append)", "—", "—"])
        // Never run: all three payments are ahead of it (not the other events of the log).
        assert.deepStrictEqual(row(before, "revenue@v1").slice(1, 3), ["none", "3"])

        yield* run("projections", "rebuild", "revenue")
        // Caught up: later events it does not handle are no lag.
        yield* place("d")
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
      const { run } = yield* setup()
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
      const { run } = yield* setup()
      const all = yield* run("verify")
      assert.strictEqual(all.exit._tag, "Success", all.errors.join("\n"))
      assert.strictEqual(all.output, "4 streams, 7 events verified")
      assert.strictEqual((yield* run("verify", "order-a")).output, "1 stream, 2 events verified")
      assert.strictEqual((yield* run("verify", "order-nope")).output, "0 streams, 0 events verified")
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})

/** The events recorded on a system stream: type, data, actor and extra metadata. */
const recorded = (stream: StreamName.StreamName) =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    Stream.runCollect(store.readStream(stream)).pipe(
      Effect.map((envelopes) =>
        envelopes.map((e) => ({
          type: e.type,
          data: e.data as Record<string, unknown>,
          actor: e.metadata.actor,
          extra: e.metadata.extra
        }))
      )
    )
  )

/** The CLI's default actor: `$USER`, else the process as leases name it. */
const defaultActor = process.env.USER ?? `chronicle:${hostname()}:${process.pid}`

const versionsOf = (name: string) =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    Stream.runCollect(store.readStream(StreamName.make("order", name))).pipe(
      Effect.map((events) => events.map((e) => e.streamVersion))
    )
  )

/** A temporary directory for the test, removed with its scope. */
const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "chronicle-cli-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** Asserts a command failed with one line on stderr matching `message`. */
const failedWith = (
  result: { readonly exit: { readonly _tag: string }; readonly errors: ReadonlyArray<string> },
  message: RegExp,
  what: string
) => {
  assert.strictEqual(result.exit._tag, "Failure", what)
  assert.strictEqual(result.errors.length, 1, `one line for ${what}: ${result.errors.join("\n")}`)
  assert.match(result.errors[0]!, message, what)
}

describe("Cli stream lifecycle", () => {
  it.live("status, archive, restore and delete, each recorded on $system-streams with reason and actor", () =>
    Effect.gen(function* () {
      const { run } = yield* setup()
      assert.strictEqual((yield* run("streams", "status", "order-a")).output, "order-a: Live at version 1")

      const archived = yield* run("streams", "archive", "order-a", "--reason", "cold storage", "--by", "ops")
      assert.strictEqual(archived.exit._tag, "Success", archived.errors.join("\n"))
      assert.strictEqual(
        archived.output,
        "Archived order-a at version 1: it reads as before and refuses appends until restored; " +
          "recorded on $system-streams (by ops)."
      )
      assert.strictEqual((yield* run("streams", "status", "order-a")).output, "order-a: Archived at version 1")
      const refused = yield* Effect.flip(
        Effect.flatMap(EventStore.EventStore, (store) =>
          store.append(
            StreamName.make("order", "a"),
            [
              {
                eventId: "01890000-0000-7000-8000-0000000000a1",
                type: "OrderCancelled",
                schemaVersion: 1,
                data: {},
                metadata: {}
              }
            ],
            ExpectedVersion.any
          )
        )
      )
      assert.strictEqual(refused._tag, "StreamArchived")
      assert.include((yield* run("events", "order-a")).output, "PaymentConfirmed")

      const restored = yield* run("streams", "restore", "order-a", "--reason", "needed again")
      assert.strictEqual(restored.exit._tag, "Success", restored.errors.join("\n"))
      assert.strictEqual(
        restored.output,
        `Restored order-a at version 1: it accepts appends; recorded on $system-streams (by ${defaultActor}).`
      )
      assert.strictEqual((yield* run("streams", "status", "order-a")).output, "order-a: Live at version 1")

      const stale = yield* run("streams", "delete", "order-b", "--reason", "x", "--expected-version", "0")
      failedWith(stale, /^Stream order-b is at version 1, not 0: nothing was deleted\.$/, "stale delete")
      const deleted = yield* run(
        "streams",
        "delete",
        "order-b",
        "--reason",
        "ticket 1234",
        "--by",
        "dpo",
        "--expected-version",
        "1"
      )
      assert.strictEqual(deleted.exit._tag, "Success", deleted.errors.join("\n"))
      assert.strictEqual(
        deleted.output,
        "Deleted order-b at version 1: its events are gone and its name is not reused; recorded on $system-streams (by dpo)."
      )
      assert.strictEqual((yield* run("streams", "status", "order-b")).output, "order-b: Deleted at version 1")
      assert.notInclude((yield* run("streams", "order")).output, "order-b", "the listing still works, without it")
      failedWith(
        yield* run("streams", "delete", "order-b", "--reason", "again"),
        /order-b.*was deleted at version 1/,
        "delete twice"
      )
      failedWith(
        yield* run("streams", "archive", "order-b", "--reason", "x"),
        /order-b.*was deleted/,
        "archive deleted"
      )

      assert.deepStrictEqual(yield* recorded(StreamLifecycle.systemStream), [
        {
          type: "StreamArchived",
          data: { stream: "order-a", version: 1, reason: "cold storage" },
          actor: "ops",
          extra: undefined
        },
        {
          type: "StreamRestored",
          data: { stream: "order-a", version: 1, reason: "needed again" },
          actor: defaultActor,
          extra: undefined
        },
        {
          type: "StreamDeleted",
          data: { stream: "order-b", version: 1, reason: "ticket 1234" },
          actor: "dpo",
          extra: undefined
        }
      ])

      for (const [args, message] of [
        [
          ["streams", "archive", "order-nope", "--reason", "x"],
          /^Stream order-nope does not exist\. List streams with: streams <category>$/
        ],
        [["streams", "delete", "order-nope", "--reason", "x"], /^Stream order-nope does not exist/],
        [["streams", "restore", "order-nope", "--reason", "x"], /^Stream order-nope does not exist/],
        [["streams", "status", "order-nope"], /^Stream order-nope does not exist/],
        [["streams", "status", "nodash"], /Invalid stream name/],
        [["streams", "archive", "order-a"], /--reason.*\(see: shop streams archive --help\)$/]
      ] as const) {
        failedWith(yield* run(...args), message, args.join(" "))
      }
      // Nothing more was recorded by the failures.
      assert.strictEqual((yield* recorded(StreamLifecycle.systemStream)).length, 3)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("trim refuses an aggregate without a snapshot policy unless --force, and checks --before", () =>
    Effect.gen(function* () {
      const { run } = yield* setup()
      const refused = yield* run("streams", "trim", "order-a", "--before", "1", "--reason", "old")
      failedWith(
        refused,
        /^The "order" aggregate has no snapshot policy, so .* order-a could no longer load\. .* or pass --force to trim anyway\.$/,
        "trim without a snapshot policy"
      )
      assert.deepStrictEqual(yield* versionsOf("a"), [0, 1], "nothing was trimmed")
      assert.deepStrictEqual(yield* recorded(StreamLifecycle.systemStream), [])

      const forced = yield* run(
        "streams",
        "trim",
        "order-a",
        "--before",
        "1",
        "--reason",
        "old",
        "--by",
        "ops",
        "--force"
      )
      assert.strictEqual(forced.exit._tag, "Success", forced.errors.join("\n"))
      assert.strictEqual(
        forced.output,
        "Trimmed order-a: 1 event removed, it now starts at version 1; recorded on $system-streams (by ops)."
      )
      assert.deepStrictEqual(yield* versionsOf("a"), [1])
      assert.deepStrictEqual(yield* recorded(StreamLifecycle.systemStream), [
        {
          type: "StreamTrimmed",
          data: { stream: "order-a", version: 1, removedBefore: 1, reason: "old" },
          actor: "ops",
          extra: undefined
        }
      ])
      // Without a snapshot the aggregate no longer loads: what --force risks.
      failedWith(
        yield* run("state", "order-a"),
        /were trimmed, and no usable snapshot covers them/,
        "state after a forced trim"
      )
      assert.strictEqual(
        (yield* run("streams", "status", "order-a")).output,
        "order-a: Live at version 1, events before version 1 trimmed"
      )

      for (const [args, message] of [
        [
          ["streams", "trim", "order-c", "--before", "0", "--reason", "x"],
          /^Cannot trim "order-c" before version 0: it is at version 1/
        ],
        [["streams", "trim", "order-c", "--before", "2", "--reason", "x"], /^Cannot trim "order-c" before version 2/],
        [["streams", "trim", "order-c", "--before", "one", "--reason", "x"], /one.*\(see: shop streams trim --help\)$/],
        [["streams", "trim", "order-c", "--reason", "x"], /--before.*\(see: shop streams trim --help\)$/],
        [
          ["streams", "trim", "order-nope", "--before", "1", "--reason", "x", "--force"],
          /^Stream order-nope does not exist/
        ],
        [["streams", "trim", "invoice-1", "--before", "1", "--reason", "x"], /^Stream invoice-1 does not exist/]
      ] as const) {
        failedWith(yield* run(...args), message, args.join(" "))
      }
      assert.deepStrictEqual(yield* versionsOf("c"), [0, 1])
      yield* run("streams", "delete", "order-c", "--reason", "gone")
      failedWith(
        yield* run("streams", "trim", "order-c", "--before", "1", "--reason", "x", "--force"),
        /^Stream "order-c" was deleted at version 1/,
        "trim a deleted stream"
      )
      assert.strictEqual((yield* recorded(StreamLifecycle.systemStream)).length, 2)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("trim with a snapshot policy saves the state first, so the aggregate still loads", () =>
    Effect.gen(function* () {
      const { run } = yield* setup({ snapshot: true })
      const trimmed = yield* run(
        "streams",
        "trim",
        "order-a",
        "--before",
        "1",
        "--reason",
        "retention R-7",
        "--by",
        "job"
      )
      assert.strictEqual(trimmed.exit._tag, "Success", trimmed.errors.join("\n"))
      assert.strictEqual(
        trimmed.output,
        "Trimmed order-a: 1 event removed after a snapshot at version 1, it now starts at version 1; " +
          "recorded on $system-streams (by job)."
      )
      assert.deepStrictEqual(yield* versionsOf("a"), [1])
      const state = yield* run("state", "order-a")
      assert.strictEqual(state.exit._tag, "Success", state.errors.join("\n"))
      assert.include(state.output, '"status": "Paid"')
      assert.deepStrictEqual(yield* recorded(StreamLifecycle.systemStream), [
        {
          type: "StreamTrimmed",
          data: { stream: "order-a", version: 1, removedBefore: 1, reason: "retention R-7" },
          actor: "job",
          extra: undefined
        }
      ])
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})

describe("Cli retention", () => {
  it.live("trims a category to its policy after snapshotting each stream, and reports what it did", () =>
    Effect.gen(function* () {
      const { run } = yield* setup({ snapshot: true })
      const young = yield* run("retention", "order", "--max-age", "1 day", "--reason", "R-7")
      assert.strictEqual(young.exit._tag, "Success", young.errors.join("\n"))
      assert.strictEqual(
        young.output,
        `order: 4 streams, 0 trimmed, 0 events removed; each trim recorded on $system-streams (by ${defaultActor}).`
      )

      const kept = yield* run("retention", "order", "--max-count", "1", "--reason", "R-7", "--by", "nightly")
      assert.strictEqual(kept.exit._tag, "Success", kept.errors.join("\n"))
      assert.strictEqual(
        kept.output,
        "order: 4 streams, 3 trimmed, 3 events removed; each trim recorded on $system-streams (by nightly)."
      )
      for (const id of ["a", "b", "c"]) assert.deepStrictEqual(yield* versionsOf(id), [1], id)
      assert.deepStrictEqual(yield* versionsOf("legacy"), [0])
      assert.include((yield* run("state", "order-b")).output, '"status": "Paid"')
      const trims = yield* recorded(StreamLifecycle.systemStream)
      assert.deepStrictEqual(
        trims.map((t) => [t.type, t.data.stream, t.data.reason, t.actor]),
        ["a", "b", "c"].map((id) => ["StreamTrimmed", `order-${id}`, "R-7", "nightly"])
      )
      // Run again: nothing more to trim.
      assert.match(
        (yield* run("retention", "order", "--max-count", "1", "--reason", "R-7")).output,
        /^order: 4 streams, 0 trimmed/
      )
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("refuses a category without a snapshot policy and bad policies", () =>
    Effect.gen(function* () {
      const { run } = yield* setup()
      for (const [args, message] of [
        [["retention", "order", "--max-count", "1", "--reason", "x"], /^The "order" aggregate has no snapshot policy/],
        [
          ["retention", "invoice", "--max-count", "1", "--reason", "x"],
          /^No aggregate is registered for category "invoice"/
        ],
        [["retention", "order", "--reason", "x"], /^Say what to keep: --max-count n, --max-age "30 days" or both\.$/],
        [["retention", "order", "--max-count", "0", "--reason", "x"], /^--max-count must be at least 1/],
        [
          ["retention", "order", "--max-age", "a while", "--reason", "x"],
          /^--max-age "a while" is not a positive duration/
        ],
        [["retention", "order", "--max-age=-3 days", "--reason", "x"], /is not a positive duration/],
        [["retention", "order", "--max-count", "1"], /--reason.*\(see: shop retention --help\)$/]
      ] as const) {
        failedWith(yield* run(...args), message, args.join(" "))
      }
      assert.deepStrictEqual(yield* versionsOf("a"), [0, 1])
      assert.deepStrictEqual(yield* recorded(StreamLifecycle.systemStream), [])
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})

describe("Cli forget", () => {
  const customers: Cli.Aggregate = { category: "customer", decider: Customer.decider, codec: Customer.CustomerEvents }

  it.live("erases a subject's personal data, recorded with the reason and actor", () =>
    Effect.gen(function* () {
      const { run } = yield* setup({ aggregates: [customers] })
      const handler = yield* CommandHandler.make({ decider: Customer.decider, codec: Customer.CustomerEvents })
      yield* handler.handle(
        StreamName.make("customer", "c-1"),
        Customer.RegisterCustomer.make({ customerId: "c-1", name: "Ada", email: "ada@example.com" })
      )
      assert.include((yield* run("state", "customer-c-1")).output, "ada@example.com")

      const forgot = yield* run("forget", "c-1", "--reason", "erasure request 77", "--by", "dpo")
      assert.strictEqual(forgot.exit._tag, "Success", forgot.errors.join("\n"))
      assert.strictEqual(
        forgot.output,
        "Forgot c-1: its key is destroyed, so its personal fields read as erased from now on; " +
          "recorded on $system-subjects (by dpo)."
      )
      const state = (yield* run("state", "customer-c-1")).output
      assert.notInclude(state, "ada@example.com")
      assert.include(state, '"email": "[erased]"')
      assert.deepStrictEqual(yield* recorded(PersonalData.subjectsStream), [
        { type: "SubjectForgotten", data: { subject: "c-1" }, actor: "dpo", extra: { reason: "erasure request 77" } }
      ])
      failedWith(yield* run("forget", "c-1"), /--reason.*\(see: shop forget --help\)$/, "forget without a reason")
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(Stores, KeyStore.layerMemory())))
  )

  it.live("without a key store: one line saying so, and nothing recorded", () =>
    Effect.gen(function* () {
      const { run } = yield* setup()
      failedWith(
        yield* run("forget", "c-1", "--reason", "x"),
        /^Cannot forget c-1: this CLI has no key store, so there is no key to destroy\. .*nothing was changed\.$/,
        "forget without a key store"
      )
      assert.deepStrictEqual(yield* recorded(PersonalData.subjectsStream), [])
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})

describe("Cli export and import", () => {
  /** A second, empty store. */
  const secondStore = MemoryStore.layer()

  /** Every stored event of the store in context as its `Envelope.encode` line, in log order. */
  const logLines = Effect.flatMap(EventStore.EventStore, (store) =>
    Stream.runCollect(Stream.map(store.readAll(), (e) => JSON.stringify(Envelope.encode(e))))
  )

  it.live("exports the log to a file and imports it into another store, byte for byte", () =>
    Effect.gen(function* () {
      const { run } = yield* setup()
      const dir = yield* tempDir
      const file = join(dir, "log.jsonl")
      const original = yield* logLines
      assert.strictEqual(original.length, 7)

      const toStdout = yield* run("export")
      assert.strictEqual(toStdout.exit._tag, "Success", toStdout.errors.join("\n"))
      assert.deepStrictEqual(toStdout.output.split("\n"), original)
      assert.deepStrictEqual(toStdout.errors, ["Exported 7 events of 4 streams."])
      const one = yield* run("export", "order-a")
      assert.deepStrictEqual(
        one.output.split("\n"),
        original.filter((line) => JSON.parse(line).stream === "order-a")
      )
      assert.deepStrictEqual(one.errors, ["Exported 2 events of 1 stream."])

      const toFile = yield* run("export", "--output", file)
      assert.strictEqual(toFile.output, `Exported 7 events of 4 streams to ${file}.`)
      assert.strictEqual(yield* Effect.promise(() => readFile(file, "utf8")), `${original.join("\n")}\n`)

      // Into a second, empty store.
      yield* Effect.gen(function* () {
        const imported = yield* run("import", file)
        assert.strictEqual(imported.exit._tag, "Success", imported.errors.join("\n"))
        assert.strictEqual(imported.output, `Imported 7 events into 4 streams from ${file}.`)
        assert.deepStrictEqual(yield* logLines, original)
        assert.include((yield* run("state", "order-a")).output, '"status": "Paid"')
        assert.strictEqual((yield* run("verify")).output, "4 streams, 7 events verified")

        failedWith(
          yield* run("import", file),
          /^Cannot import "order-\w+": it already exists, at version \d/,
          "import twice"
        )
        const skipped = yield* run("import", file, "--existing", "skip")
        assert.strictEqual(skipped.exit._tag, "Success", skipped.errors.join("\n"))
        assert.strictEqual(skipped.output, `Imported 0 events into 4 streams (7 already there, skipped) from ${file}.`)
        assert.deepStrictEqual(yield* logLines, original)
      }).pipe(Effect.provide(secondStore))
      assert.deepStrictEqual(yield* logLines, original, "the first store is untouched")
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("fails with a clear message on a bad file or stream", () =>
    Effect.gen(function* () {
      const { run } = yield* setup()
      const dir = yield* tempDir
      const bad = join(dir, "bad.jsonl")
      const [first] = yield* logLines
      yield* Effect.promise(() => writeFile(bad, `${first}\nnot json\n`))
      yield* Effect.gen(function* () {
        failedWith(yield* run("import", bad), /^Line 2 is not an exported event: it is not JSON/, "malformed line")
        failedWith(
          yield* run("import", join(dir, "missing.jsonl")),
          /missing\.jsonl.*\(see: shop import --help\)$/,
          "missing file"
        )
        failedWith(
          yield* run("import", bad, "--existing", "merge"),
          /merge.*\(see: shop import --help\)$/,
          "bad --existing"
        )
        assert.deepStrictEqual(yield* logLines, [], "nothing of the failing batch was written")
      }).pipe(Effect.provide(secondStore))
      failedWith(yield* run("export", "order-nope"), /^Stream order-nope does not exist/, "export an unknown stream")
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})

describe("Cli with a partitioned projection", () => {
  // With 4 partitions the seeded payments' streams land in p1 (order-a), p0 (order-b) and p3 (order-c); p2 has none.
  const partitionOf = (stream: string) => `revenue@v1/p${Projection.partitionOf(stream, 4)}of4`
  const partitionRows = ["revenue@v1/p0of4", "revenue@v1/p1of4", "revenue@v1/p2of4", "revenue@v1/p3of4"]
  /** Column `column` of each partition's status row. */
  const column = (output: string, column: number) => partitionRows.map((name) => row(output, name)[column])

  it.live("status has a row per partition: checkpoint, lag, parked events and lease holder", () =>
    Effect.gen(function* () {
      const { run } = yield* setup({ partitions: 4 })
      assert.deepStrictEqual(["order-b", "order-a", "order-c"].map(partitionOf), [
        "revenue@v1/p0of4",
        "revenue@v1/p1of4",
        "revenue@v1/p3of4"
      ])
      const before = yield* run("projections", "status")
      assert.strictEqual(before.exit._tag, "Success", before.errors.join("\n"))
      assert.isUndefined(
        before.output.split("\n").find((l) => l.startsWith("revenue@v1 ")),
        "no row for the whole projection"
      )
      assert.deepStrictEqual(column(before.output, 1), ["none", "none", "none", "none"])
      // Each partition's lag counts its own streams' payments only.
      assert.deepStrictEqual(column(before.output, 2), ["1", "1", "0", "1"])
      assert.isTrue(aligned(before.output), before.output)

      assert.strictEqual((yield* run("projections", "rebuild", "revenue")).exit._tag, "Success")
      yield* place("d")
      yield* pay("d")
      yield* Effect.asVoid((yield* Lease.Lease).acquire("revenue@v1/p2of4"))
      const after = (yield* run("projections", "status")).output
      assert.strictEqual(partitionOf("order-d"), "revenue@v1/p2of4")
      assert.deepStrictEqual(column(after, 2), ["0", "0", "1", "0"])
      assert.deepStrictEqual(column(after, 3), ["0", "0", "0", "0"])
      assert.match(row(after, "revenue@v1/p2of4")[4]!, /^fiber #\d+ in this process$/)
      assert.deepStrictEqual(column(after, 4), ["nobody", "nobody", row(after, "revenue@v1/p2of4")[4], "nobody"])
      assert.isTrue(aligned(after), after)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("rebuild catches every partition up in parallel, with the total and each partition's progress", () =>
    Effect.gen(function* () {
      const { run, total } = yield* setup({ partitions: 4 })
      // Twice: every partition's checkpoint is reset with the read model, so each payment counts once.
      for (let i = 0; i < 2; i++) {
        const rebuilt = yield* run("projections", "rebuild", "revenue")
        assert.strictEqual(rebuilt.exit._tag, "Success", rebuilt.errors.join("\n"))
        assert.strictEqual(yield* Ref.get(total), 3 * 700)
        const lines = rebuilt.output.split("\n")
        assert.strictEqual(lines[0], "Rebuilding revenue@v1 from the start of the log, its 4 partitions in parallel…")
        // Every partition passes the 7 positions of the log (reading only its own events): 28 in all.
        assert.match(
          lines.at(-2)!,
          /^\[#{30}\] 100 % {2}28\/28 events .* ETA \S+ {2}\(p0 7\/7, p1 7\/7, p2 7\/7, p3 7\/7\)$/
        )
        assert.match(lines.at(-1)!, /^revenue@v1 rebuilt up to p0 \d+:\d+, p1 \d+:\d+, p2 \d+:\d+, p3 \d+:\d+\.$/)
      }
      // Each partition read its own streams' events only: its checkpoint is at the last of them, and
      // p2, with no stream of its own, keeps none.
      const checkpoints = column((yield* run("projections", "status")).output, 1)
      assert.strictEqual(checkpoints[2], "none")
      for (const i of [0, 1, 3]) assert.match(checkpoints[i]!, /^\d+:\d+$/)
      assert.strictEqual(new Set(checkpoints).size, 4, "each at its own last event")

      const one = yield* run("projections", "rebuild", "revenue@v1/p1of4")
      assert.strictEqual(one.exit._tag, "Failure")
      assert.deepStrictEqual(one.errors, [
        "revenue@v1/p1of4 is one partition of revenue@v1, and a rebuild resets the whole read model. " +
          "Rebuild every partition: projections rebuild revenue"
      ])
      assert.strictEqual(yield* Ref.get(total), 3 * 700, "nothing was reset")
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("dead-letters list, replay and discard find an event in its partition", () =>
    Effect.gen(function* () {
      const { fail, run, total } = yield* setup({ partitions: 4 })
      yield* Ref.set(fail, true)
      yield* run("projections", "rebuild", "revenue")
      assert.deepStrictEqual(column((yield* run("projections", "status")).output, 3), ["1", "1", "0", "1"])

      const parked = (yield* run("dead-letters", "list", "revenue")).output
      const byStream = new Map(
        ["order-a", "order-b", "order-c"].map((stream) => {
          const line = parked.split("\n").find((l) => l.includes(` ${stream} v1 `))
          assert.isDefined(line, `${stream} is parked:\n${parked}`)
          const [projection, eventId] = line!.split(/ {2,}/)
          assert.strictEqual(projection, partitionOf(stream), stream)
          return [stream, eventId!] as const
        })
      )
      assert.isTrue(aligned(parked), parked)
      // One partition's dead letters, by the name status and list show.
      const p1 = (yield* run("dead-letters", "list", "revenue@v1/p1of4")).output
      assert.include(p1, byStream.get("order-a")!)
      assert.notInclude(p1, byStream.get("order-b")!)

      yield* Ref.set(fail, false)
      const replayed = yield* run("dead-letters", "replay", "revenue", byStream.get("order-b")!)
      assert.strictEqual(replayed.exit._tag, "Success", replayed.errors.join("\n"))
      assert.strictEqual(
        replayed.output,
        `Replayed ${byStream.get("order-b")} through revenue@v1/p0of4; it is no longer parked.`
      )
      assert.strictEqual(yield* Ref.get(total), 700)

      const discarded = yield* run(
        "dead-letters",
        "discard",
        "revenue@v1",
        byStream.get("order-c")!,
        "--reason",
        "test payment",
        "--by",
        "ops"
      )
      assert.strictEqual(discarded.exit._tag, "Success", discarded.errors.join("\n"))
      assert.match(
        discarded.output,
        new RegExp(`^Discarded ${byStream.get("order-c")} \\(order-c v1 PaymentConfirmed\\) from revenue@v1/p3of4;`)
      )
      const record = (yield* run("dead-letters", "list", "--discarded", "revenue")).output
      assert.deepStrictEqual(row(record, "revenue@v1/p3of4").slice(1, 2), [byStream.get("order-c")])
      assert.deepStrictEqual(column((yield* run("projections", "status")).output, 3), ["0", "1", "0", "0"])

      // Not parked in any partition (any more): the unpartitioned words.
      const again = yield* run("dead-letters", "replay", "revenue", byStream.get("order-b")!)
      assert.deepStrictEqual(again.errors, [
        `No event ${byStream.get("order-b")} is parked for revenue@v1. See: dead-letters list`
      ])
      const wrongPartition = yield* run(
        "dead-letters",
        "discard",
        "revenue@v1/p0of4",
        byStream.get("order-a")!,
        "--reason",
        "x"
      )
      assert.deepStrictEqual(wrongPartition.errors, [
        `No event ${byStream.get("order-a")} is parked for revenue@v1/p0of4. See: dead-letters list revenue@v1/p0of4`
      ])
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("after a change of partition count, status says why the projector refuses and rebuild starts afresh", () =>
    Effect.gen(function* () {
      const four = yield* setup({ partitions: 4 })
      yield* four.run("projections", "rebuild", "revenue")
      const two = yield* mount({ partitions: 2 })
      const status = (yield* two.run("projections", "status")).output
      assert.match(
        status,
        /^revenue@v1: checkpoints revenue@v1\/p\dof4(, revenue@v1\/p\dof4)* were kept with another partition count, so its projector refuses to start \(2 partition\(s\) now\)\. Rebuild it \(projections rebuild revenue\) or publish a new version\.$/m
      )
      const rebuilt = yield* two.run("projections", "rebuild", "revenue")
      assert.strictEqual(rebuilt.exit._tag, "Success", rebuilt.errors.join("\n"))
      assert.strictEqual(yield* Ref.get(two.total), 3 * 700)
      const after = (yield* two.run("projections", "status")).output
      assert.notInclude(after, "another partition count")
      assert.deepStrictEqual(
        ["revenue@v1/p0of2", "revenue@v1/p1of2"].map((name) => row(after, name)[2]),
        ["0", "0"]
      )
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})
