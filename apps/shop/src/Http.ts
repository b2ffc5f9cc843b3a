/**
 * The HTTP handlers of the shop's API.
 */
import { type CheckpointStore, type CommandHandler, EventStore, StreamName, TemporalQuery } from "@chronicle/core"
import { Account, Order } from "@chronicle/example"
import { Effect, Layer, Stream } from "effect"
import { HttpApiBuilder, HttpApiSchema } from "effect/http-api"
import { SqlClient } from "effect/sql"
import { Api } from "./Api.ts"
import { InvalidRequest, NotFound } from "./Problems.ts"
import * as ReadModels from "./ReadModels.ts"
import * as RequestContext from "./RequestContext.ts"
import { accountStream, type CommandProblem, deleted, type Expectation, orderStream, run, Shop } from "./Shop.ts"

const summaryRow = (row: {
  order_id: string
  customer_id: string
  status: string
  total: string | bigint | number
  currency: string
  version: number
}) => ({
  orderId: row.order_id,
  customerId: row.customer_id,
  status: row.status,
  total: Number(row.total),
  currency: row.currency,
  version: row.version
})

/**
 * The expectation of a command on an existing stream: the version in
 * `If-Match`, else `expectedVersion` in the body, else none. When both are
 * given they must name the same version.
 */
const expectation = (
  ifMatch: string | undefined,
  expectedVersion: number | undefined
): Effect.Effect<Expectation, InvalidRequest> => {
  const matched = ifMatch === undefined || ifMatch === "*" ? undefined : Number(ifMatch.slice(1, -1))
  if (matched === undefined)
    return Effect.succeed(
      expectedVersion === undefined ? { _tag: "None" } : { _tag: "Payload", version: expectedVersion }
    )
  if (expectedVersion !== undefined && expectedVersion !== matched)
    return Effect.fail(
      new InvalidRequest({
        detail:
          `If-Match names version ${matched} but expectedVersion ${expectedVersion}; nothing was done. ` +
          `Send one of them, or the same version in both.`
      })
    )
  return Effect.succeed({ _tag: "IfMatch", version: matched })
}

/** Keeps the problems an endpoint declares: any other cannot happen for its command, so it is a defect. */
const only =
  <const Tags extends ReadonlyArray<CommandProblem["_tag"]>>(...tags: Tags) =>
  <A, E extends { readonly _tag: string }, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, Exclude<E, Exclude<CommandProblem, { readonly _tag: Tags[number] }>>, R> =>
    Effect.catch(effect, (problem) =>
      commandProblems.includes(problem._tag) && !(tags as ReadonlyArray<string>).includes(problem._tag)
        ? Effect.die(problem)
        : Effect.fail(problem as Exclude<E, Exclude<CommandProblem, { readonly _tag: Tags[number] }>>)
    )

const commandProblems: ReadonlyArray<string> = [
  "AlreadyExists",
  "NotFound",
  "PreconditionFailed",
  "Rejected",
  "Terminated",
  "Unavailable",
  "VersionConflict",
  "WriteConflict"
] satisfies ReadonlyArray<CommandProblem["_tag"]>

/** The problems a create command can answer. */
const createProblems = only("AlreadyExists", "WriteConflict", "Unavailable")

/** The problems a command on an existing stream can answer. */
const existingProblems = only(
  "NotFound",
  "PreconditionFailed",
  "Rejected",
  "Terminated",
  "Unavailable",
  "VersionConflict",
  "WriteConflict"
)

const create = Effect.succeed<Expectation>({ _tag: "Create" })
const unexpected = Effect.succeed<Expectation>({ _tag: "None" })

/** The read models an `X-Await-Projections` header names (the API checked the names). */
const awaitedProjections = (header: string | undefined) =>
  header === undefined ? [] : ReadModels.projected.filter((projection) => header.split(",").includes(projection.name))

/**
 * Runs commands with the request's metadata and actor, and waits for the read
 * models named in `X-Await-Projections` (on the stores captured here).
 */
