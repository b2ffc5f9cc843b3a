// Store conformance: a stream's life after its writes — deleted, trimmed, archived, restored —
// with every action recorded on the system stream and verifying clean.
import {
  type EventStore,
  ExpectedVersion,
  Integrity,
  type SnapshotStore,
  StreamLifecycle,
  type StreamName,
  UnitOfWork
} from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import {
  collectBounded,
  comparable,
  eventStoreFixture,
  failsWith,
  type It,
  idsOf,
  newEvent,
  range,
  show,
  testTimeout
} from "./fixture.ts"

/** The services the lifecycle suite needs. */
export type Services =
  | EventStore.EventStore
  | UnitOfWork.UnitOfWork
  | Integrity.Integrity
  | SnapshotStore.SnapshotStore
  | StreamLifecycle.StreamLifecycle

/** The actions recorded on the system stream about `stream`. */
const recordedFor = (store: EventStore.EventStore["Service"], stream: StreamName.StreamName) =>
  Effect.map(collectBounded(store.readStream(StreamLifecycle.systemStream), "the system stream"), (events) =>
    events
      .filter((e) => (e.data as { readonly stream?: unknown }).stream === stream)
      .map((e) => ({ type: e.type, data: e.data, actor: e.metadata.actor }))
  )

const assertClean = (stream: StreamName.StreamName, events: number) =>
  Effect.map(Integrity.verify({ stream }), (report) =>
    assert.deepStrictEqual(report, { streams: 1, events, breaks: [] }, show(report.breaks))
  )

const request = { reason: "the conformance suite says so", actor: "tester@example.com" }

