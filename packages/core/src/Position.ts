/**
 * Global positions: where an event sits in the store-wide log.
 *
 * A position is a pair `(commit, sequence)` ordered lexicographically. The
 * in-memory store uses the same number for both. The PostgreSQL store uses the
 * writing transaction's id for `commit` and a sequence for `sequence`, which
 * is what lets readers never skip an event that commits late (see docs/ARCHITECTURE.md,
 * guarantee 4). Positions are strictly increasing in the order the global log
 * is read.
 *
 * @since 0.1.0
 */
import { type Order as Ord, Schema } from "effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface Position {
  readonly commit: bigint
  readonly sequence: bigint
}

/**
 * The position before every event: reading from here reads the whole log.
 *
 * @since 0.1.0
 * @category constants
 */
export const start: Position = { commit: 0n, sequence: 0n }

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (commit: bigint, sequence: bigint): Position => ({ commit, sequence })

/**
 * Lexicographic order: by commit, then by sequence.
 *
 * @since 0.1.0
 * @category instances
 */
export const Order: Ord.Order<Position> = (a, b) =>
  a.commit < b.commit ? -1 : a.commit > b.commit ? 1 : a.sequence < b.sequence ? -1 : a.sequence > b.sequence ? 1 : 0

/**
 * Whether `self` comes strictly after `that` in the global log.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isAfter = (self: Position, that: Position): boolean => Order(self, that) === 1

/**
 * @since 0.1.0
 * @category predicates
 */
export const equals = (self: Position, that: Position): boolean =>
  self.commit === that.commit && self.sequence === that.sequence

/**
 * The later of two positions.
 *
 * @since 0.1.0
 * @category combinators
 */
export const max = (a: Position, b: Position): Position => (isAfter(a, b) ? a : b)

/**
 * `commit:sequence`, the form used by the CLI and in logs.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (self: Position): string => `${self.commit}:${self.sequence}`

/**
 * A Schema that stores positions as `{ commit, sequence }` with decimal-string
 * numbers, so they survive JSON.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Position: Schema.Codec<Position, { readonly commit: string; readonly sequence: string }> = Schema.Struct({
  commit: Schema.BigIntFromString,
  sequence: Schema.BigIntFromString
})
