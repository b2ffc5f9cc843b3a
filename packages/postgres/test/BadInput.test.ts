import { CommandHandler, EventStore, ExpectedVersion, StreamName } from "@chronicle/core"
import { Order } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { SqlClient } from "effect/sql"

const Live = PgStore.layerStores({ maxEventBytes: 64 * 1024 }).pipe(Layer.provideMerge(PgHarness.layer()))

const event = (n: number, data: unknown, metadata = {}) => ({
  eventId: `0190a8b0-0000-7000-8000-${n.toString(16).padStart(12, "0")}`,
  type: "Odd",
  schemaVersion: 1,
  data,
  metadata
})

layer(Live, { timeout: 60_000, excludeTestServices: true })("PostgreSQL bad input", (it) => {
  it.effect("stores quotes, SQL, NUL bytes and non-ASCII in stream names, data and metadata exactly", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const stream = StreamName.make("odd", '\'; DROP TABLE events; -- "x" ünï 😀 \\')
      const data = { text: "a\u0000b", sql: "' OR 1=1; --", emoji: "😀", rtl: "\u202eabc" }
      const metadata = { actor: "o'brien \u0000", extra: { "key with 'quote'": '"; DELETE FROM streams; --' } }
      yield* store.append(stream, [event(1, data, metadata)], ExpectedVersion.noStream)
      const [read] = yield* Stream.runCollect(store.readStream(stream))
      assert.strictEqual(read!.stream, stream)
      assert.deepStrictEqual(read!.data, data)
      assert.deepStrictEqual(read!.metadata, metadata)
      const sql = yield* SqlClient.SqlClient
      const [{ count }] = yield* sql<{ count: number }>`SELECT count(*)::int AS count FROM chronicle.events`
      assert.strictEqual(count, 1, "the events table is intact")
    })
  )

  it.effect("rejects an oversized event before it reaches the database", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const stream = StreamName.make("odd", "big")
      const error = yield* Effect.flip(
        store.append(stream, [event(2, { blob: "x".repeat(70_000) })], ExpectedVersion.any)
      )
      assert.strictEqual(error._tag, "InvalidAppend")
      assert.include(error.message, "over the limit of 65536")
      assert.strictEqual(yield* store.streamVersion(stream), -1)
    })
  )

  it.effect(
    "a stored row whose data no longer decodes is a typed error naming stream, version, type and schema version",
    () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const stream = StreamName.make("order", "corrupt")
        const orders = yield* CommandHandler.make({ decider: Order.decider, codec: Order.OrderEvents })
        yield* orders.handle(
          stream,
          Order.PlaceOrder.make({
            orderId: "corrupt",
            customerId: "c",
            items: [{ productId: "p", quantity: 1, unitPrice: 10 }],
            currency: "EUR"
          })
        )
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE chronicle.events SET data = '{"orderId": 42}'::json WHERE stream = ${stream}`
        const error = yield* Effect.flip(orders.handle(stream, Order.CancelOrder.make({ reason: "x" })))
        assert.strictEqual(error._tag, "InvalidEventData")
        if (error._tag !== "InvalidEventData") return
        assert.deepStrictEqual(
          [error.stream, error.streamVersion, error.type, error.schemaVersion],
          [stream, 0, "OrderPlaced", 3]
        )
        assert.strictEqual(yield* store.streamVersion(stream), 0, "nothing was appended")
      }).pipe(Effect.scoped)
  )

  it.effect("appends inside the caller's transaction commit or roll back with the caller's own rows", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE IF NOT EXISTS app_rows (id text PRIMARY KEY)`
      const committed = StreamName.make("tx", "committed")
      yield* sql.withTransaction(
        Effect.gen(function* () {
          yield* store.append(committed, [event(10, { ok: true })], ExpectedVersion.noStream)
          yield* sql`INSERT INTO app_rows VALUES ('committed')`
        })
      )
      const rolledBack = StreamName.make("tx", "rolled-back")
      const failed = yield* Effect.flip(
        sql.withTransaction(
          Effect.gen(function* () {
            yield* store.append(rolledBack, [event(11, { ok: false })], ExpectedVersion.noStream)
            yield* sql`INSERT INTO app_rows VALUES ('rolled-back')`
            return yield* Effect.fail("the app changed its mind")
          })
        )
      )
      assert.strictEqual(failed, "the app changed its mind")
      assert.deepStrictEqual([yield* store.streamVersion(committed), yield* store.streamVersion(rolledBack)], [0, -1])
      const rows = yield* sql<{ id: string }>`SELECT id FROM app_rows ORDER BY id`
      assert.deepStrictEqual(
        rows.map((r) => r.id),
        ["committed"]
      )
    })
  )
})
