import {
  CheckpointStore,
  CommandHandler,
  DeadLetterStore,
  EventStore,
  ExpectedVersion,
  Projection,
  Projector,
  StreamName
} from "@chronicle/core"
import { Order } from "@chronicle/example"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Metric, Option, Random, Ref, Schedule, Stream } from "effect"

const Stores = Layer.mergeAll(
  EventStore.EventStore.layerMemory(),
  CheckpointStore.CheckpointStore.layerMemory,
  DeadLetterStore.DeadLetterStore.layerMemory
)

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

/** Revenue per customer, kept idempotent by remembering handled event ids (at-least-once target). */
const revenueProjection = (
  readModel: Ref.Ref<{ seen: ReadonlySet<string>; revenue: Record<string, number> }>,
  options?: {
    readonly failOn?: (orderId: string) => boolean
    readonly action?: "park" | "halt"
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
        : Ref.update(readModel, (m) =>
            m.seen.has(envelope.eventId)
              ? m
              : {
                  seen: new Set([...m.seen, envelope.eventId]),
                  revenue: { ...m.revenue, [envelope.event.orderId]: envelope.event.amount }
                }
          )
  })

const emptyModel = () =>
  Ref.make({ seen: new Set<string>() as ReadonlySet<string>, revenue: {} as Record<string, number> })

describe("Projector", () => {
  it.live("catches up, then follows live appends, checkpointing as it goes", () =>
    Effect.gen(function* () {
      yield* placeAndPay(10)
      const model = yield* emptyModel()
      const projection = revenueProjection(model)
      const fiber = yield* Effect.forkChild(Projector.run(projection))
      yield* Effect.repeat(Ref.get(model), { until: (m) => m.seen.size === 5, schedule: Schedule.spaced("2 millis") })
      yield* placeAndPay(20, 10)
      yield* Effect.repeat(Ref.get(model), {
        until: (m) => m.seen.size === 10,
        schedule: Schedule.spaced("2 millis")
      }).pipe(Effect.timeout("5 seconds"))
      const checkpoint = yield* (yield* CheckpointStore.CheckpointStore).load("revenue@v1")
      const lastPayment = StreamName.make("order", "o18")
      const [, paid] = yield* Stream.runCollect((yield* EventStore.EventStore).readStream(lastPayment))
      assert.deepStrictEqual(Option.getOrThrow(checkpoint), paid!.position)
      yield* Fiber.interrupt(fiber)
      const final = yield* Ref.get(model)
      assert.strictEqual(final.seen.size, 10)
      assert.deepStrictEqual(
        final.revenue,
        Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`o${2 * i}`, 100 + 2 * i]))
      )
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("parks a poison event with its error and carries on; replaying it after a fix applies it", () =>
    Effect.gen(function* () {
      yield* placeAndPay(10)
      const model = yield* emptyModel()
      const broken = revenueProjection(model, { failOn: (id) => id === "o4" })
      yield* Projector.catchUp(broken)
      assert.deepStrictEqual(Object.keys((yield* Ref.get(model)).revenue).sort(), ["o0", "o2", "o6", "o8"])
      const deadLetters = yield* DeadLetterStore.DeadLetterStore
      const parked = yield* deadLetters.list("revenue@v1")
      assert.strictEqual(parked.length, 1)
      assert.strictEqual(parked[0]!.envelope.stream, "order-o4")
      assert.include(parked[0]!.error, "cannot project o4")

      const fixed = revenueProjection(model)
      assert.isTrue(yield* Projector.replayParked(fixed, parked[0]!.envelope.eventId))
      assert.deepStrictEqual(Object.keys((yield* Ref.get(model)).revenue).sort(), ["o0", "o2", "o4", "o6", "o8"])
      assert.strictEqual((yield* deadLetters.list("revenue@v1")).length, 0)
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
      assert.strictEqual((yield* Ref.get(model)).seen.size, 2)
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
      yield* Projector.catchUp(revenueProjection(model))
      assert.deepStrictEqual(Object.keys((yield* Ref.get(model)).revenue).sort(), ["o0", "o2", "o4", "o6", "o8"])
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("interrupted at random points and restarted, ends equal to a fresh rebuild", () =>
    Effect.gen(function* () {
      yield* placeAndPay(60)
      const model = yield* emptyModel()
      const projection = revenueProjection(model)
      for (let round = 0; round < 20; round++) {
        const fiber = yield* Effect.forkChild(Projector.run(projection))
        yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 3)} millis`)
        yield* Fiber.interrupt(fiber)
      }
      yield* Projector.catchUp(projection)
      const fresh = yield* emptyModel()
      yield* Projector.catchUp({ ...revenueProjection(fresh), version: 2 })
      assert.deepStrictEqual((yield* Ref.get(model)).revenue, (yield* Ref.get(fresh)).revenue)
      assert.strictEqual((yield* Ref.get(fresh)).seen.size, 30)
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
      assert.isAbove(checkpoint.value, 0)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.live("reports no lag once caught up, even when the log ends with events the projection filters out", () =>
    Effect.gen(function* () {
      yield* placeAndPay(5) // ends with o4 paid, then...
      yield* placeAndPay(6, 5) // ...o5 placed and not paid: the head is an event this projection skips
      const model = yield* emptyModel()
      const fiber = yield* Effect.forkChild(Projector.run({ ...revenueProjection(model), name: "lagging" }))
      yield* Effect.repeat(Ref.get(model), { until: (m) => m.seen.size === 3, schedule: Schedule.spaced("2 millis") })
      const lag = yield* Effect.repeat(Metric.value(Projector.metrics("lagging@v1").lagEvents), {
        until: (g) => g.value === 0,
        schedule: Schedule.spaced("5 millis")
      }).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(lag.value, 0)
      yield* Fiber.interrupt(fiber)
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
