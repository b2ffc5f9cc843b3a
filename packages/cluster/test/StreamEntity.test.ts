// Stream entities on a real PostgreSQL: the event store and the cluster's own tables in one
// database, one runner in this process (SingleRunner, SQL message and runner storage). Reads and
// appends are counted by a wrapper around the PostgreSQL event store, per stream.
import { EventStore, ExpectedVersion, Projection, SnapshotStore, StreamName } from "@chronicle/core"
import { StreamEntity } from "@chronicle/cluster"
import { Account } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Option, Stream } from "effect"
import { SingleRunner } from "effect/cluster"
import { SqlClient } from "effect/sql"
import * as Digest from "effect/crypto/Digest"

const Accounts = StreamEntity.make({
  category: "account",
  decider: Account.decider,
  codec: Account.AccountEvents,
  command: Account.AccountCommand,
  state: Account.AccountState,
  error: Account.AccountRejected
})

/** Accounts whose decider throws on a withdrawal of 13 (a bug in the domain code). */
const Flaky = StreamEntity.make({
  ...Accounts.options,
  category: "flaky",
  decider: {
    ...Account.decider,
    decide: (command, state) => {
      if (command._tag === "Withdraw" && command.amount === 13) throw new Error("decider bug")
      return Account.decider.decide(command, state)
    }
  }
})

/**
 * Accounts with an inline projection (deposits per account, in the append's transaction) that
 * fails on a deposit of 13, and a snapshot every 5 events.
 */
const deposits = Projection.make({
  name: "entity-deposits",
  version: 1,
  codec: Account.AccountEvents,
  types: ["Deposited"],
  handle: (e) =>
    SqlClient.SqlClient.use((sql) =>
      e.event.amount === 13
        ? Effect.fail(new Error("no thirteens"))
        : sql`INSERT INTO entity_deposits VALUES (${e.stream}, ${e.event.amount})
            ON CONFLICT (stream) DO UPDATE SET total = entity_deposits.total + excluded.total`
    )
})
const Ledgers = StreamEntity.make({
  ...Accounts.options,
  category: "ledger",
  inline: [deposits],
  snapshot: { schema: Account.AccountState, version: 1, every: 5 }
})

/** Per stream: how often it was read from its start or a snapshot (`readStream`) and appended to. */
const counts = new Map<string, { reads: number; appends: number }>()
const countOf = (stream: string) => {
  let entry = counts.get(stream)
  if (entry === undefined) {
    entry = { reads: 0, appends: 0 }
    counts.set(stream, entry)
  }
  return entry
}

const Counting = Layer.effect(
  EventStore.EventStore,
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    return EventStore.EventStore.of({
      ...store,
      readStream: (stream, options) => {
        countOf(stream).reads++
        return store.readStream(stream, options)
      },
      append: (stream, events, expected) => {
        countOf(stream).appends++
        return store.append(stream, events, expected)
      }
    })
  })
)

const Stores = Counting.pipe(Layer.provideMerge(PgStore.layerStores()), Layer.provideMerge(PgHarness.layer()))
const Cluster = SingleRunner.layer({ shardingConfig: { shardsPerGroup: 16 } }).pipe(
  Layer.provide(Digest.layerWebCrypto)
)
const DepositsTable = Layer.effectDiscard(
  SqlClient.SqlClient.use(
    (sql) => sql`CREATE TABLE IF NOT EXISTS entity_deposits (stream text PRIMARY KEY, total int NOT NULL)`
  )
)
const Live = Layer.mergeAll(
  StreamEntity.layer(Accounts, { maxIdleTime: "3 seconds" }),
  StreamEntity.layer(Flaky),
  StreamEntity.layer(Ledgers, { maxIdleTime: "3 seconds" }),
  DepositsTable
).pipe(Layer.provideMerge(Cluster), Layer.provideMerge(Stores))

const open = (id: string) => Account.OpenAccount.make({ accountId: id, owner: "ada" })
const deposit = (amount: number) => Account.Deposit.make({ amount })
const withdraw = (amount: number) => Account.Withdraw.make({ amount })

/** The stream's versions and the balance folded from what is stored. */
const stored = (id: string) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const envelopes = yield* Stream.runCollect(store.readStream(StreamName.make("account", id)))
    let balance = 0
    for (const envelope of envelopes) {
      const data = envelope.data as { readonly amount?: number }
      if (envelope.type === "Deposited") balance += data.amount!
      if (envelope.type === "Withdrawn") balance -= data.amount!
    }
    return { versions: envelopes.map((e) => e.streamVersion), balance }
  })

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

