/**
 * The store conformance suite: one call registers, against any `EventStore`
 * layer, the vitest tests that prove the guarantees every Chronicle store
 * keeps (see `EventStore` and DESIGN.md):
 *
 * 1. an append is atomic — all of its events or none, across streams too;
 * 2. of writers with the same expected version exactly one wins, the others
 *    get `WrongExpectedVersion` with the actual version;
 * 3. what was appended reads back exactly (awkward JSON, odd stream names,
 *    envelopes with the right versions, positions and time);
 * 4. the global log, read in order, never skips or repeats an event, even
 *    while many writers commit;
 * 5. re-appending the same event ids is idempotent, never a duplicate;
 * 6. bad input gets a typed error (`InvalidAppend`, never `StoreError`) and
 *    writes nothing, and odd read options read the same on every store;
 * 7. subscriptions deliver every event once, in order, across the hand-over
 *    from catch-up to live;
 * 8. the store's `UnitOfWork` commits all of its appends or none: a failed,
 *    interrupted or nested-and-failed unit leaves nothing behind, and other
 *    readers see a unit's appends only once it commits.
 *
 * Suites for `SnapshotStore` and `CheckpointStore` come with it.
 *
 * The suite is safe against a database other tests write to at the same
 * time: every test writes to streams of its own random category and reads the
 * global log filtered by that category; it never assumes the log is empty.
 * Tests run with the live clock (the test services are excluded), so
 * `recordedAt` is real time.
 *
 * @example
 * ```ts
 * // my-store.test.ts
 * import { StoreConformance } from "@chronicle/testing"
 * import { EventStore } from "@chronicle/core"
 *
 * StoreConformance.eventStore("in-memory", MemoryStore.layer())
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
  StreamName,
  UnitOfWork
} from "@chronicle/core"
import { assert, describe, layer } from "@effect/vitest"
import { Cause, DateTime, Deferred, Duration, Effect, Exit, Fiber, type Layer, Option, Result, Stream } from "effect"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/** Per-test vitest timeout: generous, so a slow database still passes and a hang still fails. */
const testTimeout = 60_000
/** How long a subscription may take to deliver what a test expects before the test fails. */
const deliveryTimeout = "30 seconds"
/** How far `recordedAt` may be from the test's clock (a database server's clock may differ a little). */
const clockSkewMillis = 60_000

const randomHex = (bytes: number): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("")

/** A category no other test uses: `c` and 12 random hex digits. */
const randomCategory = (): string => `c${randomHex(6)}`

const newEventId = (): string => EventId.fromParts(Date.now(), globalThis.crypto.getRandomValues(new Uint8Array(10)))

const newEvent = (
  data: unknown,
  options?: {
    readonly type?: string | undefined
    readonly schemaVersion?: number | undefined
    readonly metadata?: Envelope.Metadata | undefined
  }
): Envelope.EventData => ({
  eventId: newEventId(),
  type: options?.type ?? "Happened",
  schemaVersion: options?.schemaVersion ?? 1,
  data,
  metadata: options?.metadata ?? {}
})

const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

const idsOf = (events: ReadonlyArray<{ readonly eventId: string }>): ReadonlyArray<string> =>
  events.map((e) => e.eventId)

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Stream.runCollect(stream)

/** What an envelope says, in a form `deepStrictEqual` compares well. */
const comparable = (e: Envelope.Envelope) => ({
  eventId: e.eventId,
  type: e.type,
  schemaVersion: e.schemaVersion,
  data: e.data,
  metadata: e.metadata,
  stream: e.stream,
  streamVersion: e.streamVersion,
  position: Position.format(e.position),
  recordedAt: DateTime.toEpochMillis(e.recordedAt)
})

const assertStrictlyIncreasing = (positions: ReadonlyArray<Position.Position>, label = "positions") => {
  for (let i = 1; i < positions.length; i++) {
    assert.isTrue(
      Position.isAfter(positions[i]!, positions[i - 1]!),
      `${label}: ${Position.format(positions[i]!)} (#${i}) is not after ${Position.format(positions[i - 1]!)}`
    )
  }
}

const assertOrdered = (envelopes: ReadonlyArray<Envelope.Envelope>, label?: string) =>
  assertStrictlyIncreasing(
    envelopes.map((e) => e.position),
    label
  )

