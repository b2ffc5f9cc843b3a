// The transfer workflow on a real PostgreSQL: events, the workflow journal and the cluster's own
// tables in one database, one runner in this process (SingleRunner with SQL message and runner
// storage, ClusterWorkflowEngine). Accounts whose id starts with "slow" never answer a credit
// (the step waits past any deadline); "ghost" accounts are never opened (the credit is refused).
import { CommandHandler, type Envelope, EventStore, StreamName } from "@chronicle/core"
import { Account, TransferWorkflow } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Stream } from "effect"
import { ClusterWorkflowEngine, SingleRunner } from "effect/cluster"
import * as Digest from "effect/crypto/Digest"
import { SqlClient } from "effect/sql"
import { MessageRetention } from "../src/index.ts"

const { Transfer } = TransferWorkflow
const deadlineMs = 2_000

const Stores = PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer()))
const Cluster = SingleRunner.layer({
  // Workflow messages (and resumes) are picked up on the storage poll: tuned down from 10 s.
  shardingConfig: { shardsPerGroup: 16, entityMessagePollInterval: "200 millis" }
}).pipe(Layer.provide(Digest.layerWebCrypto))
const Transfers = TransferWorkflow.layer({
  deadline: `${deadlineMs} millis`,
  beforeStep: (step, transfer) =>
    step === "credit" && transfer.to.startsWith("slow") ? Effect.sleep("1 hour") : Effect.void
})
const Live = Transfers.pipe(
  Layer.provideMerge(ClusterWorkflowEngine.layer),
  Layer.provideMerge(Cluster),
  Layer.provideMerge(Stores)
)

const stream = (id: string) => StreamName.make("account", id)
const accounts = CommandHandler.make({ decider: Account.decider, codec: Account.AccountEvents })

const openWith = (id: string, balance: number) =>
  Effect.gen(function* () {
    const handler = yield* accounts
    yield* handler.handle(stream(id), Account.OpenAccount.make({ accountId: id, owner: "ada" }))
    if (balance > 0) yield* handler.handle(stream(id), Account.Deposit.make({ amount: balance }))
  })

const balanceOf = (id: string) =>
  Effect.map(
    Effect.flatMap(accounts, (h) => h.load(stream(id))),
    (l) => l.state.balance
  )

/** Every stored event of a transfer (by correlation id), oldest first. */
const eventsOf = (transferId: string) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const all = yield* Stream.runCollect(store.readAll())
    return all.filter((e) => e.metadata.correlationId === transferId)
  })

const countTypes = (events: ReadonlyArray<Envelope.Envelope>) => {
  const counts: Record<string, number> = {}
  for (const e of events) counts[e.type] = (counts[e.type] ?? 0) + 1
  return counts
}

const only = (events: ReadonlyArray<Envelope.Envelope>, type: string) => {
  const found = events.filter((e) => e.type === type)
  assert.strictEqual(found.length, 1, `one ${type}`)
  return found[0]!
}

