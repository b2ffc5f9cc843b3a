/**
 * Property laws for deciders, checked with Effect's own property engine
 * (`effect/Arbitrary`) over commands and events generated from their
 * schemas. Each broken law reports a shrunk counterexample and a replay
 * token.
 *
 * The laws:
 * - **evolve is total**: folding any sequence of valid events never throws;
 * - **decide is total**: for any command and any reachable state, `decide`
 *   returns events or a typed error and never throws;
 * - **replay reaches the decided state**: the state after a command equals a
 *   fresh fold of the whole history — what the next load computes;
 * - **events survive encode → decode**: through the codec and JSON;
 * - **decide and evolve are deterministic**: the same input gives the same
 *   output;
 * - optionally, **a repeated command is rejected or changes nothing**.
 *
 * @example
 * ```ts
 * import { DeciderLaws } from "@chronicle/testing"
 * import { Arbitrary } from "effect"
 *
 * DeciderLaws.test("orders", {
 *   decider: Order.decider,
 *   codec: Order.OrderEvents,
 *   commands: Arbitrary.schema(Order.OrderCommand),
 *   check: { runs: 200 }
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Decider, type EventCodec } from "@chronicle/core"
import { describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Result, Schema } from "effect"
import { equals } from "./internal/format.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<Command, Event extends { readonly _tag: string }, State, Error> {
  readonly decider: Decider.Decider<Command, Event, State, Error>
  readonly codec: EventCodec.EventCodec<Event>
  /**
   * Generates commands, e.g. `Arbitrary.schema(CommandSchema)`. The laws that decide see only
   * the states these commands reach: when a command succeeds only on a matching value (a payment
   * of the exact total, a transfer id seen before), bias the generator so it sometimes matches.
   */
  readonly commands: Arbitrary.Arbitrary<Command>
  /** Generates events (default: from the codec's event schemas). */
  readonly events?: Arbitrary.Arbitrary<Event> | undefined
  /** Longest generated history (default 8). */
  readonly maxHistory?: number | undefined
  /** Also check that a command repeated right after it succeeded is rejected or changes nothing. */
  readonly repeatedCommands?: "rejected-or-idempotent" | undefined
  /** Runs, seed, replay token… passed to `Arbitrary.checkEffect`. */
  readonly check?: Arbitrary.CheckOptions | undefined
}

/**
 * The name of a law.
 *
 * @since 0.1.0
 * @category models
 */
export type Law =
  | "evolve is total"
  | "decide is total"
  | "replay reaches the decided state"
  | "events survive encode → decode"
  | "decide and evolve are deterministic"
  | "a repeated command is rejected or changes nothing"

/**
 * One law's verdict: the engine's result, and a message when it is broken.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verdict {
  readonly law: Law
  readonly result: Arbitrary.CheckResult<unknown, unknown>
  /** Present when the law is broken: the shrunk counterexample and replay token. */
  readonly failure: string | undefined
}

const attempt = <A>(f: () => A): Result.Result<A, unknown> => {
  try {
    return Result.succeed(f())
  } catch (error) {
    return Result.fail(error)
  }
}

/** A property that throws is falsified by that input, like one that returns false. */
const guard =
  <A>(property: (input: A) => boolean) =>
  (input: A): boolean =>
    Result.getOrElse(
      attempt(() => property(input)),
      () => false
    )

/** Folds a generated command history into the events it records (rejected commands record nothing). */
const reach = <Command, Event, State, Error>(
  decider: Decider.Decider<Command, Event, State, Error>,
  commands: ReadonlyArray<Command>
) => {
  let state = decider.initialState
  const events: Array<Event> = []
  for (const command of commands) {
    const decided = decider.decide(command, state)
    if (Result.isSuccess(decided)) {
      for (const event of decided.success) state = decider.evolve(state, event)
      events.push(...decided.success)
    }
  }
  return { state, events }
}

/**
 * Checks every law and returns one verdict per law.
 *
 * @since 0.1.0
 * @category checking
 */
