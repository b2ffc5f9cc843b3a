// Inline projections run inside the append's transaction: read-your-writes, and all or nothing.
import { CommandHandler, EventStore, Projection, StreamName } from "@chronicle/core"
import { Order } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"

const orderStatus = Projection.make({
  name: "order-status",
  version: 1,
  codec: Order.OrderEvents,
  handle: (e) =>
    SqlClient.SqlClient.use((sql) => {
      const status =
        e.event._tag === "OrderPlaced" ? "pending" : e.event._tag === "PaymentConfirmed" ? "paid" : "cancelled"
      const write = sql`INSERT INTO order_status VALUES (${e.event.orderId}, ${status})
                 ON CONFLICT (order_id) DO UPDATE SET status = excluded.status`
      // "explode" writes the row, then fails: the write must roll back with the event.
      return e.event._tag === "OrderCancelled" && e.event.reason === "explode"
        ? Effect.andThen(write, Effect.fail(new Error("the read model refused")))
        : write
    })
})

const place = (orderId: string) =>
  Order.PlaceOrder.make({
    orderId,
    customerId: "c",
    items: [{ productId: "p", quantity: 1, unitPrice: 10 }],
    currency: "EUR"
  })

layer(PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer())), { excludeTestServices: true })(
  "inline projections",
  (it) => {
    it.effect(
      "the read model is written in the append's transaction: consistent with the write, or neither happens",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const store = yield* EventStore.EventStore
          yield* sql`CREATE TABLE order_status (order_id text PRIMARY KEY, status text NOT NULL)`
          const orders = yield* CommandHandler.make({
            decider: Order.decider,
            codec: Order.OrderEvents,
            inline: [orderStatus]
          })
          const stream = StreamName.make("order", "inline-1")
          yield* orders.handle(stream, place("inline-1"))
          // Read-your-writes: the row is there as soon as the command returns.
          assert.deepStrictEqual(yield* sql`SELECT status FROM order_status WHERE order_id = 'inline-1'`, [
            { status: "pending" }
          ])

          const failed = yield* Effect.flip(orders.handle(stream, Order.CancelOrder.make({ reason: "explode" })))
          assert.strictEqual(failed._tag, "InlineProjectionFailed")
          assert.include(failed.message, "the read model refused")
          assert.strictEqual(yield* store.streamVersion(stream), 0, "the event was rolled back with the read model")
          assert.deepStrictEqual(yield* sql`SELECT status FROM order_status WHERE order_id = 'inline-1'`, [
            { status: "pending" }
          ])

          yield* orders.handle(stream, Order.CancelOrder.make({ reason: "changed mind" }))
          assert.deepStrictEqual(yield* sql`SELECT status FROM order_status WHERE order_id = 'inline-1'`, [
            { status: "cancelled" }
          ])
        }).pipe(Effect.scoped)
    )
  }
)
