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

const revenue = (model: Ref.Ref<Record<string, number>>, partitions?: number) =>
  Projection.make({
    name: "revenue",
    version: 1,
    partitions,
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

  it.live("a partitioned projection catches up every partition: the same read model, parked events of each", () =>
    Effect.gen(function* () {
      const ids = ["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8"]
      // The streams spread over the partitions, so one partition alone would miss some.
      assert.isAbove(new Set(ids.map((id) => Projection.partitionOf(`order-${id}`, 4))).size, 1)
      const scenario = ids.map((id) => ({
        stream: `order-${id}`,
        events: [placed(id), paid(id), ...(id === "o3" ? [{ ...paid(id), amount: 50_000 }] : [])]
      }))
      const expected = Object.fromEntries(ids.map((id) => [id, 1250]))
      const plain = yield* Ref.make<Record<string, number>>({})
      yield* ProjectionSpec.given(revenue(plain), scenario).pipe(ProjectionSpec.expect(Ref.get(plain), expected))
      const model = yield* Ref.make<Record<string, number>>({})
      const parked = yield* ProjectionSpec.given(revenue(model, 4), scenario)
      assert.deepStrictEqual(yield* Ref.get(model), expected)
      assert.deepStrictEqual(
        parked.map((p) => [p.projection, p.envelope.stream]),
        [[`revenue@v1/p${Projection.partitionOf("order-o3", 4)}of4`, "order-o3"]]
      )
    })
  )
})