const commandSender = Effect.map(
  Effect.context<EventStore.EventStore | CheckpointStore.CheckpointStore>(),
  (stores) =>
    <Command, E extends { readonly _tag: string }, State, Err, R, EX>(
      handler: CommandHandler.CommandHandler<Command, E, State, Err, R>,
      stream: StreamName.StreamName,
      command: Command,
      expected: Effect.Effect<Expectation, EX>,
      headers: { readonly "x-actor"?: string | undefined; readonly "x-await-projections"?: string | undefined },
      idempotencyKey?: string
    ) =>
      Effect.gen(function* () {
        const metadata = yield* RequestContext.metadata(headers["x-actor"])
        return yield* run(handler, stream, command, {
          expectation: yield* expected,
          metadata,
          idempotencyKey,
          awaitProjections: awaitedProjections(headers["x-await-projections"])
        })
      }).pipe(Effect.provide(stores))
)

const OrdersHandlers = HttpApiBuilder.group(
  Api,
  "orders",
  Effect.fn(function* (handlers) {
    const { orders } = yield* Shop
    const sql = yield* SqlClient.SqlClient
    const send = yield* commandSender
    // The order summary is projected inline, on the request's SQL client.
    const order = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
      Effect.provideService(effect, SqlClient.SqlClient, sql)
    return handlers.handleAll({
      place: ({ headers, payload }) =>
        order(send(orders, orderStream(payload.orderId), Order.PlaceOrder.make(payload), create, headers)).pipe(
          createProblems
        ),
      pay: ({ headers, params, payload }) =>
        order(
          send(
            orders,
            orderStream(params.orderId),
            Order.ConfirmPayment.make({ paymentReference: payload.paymentReference, amount: payload.amount }),
            expectation(headers["if-match"], payload.expectedVersion),
            headers
          )
        ).pipe(existingProblems),
      cancel: ({ headers, params, payload }) =>
        order(
          send(
            orders,
            orderStream(params.orderId),
            Order.CancelOrder.make({ reason: payload.reason }),
            expectation(headers["if-match"], payload.expectedVersion),
            headers
          )
        ).pipe(existingProblems),
      summary: ({ params }) =>
        sql<Parameters<typeof summaryRow>[0]>`SELECT * FROM shop.order_summary WHERE order_id = ${params.orderId}`.pipe(
          Effect.orDie,
          Effect.flatMap((rows) =>
            rows[0] === undefined
              ? Effect.fail(
                  new NotFound({
                    stream: orderStream(params.orderId),
                    detail: `No order ${JSON.stringify(params.orderId)}; check the id, or place it first (POST /orders).`
                  })
                )
              : Effect.succeed(summaryRow(rows[0]))
          )
        ),
      history: ({ params }) =>
        sql<
          Parameters<typeof summaryRow>[0]
        >`SELECT * FROM shop.order_summary WHERE customer_id = ${params.customerId} ORDER BY order_id`.pipe(
          Effect.orDie,
          Effect.map((rows) => rows.map(summaryRow))
        ),
      revenue: () =>
        sql<{ day: string; currency: string; revenue: string; orders: number }>`
          SELECT day::text, currency, revenue::text, orders FROM shop.revenue_by_day ORDER BY day, currency`.pipe(
          Effect.orDie,
          Effect.map((rows) => rows.map((r) => ({ ...r, revenue: Number(r.revenue) })))
        )
    })
  })
)

