// The README's "Testing your domain" example, compiled and run as a test.
// --- README example start ---
import { Order } from "@chronicle/example"
import { DeciderLaws, DeciderSpec } from "@chronicle/testing"
import { it } from "@effect/vitest"
import { Arbitrary } from "effect"

const placed = Order.OrderPlaced.make({
  orderId: "o1",
  customerId: "c1",
  items: [{ productId: "p1", quantity: 2, unitPrice: 500 }],
  currency: "EUR"
})

it("takes a payment for a pending order, and no cancel after it", () => {
  DeciderSpec.given(Order.decider, placed)
    .when(Order.ConfirmPayment.make({ paymentReference: "r1", amount: 1000 }))
    .thenEvents(Order.PaymentConfirmed.make({ orderId: "o1", paymentReference: "r1", amount: 1000 }))

  const paid = Order.PaymentConfirmed.make({ orderId: "o1", paymentReference: "r1", amount: 1000 })
  DeciderSpec.given(Order.decider, placed, paid)
    .when(Order.CancelOrder.make({ reason: "late" }))
    .thenFails("OrderRejected")
})

// One test per law, over commands and events generated from their schemas.
DeciderLaws.test("orders", {
  decider: Order.decider,
  codec: Order.OrderEvents,
  commands: Arbitrary.schema(Order.OrderCommand),
  check: { runs: 100 }
})
// --- README example end ---
