// The README's "A decider and a command" example, compiled and run as a test.
import { assert, it } from "@effect/vitest"
// --- README example start ---
import { CommandHandler, Decider, EventCodec, EventType, MemoryStore, StreamName } from "@chronicle/core"
import { Effect, Result, Schema } from "effect"

// Events are schemas with a version; this one is at version 1.
const Deposited = EventType.make("Deposited", { amount: Schema.Int })
const Withdrawn = EventType.make("Withdrawn", { amount: Schema.Int })
const WalletEvents = EventCodec.make(Deposited, Withdrawn)
type WalletEvent = EventCodec.Event<typeof WalletEvents>

type WalletCommand =
  | { readonly _tag: "Deposit"; readonly amount: number }
  | { readonly _tag: "Withdraw"; readonly amount: number }

class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  balance: Schema.Int,
  requested: Schema.Int
}) {}

// The aggregate: pure functions, no services, no clock.
const wallet = Decider.make<WalletCommand, WalletEvent, number, InsufficientFunds>({
  initialState: 0,
  decide: (command, balance) => {
    switch (command._tag) {
      case "Deposit":
        return Result.succeed([Deposited.make({ amount: command.amount })])
      case "Withdraw":
        return command.amount > balance
          ? Result.fail(new InsufficientFunds({ balance, requested: command.amount }))
          : Result.succeed([Withdrawn.make({ amount: command.amount })])
    }
  },
  evolve: (balance, event) => (event._tag === "Deposited" ? balance + event.amount : balance - event.amount)
})

// Running commands: load → decide → append with the expected version, retried on conflict.
const program = Effect.gen(function* () {
  const wallets = yield* CommandHandler.make({ decider: wallet, codec: WalletEvents })
  const stream = StreamName.make("wallet", "alice")
  yield* wallets.handle(stream, { _tag: "Deposit", amount: 100 })
  const outcome = yield* wallets.handle(stream, { _tag: "Withdraw", amount: 30 })
  return outcome.state // 70
}).pipe(Effect.provide(MemoryStore.layer())) // or PgStore.layerConfig(…): see below
// --- README example end ---

it.effect("the README example runs", () =>
  Effect.gen(function* () {
    assert.strictEqual(yield* program, 70)
    const rejected = Decider.run(wallet, [Deposited.make({ amount: 5 })], { _tag: "Withdraw", amount: 10 })
    assert.isTrue(Result.isFailure(rejected) && rejected.failure._tag === "InsufficientFunds")
  })
)
