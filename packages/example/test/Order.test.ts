import { Order } from "@chronicle/example"
import { DeciderLaws, DeciderSpec, Upcasting } from "@chronicle/testing"
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary } from "effect"

const { CancelOrder, ConfirmPayment, decider, OrderCancelled, OrderPlaced, PaymentConfirmed, PlaceOrder } = Order

const place = PlaceOrder.make({
  orderId: "o1",
  customerId: "c1",
  items: [{ productId: "p1", quantity: 2, unitPrice: 500 }],
  currency: "EUR"
})
const placed = OrderPlaced.make({ orderId: "o1", customerId: "c1", items: place.items, currency: "EUR" })
const paid = PaymentConfirmed.make({ orderId: "o1", paymentReference: "r1", amount: 1000 })
const cancelled = OrderCancelled.make({ orderId: "o1", reason: "changed mind" })

describe("Order decider", () => {
  it("places a new order", () => {
    const state = DeciderSpec.given(decider).when(place).thenEvents(placed)
    assert.deepStrictEqual([state.status, state.total], ["Pending", 1000])
  })
  it("does not place an order twice", () => {
    DeciderSpec.given(decider, placed).when(place).thenFails("OrderRejected")
    DeciderSpec.given(decider, placed, cancelled).when(place).thenFails("OrderRejected")
  })
  it("takes a payment of the total, only while pending", () => {
    DeciderSpec.given(decider, placed)
      .when(ConfirmPayment.make({ paymentReference: "r1", amount: 1000 }))
      .thenEvents(paid)
    DeciderSpec.given(decider, placed)
      .when(ConfirmPayment.make({ paymentReference: "r1", amount: 999 }))
      .thenFails((e) => e.reason.includes("does not match the total of 1000"))
    DeciderSpec.given(decider)
      .when(ConfirmPayment.make({ paymentReference: "r", amount: 0 }))
      .thenFails("OrderRejected")
    DeciderSpec.given(decider, placed, paid)
      .when(ConfirmPayment.make({ paymentReference: "r2", amount: 1000 }))
      .thenFails("OrderRejected")
    DeciderSpec.given(decider, placed, cancelled)
      .when(ConfirmPayment.make({ paymentReference: "r", amount: 1000 }))
      .thenFails("OrderRejected")
  })
  it("cancels only a pending order", () => {
    DeciderSpec.given(decider, placed)
      .when(CancelOrder.make({ reason: "changed mind" }))
      .thenEvents(cancelled)
    DeciderSpec.given(decider, placed, paid)
      .when(CancelOrder.make({ reason: "late" }))
      .thenFails("OrderRejected")
    DeciderSpec.given(decider, placed, cancelled)
      .when(CancelOrder.make({ reason: "again" }))
      .thenFails("OrderRejected")
    DeciderSpec.given(decider)
      .when(CancelOrder.make({ reason: "nothing" }))
      .thenFails("OrderRejected")
  })
  it("a failing spec shows the diff of expected and actual events", () => {
    assert.throws(
      () =>
        DeciderSpec.given(decider, placed)
          .when(CancelOrder.make({ reason: "x" }))
          .thenEvents({ ...cancelled, reason: "y" }),
      /-\s+reason: "y"[\s\S]*\+\s+reason: "x"|reason/
    )
    try {
      DeciderSpec.given(decider, placed)
        .when(CancelOrder.make({ reason: "x" }))
        .thenEvents({ ...cancelled, reason: "y" })
    } catch (error) {
      const message = (error as Error).message
      assert.include(message, "given OrderPlaced, when CancelOrder: the events differ")
      assert.include(message, "--- expected")
      assert.include(message, "+++ actual")
      assert.match(message, /^-.*"y"/m)
      assert.match(message, /^\+.*"x"/m)
    }
  })
})

describe("Order events", () => {
  it("every stored version of OrderPlaced decodes to the current one", () => {
    Upcasting.assertGolden(Order.OrderEvents, [
      {
        stored: {
          type: "OrderPlaced",
          version: 1,
          data: { orderId: "o1", customerId: "c1", product_ids: ["p1", "p2"] }
        },
        expected: OrderPlaced.make({
          orderId: "o1",
          customerId: "c1",
          items: [
            { productId: "p1", quantity: 1, unitPrice: 0 },
            { productId: "p2", quantity: 1, unitPrice: 0 }
          ],
          currency: "USD"
        })
      },
      {
        stored: { type: "OrderPlaced", version: 2, data: { orderId: "o1", customerId: "c1", items: place.items } },
        expected: { ...placed, currency: "USD" }
      },
      { stored: { type: "OrderPlaced", version: 3, data: { ...placed, _tag: undefined } }, expected: placed },
      {
        stored: { type: "PaymentConfirmed", version: 1, data: { orderId: "o1", paymentReference: "r1", amount: 1000 } },
        expected: paid
      },
      {
        stored: { type: "OrderCancelled", version: 1, data: { orderId: "o1", reason: "changed mind" } },
        expected: cancelled
      }
    ])
  })
  it("no event schema changed without a new version", () => {
    Upcasting.assertSchemas(Order.OrderEvents, new URL("./__schemas__/order-events.json", import.meta.url))
  })
})

DeciderLaws.test("Order", {
  decider,
  codec: Order.OrderEvents,
  commands: Arbitrary.schema(Order.OrderCommand),
  repeatedCommands: "rejected-or-idempotent",
  check: { runs: 150 }
})
