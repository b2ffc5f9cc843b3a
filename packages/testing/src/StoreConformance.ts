/**
 * The store conformance suite: one call runs, against any `EventStore` layer,
 * the tests that prove the guarantees every Chronicle store keeps (see
 * `EventStore`): atomic appends, exactly one winner per expected version,
 * exact read-back, a global log that never skips or repeats, idempotent
 * re-appends, subscriptions that hand over from catch-up to live without loss,
 * and typed errors for bad input. Suites for `SnapshotStore` and
 * `CheckpointStore` come with it.
 *
 * Every test writes to its own random category and filters the global log by
 * it, so the suite can run against a database other tests share.
 *
 * @example
 * ```ts
 * import { StoreConformance } from "@chronicle/testing"
 * import { EventStore } from "@chronicle/core"
 *
 * StoreConformance.eventStore("in-memory", EventStore.EventStore.layerMemory())
 * ```
 *
 * @since 0.1.0
 */
import {
  CheckpointStore,
  type Envelope,
  EventId,
  EventStore,
  ExpectedVersion,
  Position,
  SnapshotStore,
  StreamName
} from "@chronicle/core"
import { assert, describe, layer } from "@effect/vitest"
import { DateTime, Effect, Fiber, type Layer, Option, Stream } from "effect"

const randomCategory = () => `c${Math.random().toString(36).slice(2, 10)}`

const newEvent = (data: unknown, metadata: Envelope.Metadata = {}, type = "Happened"): Envelope.EventData => ({
  eventId: EventId.fromParts(Date.now(), globalThis.crypto.getRandomValues(new Uint8Array(10))),
  type,
  schemaVersion: 1,
  data,
  metadata
})

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Stream.runCollect(stream)

const assertIncreasing = (envelopes: ReadonlyArray<Envelope.Envelope>) => {
  for (let i = 1; i < envelopes.length; i++) {
    assert.isTrue(
      Position.isAfter(envelopes[i]!.position, envelopes[i - 1]!.position),
      `position ${Position.format(envelopes[i]!.position)} is not after ${Position.format(envelopes[i - 1]!.position)}`
    )
  }
}

/** Odd but valid values that must survive storage exactly. */
const awkward = {
  quotes: 'it\'s "quoted" `back`',
  sql: "'; DROP TABLE events; --",
  backslash: "C:\\path\\to\\x \\u0041",
  unicode: "ünïcødé 漢字 😀 \u2028",
  empty: "",
  nested: { a: [1, 2, { b: null }], c: { d: { e: [true, false] } } },
  numbers: [0, -1, 1.5, 9007199254740991, -9007199254740991, 1e-7],
  flags: [true, false, null]
}

/**
 * The `EventStore` conformance suite.
 *
 * @since 0.1.0
 * @category suites
 */
