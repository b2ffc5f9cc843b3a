// A rebuild of a projection over 100 000 events while writers keep appending: the live version
// serves reads throughout, and the new version ends identical to a from-scratch fold.
import { EventId, EventStore, ExpectedVersion, type Envelope, Projection, Projector, StreamName } from "@chronicle/core"
import { Order } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref, Schedule } from "effect"
import { SqlClient } from "effect/sql"

/** Revenue per customer, one multi-row upsert per batch. */
const revenue = (version: number) =>
  Projection.makeBatched({
    name: "revenue",
    version,
    codec: Order.OrderEvents,
    types: ["PaymentConfirmed"],
    batchSize: 2000,
    handleBatch: (events) =>
      SqlClient.SqlClient.use((sql) => {
        const totals = new Map<string, [number, number]>()
        for (const e of events) {
          const customer = e.event.orderId.split("-")[0]!
          const [total, count] = totals.get(customer) ?? [0, 0]
          totals.set(customer, [total + e.event.amount, count + 1])
        }
        const table = sql(`revenue_v${version}`)
        return sql`INSERT INTO ${table} (customer, total, events)
          SELECT * FROM unnest(${[...totals.keys()]}::text[], ${[...totals.values()].map((t) => t[0])}::int8[], ${[...totals.values()].map((t) => t[1])}::int4[])
          ON CONFLICT (customer) DO UPDATE SET total = ${table}.total + excluded.total, events = ${table}.events + excluded.events`
      }).pipe(Effect.orDie)
  })

const payments = (batch: number, size: number): Effect.Effect<ReadonlyArray<Envelope.EventData>> =>
  Effect.forEach(
    Array.from({ length: size }, (_, k) => k),
    (k) =>
      Effect.map(EventId.fromKey(`rebuild-${batch}-${k}`), (eventId) => ({
        eventId,
        type: "PaymentConfirmed",
        schemaVersion: 1,
        data: { orderId: `cust${(batch * 7 + k) % 50}-${batch}-${k}`, paymentReference: "r", amount: 1 + (k % 9) },
        metadata: {}
      }))
  )

const table = (version: number) =>
  SqlClient.SqlClient.use(
    (sql) =>
      sql<{
        customer: string
        total: string
        events: number
      }>`SELECT customer, total::text, events FROM ${sql(`revenue_v${version}`)} ORDER BY customer`
  )

it.live(
  "rebuilds over 100 000 events beside the live version while writers append, then takes over",
  () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      for (const v of [1, 2, 3]) {
        yield* sql`CREATE TABLE ${sql(`revenue_v${v}`)} (customer text PRIMARY KEY, total bigint NOT NULL, events int NOT NULL)`
      }
      yield* sql`CREATE VIEW revenue AS SELECT * FROM revenue_v1`
      yield* Effect.forEach(
        Array.from({ length: 1000 }, (_, b) => b),
        (b) =>
          Effect.flatMap(payments(b, 100), (events) =>
            store.append(StreamName.make("pay", `b${b}`), events, ExpectedVersion.noStream)
          ),
        { concurrency: 8, discard: true }
      )
      const live = yield* Effect.forkChild(Projector.run(revenue(1)))
      // Writers keep appending during the rebuild; readers keep reading the view.
      const writer = yield* Effect.forkChild(
        Effect.forEach(
          Array.from({ length: 200 }, (_, b) => 1000 + b),
          (b) =>
            Effect.andThen(
              Effect.flatMap(payments(b, 20), (events) =>
                store.append(StreamName.make("pay", `b${b}`), events, ExpectedVersion.noStream)
              ),
              Effect.sleep("5 millis")
            ),
          { discard: true }
        )
      )
      const reads = yield* Ref.make(0)
      const reader = yield* Effect.forkChild(
        Effect.forever(
          Effect.andThen(
            sql`SELECT count(*) FROM revenue`,
            Ref.update(reads, (n) => n + 1)
          ).pipe(Effect.delay("20 millis"))
        )
      )
      const progress: Array<Projector.Progress> = []
      yield* Projector.rebuild(revenue(2), {
        onProgress: (p) => Effect.sync(() => void progress.push(p)),
        takeOver: sql`CREATE OR REPLACE VIEW revenue AS SELECT * FROM revenue_v2`
      })
      yield* Fiber.interrupt(live)
      const nextLive = yield* Effect.forkChild(Projector.run(revenue(2)))
      yield* Fiber.join(writer)
      yield* Effect.repeat(
        SqlClient.SqlClient.use((c) => c<{ n: number }>`SELECT coalesce(sum(events), 0)::int AS n FROM revenue`),
        { until: (rows) => rows[0]!.n === 104_000, schedule: Schedule.spaced("50 millis") }
      ).pipe(Effect.timeout("60 seconds"))
      yield* Fiber.interrupt(nextLive)
      yield* Fiber.interrupt(reader)

      yield* Projector.catchUp(revenue(3))
      assert.deepStrictEqual(yield* table(2), yield* table(3), "the rebuilt version equals a from-scratch fold")
      assert.isAbove(yield* Ref.get(reads), 5, "the live read model served reads during the rebuild")
      assert.isAbove(progress.length, 10)
      assert.isTrue(progress.some((p) => p.done > 0 && p.done < p.total && p.eventsPerSecond > 0))
      const view = yield* sql<{ definition: string }>`SELECT pg_get_viewdef('revenue') AS definition`
      assert.include(view[0]!.definition, "revenue_v2")
    }).pipe(Effect.provide(PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer())))),
  180_000
)
