import {
  CommandHandler,
  Decider,
  EventCodec,
  EventStore,
  EventType,
  ExpectedVersion,
  MemoryStore,
  Projection,
  SnapshotStore,
  StreamName,
  TemporalQuery,
  UnitOfWork
} from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Deferred, Effect, Fiber, Option, Result, Schedule, Schema, Stream } from "effect"
import * as Order from "./order.ts"

const Stores = MemoryStore.layer()

const place = (orderId: string, unitPrice = 500): Order.OrderCommand =>
  Order.PlaceOrder.make({
    orderId,
    customerId: "c1",
    items: [{ productId: "p1", quantity: 2, unitPrice }],
    currency: "EUR"
  })

const Incremented = EventType.make("Incremented", { by: Schema.Int })
const CounterEvents = EventCodec.make(Incremented)
const counter = Decider.make<{ readonly by: number }, EventCodec.Event<typeof CounterEvents>, number>({
  initialState: 0,
  decide: (command) => Result.succeed([Incremented.make({ by: command.by })]),
  evolve: (state, event) => state + event.by
})

/**
 * Runs with a pause before each append. The in-memory store appends at once, so without it
 * concurrent writers never interleave between their load and their append, and never conflict.
 */
const withSlowAppends = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    return yield* Effect.provideService(effect, EventStore.EventStore, {
      ...store,
      append: (...args) => Effect.andThen(Effect.yieldNow, store.append(...args))
    })
  })

