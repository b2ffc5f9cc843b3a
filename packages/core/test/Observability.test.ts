import { CommandHandler, EventStore, ExpectedVersion, MemoryStore, Observability, StreamName } from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric, Tracer } from "effect"
import * as Order from "./order.ts"

const place = (orderId: string): Order.OrderCommand =>
  Order.PlaceOrder.make({
    orderId,
    customerId: "c1",
    items: [{ productId: "p1", quantity: 2, unitPrice: 500 }],
    currency: "EUR"
  })

/** A tracer that keeps every span it makes (the recorded ones and the ones made unsampled). */
const recordingTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { tracer, names: () => spans.map((span) => span.name), spans }
}

/** Runs a command on a fresh in-memory store with a fresh metric registry. */
const handleOne = (orderId: string) =>
  Effect.gen(function* () {
    const orders = yield* CommandHandler.make({ decider: Order.decider, codec: Order.OrderEvents })
    return yield* orders.handle(StreamName.make("order", orderId), place(orderId))
  }).pipe(Effect.provide(MemoryStore.layer()))

describe("Observability", () => {
  it.effect("counts an append's latency and events, and a conflict by its reason", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const stream = StreamName.make("order", "metered")
      const event = {
        eventId: "01900000-0000-7000-8000-000000000001",
        type: "T",
        schemaVersion: 1,
        data: {},
        metadata: {}
      }
      const second = { ...event, eventId: "01900000-0000-7000-8000-000000000002" }
      yield* store.append(stream, [event, second], ExpectedVersion.noStream)
      const third = { ...event, eventId: "01900000-0000-7000-8000-000000000003" }
      const stale = yield* Effect.flip(store.append(stream, [third], ExpectedVersion.noStream))
      assert.strictEqual(stale._tag, "WrongExpectedVersion")

      const seconds = yield* Metric.value(Metric.withAttributes(Observability.appendSeconds, { operation: "append" }))
      assert.strictEqual(seconds.count, 2, "both appends are timed, whatever their outcome")
      assert.strictEqual((yield* Metric.value(Observability.eventsAppended)).count, 2, "only the acknowledged events")
      const conflicts = yield* Metric.value(
        Metric.withAttributes(Observability.conflicts, { reason: "wrong_expected_version" })
      )
      assert.strictEqual(conflicts.count, 1)
    }).pipe(Effect.provide(MemoryStore.layer()), Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("an installed tracer gets the command's spans, with the append's attributes and position", () =>
    Effect.gen(function* () {
      const recorded = recordingTracer()
      yield* handleOne("traced").pipe(Effect.withTracer(recorded.tracer))
      const names = recorded.names()
      for (const name of ["CommandHandler.handle", "CommandHandler.load", "EventStore.readStream"]) {
        assert.include(names, name)
      }
      assert.include(names, "CommandHandler.decide")
      const append = recorded.spans.find((span) => span.name === "EventStore.append")
      assert.isDefined(append)
      assert.deepInclude(Object.fromEntries(append!.attributes), {
        stream: "order-traced",
        event_count: 1,
        expected_version: "NoStream"
      })
      assert.match(String(append!.attributes.get("position")), /^\d+:\d+$/)
      assert.strictEqual(append!.status._tag, "Ended")
    })
  )

  it.effect("under an unsampled parent, or with tracing off, only the command's span is made", () =>
    Effect.gen(function* () {
      const unsampled = recordingTracer()
      yield* handleOne("unsampled").pipe(
        Effect.withSpan("caller", { sampled: false }),
        Effect.withTracer(unsampled.tracer)
      )
      assert.deepStrictEqual(unsampled.names().sort(), ["CommandHandler.handle", "caller"])

      const off = recordingTracer()
      const outcome = yield* handleOne("off").pipe(Effect.withTracerEnabled(false), Effect.withTracer(off.tracer))
      assert.deepStrictEqual(off.names(), [])
      assert.strictEqual(outcome.events.length, 1)
    })
  )
})
