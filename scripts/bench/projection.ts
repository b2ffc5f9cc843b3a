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

/** Sums a batch's amounts and counts its items per key, for one upsert. */
export const sums = <A>(items: ReadonlyArray<A>, key: (item: A) => string, amount: (item: A) => number) => {
  const totals = new Map<string, [number, number]>()
  for (const item of items) {
    const k = key(item)
    const [sum, count] = totals.get(k) ?? [0, 0]
    totals.set(k, [sum + amount(item), count + 1])
  }
  return totals
}

const byCustomer = (payments: ReadonlyArray<{ readonly orderId: string; readonly amount: number }>) =>
  sums(
    payments,
    (p) => customerOf(p.orderId),
    (p) => p.amount
  )

/** A read model of totals and event counts by key (named `customer`, its first use). */
export const createTotals = (sql: SqlClient.SqlClient, table: string) =>
  sql`CREATE TABLE ${sql(table)} (customer text PRIMARY KEY, total bigint NOT NULL, events int NOT NULL)`

/** Adds a batch's sums to the totals, in one multi-row upsert. */
export const upsert = (sql: SqlClient.SqlClient, table: string, totals: Map<string, [number, number]>) =>
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
      SqlClient.SqlClient.use((sql) => upsert(sql, table, byCustomer(events.map((e) => e.event)))).pipe(Effect.orDie)
  })

/**
 * The baseline: the store's reads of the log (its columns, pages of `batchSize`), then the same
 * upserts and checkpoint writes, in raw SQL, one transaction per page, from position 0.
 */
export const rawCatchUp = <Data>(options: {
  readonly schema: string
  readonly table: string
  readonly types: ReadonlyArray<string>
  readonly batchSize: number
  readonly totals: (
    rows: ReadonlyArray<{ readonly stream: string; readonly data: Data }>
  ) => Map<string, [number, number]>
}) =>
  SqlClient.SqlClient.use((sql) =>
    Effect.gen(function* () {
      const { schema, table } = options
      yield* sql`DELETE FROM ${sql(schema)}.checkpoints WHERE name = 'raw'`
      let after: { commit: string; sequence: bigint | string } = { commit: "0", sequence: "0" }
      for (;;) {
        // The columns of an envelope, as the store reads them. (Not `sequence::text`: ORDER BY would
        // sort by that text column, out of order past 9999, and the pages would repeat events.)
        const rows = yield* sql<{ commit: string; sequence: bigint | string; stream: string; data: Data }>`
          SELECT transaction_id::text AS commit, sequence, event_id, stream, stream_version, type, schema_version,
                 data, metadata, recorded_at
          FROM ${sql(schema)}.events
          WHERE (transaction_id, sequence) > (${after.commit}::xid8, ${String(after.sequence)}::int8)
            AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) AND type = ANY(${options.types}::text[])
          ORDER BY transaction_id, sequence LIMIT ${options.batchSize}`
        if (rows.length === 0) return
        const last = rows[rows.length - 1]!
        yield* sql.withTransaction(
          Effect.andThen(
            upsert(sql, table, options.totals(rows)),
            sql`INSERT INTO ${sql(schema)}.checkpoints (name, commit_position, sequence) VALUES ('raw', ${last.commit}::int8, ${String(last.sequence)}::int8)
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
      Effect.as(createTotals(sql, `${prefix}_${round}`), `${prefix}_${round}`)
    const comparison = yield* compare({
      workload: `catch up ${total.toLocaleString("en-US")} events from position 0`,
      count: total,
      baseline: {
        name: "raw SQL",
        run: (round) =>
          Effect.flatMap(fresh("raw", round), (table) =>
            time(
              rawCatchUp<{ orderId: string; amount: number }>({
                schema: "chronicle",
                table,
                types: ["PaymentConfirmed"],
                batchSize,
                totals: (rows) => byCustomer(rows.map((r) => r.data))
              })
            )
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