const AccountsHandlers = HttpApiBuilder.group(
  Api,
  "accounts",
  Effect.fn(function* (handlers) {
    const { accounts } = yield* Shop
    const sql = yield* SqlClient.SqlClient
    const send = yield* commandSender
    return handlers.handleAll({
      open: ({ headers, payload }) =>
        send(accounts, accountStream(payload.accountId), Account.OpenAccount.make(payload), create, headers).pipe(
          createProblems
        ),
      deposit: ({ headers, params, payload }) =>
        send(
          accounts,
          accountStream(params.accountId),
          Account.Deposit.make({ amount: payload.amount }),
          expectation(headers["if-match"], payload.expectedVersion),
          headers
        ).pipe(existingProblems),
      withdraw: ({ headers, params, payload }) =>
        send(
          accounts,
          accountStream(params.accountId),
          Account.Withdraw.make({ amount: payload.amount }),
          expectation(headers["if-match"], payload.expectedVersion),
          headers
        ).pipe(existingProblems),
      transfer: ({ headers, payload }) =>
        send(
          accounts,
          accountStream(payload.from),
          Account.DebitForTransfer.make({ transferId: payload.transferId, to: payload.to, amount: payload.amount }),
          unexpected,
          headers,
          `transfer:${payload.transferId}`
        ).pipe(only("NotFound", "WriteConflict", "Rejected", "Unavailable")),
      balance: ({ params }) =>
        sql<{ account_id: string; owner: string; balance: string }>`
          SELECT account_id, owner, balance::text FROM shop.account_balance WHERE account_id = ${params.accountId}`.pipe(
          Effect.orDie,
          Effect.flatMap((rows) =>
            rows[0] === undefined
              ? Effect.fail(
                  new NotFound({
                    stream: accountStream(params.accountId),
                    detail:
                      `No account ${JSON.stringify(params.accountId)}; check the id, or open it first (POST /accounts). ` +
                      `A new account shows here a moment after it is opened.`
                  })
                )
              : Effect.succeed({
                  accountId: rows[0].account_id,
                  owner: rows[0].owner,
                  balance: Number(rows[0].balance)
                })
          )
        )
    })
  })
)

const aggregates = {
  order: (shop: Shop["Service"]) => shop.orders,
  account: (shop: Shop["Service"]) => shop.accounts
} as const

/** How many events a page holds when the request does not say. */
const defaultPageSize = 100

const StreamsHandlers = HttpApiBuilder.group(
  Api,
  "streams",
  Effect.fn(function* (handlers) {
    const shop = yield* Shop
    const store = yield* EventStore.EventStore
    const noStream = (stream: string) =>
      new NotFound({ stream, detail: `The stream ${stream} has no events; check its name (category-id).` })
    return handlers.handleAll({
      events: ({ params: { stream }, query }) =>
        Effect.gen(function* () {
          const from = query.fromVersion ?? 0
          const limit = query.limit ?? defaultPageSize
          const events = yield* Stream.runCollect(store.readStream(stream, { from, maxCount: limit })).pipe(
            Effect.catchTag("StreamDeleted", () => Effect.fail(deleted(stream))),
            Effect.orDie
          )
          // Read after the page, so a page that ends before the stream's version always links the next one.
          const version = yield* Effect.orDie(store.streamVersion(stream))
          if (version === -1) return yield* noStream(stream)
          const last = events.at(-1)?.streamVersion
          const next =
            last !== undefined && last < version
              ? {
                  link: `</streams/${encodeURIComponent(stream)}/events?fromVersion=${last + 1}&limit=${limit}>; rel="next"`
                }
              : {}
          return HttpApiSchema.withHeaders({ body: events, headers: { etag: `"${version}"`, ...next } })
        }),
      state: ({ params: { stream }, query }) =>
        Effect.gen(function* () {
          const category = StreamName.category(stream)
          const handler = category === "order" || category === "account" ? aggregates[category](shop) : undefined
          if (handler === undefined)
            return yield* new NotFound({
              stream,
              detail: `No state for the category ${JSON.stringify(category)}: only order-… and account-… streams have one.`
            })
          const loaded = yield* TemporalQuery.state<unknown>(handler, stream, query).pipe(
            Effect.catch((error): Effect.Effect<never, InvalidRequest | NotFound> => {
              switch (error._tag) {
                case "InvalidAsOf":
                  return Effect.fail(new InvalidRequest({ detail: `${error.message}.` }))
                case "StreamNotFound":
                  return Effect.fail(
                    new NotFound({
                      stream,
                      detail: `The stream ${stream} has no events at that point; check its name, the version or the time.`
                    })
                  )
                case "StreamDeleted":
                  return Effect.fail(deleted(stream))
                default:
                  // A stored event that does not decode, or the store failing, is the server's fault.
                  return Effect.die(error)
              }
            })
          )
          return HttpApiSchema.withHeaders({
            body: { stream, version: loaded.version, state: loaded.state },
            headers: { etag: `"${loaded.version}"` }
          })
        })
    })
  })
)

/** Every handler group of the API. */
export const HandlersLive = Layer.mergeAll(OrdersHandlers, AccountsHandlers, StreamsHandlers)
