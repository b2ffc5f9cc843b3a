import { EventStore, ExpectedVersion, MemoryStore, Position, ReadCheck, StreamName } from "@chronicle/core"
import { assert, describe, it, layer } from "@effect/vitest"
import { Arbitrary, Effect, Schema, Stream } from "effect"
import { bigint, number } from "./inputs.ts"

const properties = { arbitrary: { runs: 1000 } }

/** The versions a read selects, by comparison alone: at most `maxCount` of those on the `from` side. */
const selected = (count: number, options: EventStore.ReadStreamOptions): ReadonlyArray<number> => {
  const backward = options.direction === "backward"
  const versions = Array.from({ length: count }, (_, i) => (backward ? count - 1 - i : i))
  const { from, maxCount = Number.POSITIVE_INFINITY } = options
  return versions
    .filter((v) => from === undefined || (backward ? v <= from : v >= from))
    .filter((_, i) => i + 1 <= maxCount)
}

const readOptions: Arbitrary.Arbitrary<EventStore.ReadStreamOptions> = Arbitrary.map(
  Arbitrary.all({
    from: number,
    maxCount: number,
    given: Arbitrary.schema(Schema.Int),
    backward: Arbitrary.schema(Schema.Boolean)
  }),
  ({ backward, from, given, maxCount }) => ({
    ...(given % 2 === 0 ? { from } : {}),
    ...(given % 3 === 0 ? {} : { maxCount }),
    direction: backward ? "backward" : "forward"
  })
)

const maxCommit = 2n ** 64n - 1n
const maxSequence = 2n ** 63n - 1n

/** Positions an event can have, near `p` and near the bounds. */
const eventPositionsNear = (p: Position.Position): ReadonlyArray<Position.Position> => {
  const near = (x: bigint, max: bigint) => [1n, 2n, x - 1n, x, x + 1n, max - 1n, max].filter((y) => y >= 1n && y <= max)
  return near(p.commit, maxCommit).flatMap((commit) =>
    near(p.sequence, maxSequence).map((sequence) => Position.make(commit, sequence))
  )
}

describe("ReadCheck", () => {
  layer(MemoryStore.layer())("on the in-memory store", (it) => {
    it.effect.prop(
      "a stream read selects exactly the versions its options compare to, whatever the numbers",
      [readOptions],
      ([options]) =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const stream = StreamName.make("read", "check")
          if ((yield* store.streamVersion(stream)) < 0) {
            const events = Array.from({ length: 5 }, (_, i) => ({
              eventId: `0190a8b0-0000-7000-8000-00000000000${i}`,
              type: "Happened",
              schemaVersion: 1,
              data: { i },
              metadata: {}
            }))
            yield* store.append(stream, events, ExpectedVersion.noStream)
          }
          const read = yield* Stream.runCollect(store.readStream(stream, options))
          assert.deepStrictEqual(
            read.map((e) => e.streamVersion),
            selected(5, options)
          )
        }),
      properties
    )
  })

  it.prop(
    "a position kept in range reads after exactly the events the original does",
    [bigint, bigint],
    ([commit, sequence]) => {
      const original = Position.make(commit, sequence)
      const kept = ReadCheck.after(original)
      assert.isTrue(kept.commit >= 0n && kept.commit <= maxCommit, "commit in xid8 range")
      assert.isTrue(kept.sequence >= 0n && kept.sequence <= maxSequence, "sequence in bigint range")
      for (const event of eventPositionsNear(original)) {
        assert.strictEqual(
          Position.isAfter(event, kept),
          Position.isAfter(event, original),
          `event ${Position.format(event)} after ${Position.format(kept)}`
        )
      }
    },
    properties
  )

  it("a position whose parts are not bigints is a TypeError", () => {
    for (const position of [{ commit: 1, sequence: 1 }, { commit: "1", sequence: "1" }, { commit: 1n }]) {
      assert.throws(() => ReadCheck.after(position as unknown as Position.Position), TypeError)
    }
    assert.deepStrictEqual(ReadCheck.after(undefined), Position.start)
  })

  it.prop(
    "a batch size is an integer from 1 to 2^31 - 1: the one asked for, rounded down, or the fallback for NaN",
    [number],
    ([requested]) => {
      const size = ReadCheck.batchSize(requested, 1000)
      assert.isTrue(Number.isInteger(size) && size >= 1 && size <= ReadCheck.maxBatchSize, `${requested} -> ${size}`)
      if (Number.isNaN(requested)) assert.strictEqual(size, 1000)
      else if (requested >= 1 && requested <= ReadCheck.maxBatchSize) assert.strictEqual(size, Math.floor(requested))
    },
    properties
  )
})
