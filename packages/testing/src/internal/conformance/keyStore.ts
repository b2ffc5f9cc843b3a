// Store conformance: the `KeyStore` keeps one live key per subject, finds every version of it,
// and destroys every version on `forget`, for good.
import { KeyStore } from "@chronicle/core"
import { assert } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Aead } from "effect/crypto"
import { type It, randomCategory, range, testTimeout } from "./fixture.ts"

/**
 * The `KeyStore` keeps one live key per subject, finds every version of it,
 * and destroys every version on `forget`, for good.
 */
export const keyStore = (it: It<never>): void => {
  const fixture = Effect.gen(function* () {
    const keys = yield* KeyStore.KeyStore
    const prefix = randomCategory()
    const subject = (id: string) => `${prefix}:${id} '; -- ünï 😀`
    const bytesOf = (key: KeyStore.SubjectKey) => Effect.map(Effect.orDie(Aead.toBytes(key.key)), Array.from)
    const lookupBytes = (s: string, version: number) =>
      Effect.flatMap(keys.lookup(s, version), (found) =>
        Option.match(found, { onNone: () => Effect.succeedNone, onSome: (key) => Effect.asSome(bytesOf(key)) })
      )
    return { keys, subject, bytesOf, lookupBytes }
  })

  it.effect(
    "a subject's live key is the same on every call, and lookup finds it by its version",
    () =>
      Effect.gen(function* () {
        const { bytesOf, keys, lookupBytes, subject } = yield* fixture
        const s = subject("a")
        const first = yield* keys.keyFor(s)
        const again = yield* keys.keyFor(s)
        assert.deepStrictEqual([first.subject, first.version, again.version], [s, 1, 1])
        assert.strictEqual(first.key.algorithm.name, KeyStore.algorithm.name)
        const bytes = yield* bytesOf(first)
        assert.strictEqual(bytes.length, KeyStore.algorithm.keyLength)
        assert.deepStrictEqual(yield* bytesOf(again), bytes)
        assert.deepStrictEqual(yield* lookupBytes(s, 1), Option.some(bytes))
      }),
    testTimeout
  )

  it.effect(
    "each subject has a key of its own; unknown subjects and versions look up as None",
    () =>
      Effect.gen(function* () {
        const { bytesOf, keys, lookupBytes, subject } = yield* fixture
        const [a, b] = [yield* keys.keyFor(subject("a")), yield* keys.keyFor(subject("b"))]
        assert.notDeepEqual(yield* bytesOf(a), yield* bytesOf(b))
        for (const [s, version] of [
          [subject("never"), 1],
          [subject("a"), 2],
          [subject("a"), 0],
          [subject("a"), -1]
        ] as const) {
          assert.isTrue(Option.isNone(yield* lookupBytes(s, version)), `${s} version ${version}`)
        }
      }),
    testTimeout
  )

  it.effect(
    "forget destroys every version of the subject's key; a later key gets the next version",
    () =>
      Effect.gen(function* () {
        const { bytesOf, keys, lookupBytes, subject } = yield* fixture
        const s = subject("forgotten")
        const v1 = yield* bytesOf(yield* keys.keyFor(s))
        yield* keys.forget(s)
        assert.isTrue(Option.isNone(yield* lookupBytes(s, 1)))
        const second = yield* keys.keyFor(s)
        assert.strictEqual(second.version, 2)
        assert.notDeepEqual(yield* bytesOf(second), v1)
        yield* keys.forget(s)
        yield* keys.forget(s)
        const third = yield* keys.keyFor(s)
        assert.strictEqual(third.version, 3)
        assert.isTrue(Option.isNone(yield* lookupBytes(s, 1)))
        assert.isTrue(Option.isNone(yield* lookupBytes(s, 2)))
        assert.deepStrictEqual(yield* lookupBytes(s, 3), Option.some(yield* bytesOf(third)))
        // A subject that never had a key: nothing to forget, and its first key is version 1.
        yield* keys.forget(subject("never"))
        assert.strictEqual((yield* keys.keyFor(subject("never"))).version, 1)
      }),
    testTimeout
  )

  it.effect(
    "forgetting one subject leaves every other subject's key",
    () =>
      Effect.gen(function* () {
        const { bytesOf, keys, lookupBytes, subject } = yield* fixture
        const kept = yield* bytesOf(yield* keys.keyFor(subject("kept")))
        yield* keys.keyFor(subject("gone"))
        yield* keys.forget(subject("gone"))
        assert.deepStrictEqual(yield* lookupBytes(subject("kept"), 1), Option.some(kept))
        assert.deepStrictEqual(yield* bytesOf(yield* keys.keyFor(subject("kept"))), kept)
      }),
    testTimeout
  )

  it.effect(
    "concurrent first calls for a subject agree on one key",
    () =>
      Effect.gen(function* () {
        const { bytesOf, keys, subject } = yield* fixture
        const s = subject("raced")
        const made = yield* Effect.forEach(range(16), () => Effect.flatMap(keys.keyFor(s), bytesOf), {
          concurrency: "unbounded"
        })
        for (const bytes of made) assert.deepStrictEqual(bytes, made[0])
        assert.strictEqual((yield* keys.keyFor(s)).version, 1)
      }),
    testTimeout
  )
}