export const eventStore = <E>(name: string, storeLayer: Layer.Layer<EventStore.EventStore, E>) =>
  layer(storeLayer, { timeout: 120_000, excludeTestServices: true })(`EventStore conformance: ${name}`, (it) => {
    const setup = Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const category = randomCategory()
      const stream = (id: string) => StreamName.make(category, id)
      const log = (after?: Position.Position) => collect(store.readAll({ categories: [category], after }))
      return { store, category, stream, log }
    })

    describe("appends", () => {
      it.effect("appends events with contiguous 0-based versions and reads them back exactly", () =>
        Effect.gen(function* () {
          const { log, store, stream } = yield* setup
          const s = stream("exact-'; DROP TABLE x; -- ünï 😀")
          const metadata = { correlationId: "corr", causationId: "cause", actor: "alice", extra: { ip: "::1", n: 3 } }
          const events = [newEvent(awkward, metadata), newEvent({ i: 1 }), newEvent({ i: 2 }, {}, "Other")]
          const before = yield* DateTime.now
          const result = yield* store.append(s, events, ExpectedVersion.noStream)
          assert.strictEqual(result.streamVersion, 2)
          assert.strictEqual(result.positions.length, 3)
          const read = yield* collect(store.readStream(s))
          assert.deepStrictEqual(
            read.map((e) => e.streamVersion),
            [0, 1, 2]
          )
          assert.deepStrictEqual(
            read.map((e) => e.eventId),
            events.map((e) => e.eventId)
          )
          assert.deepStrictEqual(
            read.map((e) => e.data),
            events.map((e) => e.data)
          )
          assert.deepStrictEqual(read[0]!.metadata, metadata)
          assert.deepStrictEqual(
            read.map((e) => e.type),
            ["Happened", "Happened", "Other"]
          )
          assert.deepStrictEqual(
            read.map((e) => e.schemaVersion),
            [1, 1, 1]
          )
          assert.deepStrictEqual(
            read.map((e) => e.position),
            result.positions
          )
          assert.isTrue(read.every((e) => e.stream === s))
          const recorded = read[0]!.recordedAt.epochMilliseconds
          assert.isTrue(Math.abs(recorded - before.epochMilliseconds) < 60_000, "recordedAt is about now")
          assertIncreasing(read)
          assert.deepStrictEqual(
            (yield* log()).map((e) => e.eventId),
            events.map((e) => e.eventId)
          )
          assert.strictEqual(yield* store.streamVersion(s), 2)
        })
      )

      it.effect("checks every kind of expected version", () =>
        Effect.gen(function* () {
          const { store, stream } = yield* setup
          const s = stream("expect")
          const wrong = (expected: ExpectedVersion.ExpectedVersion) =>
            Effect.flip(store.append(s, [newEvent({})], expected))

          const missing = yield* wrong(ExpectedVersion.streamExists)
          assert.strictEqual(missing._tag, "WrongExpectedVersion")
          if (missing._tag === "WrongExpectedVersion") assert.strictEqual(missing.actualVersion, -1)
          assert.strictEqual((yield* wrong(ExpectedVersion.exact(0)))._tag, "WrongExpectedVersion")

          yield* store.append(s, [newEvent({})], ExpectedVersion.noStream)
          const exists = yield* wrong(ExpectedVersion.noStream)
          assert.strictEqual(exists._tag, "WrongExpectedVersion")
          if (exists._tag === "WrongExpectedVersion") assert.strictEqual(exists.actualVersion, 0)
          yield* store.append(s, [newEvent({})], ExpectedVersion.exact(0))
          yield* store.append(s, [newEvent({})], ExpectedVersion.streamExists)
          yield* store.append(s, [newEvent({})], ExpectedVersion.any)
          yield* store.append(stream("any-new"), [newEvent({})], ExpectedVersion.any)
          const stale = yield* wrong(ExpectedVersion.exact(1))
          if (stale._tag !== "WrongExpectedVersion")
            return assert.fail(`expected WrongExpectedVersion, got ${stale._tag}`)
          assert.strictEqual(stale.actualVersion, 3)
          assert.include(stale.message, "version 3")
          assert.strictEqual(yield* store.streamVersion(s), 3)
        })
      )

      it.effect("of concurrent writers with the same expected version, exactly one wins", () =>
        Effect.gen(function* () {
          const { store, stream } = yield* setup
          for (const writers of [2, 16]) {
            const s = stream(`race-${writers}`)
            yield* store.append(s, [newEvent({ seed: true })], ExpectedVersion.noStream)
            const results = yield* Effect.forEach(
              Array.from({ length: writers }, (_, i) => i),
              (i) =>
                Effect.result(
                  store.append(s, [newEvent({ writer: i }), newEvent({ writer: i })], ExpectedVersion.exact(0))
                ),
              { concurrency: "unbounded" }
            )
            const winners = results.filter((r) => r._tag === "Success")
            assert.strictEqual(winners.length, 1, `${writers} writers`)
            for (const r of results) {
              if (r._tag === "Failure") {
                assert.strictEqual(r.failure._tag, "WrongExpectedVersion")
                if (r.failure._tag === "WrongExpectedVersion") assert.strictEqual(r.failure.actualVersion, 2)
              }
            }
            const read = yield* collect(store.readStream(s))
            assert.deepStrictEqual(
              read.map((e) => e.streamVersion),
              [0, 1, 2]
            )
          }
        })
      )

      it.effect("an append is all or nothing", () =>
        Effect.gen(function* () {
          const { log, store, stream } = yield* setup
          const s = stream("atomic")
          const twice = newEvent({ twice: true })
          const error = yield* Effect.flip(store.append(s, [newEvent({ a: 1 }), twice, twice], ExpectedVersion.any))
          assert.strictEqual(error._tag, "InvalidAppend")
          assert.strictEqual(yield* store.streamVersion(s), -1)
          assert.strictEqual((yield* log()).length, 0)

          const taken = newEvent({ taken: true })
          yield* store.append(stream("other"), [taken], ExpectedVersion.any)
          const duplicate = yield* Effect.flip(store.append(s, [newEvent({ b: 1 }), taken], ExpectedVersion.any))
          assert.strictEqual(duplicate._tag, "DuplicateEventId")
          assert.strictEqual(yield* store.streamVersion(s), -1)
          assert.strictEqual((yield* log()).length, 1)
        })
      )

      it.effect("appendMany is atomic across streams, each with its own expected version", () =>
        Effect.gen(function* () {
          const { log, store, stream } = yield* setup
          const [a, b, c] = [stream("a"), stream("b"), stream("c")]
          yield* store.append(b, [newEvent({ b: 0 })], ExpectedVersion.noStream)
          const failed = yield* Effect.flip(
            store.appendMany([
              { stream: a, events: [newEvent({ a: 0 })], expectedVersion: ExpectedVersion.noStream },
              { stream: b, events: [newEvent({ b: 1 })], expectedVersion: ExpectedVersion.noStream },
              { stream: c, events: [newEvent({ c: 0 })], expectedVersion: ExpectedVersion.noStream }
            ])
          )
          assert.strictEqual(failed._tag, "WrongExpectedVersion")
          assert.deepStrictEqual([yield* store.streamVersion(a), yield* store.streamVersion(c)], [-1, -1])
          assert.strictEqual((yield* log()).length, 1)

          const results = yield* store.appendMany([
            { stream: c, events: [newEvent({ c: 0 }), newEvent({ c: 1 })], expectedVersion: ExpectedVersion.noStream },
            { stream: b, events: [newEvent({ b: 1 })], expectedVersion: ExpectedVersion.exact(0) },
            { stream: a, events: [newEvent({ a: 0 })], expectedVersion: ExpectedVersion.any }
          ])
          assert.deepStrictEqual(
            results.map((r) => [r.stream, r.streamVersion]),
            [
              [c, 1],
              [b, 1],
              [a, 0]
            ]
          )
          const all = yield* log()
          assert.strictEqual(all.length, 5)
          assertIncreasing(all)
        })
      )

      it.effect("re-appending the same event ids is idempotent", () =>
        Effect.gen(function* () {
          const { log, store, stream } = yield* setup
          const s = stream("idem")
          const events = [newEvent({ n: 1 }), newEvent({ n: 2 })]
          const first = yield* store.append(s, events, ExpectedVersion.noStream)
          yield* store.append(s, [newEvent({ n: 3 })], ExpectedVersion.exact(1))
          // A retry after a lost acknowledgement: same ids, now-stale expected version.
          const again = yield* store.append(s, events, ExpectedVersion.noStream)
          assert.deepStrictEqual(again, first)
          const upper = events.map((e) => ({ ...e, eventId: e.eventId.toUpperCase() }))
          assert.deepStrictEqual(yield* store.append(s, upper, ExpectedVersion.any), first)
          assert.strictEqual(yield* store.streamVersion(s), 2)
          assert.strictEqual((yield* log()).length, 3)

          const partial = yield* Effect.flip(store.append(s, [events[1]!], ExpectedVersion.any))
          assert.strictEqual(partial._tag, "DuplicateEventId")
          const mixed = yield* Effect.flip(store.append(s, [events[0]!, newEvent({ n: 9 })], ExpectedVersion.any))
          assert.strictEqual(mixed._tag, "DuplicateEventId")
          const elsewhere = yield* Effect.flip(store.append(stream("elsewhere"), events, ExpectedVersion.any))
          assert.strictEqual(elsewhere._tag, "DuplicateEventId")
          assert.strictEqual((yield* log()).length, 3)
        })
      )

      it.effect("rejects malformed appends with a typed error and writes nothing", () =>
        Effect.gen(function* () {
          const { log, store, stream } = yield* setup
          const s = stream("bad")
          const cases: ReadonlyArray<[string, ReadonlyArray<Envelope.EventData>]> = [
            ["empty", []],
            ["bad id", [{ ...newEvent({}), eventId: "not-a-uuid" }]],
            ["empty type", [{ ...newEvent({}), type: "" }]],
            ["schema version 0", [{ ...newEvent({}), schemaVersion: 0 }]],
            ["not JSON", [newEvent({ big: 1n })]]
          ]
          for (const [label, events] of cases) {
            const error = yield* Effect.flip(store.append(s, events, ExpectedVersion.any))
            assert.strictEqual(error._tag, "InvalidAppend", label)
          }
          assert.strictEqual(yield* store.streamVersion(s), -1)
          assert.strictEqual((yield* log()).length, 0)
        })
      )
    })

    describe("reads", () => {
      it.effect("reads a stream forward and backward, from a version, up to a count", () =>
        Effect.gen(function* () {
          const { store, stream } = yield* setup
          const s = stream("pages")
          yield* store.append(
            s,
            Array.from({ length: 10 }, (_, i) => newEvent({ i })),
            ExpectedVersion.noStream
          )
          const versions = (options: EventStore.ReadStreamOptions) =>
            Effect.map(collect(store.readStream(s, options)), (es) => es.map((e) => e.streamVersion))
          assert.deepStrictEqual(yield* versions({ from: 7 }), [7, 8, 9])
          assert.deepStrictEqual(yield* versions({ from: 2, maxCount: 3 }), [2, 3, 4])
          assert.deepStrictEqual(yield* versions({ direction: "backward", maxCount: 3 }), [9, 8, 7])
          assert.deepStrictEqual(yield* versions({ direction: "backward", from: 4, maxCount: 2 }), [4, 3])
          assert.deepStrictEqual(yield* versions({ from: 20 }), [])
          assert.deepStrictEqual(yield* collect(store.readStream(stream("missing"))), [])
          assert.strictEqual(yield* store.streamVersion(stream("missing")), -1)
        })
      )

      it.effect("reads the global log in order, after a position, by category and type, in small batches", () =>
        Effect.gen(function* () {
          const { category, log, store, stream } = yield* setup
          for (let i = 0; i < 12; i++) {
            yield* store.append(
              stream(`s${i % 3}`),
              [newEvent({ i }, {}, i % 2 === 0 ? "Even" : "Odd")],
              ExpectedVersion.any
            )
          }
          const all = yield* log()
          assert.deepStrictEqual(
            all.map((e) => (e.data as { i: number }).i),
            Array.from({ length: 12 }, (_, i) => i)
          )
          assertIncreasing(all)
          const batched = yield* collect(store.readAll({ categories: [category], batchSize: 5 }))
          assert.deepStrictEqual(
            batched.map((e) => e.eventId),
            all.map((e) => e.eventId)
          )
          const after = yield* log(all[4]!.position)
          assert.deepStrictEqual(
            after.map((e) => e.eventId),
            all.slice(5).map((e) => e.eventId)
          )
          const odd = yield* collect(store.readAll({ categories: [category], types: ["Odd"], batchSize: 2 }))
          assert.deepStrictEqual(
            odd.map((e) => (e.data as { i: number }).i),
            [1, 3, 5, 7, 9, 11]
          )
          assert.deepStrictEqual(yield* collect(store.readAll({ categories: [randomCategory()] })), [])
          const head = yield* store.head
          assert.isFalse(Position.isAfter(all[11]!.position, head), "head is at or after the last append")
        })
      )

      it.effect("concurrent writers: the global log holds every acknowledged event once, in order", () =>
        Effect.gen(function* () {
          const { log, store, stream } = yield* setup
          const acknowledged = yield* Effect.forEach(
            Array.from({ length: 16 }, (_, w) => w),
            (w) =>
              Effect.forEach(
                Array.from({ length: 25 }, (_, i) => i),
                (i) => {
                  const events = Array.from({ length: 1 + ((w + i) % 3) }, (_, k) => newEvent({ w, i, k }))
                  return Effect.as(
                    store.append(stream(`w${(w + i) % 5}`), events, ExpectedVersion.any),
                    events.map((e) => e.eventId)
                  )
                }
              ),
            { concurrency: "unbounded" }
          )
          const ids = acknowledged.flat(2)
          const all = yield* log()
          assert.strictEqual(all.length, ids.length)
          assert.deepStrictEqual(new Set(all.map((e) => e.eventId)), new Set(ids))
          assertIncreasing(all)
          const lastVersion = new Map<string, number>()
          for (const e of all) {
            assert.strictEqual(
              e.streamVersion,
              (lastVersion.get(e.stream) ?? -1) + 1,
              `versions of ${e.stream} in log order`
            )
            lastVersion.set(e.stream, e.streamVersion)
          }
        })
      )
    })

    describe("subscriptions", () => {
      it.effect("deliver every event once, in order, across the catch-up → live hand-over", () =>
        Effect.gen(function* () {
          const { category, store, stream } = yield* setup
          const writers = 4
          const perWriter = 30
          const write = (w: number, from: number, to: number) =>
            Effect.forEach(
              Array.from({ length: to - from }, (_, i) => from + i),
              (i) => store.append(stream(`sub${w}`), [newEvent({ w, i })], ExpectedVersion.any),
              { discard: true }
            )
          // Some events exist before the subscription starts...
          yield* Effect.forEach(
            Array.from({ length: writers }, (_, w) => w),
            (w) => write(w, 0, 10),
            { concurrency: "unbounded" }
          )
          const subscriber = yield* store
            .subscribe({ categories: [category], batchSize: 7 })
            .pipe(Stream.take(writers * perWriter), Stream.runCollect, Effect.timeout("60 seconds"), Effect.forkChild)
          // ...and the rest arrive while it catches up and then follows.
          yield* Effect.forEach(
            Array.from({ length: writers }, (_, w) => w),
            (w) => write(w, 10, perWriter),
            {
              concurrency: "unbounded"
            }
          )
          const delivered = yield* Fiber.join(subscriber)
          assert.strictEqual(delivered.length, writers * perWriter)
          assert.strictEqual(new Set(delivered.map((e) => e.eventId)).size, writers * perWriter)
          assertIncreasing(delivered)
          for (let w = 0; w < writers; w++) {
            const mine = delivered.filter((e) => e.stream === stream(`sub${w}`)).map((e) => (e.data as { i: number }).i)
            assert.deepStrictEqual(
              mine,
              Array.from({ length: perWriter }, (_, i) => i)
            )
          }
          const tail = yield* collect(store.readAll({ categories: [category] }))
          assert.deepStrictEqual(
            delivered.map((e) => e.eventId),
            tail.map((e) => e.eventId)
          )
        })
      )

      it.effect("a subscription from the head sees only new events", () =>
        Effect.gen(function* () {
          const { category, store, stream } = yield* setup
          yield* store.append(stream("old"), [newEvent({ old: true })], ExpectedVersion.any)
          const head = yield* store.head
          const subscriber = yield* store
            .subscribe({ categories: [category], after: head })
            .pipe(Stream.take(2), Stream.runCollect, Effect.timeout("30 seconds"), Effect.forkChild)
          yield* Effect.sleep("50 millis")
          yield* store.append(stream("new"), [newEvent({ n: 1 }), newEvent({ n: 2 })], ExpectedVersion.any)
          const delivered = yield* Fiber.join(subscriber)
          assert.deepStrictEqual(
            delivered.map((e) => e.data),
            [{ n: 1 }, { n: 2 }]
          )
        })
      )
    })
  })

