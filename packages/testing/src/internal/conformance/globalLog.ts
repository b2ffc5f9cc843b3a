// Store conformance: the global log, read in order, never skips or repeats an event, even while many
// writers commit.
import { type Envelope, type EventStore, ExpectedVersion, Position, Projection, StreamName } from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import {
  assertOrdered,
  assertStreamsContiguous,
  collectBounded,
  comparable,
  eventStoreFixture,
  idsOf,
  type It,
  newEvent,
  randomCategory,
  range,
  testTimeout
} from "./fixture.ts"

/**
 * The global log, read in order, never skips or repeats an event, even while many writers commit.
 */
export const globalLog = (it: It<EventStore.EventStore>): void => {
  describe("global log", () => {
    it.effect(
      "readAll filters by position, categories and types exactly, and small batches still return everything in order",
      () =>
        Effect.gen(function* () {
          const { append, category, log, readAll, stream } = yield* eventStoreFixture
          const other = randomCategory()
          // Categories a sloppy filter (prefix, LIKE pattern, case-insensitive) would let in.
          const traps = [`${category}x`, `${category}_`, `${category}%`, category.toUpperCase(), category.slice(0, -1)]
          for (let i = 0; i < 12; i++) {
            yield* append(stream(`s${i % 3}`), [newEvent({ i }, { type: i % 2 === 0 ? "Even" : "Odd" })])
            if (i % 3 === 0) yield* append(StreamName.make(other, `o${i}`), [newEvent({ other: i }, { type: "Odd" })])
            for (const trap of traps) {
              if (i % 4 === 0) yield* append(StreamName.make(trap, "t"), [newEvent({ trap }, { type: "Odd" })])
            }
          }
          const numbers = (es: ReadonlyArray<Envelope.Envelope>) => es.map((e) => (e.data as { i: number }).i)
          const all = yield* log()
          assert.deepStrictEqual(numbers(all), range(12))
          assertOrdered(all)
          assertStreamsContiguous(all)
          assert.isTrue(all.every((e) => StreamName.category(e.stream) === category))

          for (const batchSize of [1, 3, 5, 12, 1000]) {
            assert.deepStrictEqual(
              (yield* log({ batchSize })).map(comparable),
              all.map(comparable),
              `batchSize ${batchSize}`
            )
          }
          for (const k of [0, 4, 10]) {
            assert.deepStrictEqual(
              idsOf(yield* log({ after: all[k]!.position, batchSize: 3 })),
              idsOf(all.slice(k + 1)),
              `after event #${k}`
            )
          }
          assert.deepStrictEqual(yield* log({ after: all[11]!.position }), [])
          assert.deepStrictEqual(numbers(yield* log({ types: ["Odd"], batchSize: 2 })), [1, 3, 5, 7, 9, 11])
          assert.deepStrictEqual(numbers(yield* log({ types: ["Even"], after: all[5]!.position })), [6, 8, 10])
          assert.deepStrictEqual(numbers(yield* log({ types: ["Odd", "Even"], batchSize: 3 })), range(12))
          assert.deepStrictEqual(yield* log({ types: ["Nope"] }), [])
          assert.deepStrictEqual(yield* log({ types: ["odd"] }), [])

          // Several categories: one log, in position order.
          const both = yield* readAll({ categories: [category, other], batchSize: 3 })
          assert.strictEqual(both.length, 16)
          assertOrdered(both)
          assert.deepStrictEqual(idsOf(both.filter((e) => StreamName.category(e.stream) === category)), idsOf(all))
          assert.strictEqual(both.filter((e) => StreamName.category(e.stream) === other).length, 4)
          for (const trap of traps) {
            assert.strictEqual((yield* readAll({ categories: [trap] })).length, 3, `category ${trap}`)
          }
          assert.deepStrictEqual(yield* readAll({ categories: [randomCategory()] }), [])
        }),
      testTimeout
    )

    it.effect(
      "readAll by partition gives each stream's events to the one partition Projection.partitionOf names, in order",
      () =>
        Effect.gen(function* () {
          const { append, log, stream } = yield* eventStoreFixture
          // Names whose bytes differ in every way a hash could get wrong: multi-byte, quotes, length.
          const ids = [...range(12).map((i) => `s${i}`), "ünïcödé", "😀", "日本", `o'brien"; SELECT 1`, "x".repeat(200)]
          for (let round = 0; round < 2; round++) {
            for (const id of ids) yield* append(stream(id), [newEvent({ id, round })])
          }
          const all = yield* log()
          assert.strictEqual(all.length, ids.length * 2)
          for (const count of [2, 3, 7]) {
            const seen: Array<Envelope.Envelope> = []
            for (let index = 0; index < count; index++) {
              const part = yield* log({ partition: { index, count }, batchSize: 4 })
              assertOrdered(part)
              assert.deepStrictEqual(
                idsOf(part),
                idsOf(all.filter((e) => Projection.partitionOf(e.stream, count) === index)),
                `partition ${index} of ${count}`
              )
              seen.push(...part)
            }
            assert.strictEqual(seen.length, all.length, `every event in one partition of ${count}`)
          }
          // One partition of one is the whole log; a partition that cannot exist reads nothing.
          assert.deepStrictEqual(idsOf(yield* log({ partition: { index: 0, count: 1 } })), idsOf(all))
          for (const partition of [
            { index: 2, count: 2 },
            { index: -1, count: 3 },
            { index: 0.5, count: 2 },
            { index: 0, count: 0 },
            { index: 0, count: Number.NaN },
            { index: 0, count: 2.5 },
            { index: 0, count: 2 ** 40 }
          ]) {
            assert.deepStrictEqual(yield* log({ partition }), [], JSON.stringify(partition))
          }
        }),
      testTimeout
    )

    it.effect(
      "head advances with every append, and reading after it shows only newer events",
      () =>
        Effect.gen(function* () {
          const { append, log, store, stream, visible } = yield* eventStoreFixture
          const s = stream("head")
          const before = yield* store.head
          const first = yield* append(s, [newEvent({ n: 1 }), newEvent({ n: 2 })])
          const head1 = yield* visible(first.positions[1]!)
          assert.isTrue(Position.isAfter(head1, before), "head moved on")
          assert.isTrue(Position.isAfter(first.positions[0]!, before), "new events come after the old head")
          const later = newEvent({ n: 3 })
          const second = yield* append(s, [later])
          assert.isTrue(Position.isAfter(second.positions[0]!, first.positions[1]!))
          const head2 = yield* visible(second.positions[0]!)
          assert.isTrue(Position.isAfter(head2, head1), "head moved on again")
          assert.deepStrictEqual(idsOf(yield* log({ after: head1 })), [later.eventId])
          assert.deepStrictEqual(yield* log({ after: head2 }), [])
        }),
      testTimeout
    )

    it.effect(
      "16 concurrent writers: the log holds every acknowledged event once, in order, and a reader tailing it never skips one",
      () =>
        Effect.gen(function* () {
          const { append, category, log, store, stream } = yield* eventStoreFixture
          const acknowledged = new Map<string, Position.Position>()
          let writing = true
          const writers = yield* Effect.forEach(
            range(16),
            (w) =>
              Effect.forEach(
                range(25),
                (i) =>
                  Effect.gen(function* () {
                    const events = range(1 + ((w + i) % 3)).map((k) => newEvent({ w, i, k }))
                    const result = yield* append(stream(`w${(w + i) % 5}`), events, ExpectedVersion.any)
                    assert.strictEqual(result.positions.length, events.length)
                    for (const [k, e] of events.entries()) acknowledged.set(e.eventId, result.positions[k]!)
                    yield* Effect.yieldNow
                  }),
                { discard: true }
              ),
            { concurrency: "unbounded", discard: true }
          ).pipe(Effect.ensuring(Effect.sync(() => (writing = false))), Effect.forkChild)

          // A reader follows the log while the writers commit, always reading after the last event it saw.
          const tailed: Array<Envelope.Envelope> = []
          let cursor = Position.start
          const readMore = Effect.suspend(() =>
            Effect.map(
              collectBounded(store.readAll({ categories: [category], after: cursor, batchSize: 17 }), "readAll"),
              (batch) => {
                tailed.push(...batch)
                if (batch.length > 0) cursor = batch[batch.length - 1]!.position
              }
            )
          )
          while (writing) {
            yield* readMore
            yield* Effect.sleep("1 millis")
          }
          yield* Fiber.join(writers)

          const all = yield* log()
          yield* readMore
          assert.strictEqual(all.length, acknowledged.size, "every acknowledged event is in the log")
          assert.strictEqual(new Set(idsOf(all)).size, all.length, "no event twice")
          for (const e of all) {
            const position = acknowledged.get(e.eventId)
            assert.isDefined(position, `event ${e.eventId} was acknowledged`)
            assert.isTrue(Position.equals(e.position, position!), "the log shows the acknowledged position")
          }
          assertOrdered(all)
          assertStreamsContiguous(all)
          assert.deepStrictEqual(idsOf(tailed), idsOf(all), "the tailing reader saw the same log")
        }),
      testTimeout
    )
  })
}
