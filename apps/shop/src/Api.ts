/**
 * The shop's HTTP API: commands on orders and accounts, queries served from
 * read models, a stream's raw history and its state as of a version or time.
 * Its OpenAPI document is at `/openapi.json` and a docs page at `/docs`.
 *
 * Every error is an RFC 9457 problem (`application/problem+json`), one of
 * those in `Problems.ts`. Commands answer the stream's version as an `ETag`,
 * and take `If-Match`.
 *
 * Over 300 lines because it describes the whole API in one place: every
 * endpoint with its values, problems and the documentation the OpenAPI
 * document shows (summaries, descriptions, limits and working examples).
 */
import { Envelope, ExpectedVersion, Position, StreamName } from "@chronicle/core"
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, OpenApi } from "effect/http-api"
import packageJson from "../package.json" with { type: "json" }
import { integer, integerParameters, plainComponentNames } from "./internal/openApi.ts"
import {
  AlreadyExists,
  InvalidRequest,
  NotFound,
  PayloadTooLarge,
  PreconditionFailed,
  Rejected,
  Terminated,
  UnsupportedMediaType,
  VersionConflict,
  Unavailable,
  WriteConflict
} from "./Problems.ts"
import * as ReadModels from "./ReadModels.ts"
import * as RequestContext from "./RequestContext.ts"

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

const id = (identifier: string, description: string, example: string) =>
  Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_.:-]{1,64}$/u)).annotate({
    identifier,
    description: `${description}: 1 to 64 of A-Z a-z 0-9 _ . : -`,
    examples: [example]
  })

const text = (identifier: string, max: number, description: string, example: string) =>
  Schema.String.check(Schema.isBetweenLength(1, max)).annotate({ identifier, description, examples: [example] })

const OrderId = id("OrderId", "An order's id", "order-1001")
const CustomerId = id("CustomerId", "A customer's id", "customer-42")
const AccountId = id("AccountId", "An account's id", "acct-alice")
const TransferId = id("TransferId", "A transfer's id, unique per transfer: a repeat takes effect once", "transfer-7")
const ProductId = id("ProductId", "A product's id", "sku-espresso")

const Currency = Schema.String.check(Schema.isPattern(/^[A-Z]{3}$/u)).annotate({
  identifier: "Currency",
  description: "An ISO 4217 currency code",
  examples: ["EUR"]
})

/** The largest amount the API takes, in minor units: 10 000 000.00. */
const maxAmount = 1_000_000_000

const Amount = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: maxAmount })).annotate({
  identifier: "Amount",
  description: "An amount in minor units (cents), 1 to 1 000 000 000",
  examples: [2500]
})

const ExpectedVersionField = Schema.optionalKey(
  Schema.Int.check(Schema.isBetween({ minimum: -1, maximum: ExpectedVersion.maxExact })).annotate({
    description:
      "The stream version you last saw (the ETag of a command answer or state read); " +
      "the command fails with 409 when the stream has moved on. Same as If-Match; when both are given they must agree."
  })
)

const awaitable = ReadModels.projected.map((projection) => projection.name).join("|")

/**
 * The request headers of every command: request context and
 * `X-Await-Projections`, to read your own write from the asynchronous read
 * models.
 */
const createHeaders = {
  ...RequestContext.headers,
  "x-await-projections": Schema.optional(
    Schema.String.check(Schema.isPattern(new RegExp(`^(${awaitable})(,(${awaitable}))*$`, "u"))).annotate({
      description:
        "Read models to wait for (comma-separated: " +
        ReadModels.projected.map((projection) => projection.name).join(", ") +
        "); the answer comes once they include the command's events, or after 5 seconds, and says which",
      examples: ["account-balance"]
    })
  )
}

/** The request headers of a command on an existing stream: those of every command and `If-Match`. */
const commandHeaders = {
  ...createHeaders,
  "if-match": Schema.optional(
    Schema.String.check(Schema.isPattern(/^("(0|[1-9][0-9]{0,9})"|\*)$/u)).annotate({
      description:
        'The stream version you last saw, as the ETag the API answered (e.g. "1"); ' +
        "the command fails with 412 when the stream has moved on. * matches any version."
    })
  )
}

/** The `ETag` response header: the stream's version. */
const etag = {
  etag: Schema.String.annotate({
    description: 'The stream\'s version as an entity tag, e.g. "3"; send it back in If-Match',
    examples: ['"0"']
  })
}

