/**
 * The order domain from the seeds: an order is placed, then paid or
 * cancelled. `OrderPlaced` has three stored versions: v1 kept a flat list of
 * product ids, v2 items with quantity and unit price, v3 adds the currency
 * (`"USD"` for older events).
 *
 * @since 0.1.0
 */
import { Decider, EventCodec, EventType } from "@chronicle/core"
import { Result, Schema } from "effect"

/**
 * A line of an order; prices are in minor units (cents).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Item = Schema.Struct({
  productId: Schema.String,
  quantity: Schema.Int.check(Schema.isGreaterThan(0)),
  unitPrice: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})

/**
 * @since 0.1.0
 * @category events
 */
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

/**
 * @since 0.1.0
 * @category events
 */
export const PaymentConfirmed = EventType.make("PaymentConfirmed", {
  orderId: Schema.String,
  paymentReference: Schema.String,
  amount: Schema.Int
})

/**
 * @since 0.1.0
 * @category events
 */
export const OrderCancelled = EventType.make("OrderCancelled", {
  orderId: Schema.String,
  reason: Schema.String
})

/**
 * The codec of the order events.
 *
 * @since 0.1.0
 * @category events
 */
export const OrderEvents = EventCodec.make(OrderPlaced, PaymentConfirmed, OrderCancelled)

/**
 * @since 0.1.0
 * @category events
 */
export type OrderEvent = EventCodec.Event<typeof OrderEvents>

/**
 * @since 0.1.0
 * @category commands
 */
export const PlaceOrder = Schema.TaggedStruct("PlaceOrder", {
  orderId: Schema.String,
  customerId: Schema.String,
  items: Schema.NonEmptyArray(Item),
  currency: Schema.String.check(Schema.isPattern(/^[A-Z]{3}$/))
})

/**
 * @since 0.1.0
 * @category commands
 */
export const ConfirmPayment = Schema.TaggedStruct("ConfirmPayment", {
  paymentReference: Schema.String,
  amount: Schema.Int
})

/**
 * @since 0.1.0
 * @category commands
 */
export const CancelOrder = Schema.TaggedStruct("CancelOrder", {
  reason: Schema.String
})

/**
 * @since 0.1.0
 * @category commands
 */
export const OrderCommand = Schema.Union([PlaceOrder, ConfirmPayment, CancelOrder])

/**
 * @since 0.1.0
 * @category commands
 */
export type OrderCommand = typeof OrderCommand.Type

/**
 * Where an order is in its life.
 *
 * @since 0.1.0
 * @category state
 */
export const OrderStatus = Schema.Literals(["None", "Pending", "Paid", "Cancelled"])

/**
 * @since 0.1.0
 * @category state
 */
export const OrderState = Schema.Struct({
  status: OrderStatus,
  orderId: Schema.String,
  customerId: Schema.String,
  total: Schema.Int,
  currency: Schema.String
})

/**
 * @since 0.1.0
 * @category state
 */
export type OrderState = typeof OrderState.Type

/**
 * The command is not allowed in the order's current status.
 *
 * @since 0.1.0
 * @category errors
 */
export class OrderRejected extends Schema.TaggedError<OrderRejected>()("OrderRejected", {
  command: Schema.String,
  status: OrderStatus,
  reason: Schema.String
}) {
  override get message() {
    return `${this.command} rejected: ${this.reason} (order is ${this.status})`
  }
}

const reject = (command: OrderCommand, state: OrderState, reason: string) =>
  Result.fail(new OrderRejected({ command: command._tag, status: state.status, reason }))

/**
 * The initial state: no order.
 *
 * @since 0.1.0
 * @category state
 */
export const initialState: OrderState = { status: "None", orderId: "", customerId: "", total: 0, currency: "" }

/**
 * The order decider.
 *
 * @since 0.1.0
 * @category decider
 */
export const decider = Decider.make<OrderCommand, OrderEvent, OrderState, OrderRejected>({
  initialState,
  decide: (command, state) => {
    switch (command._tag) {
      case "PlaceOrder":
        if (state.status !== "None") return reject(command, state, "the order has already been placed")
        return Result.succeed([
          OrderPlaced.make({
            orderId: command.orderId,
            customerId: command.customerId,
            items: command.items,
            currency: command.currency
          })
        ])
      case "ConfirmPayment":
        if (state.status !== "Pending") return reject(command, state, "only a pending order can be paid")
        if (command.amount !== state.total) {
          return reject(command, state, `the payment of ${command.amount} does not match the total of ${state.total}`)
        }
        return Result.succeed([
          PaymentConfirmed.make({
            orderId: state.orderId,
            paymentReference: command.paymentReference,
            amount: command.amount
          })
        ])
      case "CancelOrder":
        if (state.status !== "Pending") return reject(command, state, "only a pending order can be cancelled")
        return Result.succeed([OrderCancelled.make({ orderId: state.orderId, reason: command.reason })])
    }
  },
  evolve: (state, event) => {
    switch (event._tag) {
      case "OrderPlaced":
        return {
          status: "Pending",
          orderId: event.orderId,
          customerId: event.customerId,
          total: event.items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0),
          currency: event.currency
        }
      case "PaymentConfirmed":
        return { ...state, status: "Paid" }
      case "OrderCancelled":
        return { ...state, status: "Cancelled" }
    }
  },
  isTerminal: (state) => state.status === "Paid" || state.status === "Cancelled"
})
