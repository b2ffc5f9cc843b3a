/**
 * The HTTP handlers of the shop's API.
 */
import { type CommandHandler, EventStore, StreamName, TemporalQuery } from "@chronicle/core"
import { Account, Order } from "@chronicle/example"
import { Effect, Layer, Stream } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { SqlClient } from "effect/sql"
import { Api, BadRequest, NotFound } from "./Api.ts"
import { accountStream, orderStream, run, Shop } from "./Shop.ts"

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

const OrdersHandlers = HttpApiBuilder.group(
  Api,
  "orders",
  Effect.fn(function* (handlers) {
    const { orders } = yield* Shop
    const sql = yield* SqlClient.SqlClient
    // The order summary is projected inline, on the request's SQL client.
    const provide = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
      Effect.provideService(effect, SqlClient.SqlClient, sql)
    const version = (expectedVersion: number | undefined) => ({ expectedVersion })
    return handlers.handleAll({
      place: ({ payload }) =>
        provide(
          run(
            orderStream(payload.orderId),
            orders.handle(orderStream(payload.orderId), Order.PlaceOrder.make(payload), version(-1))
          )
        ),
      pay: ({ params, payload }) =>
        provide(
          run(
            orderStream(params.orderId),
            orders.handle(
              orderStream(params.orderId),
              Order.ConfirmPayment.make({ paymentReference: payload.paymentReference, amount: payload.amount }),
              version(payload.expectedVersion)
            )
          )
        ),
      cancel: ({ params, payload }) =>
        provide(
          run(
            orderStream(params.orderId),
            orders.handle(
              orderStream(params.orderId),
              Order.CancelOrder.make({ reason: payload.reason }),
              version(payload.expectedVersion)
            )
          )
        ),
      summary: ({ params }) =>
        sql<Parameters<typeof summaryRow>[0]>`SELECT * FROM shop.order_summary WHERE order_id = ${params.orderId}`.pipe(
          Effect.orDie,
          Effect.flatMap((rows) =>
            rows[0] === undefined
              ? Effect.fail(new NotFound({ message: `No order ${params.orderId}` }))
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
    const command = (accountId: string, cmd: Account.AccountCommand, options?: CommandHandler.HandleOptions) =>
      run(accountStream(accountId), accounts.handle(accountStream(accountId), cmd, options))
    return handlers.handleAll({
      open: ({ payload }) => command(payload.accountId, Account.OpenAccount.make(payload), { expectedVersion: -1 }),
      deposit: ({ params, payload }) =>
        command(params.accountId, Account.Deposit.make({ amount: payload.amount }), {
          expectedVersion: payload.expectedVersion
        }),
      withdraw: ({ params, payload }) =>
        command(params.accountId, Account.Withdraw.make({ amount: payload.amount }), {
          expectedVersion: payload.expectedVersion
        }),
      transfer: ({ payload }) =>
        command(
          payload.from,
          Account.DebitForTransfer.make({ transferId: payload.transferId, to: payload.to, amount: payload.amount }),
          {
            idempotencyKey: `transfer:${payload.transferId}`
          }
        ),
      balance: ({ params }) =>
        sql<{ account_id: string; owner: string; balance: string }>`
          SELECT account_id, owner, balance::text FROM shop.account_balance WHERE account_id = ${params.accountId}`.pipe(
          Effect.orDie,
          Effect.flatMap((rows) =>
            rows[0] === undefined
              ? Effect.fail(new NotFound({ message: `No account ${params.accountId}` }))
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
  order: { handler: (shop: Shop["Service"]) => shop.orders },
  account: { handler: (shop: Shop["Service"]) => shop.accounts }
} as const

const StreamsHandlers = HttpApiBuilder.group(
  Api,
  "streams",
  Effect.fn(function* (handlers) {
    const shop = yield* Shop
    const store = yield* EventStore.EventStore
    const parse = (name: string) =>
      Effect.mapError(StreamName.decode(name), (e) => new BadRequest({ message: e.message }))
    return handlers.handleAll({
      events: ({ params }) =>
        Effect.gen(function* () {
          const stream = yield* parse(params.stream)
          const events = yield* Stream.runCollect(store.readStream(stream)).pipe(Effect.orDie)
          if (events.length === 0) return yield* new NotFound({ message: `No stream ${stream}` })
          return events
        }),
      state: ({ params, query }) =>
        Effect.gen(function* () {
          const stream = yield* parse(params.stream)
          const category = StreamName.category(stream)
          const aggregate = category === "order" || category === "account" ? aggregates[category] : undefined
          if (aggregate === undefined) return yield* new NotFound({ message: `No aggregate for category ${category}` })
          const loaded = yield* TemporalQuery.state<unknown>(aggregate.handler(shop), stream, query).pipe(
            // A stored event that does not decode, or the store failing, is the server's fault.
            Effect.catch(
              (error): Effect.Effect<never, BadRequest | NotFound> =>
                error._tag === "InvalidAsOf"
                  ? Effect.fail(new BadRequest({ message: error.message }))
                  : error._tag === "StreamNotFound"
                    ? Effect.fail(new NotFound({ message: `No events in ${stream} at that point` }))
                    : Effect.die(error)
            )
          )
          return { stream, version: loaded.version, state: loaded.state }
        })
    })
  })
)

/** Every handler group of the API. */
export const HandlersLive = Layer.mergeAll(OrdersHandlers, AccountsHandlers, StreamsHandlers)
