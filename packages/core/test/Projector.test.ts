import {
  CheckpointStore,
  CommandHandler,
  DeadLetterStore,
  type Envelope,
  EventStore,
  ExpectedVersion,
  MemoryStore,
  Position,
  Projection,
  Projector,
  StreamName
} from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Option, Random, Ref, Schedule, Stream } from "effect"
import * as Order from "./order.ts"

const Stores = MemoryStore.layer()

const noRetry = { retry: Schedule.recurs(0) }

/** Places orders `from` to `to - 1` and pays the even ones. */
const placeAndPay = Effect.fn(function* (to: number, from = 0) {
  const orders = yield* CommandHandler.make({ decider: Order.decider, codec: Order.OrderEvents })
  for (let i = from; i < to; i++) {
    const stream = StreamName.make("order", `o${i}`)
    yield* orders.handle(
      stream,
      Order.PlaceOrder.make({
        orderId: `o${i}`,
        customerId: `c${i % 3}`,
        items: [{ productId: "p", quantity: 1, unitPrice: 100 + i }],
        currency: "EUR"
      })
    )
    if (i % 2 === 0)
      yield* orders.handle(stream, Order.ConfirmPayment.make({ paymentReference: `r${i}`, amount: 100 + i }))
  }
})

/** One application of a payment by the projection. */
interface Applied {
  readonly eventId: string
  readonly orderId: string
  readonly amount: number
}

/**
 * Revenue per order, as a log of every application in the order they happened. Not idempotent on
 * purpose: an event applied twice appears twice, an event skipped not at all.
 */
const revenueProjection = (
  readModel: Ref.Ref<ReadonlyArray<Applied>>,
  options?: {
    readonly failOn?: (orderId: string) => boolean
    readonly action?: "park" | "halt"
    /** Pause after each application, so an interruption can land between it and the checkpoint. */
    readonly pause?: boolean
  }
) =>
  Projection.make({
    name: "revenue",
    version: 1,
    codec: Order.OrderEvents,
    types: ["PaymentConfirmed"],
    batchSize: 7,
    failure: { ...noRetry, action: options?.action ?? "park" },
    handle: (envelope) =>
      options?.failOn?.(envelope.event.orderId)
        ? Effect.fail(new Error(`cannot project ${envelope.event.orderId}`))
        : Ref.update(readModel, (log) => [
            ...log,
            { eventId: envelope.eventId, orderId: envelope.event.orderId, amount: envelope.event.amount }
          ]).pipe(Effect.andThen(options?.pause ? Effect.sleep("1 millis") : Effect.void))
  })

const emptyModel = () => Ref.make<ReadonlyArray<Applied>>([])

const idsOf = (events: ReadonlyArray<{ readonly eventId: string }>) => events.map((e) => e.eventId)

/** Revenue per order, summed over every application. */
const revenueOf = (log: ReadonlyArray<Applied>) => {
  const revenue: Record<string, number> = {}
  for (const { amount, orderId } of log) revenue[orderId] = (revenue[orderId] ?? 0) + amount
  return revenue
}

/** Revenue of the paid orders among o0 … o(n-1) (the even ones), each counted once. */
const paidRevenue = (n: number) =>
  Object.fromEntries(Array.from({ length: Math.ceil(n / 2) }, (_, i) => [`o${2 * i}`, 100 + 2 * i]))

/** The payments in the log, in log order. */
const payments = Effect.gen(function* () {
  return yield* Stream.runCollect((yield* EventStore.EventStore).readAll({ types: ["PaymentConfirmed"] }))
})

/** The revenue projection's checkpoint now. */
const checkpointNow = Effect.gen(function* () {
  return yield* (yield* CheckpointStore.CheckpointStore).load("revenue@v1")
})

/** The payments a run starting at this checkpoint must apply: those after it, in log order. */
const paymentsAfter = (all: ReadonlyArray<Envelope.Envelope>, checkpoint: Option.Option<Position.Position>) =>
  Option.match(checkpoint, {
    onNone: () => all,
    onSome: (at) => all.filter((e) => Position.isAfter(e.position, at))
  })

