/**
 * Given / when / then specs for deciders: given some events (or a state),
 * when a command is decided, then these events — or this error, or nothing.
 * A failing spec throws an error whose message shows a diff of the expected
 * and actual events, so it reads well in plain vitest and in `@effect/vitest`.
 *
 * @example
 * ```ts
 * import { DeciderSpec } from "@chronicle/testing"
 *
 * DeciderSpec.given(Order.decider, placed)
 *   .when(Order.ConfirmPayment.make({ paymentReference: "r", amount: 1000 }))
 *   .thenEvents(Order.PaymentConfirmed.make({ orderId: "o1", paymentReference: "r", amount: 1000 }))
 *
 * DeciderSpec.given(Order.decider, placed, paid)
 *   .when(Order.CancelOrder.make({ reason: "late" }))
 *   .thenFails("OrderRejected")
 * ```
 *
 * @since 0.1.0
 */
import { Decider } from "@chronicle/core"
import { Result } from "effect"
import { diff, equals, pretty } from "./internal/format.ts"

/**
 * A spec that did not hold. Its message says what was expected, what
 * happened, and shows the difference.
 *
 * @since 0.1.0
 * @category errors
 */
export class SpecFailed extends Error {
  override readonly name = "SpecFailed"
}

/**
 * A command to decide against a known state.
 *
 * @since 0.1.0
 * @category models
 */
export interface When<Event, State, Error> {
  /** Expects exactly these events, in order. */
  readonly thenEvents: (...expected: ReadonlyArray<Event>) => State
  /** Expects the command to change nothing. */
  readonly thenNothing: () => State
  /**
   * Expects a domain error: by `_tag`, by a predicate, or equal to a given
   * error. Returns the error for further checks.
   */
  readonly thenFails: (expected: string | ((error: Error) => boolean) | Error) => Error
  /** Expects the state after the new events to equal `expected`. */
  readonly thenState: (expected: State) => State
}

/**
 * A decider with a known state.
 *
 * @since 0.1.0
 * @category models
 */
export interface Given<Command, Event, State, Error> {
  readonly state: State
  readonly when: (command: Command) => When<Event, State, Error>
}

const describeCommand = (command: unknown) => (command as { _tag?: string })?._tag ?? pretty(command)

const make = <Command, Event, State, Error>(
  decider: Decider.Decider<Command, Event, State, Error>,
  state: State,
  history: string
): Given<Command, Event, State, Error> => ({
  state,
  when: (command) => {
    const outcome = Decider.runFrom(decider, state, command)
    const context = `given ${history}, when ${describeCommand(command)}`
    const events = () => {
      if (Result.isFailure(outcome)) {
        throw new SpecFailed(`${context}: expected events, but decide failed with\n${pretty(outcome.failure)}`)
      }
      return outcome.success
    }
    return {
      thenEvents: (...expected) => {
        const actual = events()
        if (!equals(actual.events, expected)) {
          throw new SpecFailed(`${context}: the events differ\n${diff(expected, actual.events)}`)
        }
        return actual.state
      },
      thenNothing: () => {
        const actual = events()
        if (actual.events.length > 0) {
          throw new SpecFailed(`${context}: expected no events, got\n${pretty(actual.events)}`)
        }
        return actual.state
      },
      thenFails: (expected) => {
        if (Result.isSuccess(outcome)) {
          throw new SpecFailed(`${context}: expected a failure, but decide returned\n${pretty(outcome.success.events)}`)
        }
        const error = outcome.failure
        const matches =
          typeof expected === "string"
            ? (error as { _tag?: string })._tag === expected
            : typeof expected === "function"
              ? (expected as (error: Error) => boolean)(error)
              : equals(error, expected)
        if (!matches) {
          const wanted =
            typeof expected === "string"
              ? `an error tagged ${expected}`
              : typeof expected === "function"
                ? "an error matching the predicate"
                : pretty(expected)
          throw new SpecFailed(`${context}: expected ${wanted}, got\n${pretty(error)}`)
        }
        return error
      },
      thenState: (expected) => {
        const actual = events()
        if (!equals(actual.state, expected)) {
          throw new SpecFailed(`${context}: the state differs\n${diff(expected, actual.state)}`)
        }
        return actual.state
      }
    }
  }
})

/**
 * Starts a spec from the events that already happened (none for a new
 * aggregate).
 *
 * @since 0.1.0
 * @category constructors
 */
export const given = <Command, Event, State, Error>(
  decider: Decider.Decider<Command, Event, State, Error>,
  ...events: ReadonlyArray<Event>
): Given<Command, Event, State, Error> =>
  make(
    decider,
    Decider.fold(decider, events),
    events.length === 0 ? "no events" : events.map((e) => (e as { _tag?: string })._tag ?? "event").join(", ")
  )

/**
 * Starts a spec from a state.
 *
 * @since 0.1.0
 * @category constructors
 */
export const givenState = <Command, Event, State, Error>(
  decider: Decider.Decider<Command, Event, State, Error>,
  state: State
): Given<Command, Event, State, Error> => make(decider, state, "a state")
