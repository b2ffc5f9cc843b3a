/**
 * Partitioned catch-up: 20 000 deposits over 200 account streams, from
 * position 0 into a PostgreSQL read model of each account's balance and
 * event count (`… SET total = total + excluded.total`: not idempotent, so an
 * event handled twice or skipped shows), with 1, 2 and 4 partitions through
 * `Projector.catchUpPartitions`, each beside the raw-SQL baseline of
 * projection.ts (`rawCatchUp`: one reader, pages of the log's rows, the same
 * upsert and a checkpoint write per page, one transaction per page) in the
 * same run.
 *
 * Each partition reads only its own streams' events (the store filters by
 * the stream's partition hash, so PostgreSQL scans the log once per
 * partition but sends each event once in all), on fibers of one process
 * sharing the machine's cores with PostgreSQL: the figures show
 * what that costs or gains here, not what partitions on machines of their
 * own would. Each round projects into a fresh table under a fresh projection
 * version, and after each round (untimed) the table must equal the fold of
 * what was written, per stream, or the benchmark fails.
 */
import { EventId, EventStore, ExpectedVersion, Projection, Projector, StreamName } from "@chronicle/core"
import { Account } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { PgClient } from "@effect/sql-pg"
import { Console, Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { createTotals, rawCatchUp, sums, upsert } from "../projection.ts"
import { type Comparison, compare, report, time } from "../report.ts"

const streams = 200
const perStream = 100
const total = streams * perStream
const batchSize = 2000
/** A log of its own, made afresh on every run: the checks compare the read models with what this run wrote. */
const schema = "bench_catchup"

const amountOf = (stream: number, k: number) => 1 + ((stream + k) % 9)

/** Balance and event count per stream (the read model's fold). */
const balances = (deposits: ReadonlyArray<{ readonly stream: string; readonly amount: number }>) =>
  sums(
    deposits,
    (d) => d.stream,
    (d) => d.amount
  )

const balance = (table: string, partitions: number, version: number) =>
  Projection.makeBatched({
    name: `bench-balance-p${partitions}`,
    version,
    partitions,
    codec: Account.AccountEvents,
    types: ["Deposited"],
    batchSize,
    handleBatch: (events) =>
      SqlClient.SqlClient.use((sql) =>
        upsert(sql, table, balances(events.map((e) => ({ stream: e.stream, amount: e.event.amount }))))
      ).pipe(Effect.orDie)
  })

/** Fails the benchmark unless `table` holds exactly `expected` (balance and count per stream). */
const check = (sql: SqlClient.SqlClient, table: string, expected: Map<string, [number, number]>) =>
  Effect.gen(function* () {
    const rows = yield* sql<{ customer: string; total: string; events: number }>`
      SELECT customer, total::text, events FROM ${sql(table)}`
    const wrong = rows.filter((r) => {
      const [sum, count] = expected.get(r.customer) ?? [Number.NaN, Number.NaN]
      return Number(r.total) !== sum || r.events !== count
    })
    if (rows.length !== expected.size || wrong.length > 0) {
      const first = wrong[0]
      return yield* Effect.die(
        new Error(
          `${table} is not the fold of the log: ${rows.length} streams of ${expected.size}, ${wrong.length} wrong` +
            (first === undefined
              ? ""
              : ` (${first.customer}: ${first.total}/${first.events}, expected ${expected.get(first.customer)?.join("/")})`)
        )
      )
    }
  })

/** The comparisons at 1, 2 and 4 partitions, on the PostgreSQL at `url`, reported. */
export const run = (url: string) =>
  Effect.gen(function* () {
    const client = yield* Layer.build(PgClient.layer({ url: Redacted.make(url), maxConnections: 8 }))
    const sql = Context.get(client, SqlClient.SqlClient)
    yield* sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`
    const stores = Context.merge(
      client,
      yield* Layer.build(PgStore.layerStores({ schema })).pipe(Effect.provideContext(client))
    )
    const store = Context.get(stores, EventStore.EventStore)

    // Each append gives every stream its next deposit, so the streams interleave through the log
    // (as live traffic would) and every page of it has events of every partition.
    yield* Console.log(
      `\nPartitioned catch-up: writing ${total.toLocaleString("en-US")} events over ${streams} streams…`
    )
    const expected = new Map<string, [number, number]>()
    for (let k = 0; k < perStream; k++) {
      const appends = Array.from({ length: streams }, (_, s) => {
        const stream = StreamName.make("benchacct", `a${s}`)
        const [sum, count] = expected.get(stream) ?? [0, 0]
        expected.set(stream, [sum + amountOf(s, k), count + 1])
        return {
          stream,
          events: [
            {
              eventId: EventId.makeUnsafe(),
              type: "Deposited",
              schemaVersion: 1,
              data: { amount: amountOf(s, k) },
              metadata: {}
            }
          ],
          expectedVersion: ExpectedVersion.fromCurrent(k - 1)
        }
      })
      yield* store.appendMany(appends)
      if ((k + 1) % (perStream / 4) === 0) {
        yield* Console.log(`  ${((k + 1) * streams).toLocaleString("en-US")} events written`)
      }
    }

    /** A round into a fresh table: `catchUp(table)` timed, then the table checked against the fold. */
    const round = (
      side: string,
      partitions: number,
      r: number,
      catchUp: (table: string) => Effect.Effect<unknown, unknown>
    ) =>
      Effect.gen(function* () {
        const table = `${schema}.${side}_p${partitions}_${r}`
        yield* createTotals(sql, table)
        const sample = yield* time(catchUp(table))
        yield* check(sql, table, expected)
        return sample
      }).pipe(Effect.orDie)

    const comparisons: Array<Comparison> = []
    for (const partitions of [1, 2, 4]) {
      comparisons.push(
        yield* compare({
          workload: `catch up ${total.toLocaleString("en-US")} events, ${partitions} partition${partitions === 1 ? "" : "s"}`,
          count: total,
          baseline: {
            name: "raw SQL, one reader",
            run: (r) =>
              round("raw", partitions, r, (table) =>
                rawCatchUp<{ amount: number }>({
                  schema,
                  table,
                  types: ["Deposited"],
                  batchSize,
                  totals: (rows) => balances(rows.map((row) => ({ stream: row.stream, amount: row.data.amount })))
                }).pipe(Effect.provideContext(client))
              )
          },
          subject: {
            name: `Projector.catchUpPartitions, ${partitions}`,
            run: (r) =>
              round("chronicle", partitions, r, (table) =>
                // A fresh version per round: its checkpoints start at position 0.
                Projector.catchUpPartitions(balance(table, partitions, r + 1)).pipe(Effect.provideContext(stores))
              )
          }
        })
      )
    }
    report("Partitioned catch-up into PostgreSQL vs raw SQL (events/s)", comparisons)
  }).pipe(Effect.scoped)