export const lifecycle = (it: It<Services>): void => {
  describe("stream lifecycle", () => {
    it.effect(
      "a deleted stream refuses appends and reads, leaves the global log, verifies clean and is recorded",
      () =>
        Effect.gen(function* () {
          const { append, log, store, stream } = yield* eventStoreFixture
          const [doomed, other] = [stream("doomed"), stream("other")]
          yield* append(
            doomed,
            range(4).map((n) => newEvent({ n })),
            ExpectedVersion.noStream
          )
          yield* append(other, [newEvent({ kept: true })], ExpectedVersion.noStream)
          const otherBefore = yield* collectBounded(store.readStream(other), "other")

          // A stale expected version removes nothing; a stream never written is not found.
          const stale = yield* failsWith(
            StreamLifecycle.tombstone(doomed, { ...request, expectedVersion: ExpectedVersion.exact(2) }),
            "WrongExpectedVersion"
          )
          assert.strictEqual(stale.actualVersion, 3)
          assert.lengthOf(yield* collectBounded(store.readStream(doomed), "doomed"), 4)
          yield* failsWith(StreamLifecycle.tombstone(stream("never"), request), "StreamNotFound")

          const status = yield* StreamLifecycle.tombstone(doomed, {
            ...request,
            expectedVersion: ExpectedVersion.exact(3)
          })
          assert.deepStrictEqual(status, { stream: doomed, version: 3, state: "Deleted", removedBefore: 4 })
          assert.deepStrictEqual(yield* StreamLifecycle.status(doomed), status)

          const read = yield* failsWith(Stream.runCollect(store.readStream(doomed)), "StreamDeleted")
          assert.strictEqual(read.version, 3)
          for (const expected of [
            ExpectedVersion.any,
            ExpectedVersion.noStream,
            ExpectedVersion.streamExists,
            ExpectedVersion.exact(3)
          ]) {
            const refused = yield* failsWith(
              store.append(doomed, [newEvent({ late: true })], expected),
              "StreamDeleted"
            )
            assert.strictEqual(refused.version, 3, ExpectedVersion.format(expected))
          }
          yield* failsWith(StreamLifecycle.trim(doomed, 1, request), "StreamDeleted")
          yield* failsWith(StreamLifecycle.archive(doomed, request), "StreamDeleted")
          yield* failsWith(StreamLifecycle.tombstone(doomed, request), "StreamDeleted")

          // The log holds only the other stream's event; that stream is untouched.
          assert.deepStrictEqual(
            (yield* log()).map((e) => e.stream),
            [other]
          )
          assert.deepStrictEqual(
            (yield* collectBounded(store.readStream(other), "other")).map(comparable),
            otherBefore.map(comparable)
          )
          yield* assertClean(doomed, 0)
          yield* assertClean(other, 1)
          assert.deepStrictEqual(yield* recordedFor(store, doomed), [
            {
              type: "StreamDeleted",
              data: { stream: doomed, version: 3, reason: request.reason },
              actor: request.actor
            }
          ])
        }),
      testTimeout
    )

    it.effect(
      "a trimmed stream reads from the first kept version, goes on at its version and verifies clean",
      () =>
        Effect.gen(function* () {
          const { append, log, store, stream } = yield* eventStoreFixture
          const s = stream("long")
          yield* append(
            s,
            range(6).map((n) => newEvent({ n })),
            ExpectedVersion.noStream
          )
          const before = yield* collectBounded(store.readStream(s), "before")

          for (const bad of [0, 6, 7, 1.5, Number.NaN, -1]) {
            yield* failsWith(StreamLifecycle.trim(s, bad, request), "InvalidTrim")
          }
          yield* failsWith(StreamLifecycle.trim(stream("never"), 1, request), "StreamNotFound")
          assert.lengthOf(yield* collectBounded(store.readStream(s), "untrimmed"), 6)

          const status = yield* StreamLifecycle.trim(s, 3, request)
          assert.deepStrictEqual(status, { stream: s, version: 5, state: "Live", removedBefore: 3 })
          const kept = before.slice(3).map(comparable)
          assert.deepStrictEqual((yield* collectBounded(store.readStream(s), "forward")).map(comparable), kept)
          assert.deepStrictEqual(
            (yield* collectBounded(store.readStream(s, { from: 1, maxCount: 2 }), "from 1")).map(comparable),
            kept.slice(0, 2)
          )
          assert.deepStrictEqual(
            (yield* collectBounded(store.readStream(s, { direction: "backward", from: 10 }), "backward")).map(
              comparable
            ),
            [...kept].reverse()
          )
          assert.deepStrictEqual(
            yield* collectBounded(store.readStream(s, { direction: "backward", from: 2 }), "below the cut"),
            []
          )
          assert.deepStrictEqual(idsOf(yield* log()), idsOf(before.slice(3)))
          yield* assertClean(s, 3)

          // Trimming less than already trimmed changes nothing; the stream goes on at its version.
          assert.deepStrictEqual(yield* StreamLifecycle.trim(s, 2, request), status)
          yield* failsWith(store.append(s, [newEvent({ again: 0 })], ExpectedVersion.noStream), "WrongExpectedVersion")
          const next = yield* append(s, [newEvent({ n: 6 })], ExpectedVersion.exact(5))
          assert.strictEqual(next.streamVersion, 6)
          yield* assertClean(s, 4)
          // A second, later trim: the chain still starts where the marker says.
          yield* StreamLifecycle.trim(s, 6, request)
          assert.deepStrictEqual(
            (yield* collectBounded(store.readStream(s), "after the second trim")).map((e) => e.streamVersion),
            [6]
          )
          yield* assertClean(s, 1)
          assert.deepStrictEqual(
            (yield* recordedFor(store, s)).map((r) => [r.type, (r.data as { removedBefore: number }).removedBefore]),
            [
              ["StreamTrimmed", 3],
              ["StreamTrimmed", 3],
              ["StreamTrimmed", 6]
            ]
          )
        }),
      testTimeout
    )

    it.effect(
      "an archived stream reads back exactly, in its stream and in the global log, refuses appends until restored",
      () =>
        Effect.gen(function* () {
          const { append, log, store, stream } = yield* eventStoreFixture
          const [cold, hot] = [stream("cold"), stream("hot")]
          yield* append(cold, [newEvent({ a: "ünï 😀" }), newEvent({ sql: "'; DROP TABLE events; --" })])
          yield* append(hot, [newEvent({ hot: 1 })])
          yield* append(cold, [newEvent({ c: [1, 2, 3] })])
          const stream0 = (yield* collectBounded(store.readStream(cold), "cold")).map(comparable)
          const log0 = (yield* log()).map(comparable)

          const status = yield* StreamLifecycle.archive(cold, request)
          assert.deepStrictEqual(status, { stream: cold, version: 2, state: "Archived", removedBefore: 0 })
          assert.deepStrictEqual((yield* collectBounded(store.readStream(cold), "archived")).map(comparable), stream0)
          assert.deepStrictEqual(
            (yield* collectBounded(store.readStream(cold, { direction: "backward", from: 1 }), "backward")).map(
              comparable
            ),
            [stream0[1]!, stream0[0]!]
          )
          assert.deepStrictEqual((yield* log()).map(comparable), log0)
          assert.strictEqual(yield* store.streamVersion(cold), 2)
          yield* failsWith(store.append(cold, [newEvent({ late: 1 })], ExpectedVersion.exact(2)), "StreamArchived")
          yield* assertClean(cold, 3)
          // Archiving again changes nothing; the other stream is untouched and appendable.
          assert.deepStrictEqual(yield* StreamLifecycle.archive(cold, request), status)
          yield* append(hot, [newEvent({ hot: 2 })], ExpectedVersion.exact(0))

          const restored = yield* StreamLifecycle.restore(cold, request)
          assert.deepStrictEqual(restored, { stream: cold, version: 2, state: "Live", removedBefore: 0 })
          assert.deepStrictEqual((yield* collectBounded(store.readStream(cold), "restored")).map(comparable), stream0)
          yield* append(cold, [newEvent({ back: true })], ExpectedVersion.exact(2))
          yield* assertClean(cold, 4)
          assert.deepStrictEqual(
            (yield* recordedFor(store, cold)).map((r) => r.type),
            ["StreamArchived", "StreamArchived", "StreamRestored"]
          )
        }),
      testTimeout
    )

    it.effect(
      "a lifecycle action inside a unit of work that fails is rolled back with its record",
      () =>
        Effect.gen(function* () {
          const { append, log, store, stream } = yield* eventStoreFixture
          const unit = yield* UnitOfWork.UnitOfWork
          const [a, b] = [stream("a"), stream("b")]
          yield* append(
            a,
            range(3).map((n) => newEvent({ n }))
          )
          yield* append(
            b,
            range(3).map((n) => newEvent({ n }))
          )
          const log0 = (yield* log()).map(comparable)
          yield* Effect.flip(
            unit.run(
              Effect.gen(function* () {
                yield* StreamLifecycle.tombstone(a, request)
                yield* StreamLifecycle.trim(b, 2, request)
                return yield* Effect.fail("the unit gives up" as const)
              })
            )
          )
          assert.deepStrictEqual((yield* log()).map(comparable), log0)
          assert.deepStrictEqual(
            Option.map(yield* (yield* StreamLifecycle.StreamLifecycle).status(a), (s) => s.state),
            Option.some("Live" as const)
          )
          assert.lengthOf(yield* collectBounded(store.readStream(b), "b"), 3)
          yield* append(a, [newEvent({ n: 3 })], ExpectedVersion.exact(2))
          assert.deepStrictEqual(yield* recordedFor(store, a), [])
          yield* assertClean(a, 4)
          yield* assertClean(b, 3)
        }),
      testTimeout
    )

    it.effect(
      "list gives a category's streams in name order, a page at a time, with their status",
      () =>
        Effect.gen(function* () {
          const { append, category, stream } = yield* eventStoreFixture
          const names = ["c", "a", "b"].map(stream)
          for (const name of names) yield* append(name, [newEvent({ name })])
          yield* StreamLifecycle.tombstone(names[0]!, request)
          const lifecycle = yield* StreamLifecycle.StreamLifecycle
          const all = yield* lifecycle.list({ category })
          assert.deepStrictEqual(
            all.map((s) => [s.stream, s.state]),
            [
              [stream("a"), "Live"],
              [stream("b"), "Live"],
              [stream("c"), "Deleted"]
            ]
          )
          const page = yield* lifecycle.list({ category, after: stream("a"), limit: 1 })
          assert.deepStrictEqual(
            page.map((s) => s.stream),
            [stream("b")]
          )
          assert.deepStrictEqual(yield* lifecycle.list({ category: `${category}x` }), [])
          assert.isTrue(Option.isNone(yield* lifecycle.status(stream("never"))))
        }),
      testTimeout
    )
  })
}
