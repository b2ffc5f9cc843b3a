// Store conformance: subscriptions deliver every event once, in order, across the hand-over from catch-
// up to live.
import { type Envelope, type EventStore, StreamName } from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { Effect, Fiber, Queue, Stream } from "effect"
import {
  assertOrdered,
  assertStreamsContiguous,
  comparable,
  deliveryTimeout,
  eventStoreFixture,
  idsOf,
  type It,
  newEvent,
  randomCategory,
  range,
  testTimeout,
  within
} from "./fixture.ts"

/**
 * Subscriptions deliver every event once, in order, across the hand-over from catch-up to live.
 */
export const subscriptions = (it: It<EventStore.EventStore>): void => {
  describe("subscriptions", () => {
    it.effect(
      "deliver every event once, in order, across the catch-up → live hand-over while writers append",
      () =>
        Effect.gen(function* () {
          const { append, category, log, store, stream } = yield* eventStoreFixture
          const noise = randomCategory()
          const writers = 4
          const eventsIn = (i: number) => 1 + (i % 2)
          const count = (from: number, to: number) => range(to - from).reduce((n, k) => n + eventsIn(from + k), 0)
          const early = 10
          const during = 20
          const lateEvents = 3
          const total = writers * count(0, early + during) + lateEvents
          const write = (w: number, from: number, to: number, pause: boolean) =>
            Effect.forEach(
              range(to - from).map((k) => from + k),
              (i) =>
                Effect.gen(function* () {
                  yield* append(
                    stream(`sub${w}`),
                    range(eventsIn(i)).map((k) => newEvent({ w, i, k }))
                  )
                  if (i % 5 === 0) yield* append(StreamName.make(noise, `n${w}`), [newEvent({ noise: true })])
                  if (pause) yield* Effect.sleep("2 millis")
                }),
              { discard: true }
            )
          const writeAll = (from: number, to: number, pause: boolean) =>
            Effect.forEach(range(writers), (w) => write(w, from, to, pause), {
              concurrency: "unbounded",
              discard: true
            })

          // Some events exist before the subscription starts...
          yield* writeAll(0, early, false)
          const delivered: Array<Envelope.Envelope> = []
          const subscriber = yield* store.subscribe({ categories: [category], batchSize: 7 }).pipe(
            Stream.take(total),
            Stream.runForEach((e) => Effect.sync(() => delivered.push(e))),
            (effect) =>
              within(
                effect,
                deliveryTimeout,
                () => `the subscription delivered ${delivered.length} of ${total} events`
              ),
            Effect.forkChild
          )
          // ...more arrive while it catches up and goes live...
          yield* writeAll(early, early + during, true)
          // ...and some once it has long been live.
          yield* Effect.sleep("100 millis")
          yield* append(
            stream("late"),
            range(lateEvents).map((k) => newEvent({ late: k }))
          )
          yield* Fiber.join(subscriber)

          assert.strictEqual(delivered.length, total)
          assert.strictEqual(new Set(idsOf(delivered)).size, total, "no event twice")
          assert.isTrue(
            delivered.every((e) => StreamName.category(e.stream) === category),
            "only the category"
          )
          assertOrdered(delivered)
          assertStreamsContiguous(delivered)
          assert.deepStrictEqual(
            delivered.map(comparable),
            (yield* log()).map(comparable),
            "the subscription delivered the log"
          )
        }),
      testTimeout
    )

    it.effect(
      "a subscription signals each time it has delivered everything there is, and only then",
      () =>
        Effect.gen(function* () {
          const { append, category, store, stream, visible } = yield* eventStoreFixture
          const first = yield* append(
            stream("caught-up"),
            range(5).map((i) => newEvent({ i }))
          )
          yield* visible(first.positions[4]!)
          let delivered = 0
          const signals = yield* Queue.unbounded<number>()
          const subscriber = yield* store
            .subscribe({
              categories: [category],
              batchSize: 2,
              onCaughtUp: Effect.suspend(() => Queue.offer(signals, delivered))
            })
            .pipe(
              Stream.runForEach(() => Effect.sync(() => delivered++)),
              Effect.forkChild
            )
          const nextSignal = within(Queue.take(signals), deliveryTimeout, () => "no caught-up signal")
          assert.strictEqual(yield* nextSignal, 5, "the first signal comes once the backlog is delivered")
          yield* append(StreamName.make(randomCategory(), "noise"), [newEvent({ noise: true })])
          const more = yield* append(stream("caught-up"), [newEvent({ i: 5 }), newEvent({ i: 6 })])
          yield* visible(more.positions[1]!)
          let seen = yield* nextSignal
          while (seen === 5) seen = yield* nextSignal
          assert.strictEqual(seen, 7, "signalled again after the live events, never between them")
          yield* Fiber.interrupt(subscriber)
        }),
      testTimeout
    )

    it.effect(
      "a subscription from the head sees only the events appended after it",
      () =>
        Effect.gen(function* () {
          const { append, category, store, stream, visible } = yield* eventStoreFixture
          const old = yield* append(stream("old"), [newEvent({ old: true }), newEvent({ old: true })])
          const head = yield* visible(old.positions[1]!)
          const subscriber = yield* store
            .subscribe({ categories: [category], after: head })
            .pipe(
              Stream.take(2),
              Stream.runCollect,
              (effect) => within(effect, deliveryTimeout, () => "the subscription did not deliver the new events"),
              Effect.forkChild
            )
          yield* Effect.sleep("50 millis")
          yield* append(StreamName.make(randomCategory(), "noise"), [newEvent({ noise: true })])
          const fresh = [newEvent({ n: 1 }), newEvent({ n: 2 })]
          yield* append(stream("new"), fresh)
          const delivered = yield* Fiber.join(subscriber)
          assert.deepStrictEqual(idsOf(delivered), idsOf(fresh))
        }),
      testTimeout
    )

    it.effect(
      "a subscription filters by categories and types, and starts strictly after the given position",
      () =>
        Effect.gen(function* () {
          const { append, category, readAll, store, stream } = yield* eventStoreFixture
          const second = randomCategory()
          const write = (n: number) =>
            Effect.forEach(
              range(n),
              (i) =>
                Effect.gen(function* () {
                  yield* append(stream("a"), [newEvent({ i }, { type: i % 2 === 0 ? "Wanted" : "Other" })])
                  yield* append(StreamName.make(second, "b"), [newEvent({ i }, { type: "Wanted" })])
                  yield* append(StreamName.make(`${category}x`, "trap"), [newEvent({ i }, { type: "Wanted" })])
                }),
              { discard: true }
            )
          yield* write(6)
          const options = { categories: [category, second], types: ["Wanted"] }
          const before = yield* readAll(options)
          const start = before[2]!.position
          const expectedCount = before.length - 3 + 9
          const subscriber = yield* store
            .subscribe({ ...options, after: start, batchSize: 2 })
            .pipe(
              Stream.take(expectedCount),
              Stream.runCollect,
              (effect) => within(effect, deliveryTimeout, () => "the filtered subscription stalled"),
              Effect.forkChild
            )
          yield* write(6)
          const delivered = yield* Fiber.join(subscriber)
          const expected = (yield* readAll({ ...options, after: start })).slice(0, expectedCount)
          assert.strictEqual(expected.length, expectedCount)
          assert.deepStrictEqual(delivered.map(comparable), expected.map(comparable))
          assert.isTrue(delivered.every((e) => e.type === "Wanted"))
        }),
      testTimeout
    )
  })
}
