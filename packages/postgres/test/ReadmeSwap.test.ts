// The README's "Swapping the store" example, compiled and run as a test on both stores: the
// same program (commands and a projection) with the one line that chooses the store changed.
import { PgHarness } from "@chronicle/testing"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Layer } from "effect"
// --- README example start ---
import {
  CommandHandler,
  Decider,
  EventCodec,
  EventType,
  MemoryStore,
  Projection,
  Projector,
  StreamName
} from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { Config, Effect, Result, Schema } from "effect"

const Deposited = EventType.make("Deposited", { amount: Schema.Int })
const WalletEvents = EventCodec.make(Deposited)

const wallet = Decider.make<{ readonly amount: number }, EventCodec.Event<typeof WalletEvents>, number, never>({
  initialState: 0,
  decide: (command) => Result.succeed([Deposited.make({ amount: command.amount })]),
  evolve: (balance, event) => balance + event.amount
})

// A read model kept by a projection: the total deposited per wallet.
const totals = new Map<string, number>()
const walletTotals = Projection.make({
  name: "wallet-totals",
  version: 1,
  codec: WalletEvents,
  handle: (e) => Effect.sync(() => void totals.set(e.stream, (totals.get(e.stream) ?? 0) + e.event.amount))
})

const program = Effect.gen(function* () {
  const wallets = yield* CommandHandler.make({ decider: wallet, codec: WalletEvents })
  yield* wallets.handle(StreamName.make("wallet", "bob"), { amount: 50 })
  yield* wallets.handle(StreamName.make("wallet", "bob"), { amount: 25 })
  yield* Projector.catchUp(walletTotals)
  return totals.get("wallet-bob") // 75
})

// The one line that chooses the store:
const InMemory = MemoryStore.layer()
const OnPostgres = PgStore.layerConfig({ url: Config.Redacted("DATABASE_URL") })

// Effect.runPromise(program.pipe(Effect.provide(InMemory)))  or  Effect.provide(OnPostgres)
// --- README example end ---

describe("the README's store swap", () => {
  it.effect("runs the same program on the in-memory store", () =>
    Effect.gen(function* () {
      totals.clear()
      assert.strictEqual(yield* program.pipe(Effect.provide(InMemory)), 75)
    })
  )

  it.live(
    "and on PostgreSQL",
    () =>
      Effect.gen(function* () {
        totals.clear()
        const url = yield* PgHarness.createDatabase()
        const env = ConfigProvider.layer(ConfigProvider.fromEnv({ env: { DATABASE_URL: url } }))
        assert.strictEqual(yield* program.pipe(Effect.provide(OnPostgres.pipe(Layer.provide(env)))), 75)
      }).pipe(Effect.scoped),
    60_000
  )
})
