/**
 * The shop's HTTP API: commands on orders and accounts, queries served from
 * read models, a stream's raw history and its state as of a version or time.
 * Its OpenAPI document is at `/openapi.json` and a docs page at `/docs`.
 */
import { Envelope } from "@chronicle/core"
import { Account, Order } from "@chronicle/example"
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"

/** 409: the stream is not at the version the client expected. */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { stream: Schema.String, expected: Schema.String, actualVersion: Schema.Int, message: Schema.String },
  { httpApiStatus: 409 }
) {}

/** 409: the command's transaction met a concurrent write to the stream; nothing was written, send it again. */
export class WriteConflict extends Schema.TaggedError<WriteConflict>()(
  "WriteConflict",
  { stream: Schema.String, message: Schema.String },
  { httpApiStatus: 409 }
) {}

/** 422: the domain refused the command; `reason` says why. */
export class Rejected extends Schema.TaggedError<Rejected>()(
  "Rejected",
  { command: Schema.String, reason: Schema.String },
  { httpApiStatus: 422 }
) {}

/** 422: the stream reached a terminal state (say, a paid order) and takes no more commands. */
export class Terminated extends Schema.TaggedError<Terminated>()(
  "Terminated",
  { stream: Schema.String, version: Schema.Int, message: Schema.String },
  { httpApiStatus: 422 }
) {}

/** 404: no such order, account or stream. */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {}

/** 400: a well-formed request the app still cannot take (a bad stream name, a bad time). */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { message: Schema.String },
  { httpApiStatus: 400 }
) {}

const Id = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_.:-]{1,64}$/))
const ExpectedVersion = Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(-1)))

/** What a command answers: the stream, its new version and state. */
export const CommandResult = Schema.Struct({
  stream: Schema.String,
  version: Schema.Int,
  events: Schema.Array(Schema.String),
  state: Schema.Unknown
})

export const OrderSummary = Schema.Struct({
  orderId: Schema.String,
  customerId: Schema.String,
  status: Schema.String,
  total: Schema.Int,
  currency: Schema.String,
  version: Schema.Int
})

export const RevenueDay = Schema.Struct({
  day: Schema.String,
  currency: Schema.String,
  revenue: Schema.Int,
  orders: Schema.Int
})

export const AccountBalance = Schema.Struct({ accountId: Schema.String, owner: Schema.String, balance: Schema.Int })

const commandErrors = [Conflict, WriteConflict, Rejected, Terminated, BadRequest]

export class OrdersApi extends HttpApiGroup.make("orders")
  .add(
    HttpApiEndpoint.post("place", "/orders", {
      payload: Schema.Struct({
        orderId: Id,
        customerId: Id,
        items: Order.PlaceOrder.fields.items,
        currency: Order.PlaceOrder.fields.currency
      }),
      success: CommandResult,
      error: commandErrors
    }),
    HttpApiEndpoint.post("pay", "/orders/:orderId/pay", {
      params: { orderId: Id },
      payload: Schema.Struct({ paymentReference: Schema.String, amount: Schema.Int, expectedVersion: ExpectedVersion }),
      success: CommandResult,
      error: commandErrors
    }),
    HttpApiEndpoint.post("cancel", "/orders/:orderId/cancel", {
      params: { orderId: Id },
      payload: Schema.Struct({ reason: Schema.String, expectedVersion: ExpectedVersion }),
      success: CommandResult,
      error: commandErrors
    }),
    HttpApiEndpoint.get("summary", "/orders/:orderId", {
      params: { orderId: Id },
      success: OrderSummary,
      error: NotFound
    }),
    HttpApiEndpoint.get("history", "/customers/:customerId/orders", {
      params: { customerId: Id },
      success: Schema.Array(OrderSummary)
    }),
    HttpApiEndpoint.get("revenue", "/revenue", { success: Schema.Array(RevenueDay) })
  )
  .annotateMerge(OpenApi.annotations({ title: "Orders" })) {}

export class AccountsApi extends HttpApiGroup.make("accounts")
  .add(
    HttpApiEndpoint.post("open", "/accounts", {
      payload: Schema.Struct({ accountId: Id, owner: Schema.String }),
      success: CommandResult,
      error: commandErrors
    }),
    HttpApiEndpoint.post("deposit", "/accounts/:accountId/deposit", {
      params: { accountId: Id },
      payload: Schema.Struct({ amount: Account.Deposit.fields.amount, expectedVersion: ExpectedVersion }),
      success: CommandResult,
      error: commandErrors
    }),
    HttpApiEndpoint.post("withdraw", "/accounts/:accountId/withdraw", {
      params: { accountId: Id },
      payload: Schema.Struct({ amount: Account.Withdraw.fields.amount, expectedVersion: ExpectedVersion }),
      success: CommandResult,
      error: commandErrors
    }),
    HttpApiEndpoint.post("transfer", "/transfers", {
      payload: Schema.Struct({ transferId: Id, from: Id, to: Id, amount: Account.DebitForTransfer.fields.amount }),
      success: CommandResult,
      error: commandErrors
    }),
    HttpApiEndpoint.get("balance", "/accounts/:accountId", {
      params: { accountId: Id },
      success: AccountBalance,
      error: NotFound
    })
  )
  .annotateMerge(OpenApi.annotations({ title: "Accounts" })) {}

export class StreamsApi extends HttpApiGroup.make("streams")
  .add(
    HttpApiEndpoint.get("events", "/streams/:stream/events", {
      params: { stream: Schema.String },
      success: Schema.Array(Envelope.Envelope),
      error: [NotFound, BadRequest]
    }),
    HttpApiEndpoint.get("state", "/streams/:stream/state", {
      params: { stream: Schema.String },
      query: { version: Schema.optional(Schema.NumberFromString), at: Schema.optional(Schema.String) },
      success: Schema.Struct({ stream: Schema.String, version: Schema.Int, state: Schema.Unknown }),
      error: [NotFound, BadRequest]
    })
  )
  .annotateMerge(OpenApi.annotations({ title: "Streams" })) {}

export class Api extends HttpApi.make("shop")
  .add(OrdersApi)
  .add(AccountsApi)
  .add(StreamsApi)
  .annotateMerge(OpenApi.annotations({ title: "Chronicle shop", description: "The Chronicle example application" })) {}