layer(Live, { excludeTestServices: true, timeout: 120_000 })("TransferWorkflow on PostgreSQL", (it) => {
  it.effect("a completed transfer moves the money once; running it again changes nothing", () =>
    Effect.gen(function* () {
      yield* openWith("a1", 100)
      yield* openWith("a2", 0)
      const payload = { transferId: "t-ok", from: "a1", to: "a2", amount: 30 }
      const started = Date.now()
      const outcome = yield* Transfer.execute(payload)
      console.log(`completed transfer: ${Date.now() - started} ms`)
      assert.strictEqual(outcome._tag, "Completed")
      assert.strictEqual(yield* balanceOf("a1"), 70)
      assert.strictEqual(yield* balanceOf("a2"), 30)
      const events = yield* eventsOf("t-ok")
      assert.deepStrictEqual(countTypes(events), { TransferDebited: 1, TransferCredited: 1 })
      const debit = only(events, "TransferDebited")
      const credit = only(events, "TransferCredited")
      // Correlation: the transfer id; causation: the execution, then the debit.
      assert.strictEqual(debit.metadata.causationId, yield* Transfer.executionId(payload))
      assert.strictEqual(credit.metadata.causationId, debit.eventId)
      assert.deepStrictEqual(outcome, { _tag: "Completed", debitEventId: debit.eventId, creditEventId: credit.eventId })
      // The same transfer again (same idempotency key): the journaled result, no new events.
      const again = yield* Transfer.execute(payload)
      assert.deepStrictEqual(again, outcome)
      assert.strictEqual((yield* eventsOf("t-ok")).length, 2)
      assert.strictEqual(yield* balanceOf("a1"), 70)
    })
  )

  it.effect("a refused credit (target not open) is compensated: the source is refunded once", () =>
    Effect.gen(function* () {
      yield* openWith("b1", 100)
      const outcome = yield* Transfer.execute({ transferId: "t-refused", from: "b1", to: "ghost-b", amount: 40 })
      assert.strictEqual(outcome._tag, "Compensated")
      assert.strictEqual(yield* balanceOf("b1"), 100)
      const events = yield* eventsOf("t-refused")
      assert.deepStrictEqual(countTypes(events), { TransferDebited: 1, TransferDebitReversed: 1 })
      const debit = only(events, "TransferDebited")
      assert.strictEqual(only(events, "TransferDebitReversed").metadata.causationId, debit.eventId)
    })
  )

  it.effect("a debit the source refuses ends the transfer with nothing moved", () =>
    Effect.gen(function* () {
      yield* openWith("p1", 10)
      yield* openWith("p2", 0)
      const outcome = yield* Transfer.execute({ transferId: "t-poor", from: "p1", to: "p2", amount: 40 })
      assert.strictEqual(outcome._tag, "Rejected")
      assert.strictEqual(yield* balanceOf("p1"), 10)
      assert.deepStrictEqual(yield* eventsOf("t-poor"), [])
    })
  )

  it.effect("no credit before the deadline: the credit is declined and the source refunded once", () =>
    Effect.gen(function* () {
      yield* openWith("d1", 100)
      yield* openWith("slow-d", 0)
      const started = Date.now()
      const outcome = yield* Transfer.execute({ transferId: "t-late", from: "d1", to: "slow-d", amount: 25 })
      const took = Date.now() - started
      console.log(`deadline transfer (deadline ${deadlineMs} ms): ${took} ms`)
      assert.strictEqual(outcome._tag, "Compensated")
      assert.isAtLeast(took, deadlineMs)
      assert.strictEqual(yield* balanceOf("d1"), 100)
      assert.strictEqual(yield* balanceOf("slow-d"), 0)
      const events = yield* eventsOf("t-late")
      assert.deepStrictEqual(countTypes(events), {
        TransferDebited: 1,
        TransferCreditDeclined: 1,
        TransferDebitReversed: 1
      })
      const declined = only(events, "TransferCreditDeclined")
      assert.strictEqual(declined.metadata.causationId, only(events, "TransferDebited").eventId)
      assert.strictEqual(only(events, "TransferDebitReversed").metadata.causationId, declined.eventId)
      // A credit arriving after the refund (say, the step that was still waiting) is refused.
      const handler = yield* accounts
      const late = yield* Effect.flip(
        handler.handle(
          stream("slow-d"),
          Account.CreditForTransfer.make({ transferId: "t-late", from: "d1", amount: 25 })
        )
      )
      assert.strictEqual(late._tag, "AccountRejected")
      assert.strictEqual(yield* balanceOf("slow-d"), 0)
    })
  )

  it.effect("concurrent transfers among a few accounts: money conserved, every step applied once", () =>
    Effect.gen(function* () {
      const ids = ["c0", "c1", "c2", "c3", "slow-c"]
      yield* Effect.forEach(ids, (id) => openWith(id, 100), { discard: true })
      const targets = [...ids, "ghost-c"]
      const transfers = Array.from({ length: 40 }, (_, i) => {
        const from = ids[i % 4]!
        const to = targets[(i * 7 + 1) % targets.length]!
        return {
          transferId: `t-c${i}`,
          from,
          to: to === from ? targets[(i + 2) % targets.length]! : to,
          amount: 1 + ((i * 13) % 30)
        }
      })
      const started = Date.now()
      const outcomes = yield* Effect.forEach(transfers, (t) => Transfer.execute(t), { concurrency: "unbounded" })
      console.log(`${transfers.length} concurrent transfers: ${Date.now() - started} ms`)
      const total = yield* Effect.map(Effect.forEach(ids, balanceOf), (bs) => bs.reduce((a, b) => a + b, 0))
      assert.strictEqual(total, 100 * ids.length, "money conserved")
      const tags: Record<string, number> = {}
      for (const [i, transfer] of transfers.entries()) {
        const outcome = outcomes[i]!
        tags[outcome._tag] = (tags[outcome._tag] ?? 0) + 1
        const counts = countTypes(yield* eventsOf(transfer.transferId))
        const expected =
          outcome._tag === "Completed"
            ? { TransferDebited: 1, TransferCredited: 1 }
            : outcome._tag === "Rejected"
              ? {}
              : transfer.to.startsWith("slow")
                ? { TransferDebited: 1, TransferCreditDeclined: 1, TransferDebitReversed: 1 }
                : { TransferDebited: 1, TransferDebitReversed: 1 }
        assert.deepStrictEqual(counts, expected, `${transfer.transferId} → ${transfer.to}: ${outcome._tag}`)
        if (transfer.to.startsWith("ghost") || transfer.to.startsWith("slow"))
          assert.notStrictEqual(outcome._tag, "Completed")
      }
      console.log(`outcomes: ${JSON.stringify(tags)}`)
      assert.isAbove(tags.Completed ?? 0, 0)
      assert.isAbove(tags.Compensated ?? 0, 0)
    })
  )

  it.effect(
    "retention deletes finished workflows' messages, keeps a running one's journal; a repeat moves nothing",
    () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const requests = Effect.map(
          sql<{ processed: number; pending: number }>`
          SELECT count(*) FILTER (WHERE processed)::int AS processed, count(*) FILTER (WHERE NOT processed)::int AS pending
          FROM cluster_messages WHERE kind = 0`,
          (rows) => rows[0]!
        )
        yield* openWith("r1", 100)
        yield* openWith("r2", 0)
        yield* openWith("slow-r", 0)
        const payload = { transferId: "t-ret", from: "r1", to: "r2", amount: 10 }
        assert.strictEqual((yield* Transfer.execute(payload))._tag, "Completed")
        // One still running: its debit done, its credit waiting past the deadline.
        const runningPayload = { transferId: "t-run", from: "r1", to: "slow-r", amount: 5 }
        const running = yield* Effect.forkChild(Transfer.execute(runningPayload))
        yield* Effect.sleep("500 millis")
        const before = yield* requests
        assert.isAbove(before.processed, 0, "processed workflow requests are stored")
        assert.isAbove(before.pending, 0, "the running transfer is pending")
        const journal = Effect.map(
          sql<{ n: number }>`SELECT count(*)::int AS n FROM cluster_messages
          WHERE kind = 0 AND processed AND entity_id = ${yield* Transfer.executionId(runningPayload)}`,
          (rows) => rows[0]!.n
        )
        const journaled = yield* journal
        assert.isAbove(journaled, 0, "the running transfer's completed steps are journaled")
        const deleted = yield* MessageRetention.purge({ olderThan: 0, batchSize: 2 })
        assert.isAbove(deleted, 0)
        const after = yield* requests
        assert.strictEqual(after.pending, before.pending, "nothing pending is deleted")
        assert.strictEqual(yield* journal, journaled, "a running workflow keeps its journal")
        assert.strictEqual(after.processed, journaled, "every other processed request went")
        // The running transfer's journal survived: its debit is not run again when it resumes.
        assert.strictEqual((yield* Fiber.join(running))._tag, "Compensated")
        assert.deepStrictEqual(countTypes(yield* eventsOf("t-run")), {
          TransferDebited: 1,
          TransferCreditDeclined: 1,
          TransferDebitReversed: 1
        })
        // The finished transfer's result is gone: a repeat runs again, and its steps' keys move nothing.
        yield* Transfer.execute(payload)
        assert.deepStrictEqual(countTypes(yield* eventsOf("t-ret")), { TransferDebited: 1, TransferCredited: 1 })
        assert.strictEqual(yield* balanceOf("r1"), 90)
        assert.strictEqual(yield* balanceOf("r2"), 10)
      })
  )
})
