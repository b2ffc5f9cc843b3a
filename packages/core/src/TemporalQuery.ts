/**
 * Temporal queries as callers write them: a stream's state now, or as of a
 * stream version or a time given as a CLI flag or an HTTP query parameter.
 * The CLI's `state` command and the shop's HTTP state query both answer
 * through {@link state}.
 *
 * @example
 * ```ts
 * import { TemporalQuery } from "@chronicle/core"
 *
 * // The state as of version 3, or InvalidAsOf / StreamNotFound.
 * const loaded = TemporalQuery.state(orders, stream, { version: 3 })
 * ```
 *
 * @since 0.1.0
 */
import { DateTime, Effect, Option, Result, Schema } from "effect"
import type * as CommandHandler from "./CommandHandler.ts"
import { StreamNotFound } from "./EventStore.ts"
import type * as StreamName from "./StreamName.ts"
/**
 * A temporal query as a caller writes it (a CLI flag, an HTTP query
 * parameter): a stream version, or a time as ISO 8601 text or a `DateTime`;
 * neither means now.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  readonly version?: number | undefined
  readonly at?: string | DateTime.DateTime | undefined
}

/**
 * A temporal query that names no point in a stream: a version that is not a
 * non-negative integer, a time that is not ISO 8601, or both a version and a
 * time.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidAsOf extends Schema.TaggedError<InvalidAsOf>()("InvalidAsOf", {
  reason: Schema.String
}) {
  override get message() {
    return `Cannot load a state as of that point: ${this.reason}`
  }
}

/**
 * Reads an {@link Input}: `undefined` for now, or the `AsOf` it
 * names.
 *
 * @since 0.1.0
 * @category validation
 */
export const parse = (input: Input): Result.Result<CommandHandler.AsOf | undefined, InvalidAsOf> => {
  const { at, version } = input
  if (version !== undefined && at !== undefined) {
    return Result.fail(new InvalidAsOf({ reason: "give a version or a time, not both" }))
  }
  if (version !== undefined) {
    return Number.isSafeInteger(version) && version >= 0
      ? Result.succeed({ version })
      : Result.fail(new InvalidAsOf({ reason: `the version ${version} is not a non-negative integer` }))
  }
  if (at === undefined) return Result.succeed(undefined)
  const time = typeof at === "string" ? DateTime.make(at) : Option.some(at)
  return Option.isSome(time)
    ? Result.succeed({ at: DateTime.toUtc(time.value) })
    : Result.fail(
        new InvalidAsOf({
          reason: `${JSON.stringify(at)} is not a timestamp; use ISO 8601, e.g. 2026-11-24T10:00:00Z`
        })
      )
}

/**
 * A stream's state now, or as of the version or time an {@link Input}
 * names: what the CLI's `state` command and an HTTP state query answer. A
 * stream with no events at that point (or none at all) is `StreamNotFound`.
 *
 * @since 0.1.0
 * @category queries
 */
export const state = <State>(
  handler: Pick<CommandHandler.CommandHandler<unknown, unknown, State, unknown, unknown>, "load" | "loadAsOf">,
  stream: StreamName.StreamName,
  input: Input
): Effect.Effect<CommandHandler.Loaded<State>, InvalidAsOf | CommandHandler.LoadError | StreamNotFound> =>
  Effect.flatMap(Effect.fromResult(parse(input)), (asOf) =>
    asOf !== undefined
      ? handler.loadAsOf(stream, asOf)
      : Effect.filterOrFail(
          handler.load(stream),
          (loaded) => loaded.version >= 0,
          () => new StreamNotFound({ stream })
        )
  )
