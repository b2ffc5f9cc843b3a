// Store conformance: bad input gets a typed error and writes nothing; odd read options read the same on
// every store.
import { type Envelope, type EventStore, ExpectedVersion, Position, StreamName } from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import {
  collect,
  deliveryTimeout,
  describeError,
  dies,
  eventStoreFixture,
  failsWith,
  failure,
  idsOf,
  invalidAppend,
  type It,
  newEvent,
  range,
  show,
  testTimeout,
  within
} from "./fixture.ts"

/**
 * Bad input gets a typed error and writes nothing; odd read options read the same on every store.
 */
export const invalidInput = (it: It<EventStore.EventStore>): void => {
  describe("invalid input", () => {
    it.effect(
      "malformed appends fail with InvalidAppend and write nothing",
      () =>
        Effect.gen(function* () {
          const { append, log, store, stream } = yield* eventStoreFixture
          const s = stream("bad")
          const valid = () => newEvent({ ok: true })
          const circular: { self?: unknown } = {}
          circular.self = circular
          const cases: ReadonlyArray<readonly [string, ReadonlyArray<Envelope.EventData>]> = [
            ["no events", []],
            ["an id that is not a UUID", [{ ...valid(), eventId: "not-a-uuid" }]],
            ["an empty id", [{ ...valid(), eventId: "" }]],
            ["a UUID without dashes", [{ ...valid(), eventId: valid().eventId.replaceAll("-", "") }]],
            ["a UUID in braces", [{ ...valid(), eventId: `{${valid().eventId}}` }]],
            ["a UUID with a non-hex digit", [{ ...valid(), eventId: `${valid().eventId.slice(0, -1)}g` }]],
            ["an empty type", [{ ...valid(), type: "" }]],
            ["schema version 0", [{ ...valid(), schemaVersion: 0 }]],
            ["a negative schema version", [{ ...valid(), schemaVersion: -1 }]],
            ["a fractional schema version", [{ ...valid(), schemaVersion: 1.5 }]],
            ["a NaN schema version", [{ ...valid(), schemaVersion: Number.NaN }]],
            ["a BigInt as data", [newEvent(1n)]],
            ["a BigInt inside data", [newEvent({ amount: [1n] })]],
            ["a cyclic object as data", [newEvent(circular)]],
            ["undefined as data", [newEvent(undefined)]],
            ["a function as data", [newEvent(() => 1)]],
            ["a BigInt in metadata", [newEvent({}, { metadata: { extra: { big: 1n } } })]],
            ["a valid event, then a bad one", [valid(), { ...valid(), schemaVersion: 0 }]],
            ["a type of 257 characters", [{ ...valid(), type: "t".repeat(257) }]],
            ["a type with NUL", [{ ...valid(), type: "Hap\u0000pened" }]],
            ["a type with a lone high surrogate", [{ ...valid(), type: "Happened\ud800" }]],
            ["a type with a lone low surrogate", [{ ...valid(), type: "\udc00Happened" }]],
            ["a type that is not a string", [{ ...valid(), type: 42 as unknown as string }]],
            ["schema version 2^31", [{ ...valid(), schemaVersion: 2 ** 31 }]],
            ["an infinite schema version", [{ ...valid(), schemaVersion: Number.POSITIVE_INFINITY }]],
            ["a lone surrogate in a data string", [newEvent({ text: "a\ud800b" })]],
            ["a lone surrogate in a data key", [newEvent({ nested: [{ "k\udfff": 1 }] })]],
            ["reversed surrogates in data", [newEvent({ text: "\ude00\ud83d" })]],
            ["a lone surrogate in metadata", [newEvent({}, { metadata: { actor: "\ud83d" } })]],
            ["a lone surrogate in a metadata key", [newEvent({}, { metadata: { extra: { "\udbff": true } } })]]
          ]
          for (const [label, events] of cases) {
            const error = yield* failure(store.append(s, events, ExpectedVersion.any), label)
            assert.strictEqual(error._tag, "InvalidAppend", `${label}: ${describeError(error)}`)
          }
          assert.strictEqual(yield* store.streamVersion(s), -1)
          assert.deepStrictEqual(idsOf(yield* log()), [])
          // Nothing was poisoned: a good append still starts the stream at version 0.
          assert.strictEqual((yield* append(s, [valid()], ExpectedVersion.noStream)).streamVersion, 0)
        }),
      testTimeout
    )

    it.effect(
      "input at the edges of valid is accepted and reads back exactly",
      () =>
        Effect.gen(function* () {
          const { append, readStream, stream } = yield* eventStoreFixture
          const s = stream("edges")
          const events = [
            newEvent(
              { nul: "a\u0000b", text: "\\ud800 is six characters", pair: "😀\ud83d\ude00", "😀 key": "\u0001" },
              {
                type: "t".repeat(256),
                schemaVersion: 2 ** 31 - 1,
                metadata: { actor: "o\u0000", extra: { "\\udc00": "\ud83d\ude00" } }
              }
            ),
            newEvent({}, { type: "Happened \t ünï 😀 \u2028\ufffd" })
          ]
          yield* append(s, events, ExpectedVersion.noStream)
          const stored = (e: Envelope.EventData) => [e.eventId, e.type, e.schemaVersion, e.data, e.metadata]
          assert.deepStrictEqual((yield* readStream(s)).map(stored), events.map(stored))
          // The highest exact version is valid input: the stream is at 1, so the append is a conflict.
          const conflict = yield* failsWith(
            append(s, [newEvent({})], ExpectedVersion.exact(ExpectedVersion.maxExact)),
            "WrongExpectedVersion"
          )
          assert.strictEqual(conflict.actualVersion, 1)
        }),
      testTimeout
    )

    it.effect(
      "a bad expected version fails with InvalidAppend, in append and appendMany, and writes nothing",
      () =>
        Effect.gen(function* () {
          const { log, store, stream } = yield* eventStoreFixture
          const s = stream("expected")
          const other = stream("other")
          const bad: ReadonlyArray<readonly [string, unknown]> = [
            ["exact -1", ExpectedVersion.exact(-1)],
            ["exact -2", ExpectedVersion.exact(-2)],
            ["a fractional exact version", ExpectedVersion.exact(0.5)],
            ["a NaN exact version", ExpectedVersion.exact(Number.NaN)],
            ["an infinite exact version", ExpectedVersion.exact(Number.POSITIVE_INFINITY)],
            ["exact 2^31 - 1 (no event can follow it)", ExpectedVersion.exact(2 ** 31 - 1)],
            ["exact 2^31", ExpectedVersion.exact(2 ** 31)],
            ["an exact version that is a string", { _tag: "Exact", version: "0" }],
            ["an exact version without a version", { _tag: "Exact" }],
            ["an unknown tag", { _tag: "Bogus" }],
            ["undefined", undefined],
            ["null", null]
          ]
          for (const [label, expected] of bad) {
            const expectedVersion = expected as ExpectedVersion.ExpectedVersion
            yield* invalidAppend(store.append(s, [newEvent({})], expectedVersion), label)
            yield* invalidAppend(
              store.appendMany([
                { stream: other, events: [newEvent({})], expectedVersion: ExpectedVersion.any },
                { stream: s, events: [newEvent({})], expectedVersion }
              ]),
              `${label}, in appendMany`
            )
          }
          assert.deepStrictEqual([yield* store.streamVersion(s), yield* store.streamVersion(other)], [-1, -1])
          assert.deepStrictEqual(idsOf(yield* log()), [])
        }),
      testTimeout
    )

    it.effect(
      "a stream name built by a cast is checked as StreamName checks it: appends fail, reads find no stream",
      () =>
        Effect.gen(function* () {
          const { append, category, log, readStream, store, stream } = yield* eventStoreFixture
          // A valid name with a literal U+FFFD, which is what PostgreSQL would make of a lone surrogate.
          const replaced = stream("\ufffd")
          yield* append(replaced, [newEvent({})], ExpectedVersion.noStream)
          const names: ReadonlyArray<readonly [string, string]> = [
            ["NUL", `${category}-a\u0000b`],
            ["a lone surrogate", `${category}-\ud800`],
            ["a newline", `${category}-a\nb`],
            ["no dash", category],
            ["an empty id", `${category}-`],
            ["an empty category", `-${category}`],
            ["too long", `${category}-${"x".repeat(StreamName.maxLength)}`],
            ["empty", ""]
          ]
          for (const [label, name] of names) {
            assert.isTrue(Result.isFailure(StreamName.decodeResult(name)), `${label} is not a stream name`)
            const cast = name as StreamName.StreamName
            yield* invalidAppend(store.append(cast, [newEvent({})], ExpectedVersion.any), label)
            yield* invalidAppend(
              store.appendMany([{ stream: cast, events: [newEvent({})], expectedVersion: ExpectedVersion.noStream }]),
              `${label}, in appendMany`
            )
            assert.deepStrictEqual(yield* readStream(cast), [], `${label}: readStream`)
            assert.deepStrictEqual(yield* readStream(cast, { direction: "backward" }), [], `${label}: backward`)
            assert.strictEqual(yield* store.streamVersion(cast), -1, `${label}: streamVersion`)
          }
          assert.deepStrictEqual(
            (yield* log()).map((e) => e.stream),
            [replaced]
          )
        }),
      testTimeout
    )

    it.effect(
      "stream reads mean the same for any number: NaN, fractions, negatives, infinities, beyond 2^31",
      () =>
        Effect.gen(function* () {
          const { append, readStream, stream } = yield* eventStoreFixture
          const s = stream("numbers")
          yield* append(
            s,
            range(5).map((i) => newEvent({ i })),
            ExpectedVersion.noStream
          )
          const all = range(5)
          const cases: ReadonlyArray<readonly [EventStore.ReadStreamOptions, ReadonlyArray<number>]> = [
            [{ from: Number.NaN }, []],
            [{ from: Number.NaN, direction: "backward" }, []],
            [{ maxCount: Number.NaN }, []],
            [{ maxCount: Number.NaN, direction: "backward" }, []],
            [{ from: 1.5 }, [2, 3, 4]],
            [{ from: 1.5, direction: "backward" }, [1, 0]],
            [{ maxCount: 2.9 }, [0, 1]],
            [{ maxCount: 2.9, direction: "backward" }, [4, 3]],
            [{ from: 1, maxCount: 0.5 }, []],
            [{ maxCount: -1 }, []],
            [{ maxCount: -1, direction: "backward" }, []],
            [{ from: -3 }, all],
            [{ from: -3, direction: "backward" }, []],
            [{ from: Number.NEGATIVE_INFINITY }, all],
            [{ from: Number.POSITIVE_INFINITY }, []],
            [{ from: Number.POSITIVE_INFINITY, direction: "backward" }, all.toReversed()],
            [{ from: 2 ** 31 }, []],
            [{ from: 2 ** 31, direction: "backward", maxCount: 2 }, [4, 3]],
            [{ from: 2 ** 53, direction: "backward" }, all.toReversed()],
            [{ maxCount: Number.POSITIVE_INFINITY }, all],
            [{ from: 3, maxCount: 2 ** 53 }, [3, 4]]
          ]
          for (const [options, expected] of cases) {
            const label = `${options.direction ?? "forward"} from ${options.from} maxCount ${options.maxCount}`
            const read = yield* readStream(s, options)
            assert.deepStrictEqual(
              read.map((e) => e.streamVersion),
              expected,
              label
            )
          }
        }),
      testTimeout
    )

    it.effect(
      "global-log reads take any batch size and position, and names no event can have match nothing",
      () =>
        Effect.gen(function* () {
          const { append, category, log, readAll, stream } = yield* eventStoreFixture
          const events = range(5).map((i) => newEvent({ i }))
          yield* append(stream("log"), events, ExpectedVersion.noStream)
          const ids = idsOf(events)
          for (const batchSize of [Number.NaN, 0, -1, 0.5, 1.5, Number.POSITIVE_INFINITY, 2 ** 53]) {
            assert.deepStrictEqual(idsOf(yield* log({ batchSize })), ids, `batchSize ${batchSize}`)
          }
          // Positions compare in the log's order, whatever their size.
          const beforeEverything = [
            Position.make(-1n, -1n),
            Position.make(-(2n ** 70n), 5n),
            Position.make(0n, -1n),
            Position.make(0n, 2n ** 63n + 1n)
          ]
          for (const after of beforeEverything) {
            assert.deepStrictEqual(idsOf(yield* log({ after })), ids, `after ${Position.format(after)}`)
          }
          const afterEverything = [
            Position.make(2n ** 64n, 0n),
            Position.make(2n ** 64n - 1n, 2n ** 63n - 1n),
            Position.make(2n ** 70n, -1n)
          ]
          for (const after of afterEverything) {
            assert.deepStrictEqual(idsOf(yield* log({ after })), [], `after ${Position.format(after)}`)
          }
          const third = (yield* log())[2]!.position
          assert.deepStrictEqual(idsOf(yield* log({ after: third, batchSize: 0 })), ids.slice(3))
          // PostgreSQL cannot compare NUL, and would read a lone surrogate as U+FFFD.
          assert.deepStrictEqual(yield* readAll({ categories: [`${category}\u0000`, `${category}\ud800`] }), [])
          assert.deepStrictEqual(yield* log({ types: ["Happened\u0000", "Happened\ud800", "\udc00"] }), [])
          assert.deepStrictEqual(idsOf(yield* readAll({ categories: [category, "c\u0000", "\ud800"] })), ids)
          assert.deepStrictEqual(idsOf(yield* log({ types: ["Happened", "Happened\ud800"] })), ids)
        }),
      testTimeout
    )

    it.effect(
      "subscriptions take any batch size; a position that is not two bigints is a defect, not a StoreError",
      () =>
        Effect.gen(function* () {
          const { append, category, store, stream } = yield* eventStoreFixture
          const events = range(3).map((i) => newEvent({ i }))
          yield* append(stream("sub"), events, ExpectedVersion.noStream)
          for (const batchSize of [0, Number.NaN, -5, 0.5]) {
            const delivered = yield* within(
              collect(Stream.take(store.subscribe({ categories: [category], batchSize }), events.length)),
              deliveryTimeout,
              () => `a subscription with batchSize ${batchSize} did not deliver the events`
            )
            assert.deepStrictEqual(idsOf(delivered), idsOf(events), `batchSize ${batchSize}`)
          }
          const malformed: ReadonlyArray<unknown> = [
            { commit: 1, sequence: 1 },
            { commit: "1", sequence: "1" },
            { commit: 1n }
          ]
          for (const position of malformed) {
            const after = position as Position.Position
            yield* dies(collect(store.readAll({ after })), `readAll after ${show(position)}`)
            yield* dies(collect(Stream.take(store.subscribe({ after }), 1)), `subscribe after ${show(position)}`)
          }
        }),
      testTimeout
    )
  })
}