/**
 * What a command answers: the stream, its new version and state, the types
 * of the events it appended and the global position of the last one (absent
 * when the command changed nothing).
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommandResult = Schema.Struct({
  stream: Schema.String,
  version: Schema.Int,
  events: Schema.Array(Schema.String),
  position: Schema.optionalKey(Position.Position),
  projections: Schema.optionalKey(
    Schema.Record(Schema.String, Schema.Literals(["caught-up", "timed-out"])).annotate({
      description:
        "For each read model named in X-Await-Projections: caught-up (it includes this command's events) or " +
        "timed-out (it did not within 5 seconds; the command's events are stored all the same)"
    })
  ),
  state: Schema.Unknown
}).annotate({
  identifier: "CommandResult",
  description:
    "The stream after the command: its version (also in the ETag header), the types of the events it appended, " +
    "the global position of the last one (absent when the command changed nothing) and the new state"
})

/**
 * An order as the order-summary read model has it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OrderSummary = Schema.Struct({
  orderId: Schema.String,
  customerId: Schema.String,
  status: Schema.String,
  total: Schema.Int,
  currency: Schema.String,
  version: Schema.Int
}).annotate({ identifier: "OrderSummary" })

/**
 * Revenue of paid orders for one day and currency.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RevenueDay = Schema.Struct({
  day: Schema.String,
  currency: Schema.String,
  revenue: Schema.Int,
  orders: Schema.Int
}).annotate({ identifier: "RevenueDay" })

/**
 * An account's balance as the balances read model has it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AccountBalance = Schema.Struct({
  accountId: Schema.String,
  owner: Schema.String,
  balance: Schema.Int
}).annotate({ identifier: "AccountBalance" })

/**
 * A stream's state at a version.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StreamState = Schema.Struct({
  stream: Schema.String,
  version: Schema.Int,
  state: Schema.Unknown
}).annotate({ identifier: "StreamState" })

/**
 * The most events one page of `GET /streams/{stream}/events` holds.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxPageSize = 1000

/**
 * The query parameters that are whole numbers, with their bounds: decoded
 * from their text (so `1.5`, `abc` or an empty value is a 400) and documented
 * as integers.
 */
const integerQuery = {
  version: { minimum: 0, maximum: ExpectedVersion.maxExact, description: "The stream version to load the state at" },
  fromVersion: { minimum: 0, maximum: ExpectedVersion.maxExact, description: "The first stream version of the page" },
  limit: { minimum: 1, maximum: maxPageSize, description: `The most events in the page (default 100)` }
} as const

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

const docs = (summary: string, description: string) => OpenApi.annotations({ summary, description })

/** The problems of a command that creates a stream. */
const createErrors = [AlreadyExists, WriteConflict, Unavailable, PayloadTooLarge, UnsupportedMediaType]

/** The problems of a transfer: its source account may be missing or refuse. */
const transferErrors = [NotFound, WriteConflict, Rejected, Unavailable, PayloadTooLarge, UnsupportedMediaType]

/** The problems of a command on an existing stream. */
const commandErrors = [
  NotFound,
  VersionConflict,
  WriteConflict,
  PreconditionFailed,
  Rejected,
  Terminated,
  Unavailable,
  InvalidRequest,
  PayloadTooLarge,
  UnsupportedMediaType
]

const commandSuccess = HttpApiSchema.WithHeaders(CommandResult, etag)

const PlaceOrder = Schema.Struct({
  orderId: OrderId,
  customerId: CustomerId,
  items: Schema.NonEmptyArray(
    Schema.Struct({
      productId: ProductId,
      quantity: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000 })),
      unitPrice: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100_000_000 })).annotate({
        description: "The price of one unit in minor units (cents)"
      })
    }).annotate({ identifier: "OrderItem" })
  ).check(Schema.isMaxLength(100)),
  currency: Currency
}).annotate({
  identifier: "PlaceOrder",
  examples: [
    {
      orderId: "order-1001",
      customerId: "customer-42",
      items: [{ productId: "sku-espresso", quantity: 2, unitPrice: 1250 }],
      currency: "EUR"
    }
  ]
})

const PayOrder = Schema.Struct({
  paymentReference: text("PaymentReference", 128, "The payment provider's reference", "psp-7781"),
  amount: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: maxAmount })).annotate({
    description: "The amount paid in minor units; must equal the order's total"
  }),
  expectedVersion: ExpectedVersionField
}).annotate({ identifier: "PayOrder", examples: [{ paymentReference: "psp-7781", amount: 2500 }] })

