/**
 * The customer domain: a customer registers with a name and an e-mail
 * address, and may change the address. Name and address are personal data of
 * the customer: stored encrypted with the customer's key, and erased for good
 * by `PersonalData.forget(customerId)` — the customer's stream still loads,
 * with `"[erased]"` in their place.
 *
 * @since 0.1.0
 */
import { Decider, EventCodec, EventType } from "@chronicle/core"
import { Result, Schema } from "effect"

/**
 * @since 0.1.0
 * @category events
 */
export const CustomerRegistered = EventType.make(
  "CustomerRegistered",
  { customerId: Schema.String, name: Schema.String, email: Schema.String },
  { personal: { subject: (e) => e.customerId, fields: ["name", "email"], erased: "[erased]" } }
)

/**
 * @since 0.1.0
 * @category events
 */
export const EmailChanged = EventType.make(
  "EmailChanged",
  { customerId: Schema.String, email: Schema.String },
  { personal: { subject: (e) => e.customerId, fields: ["email"], erased: "[erased]" } }
)

/**
 * @since 0.1.0
 * @category events
 */
export const CustomerEvents = EventCodec.make(CustomerRegistered, EmailChanged)

/**
 * @since 0.1.0
 * @category events
 */
export type CustomerEvent = EventCodec.Event<typeof CustomerEvents>

/**
 * @since 0.1.0
 * @category commands
 */
export const RegisterCustomer = Schema.TaggedStruct("RegisterCustomer", {
  customerId: Schema.String,
  name: Schema.String,
  email: Schema.String
})

/**
 * @since 0.1.0
 * @category commands
 */
export const ChangeEmail = Schema.TaggedStruct("ChangeEmail", { email: Schema.String })

/**
 * @since 0.1.0
 * @category commands
 */
export type CustomerCommand = typeof RegisterCustomer.Type | typeof ChangeEmail.Type

/**
 * @since 0.1.0
 * @category state
 */
export const CustomerState = Schema.Struct({
  registered: Schema.Boolean,
  customerId: Schema.String,
  name: Schema.String,
  email: Schema.String
})

/**
 * @since 0.1.0
 * @category state
 */
export type CustomerState = typeof CustomerState.Type

/**
 * The command is not allowed for this customer.
 *
 * @since 0.1.0
 * @category errors
 */
export class CustomerRejected extends Schema.TaggedError<CustomerRejected>()("CustomerRejected", {
  command: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.command} rejected: ${this.reason}`
  }
}

/**
 * @since 0.1.0
 * @category state
 */
export const initialState: CustomerState = { registered: false, customerId: "", name: "", email: "" }

/**
 * The customer decider.
 *
 * @since 0.1.0
 * @category decider
 */
export const decider = Decider.make<CustomerCommand, CustomerEvent, CustomerState, CustomerRejected>({
  initialState,
  decide: (command, state) => {
    if (command._tag === "RegisterCustomer") {
      return state.registered
        ? Result.fail(new CustomerRejected({ command: command._tag, reason: "the customer is already registered" }))
        : Result.succeed([CustomerRegistered.make(command)])
    }
    if (!state.registered) {
      return Result.fail(new CustomerRejected({ command: command._tag, reason: "the customer is not registered" }))
    }
    return command.email === state.email
      ? Result.succeed([])
      : Result.succeed([EmailChanged.make({ customerId: state.customerId, email: command.email })])
  },
  evolve: (state, event) =>
    event._tag === "CustomerRegistered"
      ? { registered: true, customerId: event.customerId, name: event.name, email: event.email }
      : { ...state, email: event.email }
})