/**
 * The `SnapshotStore` conformance suite.
 *
 * @since 0.1.0
 * @category suites
 */
export const snapshotStore = <E>(name: string, storeLayer: Layer.Layer<SnapshotStore.SnapshotStore, E>) =>
  layer(storeLayer, { excludeTestServices: true })(`SnapshotStore conformance: ${name}`, (it) => {
    it.effect("saves, loads, keeps the latest and deletes", () =>
      Effect.gen(function* () {
        const snapshots = yield* SnapshotStore.SnapshotStore
        const stream = StreamName.make(randomCategory(), "snap")
        assert.isTrue(Option.isNone(yield* snapshots.load(stream)))
        const state = { balance: 10, history: ["a", "b"], owner: "ünï '; --" }
        yield* snapshots.save({ stream, streamVersion: 9, schemaVersion: 2, state })
        const loaded = Option.getOrThrow(yield* snapshots.load(stream))
        assert.deepStrictEqual([loaded.streamVersion, loaded.schemaVersion, loaded.state], [9, 2, state])
        yield* snapshots.save({ stream, streamVersion: 4, schemaVersion: 2, state: { stale: true } })
        assert.deepStrictEqual(Option.getOrThrow(yield* snapshots.load(stream)).state, state)
        yield* snapshots.save({ stream, streamVersion: 19, schemaVersion: 3, state: { newer: true } })
        assert.deepStrictEqual(Option.getOrThrow(yield* snapshots.load(stream)).state, { newer: true })
        yield* snapshots.delete(stream)
        assert.isTrue(Option.isNone(yield* snapshots.load(stream)))
      })
    )
  })

/**
 * The `CheckpointStore` conformance suite.
 *
 * @since 0.1.0
 * @category suites
 */
export const checkpointStore = <E>(name: string, storeLayer: Layer.Layer<CheckpointStore.CheckpointStore, E>) =>
  layer(storeLayer, { excludeTestServices: true })(`CheckpointStore conformance: ${name}`, (it) => {
    it.effect("saves, overwrites, lists and deletes positions exactly", () =>
      Effect.gen(function* () {
        const checkpoints = yield* CheckpointStore.CheckpointStore
        const name = `${randomCategory()}@v1`
        assert.isTrue(Option.isNone(yield* checkpoints.load(name)))
        const big = Position.make(2n ** 62n, 2n ** 53n + 1n)
        yield* checkpoints.save(name, Position.make(1n, 1n))
        yield* checkpoints.save(name, big)
        assert.deepStrictEqual(Option.getOrThrow(yield* checkpoints.load(name)), big)
        assert.deepStrictEqual((yield* checkpoints.list).get(name), big)
        yield* checkpoints.delete(name)
        assert.isTrue(Option.isNone(yield* checkpoints.load(name)))
        assert.isFalse((yield* checkpoints.list).has(name))
      })
    )
  })
