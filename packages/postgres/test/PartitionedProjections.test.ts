// Partitioned projections on PostgreSQL: the partitions together fold to what the unpartitioned
// projection folds to, a stream lives in one partition and reaches it in order, each partition keeps
// its own checkpoint, and a rebuild of every partition runs them in parallel with progress.
import {
  CheckpointStore,
  DeadLetterStore,
  type Envelope,
  EventId,
  EventStore,
  ExpectedVersion,
  Position,
  Projection,
  Projector,
  StreamName
} from "@chronicle/core"
import { Order } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { Effect, Layer, Option, Schedule } from "effect"
import { SqlClient } from "effect/sql"

type Payment = Envelope.Decoded<Order.OrderEvent>

/**
 * A non-idempotent read model (totals by customer, a customer's payments spread over streams and so
 * over partitions) plus a journal of who handled what, in order. Partitions write the same rows
 * concurrently, so each batch updates its rows in key order: no deadlock between partitions.
 */
const writeBatch = (suffix: string, partition: number, events: ReadonlyArray<Payment>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const byCustomer = new Map<string, { total: number; events: number }>()
    for (const e of events) {
      if (e.event._tag !== "PaymentConfirmed") continue
      const customer = e.event.orderId.split("-")[0]!
      const sum = byCustomer.get(customer) ?? { total: 0, events: 0 }
      byCustomer.set(customer, { total: sum.total + e.event.amount, events: sum.events + 1 })
      yield* sql`INSERT INTO ${sql(`seen_${suffix}`)} (part, stream, stream_version, sequence)
                 VALUES (${partition}, ${e.stream}, ${e.streamVersion}, ${e.position.sequence.toString()})`
    }
    for (const customer of [...byCustomer.keys()].sort()) {
      const { total, events } = byCustomer.get(customer)!
      yield* sql`INSERT INTO ${sql(`totals_${suffix}`)} (customer, total, events) VALUES (${customer}, ${total}, ${events})
                 ON CONFLICT (customer) DO UPDATE SET total = ${sql(`totals_${suffix}`)}.total + excluded.total,
                   events = ${sql(`totals_${suffix}`)}.events + excluded.events`
    }
  }).pipe(Effect.orDie)

const payments = (options: { readonly name: string; readonly version?: number; readonly partitions?: number }) =>
  Projection.makeBatched({
    name: options.name,
    version: options.version ?? 1,
    partitions: options.partitions,
    codec: Order.OrderEvents,
    types: ["PaymentConfirmed"],
    batchSize: 40,
    handleBatch: (events) => writeBatch(`${options.name}_v${options.version ?? 1}`, -1, events)
  })

/** Partition `index` of `projection`, writing its index into the journal (to check the routing). */
const tagged = (projection: Projection.Projection<Order.OrderEvent, SqlClient.SqlClient>, index: number) => ({
  ...Projection.partition(projection, index),
  handleBatch: (events: ReadonlyArray<Payment>) =>
    writeBatch(`${projection.name}_v${projection.version}`, index, events)
})

const createTables = (suffix: string) =>
  SqlClient.SqlClient.use((sql) =>
    Effect.andThen(
      sql`CREATE TABLE ${sql(`totals_${suffix}`)} (customer text PRIMARY KEY, total bigint NOT NULL, events int NOT NULL)`,
      sql`CREATE TABLE ${sql(`seen_${suffix}`)} (id bigserial PRIMARY KEY, part int NOT NULL, stream text NOT NULL,
            stream_version int NOT NULL, sequence bigint NOT NULL)`
    )
  )

/** `rounds` appends of 5 payments to each of 40 streams, interleaved across streams. */
const appendPayments = (rounds: number, from = 0) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    for (let round = from; round < from + rounds; round++) {
      yield* Effect.forEach(
        Array.from({ length: 40 }, (_, s) => s),
        (s) =>
          Effect.flatMap(
            Effect.forEach(
              Array.from({ length: 5 }, (_, k) => round * 5 + k),
              (i) =>
                Effect.map(EventId.fromKey(`s${s}-${i}`), (eventId) => ({
                  eventId,
                  type: "PaymentConfirmed",
                  schemaVersion: 1,
                  data: { orderId: `cust${(s + i) % 11}-${s}-${i}`, paymentReference: `r${i}`, amount: 1 + (i % 7) },
                  metadata: {}
                }))
            ),
            (events) =>
              store.append(
                StreamName.make("payments", `s${s}`),
                events,
                round === 0 ? ExpectedVersion.noStream : ExpectedVersion.exact(round * 5 - 1)
              )
          ),
        { concurrency: 8, discard: true }
      )
    }
  })

