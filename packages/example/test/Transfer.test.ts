import { CheckpointStore, CommandHandler, type Envelope, EventStore, MemoryStore, Projector } from "@chronicle/core"
import { Account, Transfer } from "@chronicle/example"
import { assert, it } from "@effect/vitest"
import { Effect, Fiber, Random, Stream } from "effect"

const Stores = MemoryStore.layer()

it.live("money transfers never lose or duplicate money, even when every event is delivered again", () =>
  Effect.gen(function* () {
    const accounts = yield* CommandHandler.make({ decider: Account.decider, codec: Account.AccountEvents })
    const open = (id: string, deposit: number) =>
      Effect.andThen(
        accounts.handle(Transfer.accountStream(id), Account.OpenAccount.make({ accountId: id, owner: id })),
        accounts.handle(Transfer.accountStream(id), Account.Deposit.make({ amount: deposit }))
      )
    yield* open("alice", 1000)
    yield* open("bob", 500)
    // "carol" is never opened: transfers to her are refused and must be compensated.
    const parties = ["alice", "bob", "carol"] as const
    const transfers: Array<string> = []
    for (let i = 0; i < 60; i++) {
      const from = parties[yield* Random.nextIntBetween(0, 1)]!
      const to = parties[yield* Random.nextIntBetween(0, 2)]!
      const transferId = `t${i}`
      const debited = yield* Effect.result(
        accounts.handle(
          Transfer.accountStream(from),
          Account.DebitForTransfer.make({ transferId, to, amount: yield* Random.nextIntBetween(1, 80) })
        )
      )
      if (debited._tag === "Success" && debited.success.events.length > 0) transfers.push(transferId)
    }
    const manager = Transfer.processManager(accounts)
    // Delivery with interruptions at random points, then every event delivered again from scratch.
    for (let round = 0; round < 10; round++) {
      const fiber = yield* Effect.forkChild(Projector.run(manager))
      yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 5)} millis`)
      yield* Fiber.interrupt(fiber)
    }
    yield* Projector.catchUp(manager)
    yield* (yield* CheckpointStore.CheckpointStore).delete("money-transfers@v1")
    yield* Projector.catchUp(manager)
    yield* Projector.catchUp(manager) // the compensations just appended are debits reversed, not new debits

    const alice = (yield* accounts.load(Transfer.accountStream("alice"))).state
    const bob = (yield* accounts.load(Transfer.accountStream("bob"))).state
    assert.strictEqual(alice.balance + bob.balance, 1500, "money is conserved")
    assert.isTrue(alice.balance >= 0 && bob.balance >= 0)
    assert.deepStrictEqual(
      Object.keys(alice.debits).length + Object.keys(bob.debits).length + alice.reversed.length + bob.reversed.length,
      transfers.length
    )
    // Every transfer ended exactly one way: credited once, or reversed once.
    const store = yield* EventStore.EventStore
    const outcomes = new Map<string, Array<string>>()
    yield* store.readAll({ types: ["TransferCredited", "TransferDebitReversed"] }).pipe(
      Stream.runForEach((e) =>
        Effect.sync(() => {
          const { transferId } = e.data as { transferId: string }
          outcomes.set(transferId, [...(outcomes.get(transferId) ?? []), e.type])
        })
      )
    )
    for (const transferId of transfers) {
      const ended = outcomes.get(transferId) ?? []
      assert.strictEqual(ended.length, 1, `${transferId} ended once: ${ended}`)
    }
    // Both endings happened, and the commands the manager sent (credits and compensations) carry
    // the debit's correlation (its own id when it has none) and the debit as their cause.
    const transferIdOf = (e: Envelope.Envelope) => (e.data as { transferId: string }).transferId
    const debits = new Map(
      (yield* Stream.runCollect(store.readAll({ types: ["TransferDebited"] }))).map((e) => [transferIdOf(e), e])
    )
    const sent = yield* Stream.runCollect(store.readAll({ types: ["TransferCredited", "TransferDebitReversed"] }))
    assert.sameMembers([...new Set(sent.map((e) => e.type))], ["TransferCredited", "TransferDebitReversed"])
    for (const e of sent) {
      const debit = debits.get(transferIdOf(e))!
      assert.deepStrictEqual(
        [e.metadata.actor, e.metadata.causationId, e.metadata.correlationId],
        ["money-transfers", debit.eventId, debit.metadata.correlationId ?? debit.eventId],
        `${e.type} of ${transferIdOf(e)}`
      )
    }
  }).pipe(Effect.scoped, Effect.provide(Stores))
)
