// Store conformance: the `SnapshotStore` keeps the newest snapshot of each stream exactly.
import { SnapshotStore, StreamName } from "@chronicle/core"
import { assert } from "@effect/vitest"
import { DateTime, Effect, Option } from "effect"
import { awkward, clockSkewMillis, type It, randomCategory, testTimeout } from "./fixture.ts"

/**
 * The `SnapshotStore` keeps the newest snapshot of each stream exactly.
 */
export const snapshotStore = (it: It<SnapshotStore.SnapshotStore>): void => {
  const fixture = Effect.gen(function* () {
    const snapshots = yield* SnapshotStore.SnapshotStore
    const category = randomCategory()
    const stream = (id: string) => StreamName.make(category, id)
    const load = (s: StreamName.StreamName) => Effect.map(snapshots.load(s), Option.getOrUndefined)
    return { snapshots, stream, load }
  })

  it.effect(
    "a stream without a snapshot loads as None",
    () =>
      Effect.gen(function* () {
        const { snapshots, stream } = yield* fixture
        assert.isTrue(Option.isNone(yield* snapshots.load(stream("none"))))
      }),
    testTimeout
  )

  it.effect(
    "saves and loads the state, versions and stream exactly",
    () =>
      Effect.gen(function* () {
        const { load, snapshots, stream } = yield* fixture
        const s = stream(`snap '; DROP TABLE snapshots; -- ünï 😀`)
        const state = { ...awkward, balance: 10, history: ["a", "b"], owner: "ünï '; --" }
        const before = yield* DateTime.now
        yield* snapshots.save({ stream: s, streamVersion: 9, schemaVersion: 2, state })
        const loaded = yield* load(s)
        assert.isDefined(loaded)
        assert.deepStrictEqual(
          [loaded!.stream, loaded!.streamVersion, loaded!.schemaVersion, loaded!.state],
          [s, 9, 2, state]
        )
        assert.isTrue(DateTime.isDateTime(loaded!.recordedAt) && DateTime.isUtc(loaded!.recordedAt))
        assert.isTrue(
          Math.abs(DateTime.toEpochMillis(loaded!.recordedAt) - DateTime.toEpochMillis(before)) < clockSkewMillis,
          "recordedAt is about now"
        )
        const list = stream("a-list")
        yield* snapshots.save({ stream: list, streamVersion: 0, schemaVersion: 1, state: [1, "two", { three: 3 }] })
        assert.deepStrictEqual((yield* load(list))?.state, [1, "two", { three: 3 }])
      }),
    testTimeout
  )

  it.effect(
    "an older snapshot never replaces a newer one; a newer one does",
    () =>
      Effect.gen(function* () {
        const { load, snapshots, stream } = yield* fixture
        const s = stream("versions")
        yield* snapshots.save({ stream: s, streamVersion: 9, schemaVersion: 2, state: { at: 9 } })
        yield* snapshots.save({ stream: s, streamVersion: 4, schemaVersion: 2, state: { at: 4 } })
        yield* snapshots.save({ stream: s, streamVersion: 8, schemaVersion: 3, state: { at: 8 } })
        const kept = yield* load(s)
        assert.deepStrictEqual([kept?.streamVersion, kept?.schemaVersion, kept?.state], [9, 2, { at: 9 }])
        yield* snapshots.save({ stream: s, streamVersion: 19, schemaVersion: 3, state: { at: 19 } })
        const newer = yield* load(s)
        assert.deepStrictEqual([newer?.streamVersion, newer?.schemaVersion, newer?.state], [19, 3, { at: 19 }])
      }),
    testTimeout
  )

  it.effect(
    "delete removes that stream's snapshot only; deleting a missing one is fine",
    () =>
      Effect.gen(function* () {
        const { load, snapshots, stream } = yield* fixture
        const [a, b] = [stream("a"), stream("b")]
        yield* snapshots.save({ stream: a, streamVersion: 5, schemaVersion: 1, state: { a: true } })
        yield* snapshots.save({ stream: b, streamVersion: 7, schemaVersion: 1, state: { b: true } })
        yield* snapshots.delete(a)
        assert.isUndefined(yield* load(a))
        assert.deepStrictEqual((yield* load(b))?.state, { b: true })
        yield* snapshots.delete(a)
        yield* snapshots.delete(stream("never"))
        // After a delete, any version may be saved again.
        yield* snapshots.save({ stream: a, streamVersion: 1, schemaVersion: 1, state: { again: true } })
        assert.deepStrictEqual((yield* load(a))?.state, { again: true })
      }),
    testTimeout
  )
}
