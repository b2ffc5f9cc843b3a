/**
 * The shop's read models, in PostgreSQL tables of the `shop` schema:
 * - `order_summary`, kept by an **inline** projection: it is written in the
 *   same transaction as the order's events, so a client that placed an order
 *   can read it back at once (read-your-writes) — customers' order history is
 *   served from it too;
 * - `revenue_by_day` and `account_balance`, kept by projector fibers that
 *   follow the log (eventually consistent; their lag is a metric).
 */
import { DateTime, Effect } from "effect"
import { Projection } from "@chronicle/core"
import { Account, Order } from "@chronicle/example"
import { SqlClient } from "effect/sql"

/**
 * Creates the read-model tables (idempotent). In one transaction under an
 * advisory lock: `IF NOT EXISTS` alone races when several app processes
 * start at once (a cluster's runners).
 */
export const migrate = SqlClient.SqlClient.use((sql) =>
  Effect.all(
    [
      sql`SELECT pg_advisory_xact_lock(hashtextextended('chronicle/shop/read-models', 0))`,
      sql`CREATE SCHEMA IF NOT EXISTS shop`,
      sql`CREATE TABLE IF NOT EXISTS shop.order_summary (
      order_id text PRIMARY KEY, customer_id text NOT NULL, status text NOT NULL,
      total bigint NOT NULL, currency text NOT NULL, version int NOT NULL)`,
      sql`CREATE INDEX IF NOT EXISTS order_summary_customer ON shop.order_summary (customer_id)`,
      sql`CREATE TABLE IF NOT EXISTS shop.revenue_by_day (
      day date NOT NULL, currency text NOT NULL, revenue bigint NOT NULL, orders int NOT NULL,
      PRIMARY KEY (day, currency))`,
      sql`CREATE TABLE IF NOT EXISTS shop.account_balance (
      account_id text PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL)`
    ],
    { discard: true }
  ).pipe(sql.withTransaction)
)

/** Inline: the summary of every order, written with the order's events. */
export const orderSummary = Projection.make({
  name: "order-summary",
  version: 1,
  codec: Order.OrderEvents,
  handle: (e) =>
    SqlClient.SqlClient.use((sql) => {
      const event = e.event
      switch (event._tag) {
        case "OrderPlaced": {
          const total = event.items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0)
          return sql`INSERT INTO shop.order_summary VALUES
            (${event.orderId}, ${event.customerId}, 'Pending', ${total}, ${event.currency}, ${e.streamVersion})
            ON CONFLICT (order_id) DO NOTHING`
        }
        case "PaymentConfirmed":
          return sql`UPDATE shop.order_summary SET status = 'Paid', version = ${e.streamVersion} WHERE order_id = ${event.orderId}`
        case "OrderCancelled":
          return sql`UPDATE shop.order_summary SET status = 'Cancelled', version = ${e.streamVersion} WHERE order_id = ${event.orderId}`
      }
    })
})

/** Revenue per day and currency, from confirmed payments. */
export const revenueByDay = Projection.make({
  name: "revenue-by-day",
  version: 1,
  codec: Order.OrderEvents,
  types: ["PaymentConfirmed"],
  handle: (e) =>
    SqlClient.SqlClient.use(
      (sql) =>
        sql`INSERT INTO shop.revenue_by_day (day, currency, revenue, orders)
          SELECT ${DateTime.formatIsoDateUtc(e.recordedAt)}::date, coalesce(
            (SELECT currency FROM shop.order_summary WHERE order_id = ${e.event.orderId}), 'USD'), ${e.event.amount}, 1
          ON CONFLICT (day, currency) DO UPDATE SET revenue = shop.revenue_by_day.revenue + excluded.revenue,
            orders = shop.revenue_by_day.orders + 1`
    )
})

/** Every account's balance. */
export const accountBalance = Projection.make({
  name: "account-balance",
  version: 1,
  codec: Account.AccountEvents,
  handle: (e) =>
    SqlClient.SqlClient.use((sql) => {
      const event = e.event
      const accountId = e.stream.slice(e.stream.indexOf("-") + 1)
      if (event._tag === "AccountOpened") {
        return sql`INSERT INTO shop.account_balance VALUES (${event.accountId}, ${event.owner}, 0) ON CONFLICT DO NOTHING`
      }
      const delta =
        event._tag === "TransferCreditDeclined"
          ? 0 // a declined credit moves no money
          : event._tag === "Deposited" || event._tag === "TransferCredited" || event._tag === "TransferDebitReversed"
            ? event.amount
            : -event.amount
      return sql`UPDATE shop.account_balance SET balance = balance + ${delta} WHERE account_id = ${accountId}`
    })
})

/** How to empty each read model before a rebuild from position 0. */
export const resets = {
  "order-summary": SqlClient.SqlClient.use((sql) => sql`TRUNCATE shop.order_summary`),
  "revenue-by-day": SqlClient.SqlClient.use((sql) => sql`TRUNCATE shop.revenue_by_day`),
  "account-balance": SqlClient.SqlClient.use((sql) => sql`TRUNCATE shop.account_balance`)
}

/** The projections the projector fibers run. */
export const projected = [revenueByDay, accountBalance] as const
