// Store conformance: what was appended reads back exactly: awkward JSON, odd stream names, envelopes
// with the right versions, positions and time; stream reads page forward and backward.
import { type Envelope, type EventStore, ExpectedVersion, Position, StreamName } from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { DateTime, Effect } from "effect"
import {
  assertOrdered,
  assertStrictlyIncreasing,
  awkward,
  clockSkewMillis,
  comparable,
  eventStoreFixture,
  idsOf,
  type It,
  newEvent,
  newEventId,
  range,
  testTimeout
} from "./fixture.ts"

/**
 * What was appended reads back exactly: awkward JSON, odd stream names, envelopes with the right versions, positions and time; stream reads page forward and backward.
 */
export const readingBack = (it: It<EventStore.EventStore>): void => {
  describe("reading back", () => {
    it.effect(
      "reads back exactly what was appended: ids, types, versions, data, metadata, positions and time",
      () =>
        Effect.gen(function* () {
          const { append, log, readStream, store, stream } = yield* eventStoreFixture
          const s = stream(`it's "quoted" \\ back\\slash ünïcødé 漢字 😀 spaced out`)
          const metadata: Envelope.Metadata = {
            correlationId: `corr-'"\\😀`,
            causationId: newEventId(),
            actor: "alice'; DROP TABLE events; --",
            traceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            extra: { ...awkward, n: 3 }
          }
          const events = [
            newEvent(awkward, { metadata, type: "Awkward", schemaVersion: 3 }),
            newEvent(["'; DROP TABLE events; --", "", 0, -1.5, true, null, { "": "" }], { type: "AnArray" }),
            newEvent('a plain string with "quotes", \\ and 😀', { type: "AString" }),
            newEvent(9007199254740991, { type: "ANumber" }),
            newEvent(null, { type: "ANull" }),
            newEvent(false, { type: "ABoolean" }),
            newEvent({}, { type: "Type.with-odd_chars ünï 'q'", schemaVersion: 2, metadata: { extra: {} } }),
            newEvent({ only: "correlation" }, { metadata: { correlationId: "c" } })
          ]
          const before = yield* DateTime.now
          const result = yield* append(s, events, ExpectedVersion.noStream)
          const after = yield* DateTime.now

          assert.strictEqual(result.stream, s)
          assert.strictEqual(result.streamVersion, events.length - 1)
          assert.strictEqual(result.positions.length, events.length)
          assertStrictlyIncreasing(result.positions, "append result positions")
          assert.isTrue(
            result.positions.every((p) => Position.isAfter(p, Position.start)),
            "positions are after Position.start"
          )

          const read = yield* readStream(s)
          assert.strictEqual(read.length, events.length)
          read.forEach((e, i) => {
            const sent = events[i]!
            assert.deepStrictEqual(
              {
                eventId: e.eventId,
                type: e.type,
                schemaVersion: e.schemaVersion,
                data: e.data,
                metadata: e.metadata
              },
              {
                eventId: sent.eventId,
                type: sent.type,
                schemaVersion: sent.schemaVersion,
                data: sent.data,
                metadata: sent.metadata
              },
              `event #${i}`
            )
            assert.strictEqual(e.stream, s)
            assert.strictEqual(e.streamVersion, i)
            assert.isTrue(Position.equals(e.position, result.positions[i]!), `position of event #${i}`)
            assert.isTrue(DateTime.isDateTime(e.recordedAt) && DateTime.isUtc(e.recordedAt), "recordedAt is Utc")
            const recorded = DateTime.toEpochMillis(e.recordedAt)
            assert.isTrue(
              recorded >= DateTime.toEpochMillis(before) - clockSkewMillis &&
                recorded <= DateTime.toEpochMillis(after) + clockSkewMillis,
              `recordedAt ${DateTime.formatIso(e.recordedAt)} is about now`
            )
          })
          assertOrdered(read)
          assert.strictEqual(yield* store.streamVersion(s), events.length - 1)

          // The global log holds the same envelopes, in the same order.
          const all = yield* log()
          assert.deepStrictEqual(all.map(comparable), read.map(comparable))
        }),
      testTimeout
    )

    it.effect(
      "keeps streams with odd but valid names apart and reads each back under its own name",
      () =>
        Effect.gen(function* () {
          const { append, category, log, readStream, store, stream } = yield* eventStoreFixture
          const names = [
            "'; DROP TABLE x;--",
            `it's "quoted"`,
            "back\\slash",
            "spa ce",
            " leading and trailing ",
            "ünï 😀 漢字",
            "%",
            "_",
            "*",
            "a-b-c",
            "Case",
            "case"
          ].map(stream)
          const sent = new Map<string, Envelope.EventData>()
          for (const name of names) {
            const event = newEvent({ name })
            sent.set(name, event)
            yield* append(name, [event], ExpectedVersion.noStream)
          }
          for (const name of names) {
            const read = yield* readStream(name)
            assert.deepStrictEqual(
              read.map((e) => [e.stream, e.streamVersion, e.eventId, e.data]),
              [[name, 0, sent.get(name)!.eventId, { name }]],
              `stream ${JSON.stringify(name)}`
            )
            assert.strictEqual(yield* store.streamVersion(name), 0)
            assert.strictEqual(StreamName.category(read[0]!.stream), category)
          }
          const all = yield* log()
          assert.deepStrictEqual(
            all.map((e) => e.stream),
            names
          )
        }),
      testTimeout
    )
  })
  describe("reading streams", () => {
    it.effect(
      "reads forward and backward, from a version, up to a count; a missing stream reads as empty",
      () =>
        Effect.gen(function* () {
          const { append, readStream, store, stream } = yield* eventStoreFixture
          const s = stream("pages")
          const events = range(10).map((i) => newEvent({ i }))
          yield* append(s, events, ExpectedVersion.noStream)
          const versions = (options?: EventStore.ReadStreamOptions) =>
            Effect.map(readStream(s, options), (es) => es.map((e) => e.streamVersion))
          assert.deepStrictEqual(yield* versions(), range(10))
          assert.deepStrictEqual(yield* versions({ direction: "forward" }), range(10))
          assert.deepStrictEqual(yield* versions({ from: 7 }), [7, 8, 9])
          assert.deepStrictEqual(yield* versions({ from: 9 }), [9])
          assert.deepStrictEqual(yield* versions({ from: 2, maxCount: 3 }), [2, 3, 4])
          assert.deepStrictEqual(yield* versions({ from: 8, maxCount: 5 }), [8, 9])
          assert.deepStrictEqual(yield* versions({ from: 10 }), [])
          assert.deepStrictEqual(yield* versions({ from: 20 }), [])
          assert.deepStrictEqual(yield* versions({ maxCount: 0 }), [])
          assert.deepStrictEqual(yield* versions({ direction: "backward" }), range(10).toReversed())
          assert.deepStrictEqual(yield* versions({ direction: "backward", maxCount: 3 }), [9, 8, 7])
          assert.deepStrictEqual(yield* versions({ direction: "backward", from: 4, maxCount: 2 }), [4, 3])
          assert.deepStrictEqual(yield* versions({ direction: "backward", from: 1, maxCount: 5 }), [1, 0])
          assert.deepStrictEqual(yield* versions({ direction: "backward", from: 0 }), [0])
          assert.deepStrictEqual(yield* versions({ direction: "backward", from: 20, maxCount: 2 }), [9, 8])
          assert.deepStrictEqual(yield* versions({ direction: "backward", maxCount: 0 }), [])
          // Backward reads the same envelopes as forward.
          assert.deepStrictEqual(
            (yield* readStream(s, { direction: "backward" })).map(comparable),
            (yield* readStream(s)).map(comparable).toReversed()
          )
          assert.deepStrictEqual(idsOf(yield* readStream(s)), idsOf(events))

          const missing = stream("missing")
          assert.deepStrictEqual(yield* readStream(missing), [])
          assert.deepStrictEqual(yield* readStream(missing, { direction: "backward" }), [])
          assert.strictEqual(yield* store.streamVersion(missing), -1)
        }),
      testTimeout
    )

    it.effect(
      "a long stream reads back whole in both directions, across any internal batch size",
      () =>
        Effect.gen(function* () {
          const { append, log, readStream, stream } = yield* eventStoreFixture
          const s = stream("long")
          const count = 2500
          const events = range(count).map((i) => newEvent({ i }))
          const result = yield* append(s, events, ExpectedVersion.noStream)
          assert.strictEqual(result.streamVersion, count - 1)
          const forward = yield* readStream(s)
          assert.deepStrictEqual(idsOf(forward), idsOf(events))
          assert.deepStrictEqual(
            forward.map((e) => e.streamVersion),
            range(count)
          )
          assertOrdered(forward)
          const backward = yield* readStream(s, { direction: "backward" })
          assert.deepStrictEqual(idsOf(backward), idsOf(events).toReversed())
          assert.deepStrictEqual(
            (yield* readStream(s, { from: 1000, maxCount: 1200 })).map((e) => e.streamVersion),
            range(1200).map((i) => 1000 + i)
          )
          assert.deepStrictEqual(
            (yield* readStream(s, { direction: "backward", from: 2400, maxCount: 1500 })).map((e) => e.streamVersion),
            range(1500).map((i) => 2400 - i)
          )
          assert.deepStrictEqual(idsOf(yield* log()), idsOf(events))
        }),
      testTimeout
    )
  })
}