const totals = (suffix: string) =>
  SqlClient.SqlClient.use(
    (sql) => sql<{ customer: string; total: string; events: number }>`
      SELECT customer, total::text, events FROM ${sql(`totals_${suffix}`)} ORDER BY customer`
  )

const journal = (suffix: string) =>
  SqlClient.SqlClient.use(
    (sql) => sql<{ part: number; stream: string; stream_version: number; sequence: string }>`
      SELECT part, stream, stream_version, sequence::text FROM ${sql(`seen_${suffix}`)} ORDER BY id`
  )

const layer = PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer()))

it.live(
  "partitions together fold to the unpartitioned projection; a stream reaches one partition, in order; checkpoints are per partition",
  () =>
    Effect.gen(function* () {
      yield* createTables("whole_v1")
      yield* createTables("split_v1")
      yield* appendPayments(6)
      const whole = payments({ name: "whole" })
      const split = payments({ name: "split", partitions: 4 })
      yield* Projector.catchUp(whole)
      yield* Effect.forEach([0, 1, 2, 3], (p) => Projector.catchUp(tagged(split, p)), { concurrency: "unbounded" })

      // The same fold, every event once.
      assert.deepStrictEqual(yield* totals("split_v1"), yield* totals("whole_v1"))
      const rows = yield* journal("split_v1")
      assert.strictEqual(rows.length, 40 * 6 * 5)
      assert.strictEqual(new Set(rows.map((r) => `${r.stream}#${r.stream_version}`)).size, rows.length)

      // Each stream in exactly the partition its hash names, its events in stream order.
      const byStream = new Map<string, Array<(typeof rows)[number]>>()
      for (const row of rows) byStream.set(row.stream, [...(byStream.get(row.stream) ?? []), row])
      assert.strictEqual(byStream.size, 40)
      const used = new Set<number>()
      for (const [stream, seen] of byStream) {
        assert.deepStrictEqual(new Set(seen.map((r) => r.part)), new Set([Projection.partitionOf(stream, 4)]), stream)
        assert.deepStrictEqual(
          seen.map((r) => r.stream_version),
          Array.from({ length: 30 }, (_, i) => i),
          `${stream} in order`
        )
        used.add(seen[0]!.part)
      }
      assert.strictEqual(used.size, 4, "every partition has streams")

      // One checkpoint per partition, named with the count; none under the unpartitioned name.
      const checkpoints = yield* CheckpointStore.CheckpointStore
      const names = [...(yield* checkpoints.list).keys()].filter((n) => n.startsWith("split@")).sort()
      assert.deepStrictEqual(names, ["split@v1/p0of4", "split@v1/p1of4", "split@v1/p2of4", "split@v1/p3of4"])
      assert.isTrue(Option.isSome(yield* checkpoints.load("whole@v1")))

      // Catching up one partition moves its checkpoint alone, and handles only its streams.
      const before = yield* checkpoints.list
      yield* appendPayments(1, 6)
      yield* Projector.catchUp(tagged(split, 2))
      const after = yield* checkpoints.list
      for (const p of [0, 1, 3]) {
        const name = `split@v1/p${p}of4`
        assert.isTrue(Position.equals(after.get(name)!, before.get(name)!), `${name} did not move`)
      }
      assert.isTrue(Position.isAfter(after.get("split@v1/p2of4")!, before.get("split@v1/p2of4")!))
      const added = (yield* journal("split_v1")).slice(rows.length)
      assert.strictEqual(added.length, [...byStream.values()].filter((s) => s[0]!.part === 2).length * 5)
      assert.isTrue(added.every((r) => r.part === 2 && Projection.partitionOf(r.stream, 4) === 2))

      // The rest catch up, and awaiting a position waits for every partition.
      const head = yield* (yield* EventStore.EventStore).head
      yield* Effect.forEach([0, 1, 3], (p) => Projector.catchUp(tagged(split, p)))
      yield* Projector.awaitPosition(split, head, { timeout: "1 second" })
      yield* Projector.catchUp(whole)
      assert.deepStrictEqual(yield* totals("split_v1"), yield* totals("whole_v1"))
    }).pipe(Effect.provide(layer)),
  120_000
)

