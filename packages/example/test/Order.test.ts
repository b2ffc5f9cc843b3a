import { Order } from "@chronicle/example"
import { DeciderLaws, DeciderSpec, Upcasting } from "@chronicle/testing"
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Schema } from "effect"

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

/** The `SpecFailed` a spec throws; fails the test when the spec holds. */
const specFailure = (spec: () => unknown): DeciderSpec.SpecFailed => {
  try {
    spec()
  } catch (error) {
    assert.instanceOf(error, DeciderSpec.SpecFailed)
    return error as DeciderSpec.SpecFailed
  }
  return assert.fail("expected the spec to fail")
}

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
    const error = specFailure(() =>
      DeciderSpec.given(decider, placed)
        .when(CancelOrder.make({ reason: "x" }))
        .thenEvents({ ...cancelled, reason: "y" })
    )
    const lines = error.message.split("\n")
    assert.strictEqual(lines[0], "given OrderPlaced, when CancelOrder: the events differ")
    assert.deepStrictEqual(lines.slice(1, 3), ["--- expected", "+++ actual"])
    // Only the reason differs: the expected line removed, the actual one added, the rest as context.
    assert.deepStrictEqual(
      lines.filter((line) => /^[-+] /.test(line)),
      ['-  "reason": "y",', '+  "reason": "x",']
    )
    assert.include(lines, '   "orderId": "o1",')
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

/** Makes a payment likely to match the order's total: one item of price 0 or 1, an amount of 0 or 1. */
const withSmallAmounts = (command: Order.OrderCommand): Order.OrderCommand => {
  switch (command._tag) {
    case "PlaceOrder":
      return { ...command, items: [{ ...command.items[0], quantity: 1, unitPrice: command.items[0].unitPrice % 2 }] }
    case "ConfirmPayment":
      return { ...command, amount: Math.abs(command.amount % 2) }
    case "CancelOrder":
      return command
  }
}

/**
 * Commands for the laws. A schema-random payment almost never equals the order's total, so with
 * them alone no generated history reaches a paid order: half the commands get small amounts.
 */
const commands = Arbitrary.map(
  Arbitrary.all({ command: Arbitrary.schema(Order.OrderCommand), small: Arbitrary.schema(Schema.Boolean) }),
  ({ command, small }) => (small ? withSmallAmounts(command) : command)
)

DeciderLaws.test("Order", {
  decider,
  codec: Order.OrderEvents,
  commands,
  repeatedCommands: "rejected-or-idempotent",
  check: { runs: 150 }
})
