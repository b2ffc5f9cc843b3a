// The laws must catch broken deciders, each with a shrunk counterexample and a replay token.
import { Decider, EventCodec, EventType } from "@chronicle/core"
import { DeciderLaws } from "@chronicle/testing"
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Result, Schema } from "effect"

const Deposited = EventType.make("Deposited", {
  amount: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 }))
})
const Withdrawn = EventType.make("Withdrawn", {
  amount: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 }))
})
const Events = EventCodec.make(Deposited, Withdrawn)
type Event = EventCodec.Event<typeof Events>
const Command = Schema.Union([
  Schema.TaggedStruct("Deposit", { amount: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 })) }),
  Schema.TaggedStruct("Withdraw", { amount: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 })) })
])
type Command = typeof Command.Type

const sound = Decider.make<Command, Event, { readonly balance: number; readonly emptied: boolean }, string>({
  initialState: { balance: 0, emptied: false },
  decide: (command, state) =>
    command._tag === "Deposit"
      ? Result.succeed([Deposited.make({ amount: command.amount })])
      : command.amount > state.balance
        ? Result.fail("insufficient funds")
        : Result.succeed([Withdrawn.make({ amount: command.amount })]),
  evolve: (state, event) =>
    event._tag === "Deposited"
      ? { balance: state.balance + event.amount, emptied: false }
      : { balance: state.balance - event.amount, emptied: state.balance === event.amount }
})

const options = { codec: Events, commands: Arbitrary.schema(Command), check: { runs: 300, seed: 7 } }

const verdict = (
  decider: typeof sound,
  law: DeciderLaws.Law,
  extra: Partial<DeciderLaws.Options<Command, Event, any, string>> = {}
) =>
  Effect.map(DeciderLaws.check({ ...options, ...extra, decider }), (verdicts) => verdicts.find((v) => v.law === law)!)

const assertCaught = (v: DeciderLaws.Verdict) => {
  assert.strictEqual(v.result._tag, "Falsified", `law "${v.law}" should be broken`)
  assert.include(v.failure, `Law "${v.law}" is broken`)
  assert.include(v.failure, "Shrunk input")
  if (v.result._tag === "Falsified") assert.isString(v.result.replay)
}

describe("DeciderLaws", () => {
  it.effect("a sound decider keeps every law", () =>
    Effect.gen(function* () {
      const verdicts = yield* DeciderLaws.check({ ...options, decider: sound })
      for (const v of verdicts) assert.isUndefined(v.failure, v.failure)
    })
  )

  it.effect("catches an evolve that throws on an unusual sequence (a deposit after the account was emptied)", () =>
    Effect.gen(function* () {
      const fragile = Decider.make({
        ...sound,
        evolve: (state, event) => {
          if (state.emptied && event._tag === "Deposited") throw new Error("cannot refill an emptied account")
          return sound.evolve(state, event)
        }
      })
      const v = yield* verdict(fragile, "evolve is total")
      assertCaught(v)
      // The shrunk counterexample is small and reproduces the failure.
      if (v.result._tag === "Falsified") {
        const { events, history } = v.result.shrunkInput as {
          readonly events: ReadonlyArray<Event>
          readonly history: ReadonlyArray<Command>
        }
        assert.isAtMost(events.length + history.length, 8)
        assert.throws(() => {
          Decider.fold(fragile, events)
          let state = fragile.initialState
          for (const command of history) {
            const decided = fragile.decide(command, state)
            if (Result.isSuccess(decided)) state = Decider.fold(fragile, decided.success, state)
          }
        }, "cannot refill an emptied account")
      }
    })
  )

  it.effect("catches a decide that is not deterministic", () =>
    Effect.gen(function* () {
      let calls = 0
      const flaky = Decider.make({
        ...sound,
        decide: (command: Command, state: { readonly balance: number; readonly emptied: boolean }) =>
          command._tag === "Deposit"
            ? Result.succeed([Deposited.make({ amount: 1 + (calls++ % 2) })])
            : sound.decide(command, state)
      })
      assertCaught(yield* verdict(flaky, "decide and evolve are deterministic"))
    })
  )

  it.effect("catches a decide that throws instead of returning an error", () =>
    Effect.gen(function* () {
      const throwing = Decider.make({
        ...sound,
        decide: (command: Command, state: { readonly balance: number; readonly emptied: boolean }) => {
          if (command._tag === "Withdraw" && command.amount > state.balance) throw new Error("overdraft")
          return sound.decide(command, state)
        }
      })
      assertCaught(yield* verdict(throwing, "decide is total"))
    })
  )

  it.effect("catches an evolve that mutates its state (replay no longer reaches the decided state)", () =>
    Effect.gen(function* () {
      const mutating = Decider.make({
        ...sound,
        initialState: { balance: 0, emptied: false, log: [] as Array<number> },
        evolve: (state: any, event: Event) => {
          state.log.push(event.amount)
          return { ...sound.evolve(state, event), log: state.log.length > 1 ? [...state.log] : state.log }
        }
      }) as unknown as typeof sound
      assertCaught(yield* verdict(mutating, "replay reaches the decided state"))
    })
  )

  it.effect("catches an event that does not survive encode → decode", () =>
    Effect.gen(function* () {
      const Measured = EventType.make("Measured", { value: Schema.Number })
      const Lossy = EventCodec.make(Measured)
      const verdicts = yield* DeciderLaws.check({
        decider: Decider.make<{ readonly _tag: "Measure" }, EventCodec.Event<typeof Lossy>, number, never>({
          initialState: 0,
          decide: () => Result.succeed([]),
          evolve: (s) => s
        }),
        codec: Lossy,
        commands: Arbitrary.schema(Schema.TaggedStruct("Measure", {})),
        check: { runs: 300, seed: 3 }
      })
      // NaN and Infinity become null in JSON.
      assertCaught(verdicts.find((v) => v.law === "events survive encode → decode")!)
    })
  )

  it.effect("catches a command that is not idempotent when asked to", () =>
    Effect.gen(function* () {
      assertCaught(
        yield* verdict(sound, "a repeated command is rejected or changes nothing", {
          repeatedCommands: "rejected-or-idempotent"
        })
      )
    })
  )
})