it.live(
  "another partition count for a deployed version is refused, not started from scratch",
  () =>
    Effect.gen(function* () {
      yield* createTables("moved_v1")
      yield* appendPayments(1)
      yield* Projector.catchUp(payments({ name: "moved" }))
      const regrouped = payments({ name: "moved", partitions: 2 })
      const error = yield* Effect.flip(Projector.catchUpPartitions(regrouped))
      assert.strictEqual(error._tag, "PartitionsChanged")
      assert.include(error.message, "moved@v1")
      // Nothing was applied twice.
      const rows = yield* totals("moved_v1")
      assert.strictEqual(
        rows.reduce((n, r) => n + r.events, 0),
        200
      )
      // And back: 2 partitions stored, 3 asked for.
      yield* createTables("moved_v2")
      yield* Projector.catchUpPartitions(payments({ name: "moved", version: 2, partitions: 2 }))
      const again = yield* Effect.flip(
        Projector.catchUp(Projection.partition(payments({ name: "moved", version: 2, partitions: 3 }), 0))
      )
      assert.strictEqual(again._tag, "PartitionsChanged")
    }).pipe(Effect.provide(layer)),
  60_000
)

it.live(
  "a rebuild of every partition runs them in parallel, reports progress per partition and in total, and takes over once",
  () =>
    Effect.gen(function* () {
      yield* createTables("live_v1")
      yield* createTables("live_v2")
      yield* SqlClient.SqlClient.use((sql) => sql`CREATE TABLE switched (at text NOT NULL)`)
      yield* appendPayments(10)
      yield* Projector.catchUp(payments({ name: "live" }))
      const next = payments({ name: "live", version: 2, partitions: 3 })
      const reports: Array<Projector.PartitionsProgress> = []
      const reached = yield* Projector.rebuildPartitions(next, {
        onProgress: (progress) => Effect.sync(() => reports.push(progress)),
        takeOver: SqlClient.SqlClient.use((sql) => sql`INSERT INTO switched VALUES ('v2')`)
      })
      assert.strictEqual(reached.length, 3)
      assert.deepStrictEqual(yield* totals("live_v2"), yield* totals("live_v1"))
      assert.strictEqual((yield* journal("live_v2")).length, 2000)
      assert.strictEqual(
        (yield* SqlClient.SqlClient.use((sql) => sql<{ n: number }>`SELECT count(*)::int AS n FROM switched`))[0]!.n,
        1
      )

      // Progress: 3 partitions, the total is their sum, every partition ends done.
      assert.isTrue(reports.length > 3)
      for (const report of reports) {
        assert.strictEqual(report.partitions.length, 3)
        assert.strictEqual(
          report.done,
          report.partitions.reduce((n, p) => n + p.done, 0)
        )
        assert.strictEqual(
          report.total,
          report.partitions.reduce((n, p) => n + p.total, 0)
        )
      }
      const last = reports.at(-1)!
      assert.deepStrictEqual(
        last.partitions.map((p) => p.projection),
        ["live@v2/p0of3", "live@v2/p1of3", "live@v2/p2of3"]
      )
      // Each partition reads the whole log: its total is the head's sequence (positions, not events).
      const head = Number((yield* (yield* EventStore.EventStore).head).sequence)
      for (const p of last.partitions) {
        assert.strictEqual(p.done, p.total)
        assert.strictEqual(p.total, head)
      }
      assert.strictEqual(last.done, 3 * head)
      // In parallel: the partitions' reports interleave (not one partition after another).
      const reporters = reports
        .map((r, i) => r.partitions.findIndex((p, k) => p.done !== (i === 0 ? 0 : reports[i - 1]!.partitions[k]!.done)))
        .filter((index) => index >= 0)
      let switches = 0
      for (let i = 1; i < reporters.length; i++) if (reporters[i] !== reporters[i - 1]) switches++
      assert.isAbove(switches, 3, `partitions reported in turn: ${reporters.join(",")}`)
    }).pipe(Effect.provide(layer)),
  120_000
)