const CancelOrder = Schema.Struct({
  reason: text("CancelReason", 500, "Why the order is cancelled", "the customer changed their mind"),
  expectedVersion: ExpectedVersionField
}).annotate({ identifier: "CancelOrder", examples: [{ reason: "the customer changed their mind" }] })

/**
 * Orders: place, pay, cancel; summaries and revenue from read models.
 *
 * @since 0.1.0
 * @category groups
 */
export class OrdersApi extends HttpApiGroup.make("orders")
  .add(
    HttpApiEndpoint.post("place", "/orders", {
      headers: createHeaders,
      payload: PlaceOrder,
      success: commandSuccess,
      error: createErrors
    }).annotateMerge(
      docs(
        "Place an order",
        "Starts the order's stream with OrderPlaced. The total is the sum of quantity × unit price. " +
          "An order id that is taken answers 409 already-exists."
      )
    ),
    HttpApiEndpoint.post("pay", "/orders/:orderId/pay", {
      params: { orderId: OrderId },
      headers: commandHeaders,
      payload: PayOrder,
      success: commandSuccess,
      error: commandErrors
    }).annotateMerge(
      docs(
        "Pay an order",
        "Confirms the payment of a pending order; the amount must equal its total. A paid order is final (422 terminated)."
      )
    ),
    HttpApiEndpoint.post("cancel", "/orders/:orderId/cancel", {
      params: { orderId: OrderId },
      headers: commandHeaders,
      payload: CancelOrder,
      success: commandSuccess,
      error: commandErrors
    }).annotateMerge(docs("Cancel an order", "Cancels a pending order. A cancelled order is final (422 terminated).")),
    HttpApiEndpoint.get("summary", "/orders/:orderId", {
      params: { orderId: OrderId },
      success: OrderSummary,
      error: NotFound
    }).annotateMerge(
      docs("Get an order", "The order's summary, projected in the command's transaction: it reflects every command.")
    ),
    HttpApiEndpoint.get("history", "/customers/:customerId/orders", {
      params: { customerId: CustomerId },
      success: Schema.Array(OrderSummary)
    }).annotateMerge(docs("List a customer's orders", "The summaries of a customer's orders, by order id.")),
    HttpApiEndpoint.get("revenue", "/revenue", { success: Schema.Array(RevenueDay) }).annotateMerge(
      docs(
        "Revenue by day",
        "Paid orders' revenue per day and currency, projected asynchronously: it may lag the commands by a moment."
      )
    )
  )
  .annotateMerge(
    OpenApi.annotations({
      title: "Orders",
      description: "Orders are placed, then paid or cancelled; each order is a stream named order-{orderId}."
    })
  ) {}

const OpenAccount = Schema.Struct({
  accountId: AccountId,
  owner: text("Owner", 200, "The account holder's name", "Alice Martin")
}).annotate({ identifier: "OpenAccount", examples: [{ accountId: "acct-alice", owner: "Alice Martin" }] })

const Movement = (identifier: string, amount: number) =>
  Schema.Struct({ amount: Amount, expectedVersion: ExpectedVersionField }).annotate({
    identifier,
    examples: [{ amount }]
  })

const Transfer = Schema.Struct({ transferId: TransferId, from: AccountId, to: AccountId, amount: Amount }).annotate({
  identifier: "Transfer",
  examples: [{ transferId: "transfer-7", from: "acct-alice", to: "acct-bob", amount: 500 }]
})

/**
 * Accounts: open, deposit, withdraw, transfer; balances from a read model.
 *
 * @since 0.1.0
 * @category groups
 */
