import { Formatter, TextDiff } from "effect"
import { isDeepStrictEqual } from "node:util"

/** Pretty JSON-like text of a value (bigints, dates, and -0 shown as they are). */
export const pretty = (value: unknown): string => Formatter.format(value, { space: 2 })

/** Structural equality of plain data. */
export const equals = (a: unknown, b: unknown): boolean => isDeepStrictEqual(a, b)

/** A unified diff of the pretty forms of two values. */
export const diff = (expected: unknown, actual: unknown): string =>
  TextDiff.unified(TextDiff.lines(pretty(expected), pretty(actual)), { fromFile: "expected", toFile: "actual" })
