// Projections on PostgreSQL: exactly-once SQL read models under interruption, two processes sharing
// the work through leases with fail-over, parking with the dead-letter table.
import {
  CheckpointStore,
  DeadLetterStore,
  EventId,
  EventStore,
  ExpectedVersion,
  Projection,
  Projector,
  StreamName
} from "@chronicle/core"
import { Order } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { Effect, Fiber, Layer, ManagedRuntime, Random, Redacted, Schedule } from "effect"
import { SqlClient } from "effect/sql"

/** A non-idempotent SQL read model: applying an event twice would double a total. */
const revenue = (table: string, version = 1) =>
  Projection.makeBatched({
    name: "revenue",
    version,
    codec: Order.OrderEvents,
    types: ["PaymentConfirmed"],
    batchSize: 50,
    handleBatch: (events) =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        for (const e of events) {
          yield* sql`INSERT INTO ${sql(table)} (customer, total, events) VALUES (${e.event.orderId.split("-")[0]!}, ${e.event.amount}, 1)
                     ON CONFLICT (customer) DO UPDATE SET total = ${sql(table)}.total + excluded.total,
                       events = ${sql(table)}.events + 1`
        }
      }).pipe(Effect.orDie)
  })

const payment = (customer: string, i: number) =>
  Effect.map(EventId.fromKey(`${customer}-${i}`), (eventId) => ({
    eventId,
    type: "PaymentConfirmed",
    schemaVersion: 1,
    data: { orderId: `${customer}-${i}`, paymentReference: `r${i}`, amount: 1 + (i % 7) },
    metadata: {}
  }))

const appendPayments = (count: number, offset = 0) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    yield* Effect.forEach(
      Array.from({ length: count / 50 }, (_, b) => b),
      (b) =>
        Effect.flatMap(
          Effect.forEach(
            Array.from({ length: 50 }, (_, k) => k),
            (k) => payment(`cust${(b + k) % 13}`, (offset + b) * 50 + k)
          ),
          (events) => store.append(StreamName.make("payments", `batch${offset + b}`), events, ExpectedVersion.noStream)
        ),
      { concurrency: 8, discard: true }
    )
  })

const totals = (table: string) =>
  SqlClient.SqlClient.use(
    (sql) =>
      sql<{
        customer: string
        total: number
        events: number
      }>`SELECT customer, total, events FROM ${sql(table)} ORDER BY customer`
  )