/** In log order, each stream's versions go 0, 1, 2, … with no gap, repeat or inversion. */
const assertStreamsContiguous = (envelopes: ReadonlyArray<Envelope.Envelope>) => {
  const next = new Map<string, number>()
  for (const e of envelopes) {
    assert.strictEqual(e.streamVersion, next.get(e.stream) ?? 0, `versions of ${JSON.stringify(e.stream)} in log order`)
    next.set(e.stream, e.streamVersion + 1)
  }
}

/** A value for an assertion message: JSON with bigints as text. */
const show = (value: unknown): string => {
  try {
    return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v)) ?? String(value)
  } catch {
    return String(value)
  }
}

/** The error an effect fails with; the test fails if it succeeds. */
const failure = <A, E>(effect: Effect.Effect<A, E>, label?: string): Effect.Effect<E> =>
  Effect.flatMap(Effect.result(effect), (result) =>
    Result.isFailure(result)
      ? Effect.succeed(result.failure)
      : Effect.sync(() =>
          assert.fail(`${label === undefined ? "" : `${label}: `}expected a failure, but got ${show(result.success)}`)
        )
  )

const describeError = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

/** The error an effect fails with, which must have one of these tags. */
const failsWith = <A, E extends { readonly _tag: string }, const Tag extends E["_tag"]>(
  effect: Effect.Effect<A, E>,
  ...tags: ReadonlyArray<Tag>
): Effect.Effect<Extract<E, { readonly _tag: Tag }>> =>
  Effect.map(failure(effect), (error) => {
    assert.include(
      tags as ReadonlyArray<string>,
      error._tag,
      `expected ${tags.join(" or ")}, got ${describeError(error)}`
    )
    return error as Extract<E, { readonly _tag: Tag }>
  })

/** Asserts that an append fails with `InvalidAppend`; `label` names the case. */
const invalidAppend = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>, label: string) =>
  Effect.map(failure(effect, label), (error) =>
    assert.strictEqual(error._tag, "InvalidAppend", `${label}: ${describeError(error)}`)
  )

/** Asserts that an effect dies (a defect), with no typed error such as `StoreError`. */
const dies = <A, E>(effect: Effect.Effect<A, E>, label: string) =>
  Effect.map(Effect.exit(effect), (exit) => {
    assert.isTrue(Exit.isFailure(exit), `${label}: expected a defect, but it succeeded`)
    if (Exit.isFailure(exit)) {
      assert.isTrue(Cause.hasDies(exit.cause) && !Cause.hasFails(exit.cause), `${label}: ${Cause.pretty(exit.cause)}`)
    }
  })

/** Fails the test with a message saying what did not happen, instead of hanging. */
const within = <A, E, R>(self: Effect.Effect<A, E, R>, duration: Duration.Input, what: () => string) =>
  Effect.timeoutOrElse(self, {
    duration,
    orElse: () => Effect.die(new Error(`${what()} (waited ${Duration.format(Duration.fromInputUnsafe(duration))})`))
  })

/** No test writes this many events to one category or stream: a read returning more loops or repeats. */
const maxRead = 20_000

/** Collects a finite read (a stream or the global log), failing the test if it never ends or repeats endlessly. */
const collectBounded = <A, E, R>(stream: Stream.Stream<A, E, R>, what: string) =>
  within(
    Effect.tap(collect(Stream.take(stream, maxRead + 1)), (all) =>
      Effect.sync(() => assert.isAtMost(all.length, maxRead, `${what} returned more events than were ever written`))
    ),
    "30 seconds",
    () => `${what} did not end`
  )

/** Odd but valid JSON that must survive storage exactly. */
const awkward = {
  quotes: 'it\'s "quoted" `back`',
  sql: "'; DROP TABLE events; --",
  backslashes: "C:\\path\\to\\x \\u0041 \\\\ \\n",
  unicode: "ünïcødé 漢字 😀 👩🏽‍💻 \u2028\u2029 ﷽",
  whitespace: "tab\tnew\nline\rreturn",
  empty: "",
  jsonLooking: '{"a":1}',
  nested: { a: [1, 2, { b: null }], c: { d: { e: [true, false, [], {}] } }, "key with spaces & 'quotes'": "v" },
  integers: [0, 1, -1, 42, 9007199254740991, -9007199254740991],
  floats: [1.5, -0.25, 0.1 + 0.2, 1e-7, 1e21, 5e-324, 1.7976931348623157e308],
  flags: [true, false, null],
  emptyArray: [],
  emptyObject: {}
}

