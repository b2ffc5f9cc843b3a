import { EventId } from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as Sha256 from "../src/internal/sha256.ts"
import { text } from "./inputs.ts"

const v7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const v8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** The 48-bit millisecond timestamp at the front of a UUIDv7. */
const millisOf = (id: string) => Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16)

describe("EventId.make", () => {
  it.effect("makes lower-case UUIDv7s stamped with the Clock's time", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_750_000_000_123)
      const id = yield* EventId.make
      assert.match(id, v7)
      assert.strictEqual(millisOf(id), 1_750_000_000_123)
      assert.match(EventId.makeUnsafe(), v7)
    })
  )

  it.effect(
    "ids made one after another increase: within a millisecond, across them, and when the clock goes back",
    () =>
      Effect.gen(function* () {
        // Later than any time set before in this file: ids are ordered for the whole process.
        yield* TestClock.setTime(1_760_000_000_000)
        const sameMillisecond = yield* Effect.replicateEffect(EventId.make, 1000)
        yield* TestClock.adjust("1 millis")
        const next = yield* EventId.make
        yield* TestClock.setTime(1_759_000_000_000)
        const afterClockWentBack = yield* EventId.make
        const ids = [...sameMillisecond, next, afterClockWentBack]
        for (let i = 1; i < ids.length; i++) assert.isTrue(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`)
        assert.deepStrictEqual(
          ids.map((id) => millisOf(id)).filter((millis, i, all) => all.indexOf(millis) === i),
          [1_760_000_000_000, 1_760_000_000_001]
        )
        for (const id of ids) assert.match(id, v7)
      })
  )
})

describe("EventId.fromKey", () => {
  it.effect("derives name-based UUIDv8s from SHA-256 (values computed independently with node:crypto)", () =>
    Effect.gen(function* () {
      const known: ReadonlyArray<readonly [string, string]> = [
        ["", "e76f2011-f33d-8cd9-afdf-c3f23899900b"],
        ["order-1/0", "6fa7c30d-2aaf-8fa2-a53f-ef2cfe987990"],
        ['["req-42","order-o1"]/0', "9e901890-3f6b-8637-ba60-6fd9eaf2233c"],
        ["😀", "9a9e714e-f187-800b-b1af-371afc16ef4c"],
        // Lone surrogates, which UTF-8 would both turn into U+FFFD.
        ["\ud800", "ff11826f-982b-858e-8117-9b8e49b8a7bd"],
        ["\udc00", "21071c8a-4c4a-81d0-b0a6-f84f3c7ad333"]
      ]
      for (const [key, id] of known) {
        assert.strictEqual(yield* EventId.fromKey(key), id, JSON.stringify(key))
      }
    })
  )

  it.effect.prop(
    "the same key gives the same id; different keys give different ids; version 8, RFC 9562 variant",
    [text, text],
    ([a, b]) =>
      Effect.gen(function* () {
        const idA = yield* EventId.fromKey(a)
        assert.match(idA, v8)
        assert.strictEqual(yield* EventId.fromKey(a), idA)
        if (a !== b) assert.notStrictEqual(yield* EventId.fromKey(b), idA, `${JSON.stringify(a)} ${JSON.stringify(b)}`)
      }),
    { arbitrary: { runs: 500 } }
  )

  it.effect.prop(
    "node:crypto and WebCrypto hash every key to the same bytes",
    [text],
    ([key]) =>
      Effect.gen(function* () {
        const bytes = new TextEncoder().encode(key)
        assert.isDefined(Sha256.native, "this runtime lends node:crypto")
        assert.deepStrictEqual(yield* Sha256.native!(bytes), yield* Sha256.webCrypto(bytes))
      }),
    { arbitrary: { runs: 200 } }
  )
})
