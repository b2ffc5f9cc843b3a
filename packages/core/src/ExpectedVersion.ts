/**
 * What a writer believes a stream's version is when it appends: an exact
 * version, {@link NoStream}, {@link StreamExists} or {@link Any}.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The stream's last event must be at exactly this (0-based) version.
 *
 * @since 0.1.0
 * @category models
 */
export interface Exact {
  readonly _tag: "Exact"
  readonly version: number
}

/**
 * The stream must not exist yet.
 *
 * @since 0.1.0
 * @category models
 */
export interface NoStream {
  readonly _tag: "NoStream"
}

/**
 * The stream must already exist, at any version.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamExists {
  readonly _tag: "StreamExists"
}

/**
 * No check: append whatever the stream's version is.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any {
  readonly _tag: "Any"
}

/**
 * @since 0.1.0
 * @category models
 */
export type ExpectedVersion = Exact | NoStream | StreamExists | Any

/**
 * The highest version a stream can reach: 2^31 − 1, the largest 32-bit signed
 * integer (PostgreSQL stores stream versions as `integer`).
 *
 * @since 0.1.0
 * @category constants
 */
export const maxStreamVersion = 2_147_483_647

/**
 * The highest exact expected version: 2^31 − 2, one below
 * {@link maxStreamVersion}, so the appended event's version still fits.
 * Exact versions are integers from 0 to this.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxExact = maxStreamVersion - 1

/**
 * An exact expected version. Appends accept integers from 0 to
 * {@link maxExact}; any other number is rejected with `InvalidAppend`.
 *
 * @example
 * ```ts
 * import { ExpectedVersion } from "@chronicle/core"
 * ExpectedVersion.exact(4) // the stream's last event is version 4
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const exact = (version: number): ExpectedVersion => ({ _tag: "Exact", version })

/**
 * @since 0.1.0
 * @category constructors
 */
export const noStream: ExpectedVersion = { _tag: "NoStream" }

/**
 * @since 0.1.0
 * @category constructors
 */
export const streamExists: ExpectedVersion = { _tag: "StreamExists" }

/**
 * @since 0.1.0
 * @category constructors
 */
export const any: ExpectedVersion = { _tag: "Any" }

/**
 * The expected version a writer holds after reading a stream whose current
 * version is `version` (`-1` when the stream does not exist).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCurrent = (version: number): ExpectedVersion => (version < 0 ? noStream : exact(version))

/**
 * Whether a stream at `actual` (`-1` when it does not exist) satisfies the
 * expectation.
 *
 * @since 0.1.0
 * @category predicates
 */
export const matches = (expected: ExpectedVersion, actual: number): boolean => {
  switch (expected._tag) {
    case "Exact":
      return actual === expected.version
    case "NoStream":
      return actual === -1
    case "StreamExists":
      return actual >= 0
    case "Any":
      return true
  }
}

/**
 * A human-readable form, used in error messages.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (expected: ExpectedVersion): string =>
  expected._tag === "Exact" ? String(expected.version) : expected._tag

/**
 * A Schema for expected versions, e.g. in HTTP commands. It accepts exactly
 * the expected versions an append accepts (see {@link isExpectedVersion}).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ExpectedVersion: Schema.Codec<ExpectedVersion> = Schema.Union([
  Schema.TaggedStruct("Exact", { version: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: maxExact })) }),
  Schema.TaggedStruct("NoStream", {}),
  Schema.TaggedStruct("StreamExists", {}),
  Schema.TaggedStruct("Any", {})
])

/**
 * Whether a value is an expected version an append accepts: `Exact` with an
 * integer version from 0 to {@link maxExact}, `NoStream`, `StreamExists` or
 * `Any`. Stores run it (through `AppendCheck`) on every append, because a
 * value typed as `ExpectedVersion` may come from an untyped caller.
 *
 * @since 0.1.0
 * @category guards
 */
export const isExpectedVersion: (u: unknown) => u is ExpectedVersion = Schema.is(ExpectedVersion)