export const check = <Command, Event extends { readonly _tag: string }, State, Error>(
  options: Options<Command, Event, State, Error>
): Effect.Effect<ReadonlyArray<Verdict>> => {
  const { codec, decider } = options
  const events = options.events ?? Arbitrary.schema(codec.events)
  const maxLength = options.maxHistory ?? 8
  const histories = Arbitrary.array(options.commands, { maxLength })
  const scenario = Arbitrary.all({ history: histories, command: options.commands })
  const isEquivalent = Schema.toEquivalence(codec.events)

  const law = <A>(name: Law, arbitrary: Arbitrary.Arbitrary<A>, property: (input: A) => boolean) =>
    [name, Arbitrary.checkEffect(arbitrary, guard(property), options.check)] as const

  const laws: Array<readonly [Law, Effect.Effect<Arbitrary.CheckResult<any, unknown>>]> = [
    // Over arbitrary event sequences, and over the sequences commands actually produce, which
    // reach the unusual-but-real states random events rarely do.
    law(
      "evolve is total",
      Arbitrary.all({ events: Arbitrary.array(events, { maxLength }), history: histories }),
      ({ events: sequence, history }) => {
        Decider.fold(decider, sequence)
        let state = decider.initialState
        for (const command of history) {
          const decided = attempt(() => decider.decide(command, state))
          if (Result.isFailure(decided) || Result.isFailure(decided.success)) continue
          for (const event of decided.success.success) state = decider.evolve(state, event)
        }
        return true
      }
    ),
    law("decide is total", scenario, ({ command, history }) => {
      const outcome = attempt(() => decider.decide(command, reach(decider, history).state))
      return Result.isSuccess(outcome) && Result.isResult(outcome.success)
    }),
    law("replay reaches the decided state", scenario, ({ command, history }) => {
      const reached = reach(decider, history)
      const decided = decider.decide(command, reached.state)
      if (Result.isFailure(decided)) return true
      const decidedState = Decider.fold(decider, decided.success, reached.state)
      const replayed = Decider.fold(decider, [...reached.events, ...decided.success])
      return equals(decidedState, replayed)
    }),
    law("events survive encode → decode", events, (event) => {
      const stored = codec.encode(event)
      if (Result.isFailure(stored)) return false
      const decoded = codec.decode(JSON.parse(JSON.stringify(stored.success)))
      return Result.isSuccess(decoded) && isEquivalent(decoded.success, event)
    }),
    law("decide and evolve are deterministic", scenario, ({ command, history }) => {
      const first = reach(decider, history)
      const second = reach(decider, history)
      if (!equals(first, second)) return false
      return equals(decider.decide(command, first.state), decider.decide(command, first.state))
    })
  ]
  if (options.repeatedCommands === "rejected-or-idempotent") {
    laws.push(
      law("a repeated command is rejected or changes nothing", scenario, ({ command, history }) => {
        const reached = reach(decider, history)
        const decided = decider.decide(command, reached.state)
        if (Result.isFailure(decided)) return true
        const again = decider.decide(command, Decider.fold(decider, decided.success, reached.state))
        return Result.isFailure(again) || again.success.length === 0
      })
    )
  }
  return Effect.forEach(laws, ([name, run]) =>
    Effect.map(run, (result): Verdict => {
      const formatted = Arbitrary.formatCheckFailure(result)
      return {
        law: name,
        result,
        failure: formatted === undefined ? undefined : `Law "${name}" is broken.\n${formatted}`
      }
    })
  )
}

/**
 * Registers one vitest test per law; a broken law fails its test with the
 * shrunk counterexample and the replay token.
 *
 * @since 0.1.0
 * @category testing
 */
export const test = <Command, Event extends { readonly _tag: string }, State, Error>(
  name: string,
  options: Options<Command, Event, State, Error>
) =>
  describe(`${name}: decider laws`, () => {
    const verdicts = Effect.runPromise(check(options))
    const laws: Array<Law> = [
      "evolve is total",
      "decide is total",
      "replay reaches the decided state",
      "events survive encode → decode",
      "decide and evolve are deterministic"
    ]
    if (options.repeatedCommands === "rejected-or-idempotent")
      laws.push("a repeated command is rejected or changes nothing")
    for (const law of laws) {
      it(law, async () => {
        const verdict = (await verdicts).find((v) => v.law === law)
        if (verdict === undefined) throw new globalThis.Error(`Law "${law}" was not checked`)
        if (verdict.failure !== undefined) throw new globalThis.Error(verdict.failure)
      })
    }
  })
