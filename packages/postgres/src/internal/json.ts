/**
 * JSON as the stores write it.
 */

/** JSON text of a value, bigints as decimal strings (`JSON.stringify` rejects them). */
export const stringify = (value: unknown): string =>
  JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v))