it.live(
  "two owners of one partition at once (a singleton overlapping during a move): the fence commits one batch, none applied twice",
  () =>
    Effect.gen(function* () {
      yield* createTables("twice_v1")
      yield* createTables("once_v1")
      yield* appendPayments(4)
      const twice = payments({ name: "twice", partitions: 2 })
      // A slow batch, so the two owners' transactions overlap; each owner tags its journal rows.
      const owner = (id: number) => ({
        ...Projection.partition(twice, 1),
        handleBatch: (events: ReadonlyArray<Payment>) =>
          Effect.andThen(writeBatch("twice_v1", id, events), Effect.sleep("20 millis"))
      })
      const results = yield* Effect.all([Projector.catchUp(owner(1)), Projector.catchUp(owner(2))], {
        concurrency: "unbounded",
        mode: "result"
      })
      // The survivor (or a restart) finishes; the fold equals partition 1 of a fresh unpartitioned run.
      yield* Projector.catchUp(owner(3))
      const rows = yield* journal("twice_v1")
      assert.strictEqual(new Set(rows.map((r) => `${r.stream}#${r.stream_version}`)).size, rows.length, "none twice")
      const once = payments({ name: "once" })
      yield* Projector.catchUp({
        ...once,
        handleBatch: (events: ReadonlyArray<Payment>) =>
          writeBatch(
            "once_v1",
            0,
            events.filter((e) => Projection.partitionOf(e.stream, 2) === 1)
          )
      })
      assert.deepStrictEqual(yield* totals("twice_v1"), yield* totals("once_v1"))
      assert.strictEqual(rows.length, (yield* journal("once_v1")).length)
      const failed = results.filter((r) => r._tag === "Failure")
      assert.isAtLeast(failed.length, 1, "one owner was fenced off")
      for (const r of failed) assert.strictEqual(r._tag === "Failure" && r.failure._tag, "CheckpointConflict")
    }).pipe(Effect.provide(layer)),
  60_000
)

it.live("an event parked by a partition is found and replayed through the partitioned projection", () =>
  Effect.gen(function* () {
    yield* createTables("poison_v1")
    yield* appendPayments(1)
    const poisonedIf = (poison: boolean) =>
      Projection.makeBatched({
        name: "poison",
        version: 1,
        partitions: 3,
        codec: Order.OrderEvents,
        types: ["PaymentConfirmed"],
        failure: { retry: Schedule.recurs(0), action: "park" },
        handleBatch: (events) =>
          poison && events.some((e) => e.stream === "payments-s7" && e.streamVersion === 2)
            ? Effect.fail(new Error("poison"))
            : writeBatch("poison_v1", 0, events)
      })
    // One partition after another: a batch with a failure is retried event by event, which gives up
    // the key order that keeps concurrent partitions from deadlocking on shared rows.
    yield* Effect.forEach(Projection.partitionsOf(poisonedIf(true)), (partition) => Projector.catchUp(partition))
    const home = `poison@v1/p${Projection.partitionOf("payments-s7", 3)}of3`
    const parked = yield* (yield* DeadLetterStore.DeadLetterStore).list(home)
    assert.strictEqual(parked.length, 1)
    assert.strictEqual((yield* journal("poison_v1")).length, 199)
    assert.isTrue(yield* Projector.replayParked(poisonedIf(false), parked[0]!.envelope.eventId))
    assert.strictEqual((yield* journal("poison_v1")).length, 200)
    assert.strictEqual((yield* (yield* DeadLetterStore.DeadLetterStore).list(home)).length, 0)
  }).pipe(Effect.provide(layer))
)

it.live("Projector.layer runs a partitioned projection as one fiber per partition, each under its own lease", () =>
  Effect.gen(function* () {
    yield* createTables("layered_v1")
    yield* createTables("flat_v1")
    yield* appendPayments(2)
    const layered = payments({ name: "layered", partitions: 3 })
    yield* Layer.build(Projector.layer([layered]))
    yield* appendPayments(2, 2)
    const head = yield* (yield* EventStore.EventStore).head
    yield* Projector.awaitPosition(layered, head, { timeout: "20 seconds" })
    yield* Projector.catchUp(payments({ name: "flat" }))
    assert.deepStrictEqual(yield* totals("layered_v1"), yield* totals("flat_v1"))
    const names = [...(yield* (yield* CheckpointStore.CheckpointStore).list).keys()].filter((n) =>
      n.startsWith("layered@")
    )
    assert.deepStrictEqual(names.sort(), ["layered@v1/p0of3", "layered@v1/p1of3", "layered@v1/p2of3"])
  }).pipe(Effect.scoped, Effect.provide(layer))
)
