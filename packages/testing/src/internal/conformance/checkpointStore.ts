// Store conformance: the `CheckpointStore` keeps positions exactly and fences saves.
import { CheckpointStore, Position } from "@chronicle/core"
import { assert } from "@effect/vitest"
import { Effect, Option } from "effect"
import { failsWith, type It, randomCategory, testTimeout } from "./fixture.ts"

/**
 * The `CheckpointStore` keeps positions exactly and fences saves.
 */
export const checkpointStore = (it: It<CheckpointStore.CheckpointStore>): void => {
  const fixture = Effect.gen(function* () {
    const checkpoints = yield* CheckpointStore.CheckpointStore
    const prefix = randomCategory()
    const load = (n: string) => Effect.map(checkpoints.load(n), Option.getOrUndefined)
    const assertAt = (n: string, expected: Position.Position | undefined) =>
      Effect.map(load(n), (actual) =>
        assert.deepStrictEqual(
          actual && Position.format(actual),
          expected && Position.format(expected),
          `checkpoint ${JSON.stringify(n)}`
        )
      )
    return { checkpoints, name: (n: string) => `${prefix}:${n}`, load, assertAt }
  })
  const maxInt64 = 2n ** 63n - 1n

  it.effect(
    "a name without a checkpoint loads as None",
    () =>
      Effect.gen(function* () {
        const { checkpoints, name } = yield* fixture
        assert.isTrue(Option.isNone(yield* checkpoints.load(name("none"))))
      }),
    testTimeout
  )

  it.effect(
    "positions round-trip exactly, including bigint values above 2^53",
    () =>
      Effect.gen(function* () {
        const { assertAt, checkpoints, load, name } = yield* fixture
        const positions = [
          Position.make(1n, 1n),
          Position.make(0n, 0n),
          Position.make(2n ** 53n + 1n, 2n ** 53n + 3n),
          Position.make(2n ** 62n, 7n),
          Position.make(maxInt64, maxInt64)
        ]
        for (const [i, position] of positions.entries()) {
          const n = name(`round-trip-${i}`)
          yield* checkpoints.save(n, position)
          yield* assertAt(n, position)
          const loaded = yield* load(n)
          assert.strictEqual(typeof loaded?.commit, "bigint")
          assert.strictEqual(typeof loaded?.sequence, "bigint")
          assert.isTrue(loaded !== undefined && Position.equals(loaded, position))
        }
      }),
    testTimeout
  )

  it.effect(
    "save overwrites, forwards and backwards, and list shows every name",
    () =>
      Effect.gen(function* () {
        const { assertAt, checkpoints, name } = yield* fixture
        const [a, b, odd] = [name("projection-a@v1"), name("projection-b@v2"), name(`odd '; DROP TABLE x; -- ünï 😀`)]
        yield* checkpoints.save(a, Position.make(5n, 5n))
        yield* checkpoints.save(a, Position.make(2n ** 60n, 9n))
        yield* assertAt(a, Position.make(2n ** 60n, 9n))
        // Moving back (e.g. a reset before a rebuild) is allowed too.
        yield* checkpoints.save(a, Position.make(3n, 4n))
        yield* assertAt(a, Position.make(3n, 4n))
        yield* checkpoints.save(b, Position.make(maxInt64, 1n))
        yield* checkpoints.save(odd, Position.make(7n, 8n))
        const list = yield* checkpoints.list
        assert.deepStrictEqual(
          [a, b, odd].map((n) => {
            const p = list.get(n)
            return p && Position.format(p)
          }),
          ["3:4", `${maxInt64}:1`, "7:8"]
        )
      }),
    testTimeout
  )

  it.effect(
    "a fenced save fails with CheckpointConflict and changes nothing when the stored checkpoint differs",
    () =>
      Effect.gen(function* () {
        const { assertAt, checkpoints, name } = yield* fixture
        const n = name("fenced")
        const [p1, p2, p3] = [Position.make(1n, 1n), Position.make(2n, 2n), Position.make(3n, 3n)]
        yield* checkpoints.save(n, p1, Option.none())
        yield* assertAt(n, p1)
        yield* failsWith(checkpoints.save(n, p2, Option.none()), "CheckpointConflict")
        yield* assertAt(n, p1)
        yield* failsWith(checkpoints.save(n, p2, Option.some(p3)), "CheckpointConflict")
        yield* assertAt(n, p1)
        yield* checkpoints.save(n, p2, Option.some(p1))
        yield* assertAt(n, p2)
        yield* failsWith(checkpoints.save(name("fenced-missing"), p2, Option.some(p1)), "CheckpointConflict")
        yield* assertAt(name("fenced-missing"), undefined)
      }),
    testTimeout
  )

  it.effect(
    "delete removes that checkpoint only; deleting a missing one is fine",
    () =>
      Effect.gen(function* () {
        const { assertAt, checkpoints, name } = yield* fixture
        const [a, b] = [name("a"), name("b")]
        yield* checkpoints.save(a, Position.make(1n, 2n))
        yield* checkpoints.save(b, Position.make(3n, 4n))
        yield* checkpoints.delete(a)
        yield* assertAt(a, undefined)
        yield* assertAt(b, Position.make(3n, 4n))
        assert.isFalse((yield* checkpoints.list).has(a))
        assert.isTrue((yield* checkpoints.list).has(b))
        yield* checkpoints.delete(a)
        yield* checkpoints.delete(name("never"))
      }),
    testTimeout
  )
}
