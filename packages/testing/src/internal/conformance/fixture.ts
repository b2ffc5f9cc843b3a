// The shared pieces of the store conformance suites: fresh categories and events, assertions,
// bounded reads and the event store fixture.
import { type Envelope, EventId, EventStore, ExpectedVersion, Position, StreamName } from "@chronicle/core"
import { assert, type Vitest } from "@effect/vitest"
import { Cause, DateTime, Duration, Effect, Exit, Result, Stream } from "effect"

/** Per-test vitest timeout: generous, so a slow database still passes and a hang still fails. */
export const testTimeout = 60_000
/** How long a subscription may take to deliver what a test expects before the test fails. */
export const deliveryTimeout = "30 seconds"
/** How far `recordedAt` may be from the test's clock (a database server's clock may differ a little). */
export const clockSkewMillis = 60_000

const randomHex = (bytes: number): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("")

/** A category no other test uses: `c` and 12 random hex digits. */
export const randomCategory = (): string => `c${randomHex(6)}`

export const newEventId = (): string => EventId.makeUnsafe()

export const newEvent = (
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

export const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

export const idsOf = (events: ReadonlyArray<{ readonly eventId: string }>): ReadonlyArray<string> =>
  events.map((e) => e.eventId)

export const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Stream.runCollect(stream)

/** What an envelope says, in a form `deepStrictEqual` compares well. */
export const comparable = (e: Envelope.Envelope) => ({
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

export const assertStrictlyIncreasing = (positions: ReadonlyArray<Position.Position>, label = "positions") => {
  for (let i = 1; i < positions.length; i++) {
    assert.isTrue(
      Position.isAfter(positions[i]!, positions[i - 1]!),
      `${label}: ${Position.format(positions[i]!)} (#${i}) is not after ${Position.format(positions[i - 1]!)}`
    )
  }
}

export const assertOrdered = (envelopes: ReadonlyArray<Envelope.Envelope>, label?: string) =>
  assertStrictlyIncreasing(
    envelopes.map((e) => e.position),
    label
  )

/** In log order, each stream's versions go 0, 1, 2, … with no gap, repeat or inversion. */
export const assertStreamsContiguous = (envelopes: ReadonlyArray<Envelope.Envelope>) => {
  const next = new Map<string, number>()
  for (const e of envelopes) {
    assert.strictEqual(e.streamVersion, next.get(e.stream) ?? 0, `versions of ${JSON.stringify(e.stream)} in log order`)
    next.set(e.stream, e.streamVersion + 1)
  }
}

/** A value for an assertion message: JSON with bigints as text. */
export const show = (value: unknown): string => {
  try {
    return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v)) ?? String(value)
  } catch {
    return String(value)
  }
}

/** The error an effect fails with; the test fails if it succeeds. */
export const failure = <A, E, R>(effect: Effect.Effect<A, E, R>, label?: string): Effect.Effect<E, never, R> =>
  Effect.flatMap(Effect.result(effect), (result) =>
    Result.isFailure(result)
      ? Effect.succeed(result.failure)
      : Effect.sync(() =>
          assert.fail(`${label === undefined ? "" : `${label}: `}expected a failure, but got ${show(result.success)}`)
        )
  )

export const describeError = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

/** The error an effect fails with, which must have one of these tags. */
export const failsWith = <A, E extends { readonly _tag: string }, R, const Tag extends E["_tag"]>(
  effect: Effect.Effect<A, E, R>,
  ...tags: ReadonlyArray<Tag>
): Effect.Effect<Extract<E, { readonly _tag: Tag }>, never, R> =>
  Effect.map(failure(effect), (error) => {
    assert.include(
      tags as ReadonlyArray<string>,
      error._tag,
      `expected ${tags.join(" or ")}, got ${describeError(error)}`
    )
    return error as Extract<E, { readonly _tag: Tag }>
  })

/** Asserts that an append fails with `InvalidAppend`; `label` names the case. */
export const invalidAppend = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>, label: string) =>
  Effect.map(failure(effect, label), (error) =>
    assert.strictEqual(error._tag, "InvalidAppend", `${label}: ${describeError(error)}`)
  )

/** Asserts that an effect dies (a defect), with no typed error such as `StoreError`. */
export const dies = <A, E>(effect: Effect.Effect<A, E>, label: string) =>
  Effect.map(Effect.exit(effect), (exit) => {
    assert.isTrue(Exit.isFailure(exit), `${label}: expected a defect, but it succeeded`)
    if (Exit.isFailure(exit)) {
      assert.isTrue(Cause.hasDies(exit.cause) && !Cause.hasFails(exit.cause), `${label}: ${Cause.pretty(exit.cause)}`)
    }
  })

/** Fails the test with a message saying what did not happen, instead of hanging. */
export const within = <A, E, R>(self: Effect.Effect<A, E, R>, duration: Duration.Input, what: () => string) =>
  Effect.timeoutOrElse(self, {
    duration,
    orElse: () => Effect.die(new Error(`${what()} (waited ${Duration.format(Duration.fromInputUnsafe(duration))})`))
  })

/** No test writes this many events to one category or stream: a read returning more loops or repeats. */
const maxRead = 20_000

/** Collects a finite read (a stream or the global log), failing the test if it never ends or repeats endlessly. */
export const collectBounded = <A, E, R>(stream: Stream.Stream<A, E, R>, what: string) =>
  within(
    Effect.tap(collect(Stream.take(stream, maxRead + 1)), (all) =>
      Effect.sync(() => assert.isAtMost(all.length, maxRead, `${what} returned more events than were ever written`))
    ),
    "30 seconds",
    () => `${what} did not end`
  )

/** Odd but valid JSON that must survive storage exactly. */
export const awkward = {
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
export const eventStoreFixture = Effect.gen(function* () {
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

/** The vitest methods a suite registers its tests with, on a layer that provides `R`. */
export type It<R> = Vitest.MethodsNonLive<R>