layer(Live, { excludeTestServices: true, timeout: 120_000 })("StreamEntity on PostgreSQL", (it) => {
  it.effect("commands go through the entity and land with contiguous versions", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Accounts)
      const first = yield* send("seq", open("seq"))
      assert.strictEqual(first.version, 0)
      assert.strictEqual(first.events[0]?._tag, "AccountOpened")
      const versions: Array<number> = []
      for (const amount of [1, 2, 3, 4, 5]) versions.push((yield* send("seq", deposit(amount))).version)
      assert.deepStrictEqual(versions, [1, 2, 3, 4, 5])
      assert.deepStrictEqual(yield* stored("seq"), { versions: [0, 1, 2, 3, 4, 5], balance: 15 })
    })
  )

  it.effect("concurrent commands to one stream all land exactly once, in fewer appends (group commit)", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Accounts)
      yield* send("hot", open("hot"))
      const before = countOf("account-hot").appends
      const replies = yield* Effect.forEach(range(100), () => send("hot", deposit(1)), {
        concurrency: "unbounded"
      })
      const appends = countOf("account-hot").appends - before
      // Every caller got its own version: 1..100, each exactly once.
      assert.deepStrictEqual(
        replies.map((r) => r.version).sort((a, b) => a - b),
        range(100).map((i) => i + 1)
      )
      assert.deepStrictEqual(yield* stored("hot"), { versions: range(101), balance: 100 })
      assert.isBelow(appends, 100, `100 commands took ${appends} appends`)
      assert.isAbove(Math.max(...replies.map((r) => r.batched)), 1, "some commands shared an append")
      // Each reply's position is its own event's: 100 distinct positions.
      assert.strictEqual(new Set(replies.map((r) => `${r.positions[0]!.commit}:${r.positions[0]!.sequence}`)).size, 100)
      console.log(`group commit: 100 concurrent commands on one stream in ${appends} appends`)
    })
  )

  it.effect("commands sent together from one process travel together, in the order sent, each answered alone", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Accounts)
      yield* send("carried", open("carried"))
      const replies = yield* Effect.forEach(range(60), (i) => send("carried", deposit(i + 1)), {
        concurrency: "unbounded"
      })
      // The first went out at once, alone; the rest waited for it and went in fewer messages.
      assert.strictEqual(replies[0]!.carried, 1)
      assert.isAbove(Math.max(...replies.map((r) => r.carried)), 1, "some commands shared a message")
      // A message of k commands answers k replies that each say k.
      const byCarried = new Map<number, number>()
      for (const r of replies) byCarried.set(r.carried, (byCarried.get(r.carried) ?? 0) + 1)
      for (const [carried, count] of byCarried)
        assert.strictEqual(count % carried, 0, `${count} replies carried ${carried}`)
      // Sent in order, applied in order, each with its own version and event.
      assert.deepStrictEqual(
        replies.map((r) => r.version),
        range(60).map((i) => i + 1)
      )
      assert.deepStrictEqual(
        replies.map((r) => (r.events[0] as { readonly amount: number }).amount),
        range(60).map((i) => i + 1)
      )
      assert.deepStrictEqual(yield* stored("carried"), { versions: range(61), balance: (60 * 61) / 2 })
    })
  )

  it.effect("a caller interrupted while its command waits to be sent takes it back", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Accounts)
      yield* send("taken-back", open("taken-back"))
      const fibers = yield* Effect.forEach(range(6), (i) =>
        Effect.forkChild(send("taken-back", deposit(i + 1)), { startImmediately: true })
      )
      // Deposits 1 and 2 are on their way; 3 to 6 wait for them. The caller of 6 gives up.
      yield* Fiber.interrupt(fibers[5]!)
      const versions = yield* Effect.forEach(fibers.slice(0, 5), (fiber) =>
        Effect.map(Fiber.join(fiber), (r) => r.version)
      )
      assert.deepStrictEqual(versions, [1, 2, 3, 4, 5])
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(fibers[5]!)))
      assert.deepStrictEqual(yield* stored("taken-back"), { versions: range(6), balance: 15 })
    })
  )

  it.effect("a rejection is a typed error for its caller only; the commands beside it land", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Accounts)
      yield* send("rej", open("rej"))
      yield* send("rej", deposit(10))
      const error = yield* Effect.flip(send("rej", withdraw(1000)))
      assert.instanceOf(error, Account.AccountRejected)
      assert.strictEqual(error._tag, "AccountRejected")
      // A rejection among concurrent commands (they may share one append): only it fails.
      const results = yield* Effect.forEach(
        [deposit(5), withdraw(1000), deposit(7), withdraw(3)],
        (command) => Effect.result(send("rej", command)),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        results.map((r) => r._tag),
        ["Success", "Failure", "Success", "Success"]
      )
      assert.deepStrictEqual(yield* stored("rej"), { versions: range(5), balance: 19 })
    })
  )

  it.effect("a decider that throws fails its own command with the defect; the commands beside it land", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Flaky)
      yield* send("f1", open("f1"))
      yield* send("f1", deposit(20))
      const results = yield* Effect.forEach(
        [deposit(5), withdraw(13), deposit(7)],
        (command) => Effect.exit(send("f1", command)),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        results.map((exit) => (Exit.isSuccess(exit) ? "Success" : Cause.hasDies(exit.cause) ? "Die" : "Fail")),
        ["Success", "Die", "Success"]
      )
      const store = yield* EventStore.EventStore
      const types = (yield* Stream.runCollect(store.readStream(StreamName.make("flaky", "f1")))).map((e) => e.type)
      assert.deepStrictEqual(types, ["AccountOpened", "Deposited", "Deposited", "Deposited"])
      // The entity goes on.
      assert.strictEqual((yield* send("f1", withdraw(1))).version, 4)
    })
  )

  it.effect("the state is cached: later commands do not read the stream again", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Accounts)
      yield* send("cache", open("cache"))
      assert.strictEqual(countOf("account-cache").reads, 1, "the first command loaded the stream")
      for (const amount of range(20)) yield* send("cache", deposit(amount + 1))
      assert.strictEqual(countOf("account-cache").reads, 1, "20 more commands, no read")
      assert.strictEqual(countOf("account-cache").appends, 21)
    })
  )

  it.effect("a write from outside the cluster costs one reload, and no update is lost", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Accounts)
      const store = yield* EventStore.EventStore
      const stream = StreamName.make("account", "outside")
      yield* send("outside", open("outside"))
      yield* send("outside", deposit(10))
      // Another process (an old one, a script) appends behind the entity's back.
      const data = yield* Account.AccountEvents.toEventData([Account.Deposited.make({ amount: 90 })])
      yield* store.append(stream, data, ExpectedVersion.exact(1))
      const readsBefore = countOf(stream).reads
      // Only with the outside deposit is there 100 to withdraw.
      const reply = yield* send("outside", withdraw(100))
      assert.strictEqual(reply.attempts, 2, "decided again after the conflict")
      assert.strictEqual(reply.version, 3)
      assert.strictEqual(countOf(stream).reads - readsBefore, 1, "one reload")
      assert.deepStrictEqual(yield* stored("outside"), { versions: [0, 1, 2, 3], balance: 0 })

      // And an outside withdrawal the cache does not know of: the entity's own must be refused.
      yield* send("outside", deposit(50))
      const more = yield* Account.AccountEvents.toEventData([Account.Withdrawn.make({ amount: 50 })])
      yield* store.append(stream, more, ExpectedVersion.exact(4))
      const error = yield* Effect.flip(send("outside", withdraw(50)))
      assert.instanceOf(error, Account.AccountRejected)
      assert.deepStrictEqual(yield* stored("outside"), { versions: [0, 1, 2, 3, 4, 5], balance: 0 })
    })
  )

  it.effect("a command re-run under its idempotency key takes effect once, alone or amid a group", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Accounts)
      yield* send("idem", open("idem"))
      const first = yield* send("idem", deposit(10), { idempotencyKey: "k1" })
      assert.strictEqual(first.events.length, 1)
      // A re-delivery (say, after its runner died) finds its events recorded: nothing new.
      const again = yield* send("idem", deposit(10), { idempotencyKey: "k1" })
      assert.deepStrictEqual(again.events, [])
      // The repeat among new commands: its events are refused in a shared append, so each goes alone.
      const replies = yield* Effect.forEach(
        [
          send("idem", deposit(10), { idempotencyKey: "k1" }),
          send("idem", deposit(1)),
          send("idem", deposit(2), { idempotencyKey: "k2" })
        ],
        (effect) => effect,
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        replies.map((r) => r.events.length),
        [0, 1, 1]
      )
      assert.deepStrictEqual(yield* stored("idem"), { versions: range(4), balance: 13 })
      // Commands recorded together in one append, then one re-run alone: still once.
      const group = yield* Effect.forEach(
        ["k3", "k4", "k5"],
        (key) => send("idem", deposit(100), { idempotencyKey: key }),
        { concurrency: "unbounded" }
      )
      assert.isAbove(Math.max(...group.map((r) => r.batched)), 1, "recorded in a shared append")
      const rerun = yield* send("idem", deposit(100), { idempotencyKey: "k4" })
      assert.deepStrictEqual(rerun.events, [])
      assert.strictEqual(rerun.version, 6)
      assert.deepStrictEqual(yield* stored("idem"), { versions: range(7), balance: 313 })
    })
  )

  it.effect("an idle entity is evicted, and the next command loads the stream again", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Accounts)
      yield* send("idle", open("idle"))
      yield* send("idle", deposit(1))
      assert.strictEqual(countOf("account-idle").reads, 1)
      // maxIdleTime is 3 s; the engine's reaper looks every 5 s.
      yield* Effect.sleep("9 seconds")
      const reply = yield* send("idle", deposit(2))
      assert.strictEqual(reply.version, 2)
      assert.strictEqual(countOf("account-idle").reads, 2, "loaded again after eviction")
    })
  )

  it.effect("a caller's expected version is checked against the cached state, within a group too", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Accounts)
      const created = yield* send("ev", open("ev"), { expectedVersion: -1 })
      assert.strictEqual(created.version, 0)
      // Creating it again: the stream exists.
      const again = yield* Effect.flip(send("ev", open("ev"), { expectedVersion: -1 }))
      assert.deepStrictEqual(
        again,
        new EventStore.WrongExpectedVersion({ stream: "account-ev", expected: "-1", actualVersion: 0 })
      )
      // Sent together: the first expecting 0 lands; the others saw version 0 too, now stale.
      const results = yield* Effect.forEach(
        [deposit(1), deposit(2), deposit(3)],
        (command) => Effect.result(send("ev", command, { expectedVersion: 0 })),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        results.map((r) => r._tag),
        ["Success", "Failure", "Failure"]
      )
      const failed = results[1]!
      assert.strictEqual(failed._tag === "Failure" && failed.failure._tag, "WrongExpectedVersion")
      // The right version lands, and the reply carries the state after the command.
      const reply = yield* send("ev", deposit(5), { expectedVersion: 1 })
      assert.strictEqual(reply.version, 2)
      assert.strictEqual(reply.state.balance, 6)
      assert.deepStrictEqual(yield* stored("ev"), { versions: [0, 1, 2], balance: 6 })
    })
  )

  it.effect("inline projections run in the append's transaction; a failing one fails its command only", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Ledgers)
      const sql = yield* SqlClient.SqlClient
      const total = Effect.map(
        sql<{ total: number }>`SELECT total FROM entity_deposits WHERE stream = 'ledger-l1'`,
        (rows) => rows[0]?.total ?? 0
      )
      yield* send("l1", open("l1"))
      yield* send("l1", deposit(10))
      assert.strictEqual(yield* total, 10, "read your writes: the read model has the deposit")
      // Sent together (one shared append): the projection fails on 13, which rolls back that
      // append; each command then goes alone and only the 13 fails.
      const results = yield* Effect.forEach(
        [deposit(1), deposit(13), deposit(2)],
        (command) => Effect.result(send("l1", command)),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        results.map((r) => (r._tag === "Success" ? "Success" : r.failure._tag)),
        ["Success", "InlineProjectionFailed", "Success"]
      )
      assert.strictEqual(yield* total, 13)
      const types = (yield* Stream.runCollect(
        (yield* EventStore.EventStore).readStream(StreamName.make("ledger", "l1"))
      )).map((e) => (e.data as { amount?: number }).amount)
      assert.deepStrictEqual(types, [undefined, 10, 1, 2])
    })
  )

  it.effect("the entity saves snapshots by the policy, and loads from the latest after eviction", () =>
    Effect.gen(function* () {
      const send = yield* StreamEntity.client(Ledgers)
      const snapshots = yield* SnapshotStore.SnapshotStore
      const stream = StreamName.make("ledger", "snap")
      yield* send("snap", open("snap"))
      for (const amount of range(11)) yield* send("snap", deposit(amount + 1))
      // Saved in the background: wait for the one at version 9 (every 5 events: versions 4, 9).
      const saved = yield* snapshots.load(stream).pipe(
        Effect.repeat({
          until: (snapshot) => Option.isSome(snapshot) && snapshot.value.streamVersion === 9,
          times: 50
        }),
        Effect.delay("20 millis")
      )
      assert.strictEqual(Option.getOrThrow(saved).streamVersion, 9)
      yield* Effect.sleep("9 seconds")
      // Evicted; the next command starts from the snapshot and reads only the event after it.
      const reply = yield* send("snap", deposit(100))
      assert.strictEqual(reply.version, 12)
      assert.strictEqual(reply.state.balance, 166)
    })
  )
})