describe("Projector", () => {
  it.live("catches up, then follows live appends, checkpointing as it goes; restarted, resumes after it", () =>
    Effect.gen(function* () {
      yield* placeAndPay(10)
      const model = yield* emptyModel()
      const projection = revenueProjection(model)
      const fiber = yield* Effect.forkChild(Projector.run(projection))
      yield* Effect.repeat(Ref.get(model), {
        until: (log) => log.length >= 5,
        schedule: Schedule.spaced("2 millis")
      }).pipe(Effect.timeout("5 seconds"))
      yield* placeAndPay(20, 10)
      yield* Effect.repeat(Ref.get(model), {
        until: (log) => log.length >= 10,
        schedule: Schedule.spaced("2 millis")
      }).pipe(Effect.timeout("5 seconds"))
      const checkpoint = yield* (yield* CheckpointStore.CheckpointStore).load("revenue@v1")
      const lastPayment = StreamName.make("order", "o18")
      const [, paid] = yield* Stream.runCollect((yield* EventStore.EventStore).readStream(lastPayment))
      assert.deepStrictEqual(Option.getOrThrow(checkpoint), paid!.position)
      yield* Fiber.interrupt(fiber)
      // Started again, it goes on from its checkpoint: only the newer payment is applied.
      yield* placeAndPay(22, 20)
      yield* Projector.catchUp(projection)
      const applied = yield* Ref.get(model)
      assert.deepStrictEqual(idsOf(applied), idsOf(yield* payments), "every payment once, in log order")
      assert.deepStrictEqual(revenueOf(applied), paidRevenue(22))
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("parks a poison event with its error and carries on; replaying it after a fix applies it", () =>
    Effect.gen(function* () {
      yield* placeAndPay(10)
      const model = yield* emptyModel()
      const broken = revenueProjection(model, { failOn: (id) => id === "o4" })
      yield* Projector.catchUp(broken)
      // Every payment but o4 is applied (those before o4 in its batch may be again: at-least-once).
      const before = yield* Ref.get(model)
      assert.deepStrictEqual([...new Set(before.map((a) => a.orderId))].sort(), ["o0", "o2", "o6", "o8"])
      const deadLetters = yield* DeadLetterStore.DeadLetterStore
      const parked = yield* deadLetters.list("revenue@v1")
      assert.strictEqual(parked.length, 1)
      assert.strictEqual(parked[0]!.envelope.stream, "order-o4")
      assert.include(parked[0]!.error, "cannot project o4")

      const fixed = revenueProjection(model)
      assert.isTrue(yield* Projector.replayParked(fixed, parked[0]!.envelope.eventId))
      assert.deepStrictEqual(
        (yield* Ref.get(model)).slice(before.length),
        [{ eventId: parked[0]!.envelope.eventId, orderId: "o4", amount: 104 }],
        "the replay applies the parked event, once"
      )
      assert.strictEqual((yield* deadLetters.list("revenue@v1")).length, 0)
      assert.isFalse(yield* Projector.replayParked(fixed, parked[0]!.envelope.eventId), "nothing left to replay")
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("parks an event that no longer decodes", () =>
    Effect.gen(function* () {
      yield* placeAndPay(4)
      const store = yield* EventStore.EventStore
      yield* store.append(
        StreamName.make("order", "bad"),
        [
          {
            eventId: "0190a8b0-0000-7000-8000-0000000000cc",
            type: "PaymentConfirmed",
            schemaVersion: 1,
            data: { orderId: "bad", paymentReference: "r", amount: "lots" },
            metadata: {}
          }
        ],
        ExpectedVersion.noStream
      )
      yield* placeAndPay(0)
      const model = yield* emptyModel()
      yield* Projector.catchUp(revenueProjection(model))
      const parked = yield* (yield* DeadLetterStore.DeadLetterStore).list()
      assert.strictEqual(parked.length, 1)
      assert.include(parked[0]!.error, "InvalidEventData")
      assert.deepStrictEqual(
        (yield* Ref.get(model)).map((a) => a.orderId),
        ["o0", "o2"]
      )
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("halts on a poison event under the halt policy, says why, and resumes there once fixed", () =>
    Effect.gen(function* () {
      yield* placeAndPay(10)
      const model = yield* emptyModel()
      const error = yield* Effect.flip(
        Projector.catchUp(revenueProjection(model, { failOn: (id) => id === "o4", action: "halt" }))
      )
      assert.strictEqual(error._tag, "ProjectionHalted")
      assert.include(error.message, '"order-o4" version 1')
      assert.include(error.message, "cannot project o4")
      assert.strictEqual((yield* (yield* DeadLetterStore.DeadLetterStore).list()).length, 0)
      const halted = yield* Ref.get(model)
      assert.notInclude(
        halted.map((a) => a.orderId),
        "o4"
      )
      // Restarted with the fix, it resumes at its checkpoint, which the halt left before o4.
      const checkpoint = yield* checkpointNow
      const all = yield* payments
      const o4 = all.find((e) => e.stream === "order-o4")!
      assert.isTrue(Option.isNone(checkpoint) || Position.isAfter(o4.position, checkpoint.value), "o4 is after it")
      yield* Projector.catchUp(revenueProjection(model))
      assert.deepStrictEqual(idsOf((yield* Ref.get(model)).slice(halted.length)), idsOf(paymentsAfter(all, checkpoint)))
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live(
    "interrupted at random points, each restart resumes at its checkpoint; ends with what a rebuild applies",
    () =>
      Effect.gen(function* () {
        yield* placeAndPay(60)
        const all = yield* payments
        assert.strictEqual(all.length, 30)
        const model = yield* emptyModel()
        // Each application pauses, so interruptions land mid-batch: after an application, before its checkpoint.
        const projection = revenueProjection(model, { pause: true })
        /** A run from the current checkpoint applies the payments after it, in order, none twice. */
        const runResumingAtCheckpoint = <E, R>(run: Effect.Effect<unknown, E, R>) =>
          Effect.gen(function* () {
            const [checkpoint, before] = [yield* checkpointNow, (yield* Ref.get(model)).length]
            yield* run
            const applied = (yield* Ref.get(model)).slice(before)
            assert.deepStrictEqual(idsOf(applied), idsOf(paymentsAfter(all, checkpoint).slice(0, applied.length)))
          })
        for (let round = 0; round < 20; round++) {
          yield* runResumingAtCheckpoint(
            Effect.gen(function* () {
              const fiber = yield* Effect.forkChild(Projector.run(projection))
              yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 15)} millis`)
              yield* Fiber.interrupt(fiber)
            })
          )
        }
        yield* runResumingAtCheckpoint(Projector.catchUp(projection))
        assert.deepStrictEqual(
          Option.map(yield* checkpointNow, Position.format),
          Option.some(Position.format(all[all.length - 1]!.position))
        )
        const fresh = yield* emptyModel()
        yield* Projector.catchUp({ ...revenueProjection(fresh), version: 2 })
        const rebuilt = yield* Ref.get(fresh)
        assert.deepStrictEqual(idsOf(rebuilt), idsOf(all), "a rebuild applies every payment once, in log order")
        assert.deepStrictEqual(revenueOf(rebuilt), paidRevenue(60))
        // Interrupted, nothing was skipped; what was applied again is only what a checkpoint did not cover yet
        // (checked run by run above): at-least-once, for a read model the store cannot roll back.
        assert.deepStrictEqual([...new Set(idsOf(yield* Ref.get(model)))], idsOf(rebuilt))
      }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("keeps per-projection metrics: events handled, parked, checkpoint", () =>
    Effect.gen(function* () {
      yield* placeAndPay(10)
      const model = yield* emptyModel()
      yield* Projector.catchUp({ ...revenueProjection(model, { failOn: (id) => id === "o2" }), name: "metered" })
      const metrics = Projector.metrics("metered@v1")
      const handled = yield* Metric.value(metrics.handled)
      const parked = yield* Metric.value(metrics.parked)
      const checkpoint = yield* Metric.value(metrics.checkpoint)
      assert.strictEqual(handled.count, 5)
      assert.strictEqual(parked.count, 1)
      const all = yield* payments
      assert.strictEqual(checkpoint.value, Number(all[all.length - 1]!.position.sequence))
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("reports no lag once caught up, even when the log ends with events the projection filters out", () =>
    Effect.gen(function* () {
      yield* placeAndPay(5) // ends with o4 paid, then...
      yield* placeAndPay(6, 5) // ...o5 placed and not paid: the head is an event this projection skips
      const model = yield* emptyModel()
      const { lagEvents } = Projector.metrics("lagging@v1")
      // The gauge starts at 0: begin from a value only the projector can turn into 0.
      yield* Metric.update(lagEvents, -1)
      const fiber = yield* Effect.forkChild(Projector.run({ ...revenueProjection(model), name: "lagging" }))
      yield* Effect.repeat(Ref.get(model), { until: (log) => log.length >= 3, schedule: Schedule.spaced("2 millis") })
      yield* Effect.repeat(Metric.value(lagEvents), {
        until: (g) => g.value === 0,
        schedule: Schedule.spaced("5 millis")
      }).pipe(Effect.timeout("5 seconds"))
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("awaitPosition returns once the projection has handled a position: a caller reads its own write", () =>
    Effect.gen(function* () {
      yield* placeAndPay(4)
      const head = yield* (yield* EventStore.EventStore).head
      const model = yield* emptyModel()
      const projection = { ...revenueProjection(model), name: "awaited" }
      const waiting = yield* Effect.forkChild(Projector.awaitPosition(projection, head, { timeout: "10 seconds" }))
      yield* Effect.sleep("30 millis")
      assert.isUndefined(waiting.pollUnsafe(), "nothing handled the events yet")
      const projector = yield* Effect.forkChild(Projector.run(projection))
      yield* Fiber.join(waiting)
      // Every payment up to the awaited position is in the read model.
      assert.deepStrictEqual(
        (yield* Ref.get(model)).map((a) => a.orderId),
        ["o0", "o2"]
      )
      yield* Fiber.interrupt(projector)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("awaitPosition needs no handling of events the projection filters out", () =>
    Effect.gen(function* () {
      yield* placeAndPay(3)
      const model = yield* emptyModel()
      const projection = { ...revenueProjection(model), name: "filtered-await" }
      yield* Projector.catchUp(projection)
      yield* placeAndPay(4, 3) // o3 placed, not paid: nothing for this projection
      const head = yield* (yield* EventStore.EventStore).head
      yield* Projector.awaitPosition(projection, head, { timeout: "5 seconds" })
      yield* placeAndPay(5, 4) // o4 placed and paid: the projection must handle it
      const paid = yield* (yield* EventStore.EventStore).head
      const error = yield* Effect.flip(Projector.awaitPosition(projection, paid, { timeout: "50 millis" }))
      assert.strictEqual(error._tag, "ProjectionTimeout")
      assert.include(error.message, Position.format(paid))
      yield* Projector.catchUp(projection)
      yield* Projector.awaitPosition(projection, paid, { timeout: "5 seconds" })
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("reports rebuild progress", () =>
    Effect.gen(function* () {
      yield* placeAndPay(30)
      const model = yield* emptyModel()
      const seen: Array<Projector.Progress> = []
      yield* Projector.catchUp(revenueProjection(model), { onProgress: (p) => Effect.sync(() => void seen.push(p)) })
      assert.isAbove(seen.length, 1)
      const last = seen[seen.length - 1]!
      assert.strictEqual(last.done, last.total)
      assert.isTrue(seen.every((p, i) => i === 0 || p.done >= seen[i - 1]!.done))
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})
