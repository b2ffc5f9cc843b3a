// Store conformance: `appendMany` is atomic across streams, checks each stream's expected version, and
// is idempotent as a whole.
import { type Envelope, type EventStore, ExpectedVersion, Position, type StreamName } from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import {
  assertOrdered,
  assertStreamsContiguous,
  eventStoreFixture,
  failsWith,
  idsOf,
  type It,
  newEvent,
  testTimeout
} from "./fixture.ts"

/**
 * `appendMany` is atomic across streams, checks each stream's expected version, and is idempotent as a whole.
 */
export const appendMany = (it: It<EventStore.EventStore>): void => {
  describe("appendMany", () => {
    it.effect(
      "checks each stream's own expected version and writes nothing to any stream when one is wrong",
      () =>
        Effect.gen(function* () {
          const { append, appendMany, log, readStream, store, stream } = yield* eventStoreFixture
          const [a, b, c] = [stream("a"), stream("b"), stream("c")]
          const b0 = newEvent({ b: 0 })
          yield* append(b, [b0], ExpectedVersion.noStream)
          for (const wrong of [ExpectedVersion.noStream, ExpectedVersion.exact(1)]) {
            const error = yield* failsWith(
              store.appendMany([
                { stream: a, events: [newEvent({ a: 0 })], expectedVersion: ExpectedVersion.noStream },
                { stream: b, events: [newEvent({ b: 1 })], expectedVersion: wrong },
                { stream: c, events: [newEvent({ c: 0 }), newEvent({ c: 1 })], expectedVersion: ExpectedVersion.any }
              ]),
              "WrongExpectedVersion"
            )
            assert.strictEqual(error.stream, b)
            assert.strictEqual(error.actualVersion, 0)
          }
          // The last stream is the wrong one.
          yield* failsWith(
            store.appendMany([
              { stream: a, events: [newEvent({ a: 0 })], expectedVersion: ExpectedVersion.noStream },
              { stream: c, events: [newEvent({ c: 0 })], expectedVersion: ExpectedVersion.streamExists }
            ]),
            "WrongExpectedVersion"
          )
          assert.deepStrictEqual(
            [yield* store.streamVersion(a), yield* store.streamVersion(b), yield* store.streamVersion(c)],
            [-1, 0, -1]
          )
          assert.deepStrictEqual(yield* readStream(a), [])
          assert.deepStrictEqual(yield* readStream(c), [])
          assert.deepStrictEqual(idsOf(yield* log()), [b0.eventId])

          // All expectations right: everything is written, results in the order asked.
          const parts = [
            {
              stream: c,
              events: [newEvent({ c: 0 }), newEvent({ c: 1 })],
              expectedVersion: ExpectedVersion.noStream
            },
            { stream: b, events: [newEvent({ b: 1 })], expectedVersion: ExpectedVersion.exact(0) },
            { stream: a, events: [newEvent({ a: 0 })], expectedVersion: ExpectedVersion.any }
          ]
          const results = yield* appendMany(parts)
          assert.deepStrictEqual(
            results.map((r) => [r.stream, r.streamVersion, r.positions.length]),
            [
              [c, 1, 2],
              [b, 1, 1],
              [a, 0, 1]
            ]
          )
          for (const [i, part] of parts.entries()) {
            const read = yield* readStream(part.stream)
            const mine = read.slice(read.length - part.events.length)
            assert.deepStrictEqual(idsOf(mine), idsOf(part.events))
            assert.deepStrictEqual(
              mine.map((e) => Position.format(e.position)),
              results[i]!.positions.map(Position.format)
            )
          }
          const all = yield* log()
          assert.strictEqual(all.length, 5)
          assertOrdered(all)
          assertStreamsContiguous(all)
        }),
      testTimeout
    )

    it.effect(
      "writes nothing when one part has a bad event, a recorded id, an id another part uses, or a stream twice",
      () =>
        Effect.gen(function* () {
          const { append, log, store, stream } = yield* eventStoreFixture
          const [a, b, taken] = [stream("a"), stream("b"), stream("taken")]
          const recorded = newEvent({ recorded: true })
          yield* append(taken, [recorded], ExpectedVersion.noStream)
          const part = (s: StreamName.StreamName, events: ReadonlyArray<Envelope.EventData>) => ({
            stream: s,
            events,
            expectedVersion: ExpectedVersion.any
          })
          yield* failsWith(
            store.appendMany([part(a, [newEvent({ a: 0 })]), part(b, [newEvent({ b: 0 }), newEvent({ big: 1n })])]),
            "InvalidAppend"
          )
          yield* failsWith(store.appendMany([part(a, [newEvent({ a: 0 })]), part(b, [])]), "InvalidAppend")
          yield* failsWith(
            store.appendMany([part(a, [newEvent({ a: 0 })]), part(b, [newEvent({ b: 0 }), recorded])]),
            "DuplicateEventId"
          )
          const shared = newEvent({ shared: true })
          yield* failsWith(
            store.appendMany([part(a, [newEvent({ a: 0 }), shared]), part(b, [shared])]),
            "DuplicateEventId",
            "InvalidAppend"
          )
          yield* failsWith(
            store.appendMany([
              part(a, [newEvent({ a: 0 })]),
              part(b, [newEvent({ b: 0 })]),
              part(a, [newEvent({ a: 1 })])
            ]),
            "InvalidAppend"
          )
          assert.deepStrictEqual([yield* store.streamVersion(a), yield* store.streamVersion(b)], [-1, -1])
          assert.deepStrictEqual(idsOf(yield* log()), [recorded.eventId])
        }),
      testTimeout
    )

    it.effect(
      "repeating a whole appendMany returns the first results and writes nothing more",
      () =>
        Effect.gen(function* () {
          const { appendMany, log, stream } = yield* eventStoreFixture
          const parts = [
            {
              stream: stream("a"),
              events: [newEvent({ a: 0 }), newEvent({ a: 1 })],
              expectedVersion: ExpectedVersion.noStream
            },
            { stream: stream("b"), events: [newEvent({ b: 0 })], expectedVersion: ExpectedVersion.noStream }
          ]
          const first = yield* appendMany(parts)
          const again = yield* appendMany(parts)
          assert.deepStrictEqual(again, first)
          assert.strictEqual((yield* log()).length, 3)
        }),
      testTimeout
    )
  })
}
