/**
 * Arbitrary inputs for the property tests of the input checks: values an
 * untyped or careless caller may pass, weighted toward the edges.
 */
import { Arbitrary, Schema } from "effect"

const oddUnits = ["\ud800", "\udbff", "\udc00", "\udfff", "\u0000", "\ud83d\ude00", "-"]

/** Strings, most with a lone surrogate, NUL, a surrogate pair or a dash put in somewhere. */
export const text: Arbitrary.Arbitrary<string> = Arbitrary.map(
  Arbitrary.all([Arbitrary.schema(Schema.String), Arbitrary.schema(Schema.Int), Arbitrary.schema(Schema.Int)]),
  ([s, where, which]) => {
    const at = Math.abs(where) % (s.length + 1)
    const odd = oddUnits[Math.abs(which) % (oddUnits.length + 2)] ?? ""
    return s.slice(0, at) + odd + s.slice(at)
  }
)

const edgeNumbers = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  -3.5,
  -1,
  0,
  0.5,
  1,
  1.5,
  2,
  2.9,
  4,
  4.5,
  5,
  7,
  2 ** 31 - 2,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 53,
  -(2 ** 31)
]

/** Numbers: half of them edge cases (NaN, infinities, fractions, the 32-bit bounds), half any double. */
export const number: Arbitrary.Arbitrary<number> = Arbitrary.map(
  // @effect-diagnostics-next-line schemaNumber:off -- non-finite numbers are the point
  Arbitrary.all([Arbitrary.schema(Schema.Number), Arbitrary.schema(Schema.Int)]),
  ([x, pick]) => (pick % 2 === 0 ? x : edgeNumbers[Math.abs(pick) % edgeNumbers.length]!)
)

const edgeBigInts = [-(2n ** 70n), -1n, 0n, 1n, 2n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n, 2n ** 70n]

/** Bigints near the bounds of PostgreSQL's `xid8` and `bigint` (and of zero), or any bigint. */
export const bigint: Arbitrary.Arbitrary<bigint> = Arbitrary.map(
  Arbitrary.all([Arbitrary.schema(Schema.BigInt), Arbitrary.schema(Schema.Int)]),
  ([x, pick]) => (pick % 3 === 0 ? x : edgeBigInts[Math.abs(pick) % edgeBigInts.length]! + BigInt((pick % 3) - 1))
)
