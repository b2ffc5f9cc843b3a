import { EventCodec, EventType, Projection } from "@chronicle/core"
import { ProjectionSpec } from "@chronicle/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref, Schema } from "effect"

// Two order events are all these tests need (testing's tests use nothing above testing).
const OrderPlaced = EventType.make("OrderPlaced", { orderId: Schema.String, total: Schema.Int })
const PaymentConfirmed = EventType.make("PaymentConfirmed", { orderId: Schema.String, amount: Schema.Int })
const OrderEvents = EventCodec.make(OrderPlaced, PaymentConfirmed)

const placed = (orderId: string) => OrderPlaced.make({ orderId, total: 1250 })
const paid = (orderId: string) => PaymentConfirmed.make({ orderId, amount: 1250 })

const revenue = (model: Ref.Ref<Record<string, number>>) =>
  Projection.make({
    name: "revenue",
    version: 1,
    codec: OrderEvents,
    types: ["PaymentConfirmed"],
    failure: { action: "park" },
    handle: (e) =>
      e.event.amount > 10_000
        ? Effect.fail(new Error("suspicious amount"))
        : Ref.update(model, (m) => ({ ...m, [e.event.orderId]: e.event.amount }))
  })

describe("ProjectionSpec", () => {
  it.effect("given events, run the projection, expect the read model", () =>
    Effect.gen(function* () {
      const model = yield* Ref.make<Record<string, number>>({})
      yield* ProjectionSpec.given(revenue(model), [
        { stream: "order-o1", events: [placed("o1"), paid("o1")] },
        { stream: "order-o2", events: [placed("o2")] }
      ]).pipe(ProjectionSpec.expect(Ref.get(model), { o1: 1250 }))
    })
  )

  // it.live: the failing event is retried with real delays before it is parked.
  it.live("shows a diff when the read model differs, and returns parked events", () =>
    Effect.gen(function* () {
      const model = yield* Ref.make<Record<string, number>>({})
      const failed = yield* Effect.flip(
        ProjectionSpec.given(revenue(model), [{ stream: "order-o1", events: [placed("o1"), paid("o1")] }]).pipe(
          ProjectionSpec.expect(Ref.get(model), { o1: 999 })
        )
      )
      assert.include(failed.message, "the read model differs")
      assert.match(failed.message, /^-.*999/m)
      const parked = yield* ProjectionSpec.given(revenue(model), [
        { stream: "order-o3", events: [placed("o3"), { ...paid("o3"), amount: 50_000 }] }
      ])
      assert.strictEqual(parked.length, 1)
      assert.include(parked[0]!.error, "suspicious amount")
    })
  )
})
