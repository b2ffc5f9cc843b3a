/**
 * Catch-up projection benchmark: 100 000 events from position 0 into a
 * PostgreSQL read model (revenue per customer, one multi-row upsert per
 * batch, checkpoint in the same transaction), against a raw-SQL baseline that
 * reads the same rows and columns of the log in the same batches and runs the
 * same upsert and checkpoint write per batch, through the same driver. What
 * only Chronicle does: decode each event through its schema, run the handler
 * in a savepoint (two more round trips per batch) and fence the checkpoint.
 * Each round projects into a fresh table from position 0. Target
 * (DESIGN.md): ≥ 50 000 events/s on 2 cores.
 */
import { EventId, EventStore, ExpectedVersion, Projection, Projector, StreamName } from "@chronicle/core"
import { DatabaseUrl } from "@chronicle/embedded-postgres"
import { Order } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { Console, Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { compare, report, time } from "./report.ts"

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
      let after: { commit: string; sequence: bigint | string } = { commit: "0", sequence: "0" }
      for (;;) {
        // The columns of an envelope, as the store reads them. (Not `sequence::text`: ORDER BY would
        // sort by that text column, out of order past 9999, and the pages would repeat events.)
        const rows = yield* sql<{
          commit: string
          sequence: bigint | string
          data: { orderId: string; amount: number }
        }>`
          SELECT transaction_id::text AS commit, sequence, event_id, stream, stream_version, type, schema_version,
                 data, metadata, recorded_at
          FROM chronicle.events
          WHERE (transaction_id, sequence) > (${after.commit}::xid8, ${String(after.sequence)}::int8)
            AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) AND type = ANY(${["PaymentConfirmed"]}::text[])
          ORDER BY transaction_id, sequence LIMIT ${batchSize}`
        if (rows.length === 0) return
        const last = rows[rows.length - 1]!
        yield* sql.withTransaction(
          Effect.andThen(
            upsert(sql, table, sums(rows.map((r) => r.data))),
            sql`INSERT INTO chronicle.checkpoints (name, commit_position, sequence) VALUES ('raw', ${last.commit}::int8, ${String(last.sequence)}::int8)
                ON CONFLICT (name) DO UPDATE SET commit_position = excluded.commit_position, sequence = excluded.sequence`
          )
        )
        after = last
      }
    })
  )

export const run = Effect.gen(function* () {
  const url = yield* DatabaseUrl.configuredOrEmbedded()
  yield* Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore.EventStore
    yield* Console.log(`\nProjection catch-up: writing ${total} events…`)
    yield* Effect.forEach(
      Array.from({ length: total / 500 }, (_, b) => b),
      (b) =>
        Effect.flatMap(
          Effect.forEach(
            Array.from({ length: 500 }, (_, k) => k),
            (k) =>
              Effect.map(EventId.fromKey(`bench-projection-${b}-${k}`), (eventId) => ({
                eventId,
                type: "PaymentConfirmed",
                schemaVersion: 1,
                data: { orderId: `cust${(b + k) % 100}-${b}-${k}`, paymentReference: "r", amount: 1 + (k % 9) },
                metadata: {}
              }))
          ),
          (events) => store.append(StreamName.make("benchpay", `b${b}`), events, ExpectedVersion.any)
        ),
      { concurrency: 4, discard: true }
    )
    const fresh = (prefix: string, round: number) =>
      Effect.as(
        sql`CREATE TABLE ${sql(`${prefix}_${round}`)} (customer text PRIMARY KEY, total bigint NOT NULL, events int NOT NULL)`,
        `${prefix}_${round}`
      )
    const comparison = yield* compare({
      workload: `catch up ${total.toLocaleString("en-US")} events from position 0`,
      count: total,
      baseline: {
        name: "raw SQL",
        run: (round) =>
          Effect.flatMap(fresh("raw", round), (table) =>
            time(Effect.andThen(sql`DELETE FROM chronicle.checkpoints WHERE name = 'raw'`, rawCatchUp(table)))
          )
      },
      subject: {
        name: "Projector.catchUp",
        run: (round) =>
          Effect.flatMap(fresh("chronicle", round), (table) => time(Projector.catchUp(revenue(table, round + 1))))
      }
    })
    // Both sides built the same read model.
    const [models] = yield* sql<{ raw: string; chronicle: string }>`
      SELECT (SELECT string_agg(customer || '=' || total || '/' || events, ',' ORDER BY customer) FROM raw_0) AS raw,
        (SELECT string_agg(customer || '=' || total || '/' || events, ',' ORDER BY customer) FROM chronicle_0) AS chronicle`
    if (models!.raw !== models!.chronicle) {
      return yield* Effect.die(new Error("The raw baseline and the projection built different read models"))
    }
    report(`Projection catch-up into PostgreSQL (target ≥ 50 000 events/s)`, [comparison])
  }).pipe(Effect.provide(PgStore.layer({ url: Redacted.make(url), maxConnections: 8 })))
}).pipe(Effect.scoped)
