/**
 * The rules every store applies to a read's options before it reaches
 * storage, so all stores read the same events for the same options — odd
 * numbers included. A read has no error for bad options: each option means
 * something for every number, as described below.
 *
 * @since 0.1.0
 */
import type { ReadAllOptions, ReadStreamOptions } from "./EventStore.ts"
import { maxStreamVersion } from "./ExpectedVersion.ts"
import * as Position from "./Position.ts"

/**
 * The part of a stream a read covers: from version `from` (an integer from 0
 * to `ExpectedVersion.maxStreamVersion`), in `direction`, at most `maxCount`
 * events (an integer from 0, or `Infinity`).
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamRange {
  readonly direction: "forward" | "backward"
  readonly from: number
  readonly maxCount: number
}

const nothing = (direction: StreamRange["direction"]): StreamRange => ({ direction, from: 0, maxCount: 0 })

/**
 * The range a stream read covers. Forward reads the versions at or after
 * `from` (default 0), backward the versions at or before it (default: the
 * last); any number works, so `from: 1.5` reads from 2 forward and from 1
 * backward, and a `from` beyond every version reads nothing forward and from
 * the last backward. `maxCount` (default: no limit) is rounded down; below 0
 * it reads nothing. A `NaN` in either reads nothing (no version compares with
 * it).
 *
 * @since 0.1.0
 * @category validation
 */
export const streamRange = (options?: ReadStreamOptions): StreamRange => {
  const direction = options?.direction === "backward" ? "backward" : "forward"
  const requested = options?.maxCount ?? Number.POSITIVE_INFINITY
  const maxCount = requested >= 0 ? Math.floor(requested) : 0
  const from = options?.from
  if (direction === "forward") {
    const first = from === undefined ? 0 : Math.ceil(from)
    return first <= maxStreamVersion ? { direction, from: Math.max(0, first), maxCount } : nothing(direction)
  }
  const last = from === undefined ? maxStreamVersion : Math.floor(from)
  return last >= 0 ? { direction, from: Math.min(last, maxStreamVersion), maxCount } : nothing(direction)
}

/**
 * The largest batch a store fetches at a time: 2^31 − 1.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxBatchSize = 2_147_483_647

/**
 * The batch size of a read of the global log: `requested` rounded down and
 * kept within 1 to {@link maxBatchSize}; `fallback` when it is missing or
 * `NaN`.
 *
 * @since 0.1.0
 * @category validation
 */
export const batchSize = (requested: number | undefined, fallback: number): number => {
  const size = requested === undefined || Number.isNaN(requested) ? fallback : requested
  return Number.isNaN(size) ? 1 : Math.min(maxBatchSize, Math.max(1, Math.floor(size)))
}

/**
 * What a read of the global log's `partition` selects: `"all"` when none is
 * given or it is the one partition of one; `"none"` for a partition that
 * cannot exist (a count that is not a whole number from 1 to 1024, or an
 * index that is not a whole number below it), which reads nothing; else the
 * partition.
 *
 * @since 0.1.0
 * @category validation
 */
export const partition = (
  requested: ReadAllOptions["partition"]
): "all" | "none" | { readonly index: number; readonly count: number } => {
  if (requested === undefined) return "all"
  const { count, index } = requested
  if (!Number.isInteger(count) || count < 1 || count > 1024) return "none"
  if (!Number.isInteger(index) || index < 0 || index >= count) return "none"
  return count === 1 ? "all" : requested
}

/** The largest transaction id (`xid8`) and sequence (`bigint`) PostgreSQL has. */
const maxCommit = 2n ** 64n - 1n
const maxSequence = 2n ** 63n - 1n

/**
 * The position a read of the global log starts after (default
 * `Position.start`), kept within the range every store can compare: by the
 * log's order, a position before every event (a negative part) reads from the
 * start and one after every possible event reads nothing. Throws a
 * `TypeError` (a defect) when a part is not a bigint: decode stored positions
 * with the `Position.Position` schema.
 *
 * @since 0.1.0
 * @category validation
 */
export const after = (position: Position.Position | undefined): Position.Position => {
  if (position === undefined) return Position.start
  const { commit, sequence } = position
  if (typeof commit !== "bigint" || typeof sequence !== "bigint") {
    throw new TypeError(
      `A read of the global log was given the position { commit: ${String(commit)}, sequence: ${String(sequence)} }; ` +
        `both parts must be bigints (decode stored positions with the Position.Position schema).`
    )
  }
  if (commit < 0n) return Position.start
  if (commit > maxCommit) return Position.make(maxCommit, maxSequence)
  if (sequence < 0n) return Position.make(commit, 0n)
  return sequence > maxSequence ? Position.make(commit, maxSequence) : position
}
