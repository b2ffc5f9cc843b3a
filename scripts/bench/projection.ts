/**
 * Catch-up projection benchmark: 100 000 events from position 0 into a
 * PostgreSQL read model (revenue per customer, one multi-row upsert per
 * batch, checkpoint in the same transaction), against a raw-SQL baseline that
 * reads the same log in the same batches and runs the same upsert and
 * checkpoint update per batch, through the same driver. Target (DESIGN.md):
 * ≥ 50 000 events/s on 2 cores.
 */
import { EventId, EventStore, ExpectedVersion, Projection, Projector, StreamName } from "@chronicle/core"
import { Order } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import * as PgServer from "@chronicle/testing/PgServer"
import { Console, Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { type Figure, measure, report } from "./report.ts"

const total = Number(process.env.BENCH_PROJECTION_EVENTS ?? 100_000)
const batchSize = 2000

const customerOf = (orderId: string) => orderId.slice(0, orderId.indexOf("-"))

/** Sums a batch per customer, for one upsert. */
const sums = (events: ReadonlyArray<{ readonly orderId: string; readonly amount: number }>) => {
  const totals = new Map<string, [number, number]>()
  for (const e of events) {
    const customer = customerOf(e.orderId)
    const [amount, count] = totals.get(customer) ?? [0, 0]
    totals.set(customer, [amount + e.amount, count + 1])
  }
  return totals
}

const upsert = (sql: SqlClient.SqlClient, table: string, totals: Map<string, [number, number]>) =>
  sql`INSERT INTO ${sql(table)} (customer, total, events)
      SELECT * FROM unnest(${[...totals.keys()]}::text[], ${[...totals.values()].map((t) => t[0])}::int8[],
                           ${[...totals.values()].map((t) => t[1])}::int4[])
      ON CONFLICT (customer) DO UPDATE SET total = ${sql(table)}.total + excluded.total,
        events = ${sql(table)}.events + excluded.events`

const revenue = (table: string, version: number) =>
  Projection.makeBatched({
    name: "bench-revenue",
    version,
    codec: Order.OrderEvents,
    types: ["PaymentConfirmed"],
    batchSize,
    handleBatch: (events) =>
      SqlClient.SqlClient.use((sql) => upsert(sql, table, sums(events.map((e) => e.event)))).pipe(Effect.orDie)
  })

/** The baseline: the same reads, upserts and checkpoint writes in raw SQL. */
const rawCatchUp = (table: string) =>
  SqlClient.SqlClient.use((sql) =>
    Effect.gen(function* () {
      let after = { commit: "0", sequence: "0" }
      for (;;) {
        const rows = yield* sql<{ commit: string; sequence: string; data: { orderId: string; amount: number } }>`
          SELECT transaction_id::text AS commit, sequence::text, data FROM chronicle.events
          WHERE (transaction_id, sequence) > (${after.commit}::xid8, ${after.sequence}::int8)
            AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) AND type = 'PaymentConfirmed'
          ORDER BY transaction_id, sequence LIMIT ${batchSize}`
        if (rows.length === 0) return
        const last = rows[rows.length - 1]!
        yield* sql.withTransaction(
          Effect.andThen(
            upsert(sql, table, sums(rows.map((r) => r.data))),
            sql`INSERT INTO chronicle.checkpoints (name, commit_position, sequence) VALUES ('raw', ${last.commit}::int8, ${last.sequence}::int8)
                ON CONFLICT (name) DO UPDATE SET commit_position = excluded.commit_position, sequence = excluded.sequence`
          )
        )
        after = last
      }
    })
  )

export const run = Effect.gen(function* () {
  const server = yield* Effect.acquireRelease(
    Effect.promise(() => (process.env.DATABASE_URL ? Promise.resolve(undefined) : PgServer.start())),
    (s) => Effect.promise(async () => s?.stop())
  )
  const url = process.env.DATABASE_URL ?? server!.url
  yield* Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore.EventStore
    yield* Console.log(`\nProjection catch-up: writing ${total} events…`)
    yield* Effect.forEach(
      Array.from({ length: total / 500 }, (_, b) => b),
      (b) =>
        store.append(
          StreamName.make("benchpay", `b${b}`),
          Array.from({ length: 500 }, (_, k) => ({
            eventId: EventId.fromKey(`bench-projection-${b}-${k}`),
            type: "PaymentConfirmed",
            schemaVersion: 1,
            data: { orderId: `cust${(b + k) % 100}-${b}-${k}`, paymentReference: "r", amount: 1 + (k % 9) },
            metadata: {}
          })),
          ExpectedVersion.any
        ),
      { concurrency: 4, discard: true }
    )
    let run = 0
    const fresh = (prefix: string) =>
      Effect.gen(function* () {
        const table = `${prefix}_${++run}`
        yield* sql`CREATE TABLE ${sql(table)} (customer text PRIMARY KEY, total bigint NOT NULL, events int NOT NULL)`
        return table
      })
    const figures: Array<Figure> = []
    const baseline = yield* measure("baseline: raw SQL read + upsert + checkpoint", total, 3, () =>
      Effect.flatMap(
        Effect.andThen(sql`DELETE FROM chronicle.checkpoints WHERE name = 'raw'`, fresh("raw")),
        rawCatchUp
      )
    )
    figures.push(baseline)
    figures.push(
      yield* measure(
        "chronicle: Projector.catchUp from 0",
        total,
        3,
        () => Effect.flatMap(fresh("chronicle"), (table) => Projector.catchUp(revenue(table, run))),
        baseline
      )
    )
    report(`Projection catch-up into PostgreSQL, ${total} events (target ≥ 50 000 events/s)`, figures)
  }).pipe(Effect.provide(PgStore.layer({ url: Redacted.make(url), maxConnections: 8 })))
}).pipe(Effect.scoped)