/**
 * The pieces every event store test starts from: the store, a fresh category,
 * appends that remember the last acknowledged position, and reads of the
 * global log (filtered by the category) that first wait until the log shows
 * everything acknowledged so far.
 */
const eventStoreFixture = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const category = randomCategory()
  const stream = (id: string) => StreamName.make(category, id)
  let acknowledged = Position.start
  const note = (results: ReadonlyArray<EventStore.AppendResult>) => {
    for (const result of results) for (const p of result.positions) acknowledged = Position.max(acknowledged, p)
  }
  /** Waits until `head` is at or after `position`: a store may show a commit to readers a moment later. */
  const visible = (position: Position.Position) =>
    within(
      Effect.gen(function* () {
        for (;;) {
          const head = yield* store.head
          if (!Position.isAfter(position, head)) return head
          yield* Effect.sleep("5 millis")
        }
      }),
      "10 seconds",
      () => `the head never reached the acknowledged position ${Position.format(position)}`
    )
  const append = (
    target: StreamName.StreamName,
    events: ReadonlyArray<Envelope.EventData>,
    expected = ExpectedVersion.any
  ) => Effect.tap(store.append(target, events, expected), (result) => Effect.sync(() => note([result])))
  const appendMany = (appends: ReadonlyArray<EventStore.StreamAppend>) =>
    Effect.tap(store.appendMany(appends), (results) => Effect.sync(() => note(results)))
  /** The global log, read with these options once everything acknowledged is visible. */
  const readAll = (options: EventStore.ReadAllOptions) =>
    Effect.andThen(
      Effect.suspend(() => visible(acknowledged)),
      collectBounded(store.readAll(options), "readAll")
    )
  /** This test's part of the global log. */
  const log = (options?: Omit<EventStore.ReadAllOptions, "categories">) =>
    readAll({ ...options, categories: [category] })
  const readStream = (target: StreamName.StreamName, options?: EventStore.ReadStreamOptions) =>
    collectBounded(store.readStream(target, options), "readStream")
  return { store, category, stream, append, appendMany, visible, readAll, log, readStream }
})

// ---------------------------------------------------------------------------------------------
// EventStore
// ---------------------------------------------------------------------------------------------

