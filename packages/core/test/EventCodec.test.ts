import { EventCodec, EventType } from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import * as Order from "./order.ts"

const { OrderEvents } = Order

const v3 = {
  _tag: "OrderPlaced",
  orderId: "o1",
  customerId: "c1",
  items: [{ productId: "p1", quantity: 2, unitPrice: 250 }],
  currency: "EUR"
} as const

describe("EventCodec", () => {
  it("decodes every stored version of OrderPlaced as v3", () => {
    const fromV1 = OrderEvents.decode({
      type: "OrderPlaced",
      version: 1,
      data: { orderId: "o1", customerId: "c1", product_ids: ["p1", "p2"] }
    })
    assert.deepStrictEqual(Result.getOrThrow(fromV1), {
      _tag: "OrderPlaced",
      orderId: "o1",
      customerId: "c1",
      items: [
        { productId: "p1", quantity: 1, unitPrice: 0 },
        { productId: "p2", quantity: 1, unitPrice: 0 }
      ],
      currency: "USD"
    })
    const fromV2 = OrderEvents.decode({
      type: "OrderPlaced",
      version: 2,
      data: { orderId: "o1", customerId: "c1", items: [{ productId: "p1", quantity: 2, unitPrice: 250 }] }
    })
    assert.deepStrictEqual(Result.getOrThrow(fromV2), { ...v3, currency: "USD" })
    const fromV3 = OrderEvents.decode({ type: "OrderPlaced", version: 3, data: { ...v3, _tag: undefined } })
    assert.deepStrictEqual(Result.getOrThrow(fromV3), v3)
  })

  it("encodes at the current version, without the tag", () => {
    const stored = Result.getOrThrow(OrderEvents.encode(v3))
    assert.strictEqual(stored.type, "OrderPlaced")
    assert.strictEqual(stored.version, 3)
    assert.deepStrictEqual(stored.data, { orderId: "o1", customerId: "c1", items: v3.items, currency: "EUR" })
    assert.deepStrictEqual(Result.getOrThrow(OrderEvents.decode(stored)), v3)
  })

  it("fails with distinct typed errors that name what is wrong", () => {
    const unknownType = OrderEvents.decode({ type: "OrderShipped", version: 1, data: {} })
    assert.isTrue(Result.isFailure(unknownType) && unknownType.failure._tag === "UnknownEventType")

    const unknownVersion = OrderEvents.decode({ type: "OrderPlaced", version: 4, data: {} })
    assert.isTrue(Result.isFailure(unknownVersion) && unknownVersion.failure._tag === "UnknownSchemaVersion")

    const invalid = OrderEvents.decode({ type: "OrderPlaced", version: 1, data: { orderId: 7 } })
    if (Result.isSuccess(invalid) || invalid.failure._tag !== "InvalidEventData")
      return assert.fail("expected InvalidEventData")
    assert.strictEqual(invalid.failure.type, "OrderPlaced")
    assert.strictEqual(invalid.failure.schemaVersion, 1)
    assert.match(invalid.failure.issue, /orderId/)
  })

  it("names the stream, version, type and schema version of an undecodable envelope", () => {
    const result = OrderEvents.decodeEnvelope({
      eventId: "0190a8b0-0000-7000-8000-000000000000",
      type: "PaymentConfirmed",
      schemaVersion: 1,
      data: { orderId: "o1", paymentReference: "r", amount: "ten" },
      metadata: {},
      stream: "order-o1" as any,
      streamVersion: 5,
      position: { commit: 6n, sequence: 6n },
      recordedAt: undefined as any
    })
    if (Result.isSuccess(result)) return assert.fail("expected a failure")
    assert.strictEqual(result.failure._tag, "InvalidEventData")
    assert.include(result.failure.message, '"order-o1" version 5')
    assert.include(result.failure.message, "PaymentConfirmed (schema version 1)")
  })

  it("rejects an event that does not match its current schema when encoding", () => {
    const result = OrderEvents.encode({ ...v3, items: [{ productId: "p", quantity: 0, unitPrice: 1 }] })
    assert.isTrue(Result.isFailure(result) && result.failure._tag === "InvalidEventData")
  })

  it.effect("is also an Effect Schema between events and the stored form", () =>
    Effect.gen(function* () {
      const decoded = yield* Schema.decodeUnknownEffect(OrderEvents.schema)({
        type: "OrderPlaced",
        version: 1,
        data: { orderId: "o9", customerId: "c", product_ids: [] }
      })
      assert.strictEqual(decoded._tag, "OrderPlaced")
      const encoded = yield* Schema.encodeEffect(OrderEvents.schema)(v3)
      assert.strictEqual(encoded.version, 3)
      const error = yield* Effect.flip(
        Schema.decodeUnknownEffect(OrderEvents.schema)({ type: "Nope", version: 1, data: {} })
      )
      assert.include(error.message, 'Unknown event type "Nope"')
    })
  )

  it("refuses a codec that declares a type twice", () => {
    const A = EventType.make("A", {})
    assert.throws(() => EventCodec.make(A, A), /declared twice/)
  })
})