const createTable = (table: string) =>
  SqlClient.SqlClient.use(
    (sql) =>
      sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (customer text PRIMARY KEY, total bigint NOT NULL, events int NOT NULL)`
  )

it.live(
  "interrupted at random points many times, the SQL read model equals a fresh rebuild",
  () =>
    Effect.gen(function* () {
      yield* createTable("revenue_v1")
      yield* createTable("revenue_v2")
      yield* appendPayments(3000)
      for (let round = 0; round < 25; round++) {
        const fiber = yield* Effect.forkChild(Projector.run(revenue("revenue_v1")))
        yield* Effect.sleep(`${yield* Random.nextIntBetween(1, 40)} millis`)
        yield* Fiber.interrupt(fiber)
      }
      yield* Projector.catchUp(revenue("revenue_v1"))
      yield* Projector.catchUp(revenue("revenue_v2", 2))
      const [interrupted, fresh] = [yield* totals("revenue_v1"), yield* totals("revenue_v2")]
      assert.deepStrictEqual(interrupted, fresh)
      assert.strictEqual(
        fresh.reduce((n, r) => n + r.events, 0),
        3000
      )
    }).pipe(Effect.provide(PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer())))),
  120_000
)

it.live(
  "two processes share a projection through a lease: every event handled once; when one dies the other takes over",
  () =>
    Effect.gen(function* () {
      const url = yield* PgHarness.createDatabase()
      const processLayer = PgStore.layer({ url: Redacted.make(url), maxConnections: 6, pollInterval: "100 millis" })
      const [a, b] = [ManagedRuntime.make(processLayer), ManagedRuntime.make(processLayer)]
      const handledBy = (processName: string) =>
        Projection.makeBatched({
          name: "audit",
          version: 1,
          codec: Order.OrderEvents,
          types: ["PaymentConfirmed"],
          batchSize: 100,
          handleBatch: (events) =>
            Effect.gen(function* () {
              const sql = yield* SqlClient.SqlClient
              yield* sql`INSERT INTO audit ${sql.insert(events.map((e) => ({ event_id: e.eventId, process: processName })) as any)}`
            }).pipe(Effect.orDie)
        })
      yield* Effect.promise(() =>
        a.runPromise(
          SqlClient.SqlClient.use((sql) => sql`CREATE TABLE audit (event_id uuid NOT NULL, process text NOT NULL)`)
        )
      )
      const runA = a.runFork(Projector.run(handledBy("a")))
      const runB = b.runFork(Projector.run(handledBy("b")))
      // 10 000 events while both processes run; the other 10 000 only once the holder is gone, so the
      // holder cannot have handled them all before it dies.
      yield* Effect.promise(() => a.runPromise(appendPayments(10_000)))
      const count = (sql: string) =>
        Effect.promise(() => a.runPromise(SqlClient.SqlClient.use((c) => c.unsafe<{ n: number }>(sql)))).pipe(
          Effect.map((rows) => rows[0]!.n)
        )
      yield* Effect.repeat(count("SELECT count(*)::int AS n FROM audit"), {
        until: (n) => n >= 10_000,
        schedule: Schedule.spaced("50 millis")
      }).pipe(Effect.timeout("60 seconds"))
      // Kill whichever process holds the lease (its session ends); the other must finish the work.
      const holder = yield* count("SELECT CASE WHEN max(process) = 'a' THEN 1 ELSE 2 END AS n FROM audit")
      if (holder === 1) {
        yield* Effect.promise(() => a.dispose())
      } else {
        yield* Effect.promise(() => b.dispose())
      }
      const survivor = holder === 1 ? b : a
      yield* Effect.promise(() => survivor.runPromise(appendPayments(10_000, 200)))
      const countIn = (sql: string) =>
        Effect.promise(() => survivor.runPromise(SqlClient.SqlClient.use((c) => c.unsafe<{ n: number }>(sql)))).pipe(
          Effect.map((rows) => rows[0]!.n)
        )
      yield* Effect.repeat(countIn("SELECT count(*)::int AS n FROM audit"), {
        until: (n) => n >= 20_000,
        schedule: Schedule.spaced("100 millis")
      }).pipe(Effect.timeout("90 seconds"))
      yield* Effect.sleep("500 millis")
      assert.strictEqual(yield* countIn("SELECT count(*)::int AS n FROM audit"), 20_000)
      assert.strictEqual(yield* countIn("SELECT count(DISTINCT event_id)::int AS n FROM audit"), 20_000)
      assert.strictEqual(
        yield* countIn("SELECT count(DISTINCT process)::int AS n FROM audit"),
        2,
        "the survivor took over"
      )
      yield* Effect.promise(() => survivor.dispose())
      void runA
      void runB
    }),
  180_000
)

it.live(
  "a poison event is parked in PostgreSQL with its error, and replays once fixed",
  () =>
    Effect.gen(function* () {
      yield* createTable("revenue_poison")
      yield* appendPayments(100)
      const poisonedIf = (poison: (orderId: string) => boolean) =>
        Projection.make({
          name: "poisoned",
          version: 1,
          codec: Order.OrderEvents,
          types: ["PaymentConfirmed"],
          failure: { retry: Schedule.recurs(1), action: "park" },
          handle: (e) =>
            poison(e.event.orderId)
              ? Effect.fail(new Error("no such customer"))
              : SqlClient.SqlClient.use(
                  (sql) => sql`INSERT INTO revenue_poison VALUES (${e.event.orderId}, ${e.event.amount}, 1)`
                ).pipe(Effect.orDie)
        })
      const poisoned = poisonedIf((id) => id === "cust3-42")
      yield* Projector.catchUp(poisoned)
      const parked = yield* (yield* DeadLetterStore.DeadLetterStore).list("poisoned@v1")
      assert.strictEqual(parked.length, 1)
      assert.include(parked[0]!.error, "no such customer")
      assert.strictEqual((yield* totals("revenue_poison")).length, 99)
      const fixed = poisonedIf(() => false)
      assert.isTrue(yield* Projector.replayParked(fixed, parked[0]!.envelope.eventId))
      assert.strictEqual((yield* totals("revenue_poison")).length, 100)
      assert.strictEqual((yield* (yield* DeadLetterStore.DeadLetterStore).list("poisoned@v1")).length, 0)
      const checkpoint = yield* (yield* CheckpointStore.CheckpointStore).load("poisoned@v1")
      assert.isTrue(checkpoint._tag === "Some")
    }).pipe(Effect.provide(PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer())))),
  60_000
)
