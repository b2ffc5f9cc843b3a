/**
 * Deciders: an aggregate as pure functions.
 *
 * `decide(command, state)` returns the events the command causes, or a typed
 * domain error; `evolve(state, event)` returns the next state. Neither may use
 * services, the clock or randomness — time and ids arrive inside the command —
 * so a decider can be property-tested directly and run anywhere.
 *
 * @example
 * ```ts
 * import { Decider } from "@chronicle/core"
 * import { Result } from "effect"
 *
 * type Command = { readonly _tag: "Increment"; readonly by: number }
 * type Event = { readonly _tag: "Incremented"; readonly by: number }
 *
 * const counter = Decider.make<Command, Event, number, never>({
 *   initialState: 0,
 *   decide: (command) => Result.succeed([{ _tag: "Incremented", by: command.by }]),
 *   evolve: (state, event) => state + event.by
 * })
 *
 * Decider.fold(counter, [{ _tag: "Incremented", by: 2 }]) // 2
 * ```
 *
 * @since 0.1.0
 */
import { Result } from "effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface Decider<in Command, Event, State, out Error = never> {
  readonly initialState: State
  readonly decide: (command: Command, state: State) => Result.Result<ReadonlyArray<Event>, Error>
  readonly evolve: (state: State, event: Event) => State
  /**
   * Whether the aggregate has reached a state no command can change. The
   * command handler refuses every command on such a stream with
   * `StreamTerminated`, before `decide` runs — a repeat of the command that
   * ended the stream included, idempotency key or not.
   */
  readonly isTerminal?: ((state: State) => boolean) | undefined
}

/**
 * Declares a decider; the identity, for type inference.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Command, Event, State, Error = never>(
  decider: Decider<Command, Event, State, Error>
): Decider<Command, Event, State, Error> => decider

/**
 * Folds events into a state with `evolve`, from the initial state or a given
 * one.
 *
 * @since 0.1.0
 * @category folding
 */
export const fold = <Event, State>(
  decider: Pick<Decider<never, Event, State, unknown>, "initialState" | "evolve">,
  events: Iterable<Event>,
  state: State = decider.initialState
): State => {
  let current = state
  for (const event of events) current = decider.evolve(current, event)
  return current
}

/**
 * The outcome of running a command: the events it caused and the state after
 * them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome<Event, State> {
  readonly events: ReadonlyArray<Event>
  readonly state: State
}

/**
 * Runs a command purely: folds the given history, decides, and folds the new
 * events. What a test or a replay tool needs, with no store involved.
 *
 * @example
 * ```ts
 * Decider.run(counter, [{ _tag: "Incremented", by: 1 }], { _tag: "Increment", by: 2 })
 * // Result.succeed({ events: [{ _tag: "Incremented", by: 2 }], state: 3 })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = <Command, Event, State, Error>(
  decider: Decider<Command, Event, State, Error>,
  history: Iterable<Event>,
  command: Command
): Result.Result<Outcome<Event, State>, Error> => runFrom(decider, fold(decider, history), command)

/**
 * Runs a command against a given state.
 *
 * @since 0.1.0
 * @category running
 */
export const runFrom = <Command, Event, State, Error>(
  decider: Decider<Command, Event, State, Error>,
  state: State,
  command: Command
): Result.Result<Outcome<Event, State>, Error> =>
  Result.map(decider.decide(command, state), (events) => ({ events, state: fold(decider, events, state) }))