/**
 * Registers the `EventStore` conformance suite: a `describe` block named
 * `EventStore conformance: <name>` whose tests share one instance of
 * `storeLayer` (built once for the block, released after it).
 *
 * **When to use**
 *
 * Call it at the top level of a vitest file for every `EventStore` layer you
 * ship or write: a store that passes it keeps the guarantees the rest of
 * Chronicle (command handling, projections, subscriptions) relies on.
 *
 * **Details**
 *
 * Every test writes to streams of its own random category and filters the
 * global log by it, so the layer may point at a database that other tests
 * share. Global-log reads first wait (up to 10 s) until `head` has reached
 * the last acknowledged position. Each test has a 60 s vitest timeout;
 * subscriptions that do not deliver what is expected within 30 s fail the
 * test instead of hanging it.
 *
 * **Gotchas**
 *
 * Tests run with the live clock (test services excluded), because they check
 * that `recordedAt` is close to the real time and wait for real writers.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { EventStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.eventStore("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const eventStore = <E>(
  name: string,
  storeLayer: Layer.Layer<EventStore.EventStore | UnitOfWork.UnitOfWork, E, never>
): void =>
  layer(storeLayer, { timeout: "2 minutes", excludeTestServices: true })(`EventStore conformance: ${name}`, (it) => {
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

    describe("expected versions", () => {
      it.effect(
        "accepts and rejects every kind of expected version, on a missing and on an existing stream",
        () =>
          Effect.gen(function* () {
            const { append, log, readStream, store, stream } = yield* eventStoreFixture
            const s = stream("expect")
            const rejected = (expected: ExpectedVersion.ExpectedVersion, actualVersion: number) =>
              Effect.gen(function* () {
                const error = yield* failsWith(store.append(s, [newEvent({})], expected), "WrongExpectedVersion")
                assert.strictEqual(
                  error.actualVersion,
                  actualVersion,
                  `actual version for ${ExpectedVersion.format(expected)}`
                )
                assert.strictEqual(error.stream, s)
                assert.strictEqual(yield* store.streamVersion(s), actualVersion, "a rejected append writes nothing")
              })

            // A stream that does not exist: version -1.
            assert.strictEqual(yield* store.streamVersion(s), -1)
            yield* rejected(ExpectedVersion.exact(0), -1)
            yield* rejected(ExpectedVersion.exact(3), -1)
            yield* rejected(ExpectedVersion.streamExists, -1)
            assert.deepStrictEqual(yield* readStream(s), [])

            const written: Array<Envelope.EventData> = []
            const accepted = (expected: ExpectedVersion.ExpectedVersion, version: number) =>
              Effect.gen(function* () {
                const event = newEvent({ version })
                const result = yield* append(s, [event], expected)
                written.push(event)
                assert.strictEqual(result.streamVersion, version, `append with ${ExpectedVersion.format(expected)}`)
              })
            yield* accepted(ExpectedVersion.noStream, 0)

            // An existing stream at version 0.
            yield* rejected(ExpectedVersion.noStream, 0)
            yield* rejected(ExpectedVersion.exact(1), 0)
            yield* accepted(ExpectedVersion.exact(0), 1)
            yield* accepted(ExpectedVersion.streamExists, 2)
            yield* accepted(ExpectedVersion.any, 3)
            yield* rejected(ExpectedVersion.exact(2), 3)
            yield* rejected(ExpectedVersion.exact(4), 3)
            yield* rejected(ExpectedVersion.noStream, 3)
            yield* accepted(ExpectedVersion.exact(3), 4)

            // `Any` also creates a stream.
            const created = yield* append(stream("any-new"), [newEvent({})], ExpectedVersion.any)
            assert.strictEqual(created.streamVersion, 0)
            yield* append(stream("any-new"), [newEvent({})], ExpectedVersion.streamExists)

            const read = yield* readStream(s)
            assert.deepStrictEqual(idsOf(read), idsOf(written))
            assert.deepStrictEqual(
              read.map((e) => e.streamVersion),
              [0, 1, 2, 3, 4]
            )
            assert.strictEqual((yield* log()).length, written.length + 2)
          }),
        testTimeout
      )

      it.effect(
        "of 2, then 16 concurrent writers with the same expected version, exactly one wins; the others learn the actual version",
        () =>
          Effect.gen(function* () {
            const { append, log, readStream, store, stream } = yield* eventStoreFixture
            for (const writers of [2, 16]) {
              const s = stream(`race-${writers}`)
              const seed = newEvent({ seed: true })
              yield* append(s, [seed], ExpectedVersion.noStream)
              const attempts = range(writers).map((w) => [newEvent({ w, k: 0 }), newEvent({ w, k: 1 })])
              const results = yield* Effect.forEach(
                attempts,
                (events) => Effect.result(append(s, events, ExpectedVersion.exact(0))),
                { concurrency: "unbounded" }
              )
              const winners = results.flatMap((r, w) => (Result.isSuccess(r) ? [w] : []))
              assert.strictEqual(winners.length, 1, `exactly one of ${writers} writers wins`)
              const winner = winners[0]!
              for (const r of results) {
                if (Result.isFailure(r)) {
                  assert.strictEqual(r.failure._tag, "WrongExpectedVersion", describeError(r.failure))
                  if (r.failure._tag === "WrongExpectedVersion") assert.strictEqual(r.failure.actualVersion, 2)
                } else {
                  assert.strictEqual(r.success.streamVersion, 2)
                }
              }
              const read = yield* readStream(s)
              assert.deepStrictEqual(idsOf(read), [seed.eventId, ...idsOf(attempts[winner]!)])
              assert.strictEqual(yield* store.streamVersion(s), 2)
            }
            assert.strictEqual((yield* log()).length, 6)
          }),
        testTimeout
      )

      it.effect(
        "of 16 concurrent writers creating a stream with NoStream, exactly one wins",
        () =>
          Effect.gen(function* () {
            const { append, log, readStream, stream } = yield* eventStoreFixture
            const s = stream("create-race")
            const attempts = range(16).map((w) => [newEvent({ w })])
            const results = yield* Effect.forEach(
              attempts,
              (events) => Effect.result(append(s, events, ExpectedVersion.noStream)),
              { concurrency: "unbounded" }
            )
            const winners = results.flatMap((r, w) => (Result.isSuccess(r) ? [w] : []))
            assert.strictEqual(winners.length, 1, "exactly one creator wins")
            for (const r of results) {
              if (Result.isFailure(r)) {
                assert.strictEqual(r.failure._tag, "WrongExpectedVersion", describeError(r.failure))
                if (r.failure._tag === "WrongExpectedVersion") assert.strictEqual(r.failure.actualVersion, 0)
              }
            }
            assert.deepStrictEqual(idsOf(yield* readStream(s)), idsOf(attempts[winners[0]!]!))
            assert.strictEqual((yield* log()).length, 1)
          }),
        testTimeout
      )
    })

    describe("atomic appends", () => {
      it.effect(
        "an append with a bad event in the middle writes none of its events",
        () =>
          Effect.gen(function* () {
            const { append, log, readStream, store, stream } = yield* eventStoreFixture
            const s = stream("atomic")
            const seed = newEvent({ seed: true })
            yield* append(s, [seed], ExpectedVersion.noStream)
            const fresh = stream("atomic-fresh")

            // The same id twice inside one append.
            const twice = newEvent({ twice: true })
            for (const target of [s, fresh]) {
              yield* failsWith(
                store.append(target, [newEvent({ a: 1 }), twice, newEvent({ b: 2 }), twice], ExpectedVersion.any),
                "InvalidAppend",
                "DuplicateEventId"
              )
              // Data that is not JSON in the middle.
              yield* failsWith(
                store.append(
                  target,
                  [newEvent({ a: 1 }), newEvent({ big: 1n }), newEvent({ b: 2 })],
                  ExpectedVersion.any
                ),
                "InvalidAppend"
              )
              // An id that is already recorded, after new ones.
              yield* failsWith(
                store.append(target, [newEvent({ a: 1 }), newEvent({ b: 2 }), seed], ExpectedVersion.any),
                "DuplicateEventId"
              )
            }
            assert.deepStrictEqual(idsOf(yield* readStream(s)), [seed.eventId])
            assert.strictEqual(yield* store.streamVersion(s), 0)
            assert.deepStrictEqual(yield* readStream(fresh), [])
            assert.strictEqual(yield* store.streamVersion(fresh), -1)
            assert.deepStrictEqual(idsOf(yield* log()), [seed.eventId])

            // The stream is not left in a broken state: the next append gets version 1.
            const next = yield* append(s, [newEvent({ next: true })], ExpectedVersion.exact(0))
            assert.strictEqual(next.streamVersion, 1)
          }),
        testTimeout
      )
    })

    describe("units of work", () => {
      it.effect(
        "a failing unit of work leaves nothing appended: no stream version, no event, no id, nothing delivered",
        () =>
          Effect.gen(function* () {
            const { append, category, log, readStream, store, stream } = yield* eventStoreFixture
            const unit = yield* UnitOfWork.UnitOfWork
            const [a, b, c] = [stream("a"), stream("b"), stream("c")]
            const seed = newEvent({ seed: true })
            yield* append(c, [seed], ExpectedVersion.noStream)
            const subscriber = yield* Effect.forkChild(
              Stream.runCollect(Stream.take(store.subscribe({ categories: [category] }), 2))
            )
            const rolledBack = [newEvent({ a: 0 }), newEvent({ b: 0 }), newEvent({ c: 1 })]
            const failure = yield* Effect.flip(
              unit.run(
                Effect.gen(function* () {
                  yield* store.append(a, [rolledBack[0]!], ExpectedVersion.noStream)
                  yield* store.appendMany([
                    { stream: b, events: [rolledBack[1]!], expectedVersion: ExpectedVersion.noStream },
                    { stream: c, events: [rolledBack[2]!], expectedVersion: ExpectedVersion.exact(0) }
                  ])
                  // Inside the unit its own appends are visible.
                  assert.strictEqual(yield* store.streamVersion(c), 1)
                  return yield* Effect.fail("the unit gives up" as const)
                })
              )
            )
            assert.strictEqual(failure, "the unit gives up")
            assert.strictEqual(yield* store.streamVersion(a), -1)
            assert.strictEqual(yield* store.streamVersion(b), -1)
            assert.strictEqual(yield* store.streamVersion(c), 0)
            assert.deepStrictEqual(yield* readStream(a), [])
            assert.deepStrictEqual(idsOf(yield* readStream(c)), [seed.eventId])

            // The ids were never recorded: appending them now is a first append, not a repeat.
            const after = newEvent({ after: true })
            const again = yield* append(a, [rolledBack[0]!], ExpectedVersion.noStream)
            assert.strictEqual(again.streamVersion, 0)
            yield* append(c, [after], ExpectedVersion.exact(0))
            assert.deepStrictEqual(idsOf(yield* log()), [seed.eventId, rolledBack[0]!.eventId, after.eventId])
            const delivered = yield* within(Fiber.join(subscriber), deliveryTimeout, () => "the subscriber stalled")
            assert.deepStrictEqual(idsOf(delivered), [seed.eventId, rolledBack[0]!.eventId])
          }),
        testTimeout
      )

      it.effect(
        "a unit's appends are hidden from other readers until it commits, then all appear at once",
        () =>
          Effect.gen(function* () {
            const { log, store, stream } = yield* eventStoreFixture
            const unit = yield* UnitOfWork.UnitOfWork
            const [a, b] = [stream("a"), stream("b")]
            const written = yield* Deferred.make<void>()
            const looked = yield* Deferred.make<readonly [number, number, number]>()
            // A reader outside the unit: started before it, so it does not share its transaction.
            yield* Effect.forkChild(
              Effect.andThen(
                Deferred.await(written),
                Effect.flatMap(
                  Effect.all([
                    store.streamVersion(a),
                    store.streamVersion(b),
                    Effect.map(collectBounded(store.readStream(a), "readStream"), (events) => events.length)
                  ]),
                  (seen) => Deferred.succeed(looked, seen)
                )
              )
            )
            const [ea, eb] = [newEvent({ a: 0 }), newEvent({ b: 0 })]
            yield* unit.run(
              Effect.gen(function* () {
                yield* store.append(a, [ea], ExpectedVersion.noStream)
                yield* store.append(b, [eb], ExpectedVersion.noStream)
                yield* Deferred.succeed(written, undefined)
                const seen = yield* within(Deferred.await(looked), "10 seconds", () => "the outside reader stalled")
                assert.deepStrictEqual(seen, [-1, -1, 0], "the outside reader saw uncommitted events")
              })
            )
            assert.strictEqual(yield* store.streamVersion(a), 0)
            assert.strictEqual(yield* store.streamVersion(b), 0)
            assert.deepStrictEqual(idsOf(yield* log()), [ea.eventId, eb.eventId])
          }),
        testTimeout
      )

      it.effect(
        "a nested unit that fails rolls back its own appends alone (a savepoint)",
        () =>
          Effect.gen(function* () {
            const { log, store, stream } = yield* eventStoreFixture
            const unit = yield* UnitOfWork.UnitOfWork
            const [a, b] = [stream("a"), stream("b")]
            const [a0, b0, a1, b1] = [newEvent({ a: 0 }), newEvent({ b: 0 }), newEvent({ a: 1 }), newEvent({ b: 1 })]
            yield* unit.run(
              Effect.gen(function* () {
                yield* store.append(a, [a0], ExpectedVersion.noStream)
                const inner = yield* Effect.flip(
                  unit.run(
                    Effect.andThen(
                      store.appendMany([
                        { stream: a, events: [a1], expectedVersion: ExpectedVersion.exact(0) },
                        { stream: b, events: [b0], expectedVersion: ExpectedVersion.noStream }
                      ]),
                      Effect.fail("inner gives up" as const)
                    )
                  )
                )
                assert.strictEqual(inner, "inner gives up")
                assert.strictEqual(yield* store.streamVersion(a), 0)
                assert.strictEqual(yield* store.streamVersion(b), -1)
                yield* store.append(b, [b1], ExpectedVersion.noStream)
              })
            )
            assert.deepStrictEqual(idsOf(yield* log()), [a0.eventId, b1.eventId])
            assert.strictEqual(yield* store.streamVersion(a), 0)
            assert.strictEqual(yield* store.streamVersion(b), 0)
          }),
        testTimeout
      )

      it.effect(
        "an interrupted unit of work leaves nothing appended, and writers of its streams go on",
        () =>
          Effect.gen(function* () {
            const { append, log, store, stream } = yield* eventStoreFixture
            const unit = yield* UnitOfWork.UnitOfWork
            const a = stream("a")
            const inside = yield* Deferred.make<void>()
            const fiber = yield* Effect.forkChild(
              unit.run(
                Effect.andThen(
                  store.append(a, [newEvent({ interrupted: true })], ExpectedVersion.noStream),
                  Effect.andThen(Deferred.succeed(inside, undefined), Effect.never)
                )
              )
            )
            yield* Deferred.await(inside)
            yield* Fiber.interrupt(fiber)
            const next = newEvent({ next: true })
            const result = yield* within(
              append(a, [next], ExpectedVersion.noStream),
              "10 seconds",
              () => "a writer of the stream still waits for the interrupted unit"
            )
            assert.strictEqual(result.streamVersion, 0)
            assert.deepStrictEqual(idsOf(yield* log()), [next.eventId])
          }),
        testTimeout
      )
    })

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

    describe("idempotency", () => {
      it.effect(
        "re-appending the same events returns the first result, even with a now-stale expected version",
        () =>
          Effect.gen(function* () {
            const { append, log, readStream, store, stream } = yield* eventStoreFixture
            const s = stream("idem")
            const events = [newEvent({ n: 1 }), newEvent({ n: 2 })]
            const first = yield* append(s, events, ExpectedVersion.noStream)
            const later = newEvent({ n: 3 })
            yield* append(s, [later], ExpectedVersion.exact(1))
            // A retry after a lost acknowledgement: same ids, an expected version that is now stale.
            for (const expected of [
              ExpectedVersion.noStream,
              ExpectedVersion.exact(7),
              ExpectedVersion.streamExists,
              ExpectedVersion.any
            ]) {
              assert.deepStrictEqual(yield* append(s, events, expected), first, ExpectedVersion.format(expected))
            }
            // The same UUIDs written in upper case are the same ids.
            const upper = events.map((e) => ({ ...e, eventId: e.eventId.toUpperCase() }))
            assert.deepStrictEqual(yield* append(s, upper, ExpectedVersion.any), first)

            assert.strictEqual(yield* store.streamVersion(s), 2)
            assert.deepStrictEqual(idsOf(yield* readStream(s)), [...idsOf(events), later.eventId])
            assert.deepStrictEqual(idsOf(yield* log()), [...idsOf(events), later.eventId])
          }),
        testTimeout
      )

      it.effect(
        "re-used ids that are not an exact repeat of one append fail with DuplicateEventId and write nothing",
        () =>
          Effect.gen(function* () {
            const { append, log, readStream, store, stream } = yield* eventStoreFixture
            const s = stream("dup")
            const elsewhere = stream("elsewhere")
            const [a1, a2, b1] = [newEvent({ a: 1 }), newEvent({ a: 2 }), newEvent({ b: 1 })]
            yield* append(s, [a1, a2], ExpectedVersion.noStream)
            yield* append(s, [b1], ExpectedVersion.exact(1))
            const cases: ReadonlyArray<readonly [string, StreamName.StreamName, ReadonlyArray<Envelope.EventData>]> = [
              ["a prefix of an append", s, [a1]],
              ["a suffix of an append", s, [a2]],
              ["an append reordered", s, [a2, a1]],
              ["the tail of one append and the next append", s, [a2, b1]],
              ["an append extended with a new event", s, [a1, a2, newEvent({ new: 1 })]],
              ["a new event, then a recorded one", s, [newEvent({ new: 2 }), b1]],
              ["an append repeated in another stream", elsewhere, [a1, a2]],
              ["a recorded id in another stream", elsewhere, [newEvent({ new: 3 }), b1]]
            ]
            for (const [label, target, events] of cases) {
              const error = yield* failure(store.append(target, events, ExpectedVersion.any), label)
              assert.strictEqual(error._tag, "DuplicateEventId", `${label}: ${describeError(error)}`)
            }
            assert.strictEqual(yield* store.streamVersion(s), 2)
            assert.deepStrictEqual(idsOf(yield* readStream(s)), idsOf([a1, a2, b1]))
            assert.strictEqual(yield* store.streamVersion(elsewhere), -1)
            assert.deepStrictEqual(idsOf(yield* log()), idsOf([a1, a2, b1]))
          }),
        testTimeout
      )

      it.effect(
        "concurrent retries of one append record it once and all get the same result",
        () =>
          Effect.gen(function* () {
            const { append, log, store, stream } = yield* eventStoreFixture
            const s = stream("retries")
            const events = [newEvent({ n: 1 }), newEvent({ n: 2 })]
            const results = yield* Effect.forEach(range(8), () => append(s, events, ExpectedVersion.noStream), {
              concurrency: "unbounded"
            })
            for (const result of results) assert.deepStrictEqual(result, results[0])
            assert.strictEqual(yield* store.streamVersion(s), 1)
            assert.deepStrictEqual(idsOf(yield* log()), idsOf(events))
          }),
        testTimeout
      )
    })

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

    describe("global log", () => {
      it.effect(
        "readAll filters by position, categories and types exactly, and small batches still return everything in order",
        () =>
          Effect.gen(function* () {
            const { append, category, log, readAll, stream } = yield* eventStoreFixture
            const other = randomCategory()
            // Categories a sloppy filter (prefix, LIKE pattern, case-insensitive) would let in.
            const traps = [
              `${category}x`,
              `${category}_`,
              `${category}%`,
              category.toUpperCase(),
              category.slice(0, -1)
            ]
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
  })

// ---------------------------------------------------------------------------------------------
// SnapshotStore
// ---------------------------------------------------------------------------------------------

/**
 * Registers the `SnapshotStore` conformance suite: a `describe` block named
 * `SnapshotStore conformance: <name>` whose tests share one instance of
 * `storeLayer`.
 *
 * **Details**
 *
 * Proves that a missing snapshot loads as `None`; that the state, versions
 * and stream round-trip exactly; that a snapshot of an older stream version
 * never replaces a newer one (while a newer one does); and that `delete`
 * removes exactly one stream's snapshot. Every test uses streams of its own
 * random category, so a shared database is fine.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { SnapshotStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.snapshotStore("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const snapshotStore = <E>(name: string, storeLayer: Layer.Layer<SnapshotStore.SnapshotStore, E, never>): void =>
  layer(storeLayer, { timeout: "2 minutes", excludeTestServices: true })(`SnapshotStore conformance: ${name}`, (it) => {
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
  })

// ---------------------------------------------------------------------------------------------
// CheckpointStore
// ---------------------------------------------------------------------------------------------

/**
 * Registers the `CheckpointStore` conformance suite: a `describe` block named
 * `CheckpointStore conformance: <name>` whose tests share one instance of
 * `storeLayer`.
 *
 * **Details**
 *
 * Proves that a missing checkpoint loads as `None`; that positions round-trip
 * exactly (both `bigint` parts, up to 2^63 - 1); that a save overwrites, in
 * either direction; that `list` shows every saved name; that fenced saves
 * (`expected`) fail with `CheckpointConflict` and change nothing when the
 * stored checkpoint differs; and that `delete` removes one name. Names carry
 * a random prefix, so a shared database is fine.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { CheckpointStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.checkpointStore("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const checkpointStore = <E>(
  name: string,
  storeLayer: Layer.Layer<CheckpointStore.CheckpointStore, E, never>
): void =>
  layer(storeLayer, { timeout: "2 minutes", excludeTestServices: true })(
    `CheckpointStore conformance: ${name}`,
    (it) => {
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
            const [a, b, odd] = [
              name("projection-a@v1"),
              name("projection-b@v2"),
              name(`odd '; DROP TABLE x; -- ünï 😀`)
            ]
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
  )
