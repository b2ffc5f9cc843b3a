/**
 * Checks that stored events stay readable:
 * - {@link checkGolden}: golden stored payloads of every version of an event
 *   decode (upcast) to the expected current value;
 * - {@link checkSchemas}: an event type whose schema changed without a new
 *   version is flagged, by comparing each type's encoded schema with a
 *   committed snapshot file.
 *
 * @example
 * ```ts
 * import { Upcasting } from "@chronicle/testing"
 *
 * Upcasting.assertGolden(Order.OrderEvents, [
 *   { stored: { type: "OrderPlaced", version: 1, data: { orderId: "o1", customerId: "c", product_ids: ["p"] } },
 *     expected: { _tag: "OrderPlaced", orderId: "o1", customerId: "c", items: [...], currency: "USD" } }
 * ])
 * Upcasting.assertSchemas(Order.OrderEvents, new URL("./__schemas__/order-events.json", import.meta.url))
 * ```
 *
 * @since 0.1.0
 */
import type { EventCodec } from "@chronicle/core"
import { Result, Schema } from "effect"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { diff, equals } from "./internal/format.ts"

/**
 * A stored payload and the current event it must decode to.
 *
 * @since 0.1.0
 * @category models
 */
export interface Golden<E> {
  readonly stored: EventCodec.StoredEvent
  readonly expected: E
}

/**
 * Decodes every golden payload; returns a message per payload that does not
 * decode to its expected value (empty when all hold).
 *
 * @since 0.1.0
 * @category checks
 */
export const checkGolden = <E extends { readonly _tag: string }>(
  codec: EventCodec.EventCodec<E>,
  goldens: ReadonlyArray<Golden<E>>
): ReadonlyArray<string> => {
  const isEquivalent = Schema.toEquivalence(codec.events)
  const problems: Array<string> = []
  for (const { expected, stored } of goldens) {
    const label = `${stored.type} v${stored.version}`
    const decoded = codec.decode(stored)
    if (Result.isFailure(decoded)) problems.push(`${label} no longer decodes: ${decoded.failure.message}`)
    else if (!isEquivalent(decoded.success, expected)) {
      problems.push(`${label} decodes to something else\n${diff(expected, decoded.success)}`)
    }
  }
  return problems
}

/**
 * Throws when a golden payload does not decode to its expected value.
 *
 * @since 0.1.0
 * @category checks
 */
export const assertGolden = <E extends { readonly _tag: string }>(
  codec: EventCodec.EventCodec<E>,
  goldens: ReadonlyArray<Golden<E>>
): void => {
  const problems = checkGolden(codec, goldens)
  if (problems.length > 0) throw new Error(problems.join("\n\n"))
}

/**
 * The encoded schema of every event type: name, version and JSON Schema of
 * the stored data.
 *
 * @since 0.1.0
 * @category checks
 */
export const schemasOf = (codec: EventCodec.EventCodec<any>) =>
  Object.fromEntries(
    [...codec.types.values()]
      .sort((a, b) => (a.type < b.type ? -1 : 1))
      .map((t) => [t.type, { version: t.version, schema: Schema.toJsonSchemaDocument(t.data as Schema.Top) }])
  )

/**
 * Compares the codec's event schemas with a snapshot file and returns what
 * changed. A type whose schema changed at the same version is a problem:
 * events already stored under that version may no longer decode. With the
 * environment variable `CHRONICLE_UPDATE_SCHEMAS=1` (or when the file does
 * not exist yet) the snapshot is written instead — except on CI (`CI` set),
 * where a missing snapshot is reported as a problem.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkSchemas = (codec: EventCodec.EventCodec<any>, snapshot: URL | string): ReadonlyArray<string> => {
  const path = snapshot instanceof URL ? fileURLToPath(snapshot) : snapshot
  const current = schemasOf(codec)
  const missing = !existsSync(path)
  // On CI a missing snapshot is a problem, not a first run: the check would otherwise pass vacuously.
  if (missing && process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false") {
    return [`The schema snapshot ${path} is missing: run the tests locally to write it, and commit it.`]
  }
  if (process.env.CHRONICLE_UPDATE_SCHEMAS === "1" || missing) {
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, `${JSON.stringify(current, null, 2)}\n`)
    return []
  }
  const committed = JSON.parse(readFileSync(path, "utf8")) as Record<string, { version: number; schema: unknown }>
  const problems: Array<string> = []
  for (const [type, now] of Object.entries(current)) {
    const before = committed[type]
    if (before === undefined) {
      problems.push(`${type} is new: record it in the snapshot (CHRONICLE_UPDATE_SCHEMAS=1).`)
    } else if (!equals(JSON.parse(JSON.stringify(now.schema)), before.schema)) {
      problems.push(
        before.version === now.version
          ? `${type}'s schema changed but its version is still ${now.version}: declare a new version with ` +
              `EventType.evolve (and an upcast from the old one), or, if no ${type} was ever stored, update the ` +
              `snapshot (CHRONICLE_UPDATE_SCHEMAS=1).\n${diff(before.schema, now.schema)}`
          : `${type} moved from version ${before.version} to ${now.version}: update the snapshot (CHRONICLE_UPDATE_SCHEMAS=1).`
      )
    }
  }
  for (const type of Object.keys(committed)) {
    if (!(type in current)) {
      problems.push(
        `${type} was removed from the codec: stored ${type} events (up to version ${committed[type]?.version}) will no longer decode.`
      )
    }
  }
  return problems
}

/**
 * Throws when {@link checkSchemas} finds a problem.
 *
 * @since 0.1.0
 * @category checks
 */
export const assertSchemas = (codec: EventCodec.EventCodec<any>, snapshot: URL | string): void => {
  const problems = checkSchemas(codec, snapshot)
  if (problems.length > 0) throw new Error(problems.join("\n\n"))
}
