/**
 * A small order domain for core's own tests (core's tests use nothing above core): an order is
 * placed, then paid or cancelled. `OrderPlaced` has three stored versions, for the upcasting
 * tests: v1 kept a flat list of product ids, v2 items with quantity and unit price, v3 adds the
 * currency (`"USD"` for older events). The shop's domains live in `@chronicle/example`.
 */
import { Decider, EventCodec, EventType } from "@chronicle/core"
import { Result, Schema } from "effect"

const Item = Schema.Struct({
  productId: Schema.String,
  quantity: Schema.Int.check(Schema.isGreaterThan(0)),
  unitPrice: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})

export const OrderPlaced = EventType.make("OrderPlaced", {
  orderId: Schema.String,
  customerId: Schema.String,
  product_ids: Schema.Array(Schema.String)
}).pipe(
  EventType.evolve({ orderId: Schema.String, customerId: Schema.String, items: Schema.Array(Item) }, (v1) => ({
    orderId: v1.orderId,
    customerId: v1.customerId,
    items: v1.product_ids.map((productId) => ({ productId, quantity: 1, unitPrice: 0 }))
  })),
  EventType.evolve(
    { orderId: Schema.String, customerId: Schema.String, items: Schema.Array(Item), currency: Schema.String },
    (v2) => ({ ...v2, currency: "USD" })
  )
)

export const PaymentConfirmed = EventType.make("PaymentConfirmed", {
  orderId: Schema.String,
  paymentReference: Schema.String,
  amount: Schema.Int
})

export const OrderCancelled = EventType.make("OrderCancelled", { orderId: Schema.String, reason: Schema.String })

export const OrderEvents = EventCodec.make(OrderPlaced, PaymentConfirmed, OrderCancelled)

export type OrderEvent = EventCodec.Event<typeof OrderEvents>

export const PlaceOrder = Schema.TaggedStruct("PlaceOrder", {
  orderId: Schema.String,
  customerId: Schema.String,
  items: Schema.NonEmptyArray(Item),
  currency: Schema.String
})

export const ConfirmPayment = Schema.TaggedStruct("ConfirmPayment", {
  paymentReference: Schema.String,
  amount: Schema.Int
})

export const CancelOrder = Schema.TaggedStruct("CancelOrder", { reason: Schema.String })

export type OrderCommand = typeof PlaceOrder.Type | typeof ConfirmPayment.Type | typeof CancelOrder.Type

export interface OrderState {
  readonly status: "None" | "Pending" | "Paid" | "Cancelled"
  readonly orderId: string
  readonly customerId: string
  readonly total: number
  readonly currency: string
}

/** The command is not allowed in the order's current status. */
export class OrderRejected extends Schema.TaggedError<OrderRejected>()("OrderRejected", {
  command: Schema.String,
  status: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.command} rejected: ${this.reason} (order is ${this.status})`
  }
}

const reject = (command: OrderCommand, state: OrderState, reason: string) =>
  Result.fail(new OrderRejected({ command: command._tag, status: state.status, reason }))

/** The status each command needs, and why it is refused in any other. */
const requires = {
  PlaceOrder: ["None", "the order has already been placed"],
  ConfirmPayment: ["Pending", "only a pending order can be paid"],
  CancelOrder: ["Pending", "only a pending order can be cancelled"]
} as const

/** The event an allowed command records. */
const recorded = (command: OrderCommand, state: OrderState): OrderEvent =>
  command._tag === "PlaceOrder"
    ? OrderPlaced.make({
        orderId: command.orderId,
        customerId: command.customerId,
        items: command.items,
        currency: command.currency
      })
    : command._tag === "ConfirmPayment"
      ? PaymentConfirmed.make({
          orderId: state.orderId,
          paymentReference: command.paymentReference,
          amount: command.amount
        })
      : OrderCancelled.make({ orderId: state.orderId, reason: command.reason })

const totalOf = (items: ReadonlyArray<{ readonly quantity: number; readonly unitPrice: number }>) =>
  items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0)

export const decider = Decider.make<OrderCommand, OrderEvent, OrderState, OrderRejected>({
  initialState: { status: "None", orderId: "", customerId: "", total: 0, currency: "" },
  decide: (command, state) => {
    const [status, reason] = requires[command._tag]
    if (state.status !== status) return reject(command, state, reason)
    if (command._tag === "ConfirmPayment" && command.amount !== state.total) {
      return reject(command, state, "the payment does not match the total")
    }
    return Result.succeed([recorded(command, state)])
  },
  evolve: (state, event) =>
    event._tag === "OrderPlaced"
      ? {
          status: "Pending",
          orderId: event.orderId,
          customerId: event.customerId,
          total: totalOf(event.items),
          currency: event.currency
        }
      : { ...state, status: event._tag === "PaymentConfirmed" ? "Paid" : "Cancelled" },
  isTerminal: (state) => state.status === "Paid" || state.status === "Cancelled"
})