describe("CommandHandler", () => {
  it.effect("places, pays and rejects what the invariants forbid", () =>
    Effect.gen(function* () {
      const orders = yield* CommandHandler.make({ decider: Order.decider, codec: Order.OrderEvents })
      const stream = StreamName.make("order", "o1")
      const placed = yield* orders.handle(stream, place("o1"))
      assert.strictEqual(placed.version, 0)
      assert.strictEqual(placed.state.status, "Pending")
      assert.strictEqual(placed.state.total, 1000)

      const again = yield* Effect.flip(orders.handle(stream, place("o1")))
      assert.strictEqual(again._tag, "OrderRejected")

      const wrongAmount = yield* Effect.flip(
        orders.handle(stream, Order.ConfirmPayment.make({ paymentReference: "r", amount: 1 }))
      )
      assert.strictEqual(wrongAmount._tag, "OrderRejected")

      const paid = yield* orders.handle(stream, Order.ConfirmPayment.make({ paymentReference: "r", amount: 1000 }))
      assert.strictEqual(paid.version, 1)
      assert.strictEqual(paid.state.status, "Paid")

      const cancel = yield* Effect.flip(orders.handle(stream, Order.CancelOrder.make({ reason: "late" })))
      assert.strictEqual(cancel._tag, "StreamTerminated")
      const store = yield* EventStore.EventStore
      assert.strictEqual(yield* store.streamVersion(stream), 1)
    }).pipe(Effect.provide(Stores))
  )

  it.effect("loads a legacy v1 OrderPlaced through the upcasters", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const stream = StreamName.make("order", "legacy")
      yield* store.append(
        stream,
        [
          {
            eventId: "0190a8b0-0000-7000-8000-0000000000aa",
            type: "OrderPlaced",
            schemaVersion: 1,
            data: { orderId: "legacy", customerId: "c0", product_ids: ["a", "b"] },
            metadata: {}
          }
        ],
        ExpectedVersion.noStream
      )
      const orders = yield* CommandHandler.make({ decider: Order.decider, codec: Order.OrderEvents })
      const loaded = yield* orders.load(stream)
      assert.deepStrictEqual(loaded, {
        version: 0,
        state: { status: "Pending", orderId: "legacy", customerId: "c0", total: 0, currency: "USD" }
      })
      const cancelled = yield* orders.handle(stream, Order.CancelOrder.make({ reason: "legacy" }))
      assert.strictEqual(cancelled.state.status, "Cancelled")
    }).pipe(Effect.provide(Stores))
  )

  it.effect("fails with a typed decode error naming the bad stored event, and writes nothing", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const stream = StreamName.make("order", "broken")
      yield* store.append(
        stream,
        [
          {
            eventId: "0190a8b0-0000-7000-8000-0000000000bb",
            type: "OrderPlaced",
            schemaVersion: 9,
            data: {},
            metadata: {}
          }
        ],
        ExpectedVersion.noStream
      )
      const orders = yield* CommandHandler.make({ decider: Order.decider, codec: Order.OrderEvents })
      const error = yield* Effect.flip(orders.handle(stream, Order.CancelOrder.make({ reason: "x" })))
      assert.strictEqual(error._tag, "UnknownSchemaVersion")
      assert.include(error.message, '"order-broken" version 0')
      assert.strictEqual(yield* store.streamVersion(stream), 0)
    }).pipe(Effect.provide(Stores))
  )

  it.effect("carries the command's metadata into every event", () =>
    Effect.gen(function* () {
      const orders = yield* CommandHandler.make({ decider: Order.decider, codec: Order.OrderEvents })
      const stream = StreamName.make("order", "meta")
      const metadata = { correlationId: "corr-1", causationId: "cmd-1", actor: "alice", extra: { ip: "127.0.0.1" } }
      yield* orders.handle(stream, place("meta"), { metadata })
      const store = yield* EventStore.EventStore
      const [envelope] = yield* Stream.runCollect(store.readStream(stream))
      const { traceParent, ...rest } = envelope!.metadata
      assert.deepStrictEqual(rest, metadata)
      assert.match(traceParent ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
    }).pipe(Effect.provide(Stores))
  )

  it.effect("stores the command's span as the events' traceParent, unless the caller gave one", () =>
    Effect.gen(function* () {
      const orders = yield* CommandHandler.make({ decider: Order.decider, codec: Order.OrderEvents })
      const store = yield* EventStore.EventStore
      const traced = StreamName.make("order", "traced")
      const outer = yield* Effect.gen(function* () {
        yield* orders.handle(traced, place("traced"))
        return yield* Effect.currentSpan
      }).pipe(Effect.withSpan("caller"))
      const [envelope] = yield* Stream.runCollect(store.readStream(traced))
      const [, traceId, spanId] = (envelope!.metadata.traceParent ?? "").split("-")
      assert.strictEqual(traceId, outer.traceId, "the command's span is in the caller's trace")
      assert.notStrictEqual(spanId, outer.spanId, "it is the command's own span, not the caller's")

      const given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
      const kept = StreamName.make("order", "kept")
      yield* orders.handle(kept, place("kept"), { metadata: { traceParent: given } })
      const [keptEnvelope] = yield* Stream.runCollect(store.readStream(kept))
      assert.strictEqual(keptEnvelope!.metadata.traceParent, given)
    }).pipe(Effect.provide(Stores))
  )

  it.live("32 fibers on one stream: every command lands exactly once, versions contiguous", () =>
    Effect.gen(function* () {
      const handler = yield* CommandHandler.make({ decider: counter, codec: CounterEvents })
      const stream = StreamName.make("counter", "shared")
      const outcomes = yield* Effect.forEach(
        Array.from({ length: 32 }, (_, i) => i + 1),
        (by) => handler.handle(stream, { by }),
        { concurrency: "unbounded" }
      ).pipe(withSlowAppends)
      const store = yield* EventStore.EventStore
      const events = yield* Stream.runCollect(store.readStream(stream))
      assert.deepStrictEqual(
        events.map((e) => e.streamVersion),
        Array.from({ length: 32 }, (_, i) => i)
      )
      assert.deepStrictEqual(
        events.map((e) => (e.data as { by: number }).by).sort((a, b) => a - b),
        outcomes.map((_, i) => i + 1)
      )
      assert.strictEqual((yield* handler.load(stream)).state, (32 * 33) / 2)
      // Inside one handler commands queue per stream, so none needed a retry.
      assert.isTrue(outcomes.every((o) => o.attempts === 1))
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("32 fibers through separate handlers (as across processes) retry conflicts until every command lands", () =>
    Effect.gen(function* () {
      const stream = StreamName.make("counter", "contended")
      const outcomes = yield* Effect.forEach(
        Array.from({ length: 32 }, (_, i) => i + 1),
        (by) =>
          Effect.flatMap(CommandHandler.make({ decider: counter, codec: CounterEvents, retry: undefined }), (handler) =>
            Effect.andThen(Effect.yieldNow, handler.handle(stream, { by }))
          ),
        { concurrency: "unbounded" }
      ).pipe(withSlowAppends)
      assert.isTrue(
        outcomes.some((o) => o.attempts > 1),
        "some commands conflicted and were retried"
      )
      const store = yield* EventStore.EventStore
      const events = yield* Stream.runCollect(store.readStream(stream))
      assert.strictEqual(events.length, 32)
      assert.deepStrictEqual(
        events.map((e) => e.streamVersion),
        Array.from({ length: 32 }, (_, i) => i)
      )
      assert.deepStrictEqual(
        events.map((e) => (e.data as { by: number }).by).sort((a, b) => a - b),
        outcomes.map((_, i) => i + 1)
      )
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("surfaces WrongExpectedVersion when conflicts outlive the retries", () =>
    Effect.gen(function* () {
      const stream = StreamName.make("counter", "racing")
      const store = yield* EventStore.EventStore
      // A decider that lets a rival writer append behind its back on every attempt.
      let rival = 0
      const sneaky = Decider.make<{ readonly by: number }, EventCodec.Event<typeof CounterEvents>, number>({
        ...counter,
        decide: (command, state) => {
          Effect.runSync(
            Effect.ignore(
              Effect.flatMap(CounterEvents.toEventData([Incremented.make({ by: 0 })]), (data) =>
                store.append(stream, data, ExpectedVersion.any)
              )
            )
          )
          rival++
          return counter.decide(command, state)
        }
      })
      const handler = yield* CommandHandler.make({ decider: sneaky, codec: CounterEvents, retry: Schedule.recurs(3) })
      const error = yield* Effect.flip(handler.handle(stream, { by: 1 }))
      assert.strictEqual(error._tag, "WrongExpectedVersion")
      assert.strictEqual(rival, 4)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("snapshots every N events, loads from them, and ignores mismatched or broken ones", () =>
    Effect.gen(function* () {
      const stream = StreamName.make("counter", "snap")
      const snapshots = yield* SnapshotStore.SnapshotStore
      const handler = yield* CommandHandler.make({
        decider: counter,
        codec: CounterEvents,
        snapshot: { schema: Schema.Int, version: 1, every: 10 }
      })
      for (let i = 0; i < 25; i++) yield* handler.handle(stream, { by: 1 })
      const snapshot = yield* Effect.repeat(snapshots.load(stream), {
        until: (s) => Option.isSome(s) && s.value.streamVersion >= 9,
        schedule: Schedule.spaced("1 millis")
      })
      // The snapshot holds the state as of its version (saved in the background, so which version varies).
      assert.strictEqual(Option.getOrThrow(snapshot).state, Option.getOrThrow(snapshot).streamVersion + 1)
      assert.deepStrictEqual(yield* handler.load(stream), { state: 25, version: 24 })

      // A snapshot is only ever a shortcut: tamper with it and see it used...
      yield* snapshots.save({ stream, streamVersion: 24, schemaVersion: 1, state: 1000 })
      assert.deepStrictEqual(yield* handler.load(stream), { state: 1000, version: 24 })
      // ...but one of another schema version, or one that does not decode, is ignored.
      yield* snapshots.delete(stream)
      yield* snapshots.save({ stream, streamVersion: 24, schemaVersion: 2, state: 1000 })
      assert.deepStrictEqual(yield* handler.load(stream), { state: 25, version: 24 })
      yield* snapshots.delete(stream)
      yield* snapshots.save({ stream, streamVersion: 24, schemaVersion: 1, state: "not a number" })
      assert.deepStrictEqual(yield* handler.load(stream), { state: 25, version: 24 })
      const outcome = yield* handler.handle(stream, { by: 1 })
      assert.strictEqual(outcome.state, 26)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("works without a snapshot store", () =>
    Effect.gen(function* () {
      const handler = yield* CommandHandler.make({
        decider: counter,
        codec: CounterEvents,
        snapshot: { schema: Schema.Int, version: 1, every: 1 }
      })
      const outcome = yield* handler.handle(StreamName.make("counter", "nosnap"), { by: 3 })
      assert.strictEqual(outcome.state, 3)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer()))
  )

  it.live("answers temporal queries by version and by time, as given or as a caller writes them", () =>
    Effect.gen(function* () {
      const handler = yield* CommandHandler.make({ decider: counter, codec: CounterEvents })
      const stream = StreamName.make("counter", "temporal")
      yield* handler.handle(stream, { by: 1 })
      yield* handler.handle(stream, { by: 10 })
      yield* Effect.sleep("5 millis")
      const between = yield* DateTime.now
      yield* Effect.sleep("5 millis")
      yield* handler.handle(stream, { by: 100 })
      assert.deepStrictEqual(yield* handler.loadAsOf(stream, { version: 0 }), { state: 1, version: 0 })
      assert.deepStrictEqual(yield* handler.loadAsOf(stream, { version: 1 }), { state: 11, version: 1 })
      assert.deepStrictEqual(yield* handler.loadAsOf(stream, { version: 99 }), { state: 111, version: 2 })
      assert.deepStrictEqual(yield* handler.loadAsOf(stream, { at: between }), { state: 11, version: 1 })
      const missing = yield* Effect.flip(handler.loadAsOf(StreamName.make("counter", "none"), { version: 3 }))
      assert.strictEqual(missing._tag, "StreamNotFound")

      // stateAsOf: the same queries as a CLI or an HTTP client writes them.
      const stateAsOf = (input: TemporalQuery.Input) => TemporalQuery.state(handler, stream, input)
      assert.deepStrictEqual(yield* stateAsOf({}), { state: 111, version: 2 })
      assert.deepStrictEqual(yield* stateAsOf({ version: 1 }), { state: 11, version: 1 })
      assert.deepStrictEqual(yield* stateAsOf({ at: between }), { state: 11, version: 1 })
      assert.deepStrictEqual(yield* stateAsOf({ at: DateTime.formatIso(between) }), { state: 11, version: 1 })
      for (const input of [{}, { version: 0 }, { at: DateTime.formatIso(between) }]) {
        const none = yield* Effect.flip(TemporalQuery.state(handler, StreamName.make("counter", "none"), input))
        assert.strictEqual(none._tag, "StreamNotFound", JSON.stringify(input))
      }
      const invalid: ReadonlyArray<readonly [TemporalQuery.Input, string]> = [
        [{ version: -1 }, "-1 is not a non-negative integer"],
        [{ version: 1.5 }, "1.5 is not a non-negative integer"],
        [{ version: Number.NaN }, "NaN is not a non-negative integer"],
        [{ at: "yesterday" }, '"yesterday" is not a timestamp; use ISO 8601'],
        [{ version: 0, at: DateTime.formatIso(between) }, "a version or a time, not both"]
      ]
      for (const [input, reason] of invalid) {
        const error = yield* Effect.flip(stateAsOf(input))
        assert.strictEqual(error._tag, "InvalidAsOf")
        assert.include(error.message, reason)
      }
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.effect("a command that changes nothing appends nothing", () =>
    Effect.gen(function* () {
      const idle = Decider.make<{ readonly by: number }, EventCodec.Event<typeof CounterEvents>, number>({
        ...counter,
        decide: () => Result.succeed([])
      })
      const handler = yield* CommandHandler.make({ decider: idle, codec: CounterEvents })
      const outcome = yield* handler.handle(StreamName.make("counter", "idle"), { by: 1 })
      assert.deepStrictEqual([outcome.version, outcome.events.length], [-1, 0])
    }).pipe(Effect.provide(Stores))
  )
})

describe("CommandHandler terminal streams", () => {
  const capped = (decided: { n: number }) =>
    Decider.make<{ readonly by: number }, EventCodec.Event<typeof CounterEvents>, number>({
      ...counter,
      decide: (command, state) => {
        decided.n++
        return counter.decide(command, state)
      },
      isTerminal: (state) => state >= 10
    })

  it.effect("a terminal stream refuses commands with StreamTerminated, before deciding, and appends nothing", () =>
    Effect.gen(function* () {
      const decided = { n: 0 }
      const handler = yield* CommandHandler.make({ decider: capped(decided), codec: CounterEvents })
      const stream = StreamName.make("counter", "capped")
      const last = yield* handler.handle(stream, { by: 10 })
      assert.deepStrictEqual([last.state, last.version, decided.n], [10, 0, 1])

      const refused = yield* Effect.flip(handler.handle(stream, { by: 1 }))
      assert.instanceOf(refused, CommandHandler.StreamTerminated)
      assert.deepStrictEqual([refused.stream, refused.version], [stream, 0])
      assert.strictEqual(
        refused.message,
        `The stream "counter-capped" reached a terminal state at version 0 and accepts no more commands; start a new stream`
      )
      assert.strictEqual(decided.n, 1)
      const store = yield* EventStore.EventStore
      assert.strictEqual(yield* store.streamVersion(stream), 0)
      assert.deepStrictEqual(yield* handler.load(stream), { state: 10, version: 0 })
    }).pipe(Effect.provide(Stores))
  )

  it.effect("a stream short of its terminal state takes commands until it reaches it", () =>
    Effect.gen(function* () {
      const decided = { n: 0 }
      const handler = yield* CommandHandler.make({ decider: capped(decided), codec: CounterEvents })
      const stream = StreamName.make("counter", "open")
      for (const by of [3, 3, 3]) yield* handler.handle(stream, { by })
      assert.deepStrictEqual(yield* handler.load(stream), { state: 9, version: 2 })
      const last = yield* handler.handle(stream, { by: 3 })
      assert.deepStrictEqual([last.state, last.version, last.events.length, decided.n], [12, 3, 1, 4])
      assert.strictEqual((yield* Effect.flip(handler.handle(stream, { by: 3 })))._tag, "StreamTerminated")
    }).pipe(Effect.provide(Stores))
  )
})

describe("CommandHandler inline projections on the in-memory store", () => {
  it.effect("a failing inline projection leaves nothing appended; the read model and the stream stay in step", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const statuses = new Map<string, string>()
      const orderStatus = Projection.make({
        name: "order-status",
        version: 1,
        codec: Order.OrderEvents,
        handle: (e) =>
          e.event._tag === "OrderCancelled" && e.event.reason === "explode"
            ? Effect.fail(new Error("the read model refused"))
            : Effect.sync(() => void statuses.set(e.stream, e.event._tag))
      })
      const orders = yield* CommandHandler.make({
        decider: Order.decider,
        codec: Order.OrderEvents,
        inline: [orderStatus]
      })
      const stream = StreamName.make("order", "inline-memory")
      yield* orders.handle(stream, place("inline-memory"))
      assert.strictEqual(statuses.get(stream), "OrderPlaced")

      const failed = yield* Effect.flip(orders.handle(stream, Order.CancelOrder.make({ reason: "explode" })))
      assert.strictEqual(failed._tag, "InlineProjectionFailed")
      assert.strictEqual(yield* store.streamVersion(stream), 0, "the event was rolled back")
      const log = yield* Stream.runCollect(store.readAll())
      assert.deepStrictEqual(
        log.map((e) => e.type),
        ["OrderPlaced"]
      )

      const cancelled = yield* orders.handle(stream, Order.CancelOrder.make({ reason: "changed mind" }))
      assert.strictEqual(cancelled.version, 1)
      assert.strictEqual(statuses.get(stream), "OrderCancelled")
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})

describe("CommandHandler inside a unit of work", () => {
  it.live("a command in a unit of work does not deadlock with a queued command on the same stream", () =>
    Effect.gen(function* () {
      const unit = yield* UnitOfWork.UnitOfWork
      const counters = yield* CommandHandler.make({ decider: counter, codec: CounterEvents })
      const stream = StreamName.make("counter", "process-manager")
      const firstDone = yield* Deferred.make<void>()
      // Think of a process manager's projector batch: two commands on one stream in one unit.
      const batch = yield* Effect.forkChild(
        unit.run(
          Effect.gen(function* () {
            yield* counters.handle(stream, { by: 1 })
            yield* Deferred.succeed(firstDone, undefined)
            // Meanwhile a command from outside takes the handler's queue and waits for the stream.
            yield* Effect.sleep("50 millis")
            yield* counters.handle(stream, { by: 10 })
          })
        )
      )
      yield* Deferred.await(firstDone)
      const outside = yield* Effect.forkChild(counters.handle(stream, { by: 100 }))
      yield* Fiber.join(batch).pipe(
        Effect.timeoutOrElse({
          duration: "3 seconds",
          orElse: () => Effect.die("deadlock: the unit waits for the queue, the queued command for the unit")
        })
      )
      const last = yield* Fiber.join(outside)
      assert.strictEqual(last.state, 111)
      assert.strictEqual(last.version, 2)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})

describe("CommandHandler idempotency keys", () => {
  it.effect("a command repeated under the same key takes effect once per stream", () =>
    Effect.gen(function* () {
      const handler = yield* CommandHandler.make({ decider: counter, codec: CounterEvents })
      const a = StreamName.make("counter", "idem-a")
      const b = StreamName.make("counter", "idem-b")
      const first = yield* handler.handle(a, { by: 5 }, { idempotencyKey: "event-1" })
      assert.strictEqual(first.events.length, 1)
      // Re-delivered right away (an exact repeat) and after other writes (decide differs, ids collide).
      const repeat = yield* handler.handle(a, { by: 5 }, { idempotencyKey: "event-1" })
      yield* handler.handle(a, { by: 1 })
      const later = yield* handler.handle(a, { by: 5 }, { idempotencyKey: "event-1" })
      assert.deepStrictEqual([repeat.events.length, repeat.state, later.events.length, later.state], [0, 5, 0, 6])
      // The same key on another stream is another command.
      assert.strictEqual((yield* handler.handle(b, { by: 5 }, { idempotencyKey: "event-1" })).state, 5)
      const store = yield* EventStore.EventStore
      assert.deepStrictEqual([yield* store.streamVersion(a), yield* store.streamVersion(b)], [1, 0])
    }).pipe(Effect.provide(Stores))
  )

  it.effect("a key and stream cannot spell another key and stream", () =>
    Effect.gen(function* () {
      const handler = yield* CommandHandler.make({ decider: counter, codec: CounterEvents })
      // Joined with a "/", both would read "k/x-a/x-b".
      const first = yield* handler.handle(StreamName.make("x", "a/x-b"), { by: 1 }, { idempotencyKey: "k" })
      const second = yield* handler.handle(StreamName.make("x", "b"), { by: 1 }, { idempotencyKey: "k/x-a" })
      assert.deepStrictEqual([first.events.length, second.events.length], [1, 1])
    }).pipe(Effect.provide(Stores))
  )
})

describe("CommandHandler expected versions from the caller", () => {
  it.effect("fails at once with the actual version when the stream has moved on", () =>
    Effect.gen(function* () {
      const handler = yield* CommandHandler.make({ decider: counter, codec: CounterEvents })
      const stream = StreamName.make("counter", "expected")
      yield* handler.handle(stream, { by: 1 }, { expectedVersion: -1 })
      yield* handler.handle(stream, { by: 1 }, { expectedVersion: 0 })
      const stale = yield* Effect.flip(handler.handle(stream, { by: 1 }, { expectedVersion: 0 }))
      assert.strictEqual(stale._tag, "WrongExpectedVersion")
      if (stale._tag === "WrongExpectedVersion") assert.strictEqual(stale.actualVersion, 1)
      assert.strictEqual(yield* (yield* EventStore.EventStore).streamVersion(stream), 1)
    }).pipe(Effect.provide(Stores))
  )
})