export class AccountsApi extends HttpApiGroup.make("accounts")
  .add(
    HttpApiEndpoint.post("open", "/accounts", {
      headers: createHeaders,
      payload: OpenAccount,
      success: commandSuccess,
      error: createErrors
    }).annotateMerge(
      docs(
        "Open an account",
        "Starts the account's stream with AccountOpened. An account id that is taken answers 409 already-exists."
      )
    ),
    HttpApiEndpoint.post("deposit", "/accounts/:accountId/deposit", {
      params: { accountId: AccountId },
      headers: commandHeaders,
      payload: Movement("Deposit", 2500),
      success: commandSuccess,
      error: commandErrors
    }).annotateMerge(docs("Deposit money", "Adds the amount to the account's balance.")),
    HttpApiEndpoint.post("withdraw", "/accounts/:accountId/withdraw", {
      params: { accountId: AccountId },
      headers: commandHeaders,
      payload: Movement("Withdrawal", 1000),
      success: commandSuccess,
      error: commandErrors
    }).annotateMerge(
      docs("Withdraw money", "Takes the amount from the account; more than the balance answers 422 rejected.")
    ),
    HttpApiEndpoint.post("transfer", "/transfers", {
      headers: createHeaders,
      payload: Transfer,
      success: commandSuccess,
      error: transferErrors
    }).annotateMerge(
      docs(
        "Transfer money",
        "Debits the source account now (the answer is its stream); a process manager then credits the target, " +
          "or gives the money back when the target refuses. The events of both steps carry the request's " +
          "correlation id. A repeat of a transfer id takes effect once."
      )
    ),
    HttpApiEndpoint.get("balance", "/accounts/:accountId", {
      params: { accountId: AccountId },
      success: AccountBalance,
      error: NotFound
    }).annotateMerge(
      docs("Get an account's balance", "From the balances read model, projected asynchronously: it may lag a moment.")
    )
  )
  .annotateMerge(
    OpenApi.annotations({
      title: "Accounts",
      description: "Accounts and transfers between them; each account is a stream named account-{accountId}."
    })
  ) {}

const streamParams = {
  // Annotated before the brand: the OpenAPI generator documents the encoded side.
  stream: Schema.String.annotate({
    description: "A stream name: category, dash, id",
    examples: [StreamName.make("order", "order-1001")]
  }).pipe(Schema.decodeTo(StreamName.StreamName))
}

/**
 * Streams: a stream's raw events, and its state now or as of a version or time.
 *
 * @since 0.1.0
 * @category groups
 */
export class StreamsApi extends HttpApiGroup.make("streams")
  .add(
    HttpApiEndpoint.get("events", "/streams/:stream/events", {
      params: streamParams,
      query: { fromVersion: integer(integerQuery.fromVersion), limit: integer(integerQuery.limit) },
      success: HttpApiSchema.WithHeaders(Schema.Array(Envelope.Envelope.annotate({ identifier: "Event" })), {
        ...etag,
        link: Schema.optional(
          Schema.String.annotate({
            description: 'The next page, when there is one: <…/events?fromVersion=n&limit=m>; rel="next"'
          })
        )
      }),
      error: [NotFound, InvalidRequest]
    }).annotateMerge(
      docs(
        "Read a stream's events",
        "The recorded events from fromVersion on, a page of at most limit. " +
          "The Link header names the next page; the ETag is the stream's current version."
      )
    ),
    HttpApiEndpoint.get("state", "/streams/:stream/state", {
      params: streamParams,
      query: {
        version: integer(integerQuery.version),
        at: Schema.optional(
          Schema.String.annotate({
            description: "An ISO 8601 time: the state as of then (not with version)",
            examples: ["2030-01-01T00:00:00Z"]
          })
        )
      },
      success: HttpApiSchema.WithHeaders(StreamState, etag),
      error: [NotFound, InvalidRequest]
    }).annotateMerge(
      docs(
        "Get a stream's state",
        "An order's or account's state folded from its events: now, as of a version, or as of a time. " +
          "The ETag is the version of the state."
      )
    )
  )
  .annotateMerge(
    OpenApi.annotations({
      title: "Streams",
      description: "The event store as it is: a stream's recorded events and its state at any point (temporal queries)."
    })
  ) {}

/**
 * The shop's API. Requests that do not decode answer a 400 problem whose
 * `errors` name the path of each bad value (`HttpApiMiddleware.ProblemDetails`).
 *
 * @since 0.1.0
 * @category api
 */
export class Api extends HttpApi.make("shop")
  .add(OrdersApi)
  .add(AccountsApi)
  .add(StreamsApi)
  .middleware(HttpApiMiddleware.ProblemDetails)
  .annotateMerge(
    OpenApi.annotations({
      title: "Chronicle shop",
      version: packageJson.version,
      description:
        "The Chronicle example application: orders and accounts kept as event streams, read models fed by " +
        "projectors, and the event store itself. Errors are RFC 9457 problems (application/problem+json). " +
        "Commands answer the stream's version as an ETag and take If-Match; X-Request-Id (else the traceparent's " +
        "trace id) becomes the correlation id of the events a request causes, X-Actor their actor.",
      transform: (spec) => plainComponentNames(integerParameters(integerQuery)(spec))
    })
  ) {}
