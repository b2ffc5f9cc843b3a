// Store conformance: an import writes other stores' events into new streams exactly (ids, versions,
// recorded-at times, metadata, data) at new positions; streams continue and verify clean; existing
// streams, gaps and bad events are typed errors that write nothing of their batch; subscribers see
// imported events once, in order; an interrupted import finishes on a rerun with existing: "skip".
import {
  type Envelope,
  EventId,
  EventImport,
  EventStore,
  ExpectedVersion,
  Integrity,
  MemoryStore,
  Position,
  type StreamName
} from "@chronicle/core"
import { assert, describe } from "@effect/vitest"
import { Context, DateTime, Effect, Fiber, Layer, Stream } from "effect"
import {
  assertOrdered,
  awkward,
  collectBounded,
  comparable,
  deliveryTimeout,
  eventStoreFixture,
  failsWith,
  idsOf,
  type It,
  newEvent,
  range,
  show,
  testTimeout,
  within
} from "./fixture.ts"

/** The services the import suite needs. */
export type Services = EventStore.EventStore | EventImport.EventImport | Integrity.Integrity

/** An event as another store recorded it: fixed recorded-at times in 2021, metadata with non-ASCII text. */
const imported = (stream: StreamName.StreamName, streamVersion: number, data: unknown = { n: streamVersion }) =>
  ({
    eventId: EventId.makeUnsafe(),
    stream,
    streamVersion,
    type: "Happened",
    schemaVersion: 1,
    data,
    metadata: { correlationId: `c-${streamVersion}`, extra: { note: "ünïcode ✓ 🎉" } },
    recordedAt: DateTime.makeUnsafe(
      `2021-03-0${1 + (streamVersion % 9)}T10:00:00.${String(streamVersion % 1000).padStart(3, "0")}Z`
    ) as DateTime.Utc
  }) satisfies EventImport.ImportedEvent

const importAll = (events: ReadonlyArray<EventImport.ImportedEvent>, options?: EventImport.ImportOptions) =>
  EventImport.EventImport.use((importer) => importer.importEvents(Stream.fromIterable(events), options))

/** An export line with its position left out, to compare an export with a re-export. */
const withoutPosition = (line: string) => JSON.stringify({ ...JSON.parse(line), position: null })

/** What an envelope says but for its position (an import gives it a new one). */
const content = (e: Envelope.Envelope) => {
  const { position: _, ...rest } = comparable(e)
  return rest
}

/** Each stream's events exactly as given (ids, versions, recorded-at, type, data, metadata). */
const asImported = (e: EventImport.ImportedEvent | Envelope.Envelope) => ({
  eventId: e.eventId,
  stream: e.stream,
  streamVersion: e.streamVersion,
  type: e.type,
  schemaVersion: e.schemaVersion,
  data: e.data,
  metadata: e.metadata,
  recordedAt: DateTime.formatIso(e.recordedAt)
})

/** The import's fixture: the event store fixture, and a wait until what the import wrote to `streams` shows in the log. */
const importFixture = Effect.gen(function* () {
  const fixture = yield* eventStoreFixture
  /** Waits until the global log shows every event of `streams` (an import's commit may show a moment later). */
  const settled = (streams: ReadonlyArray<StreamName.StreamName>) =>
    Effect.forEach(streams, (s) =>
      Effect.flatMap(
        collectBounded(fixture.store.readStream(s, { direction: "backward", maxCount: 1 }), "readStream"),
        (last) => (last.length === 0 ? Effect.void : fixture.visible(last[0]!.position))
      )
    )
  const verifiesClean = (stream: StreamName.StreamName, events: number) =>
    Effect.map(Integrity.verify({ stream }), (report) =>
      assert.deepStrictEqual(report, { streams: 1, events, breaks: [] }, `${stream}: ${show(report.breaks)}`)
    )
  return { ...fixture, settled, verifiesClean }
})

/**
 * An import writes another store's events into new streams exactly, at new positions after the log;
 * streams continue and verify clean; bad input is a typed error that writes nothing of its batch.
 */
export const eventImport = (it: It<Services>): void => {
  describe("event import", () => {
    it.effect(
      "exported lines import exactly into another store: ids, versions, recorded-at, metadata, data, at new positions after its log",
      () =>
        Effect.gen(function* () {
          const { append, category, log, settled, store, stream, verifiesClean, visible } = yield* importFixture
          // The source, always an in-memory store: two interleaved streams appended at different times.
          const source = yield* Layer.build(MemoryStore.layer())
          const sourceStore = Context.get(source, EventStore.EventStore)
          const [a, b] = [stream("a"), stream("b")]
          const event = (n: number) =>
            newEvent(
              { n, awkward, text: "'); DELETE FROM chronicle.events; --", nul: "\u0000", big: 12345678901234 },
              {
                type: "Placed",
                schemaVersion: 3,
                metadata: {
                  actor: "alice",
                  causationId: "x",
                  traceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                  extra: { n, note: "ünïcode ✓" }
                }
              }
            )
          for (const i of range(4)) {
            yield* sourceStore.append(a, [event(i)], ExpectedVersion.any)
            yield* Effect.sleep("3 millis")
            yield* sourceStore.append(b, [event(i), event(i + 10)], ExpectedVersion.any)
            yield* Effect.sleep("3 millis")
          }
          const lines = yield* Stream.runCollect(EventImport.exportAll().pipe(Stream.provideContext(source)))
          assert.lengthOf(lines, 12)
          const originals = yield* Stream.runCollect(sourceStore.readAll())

          // The target already has an event: the imported ones come after it (and after the log's head).
          const first = yield* append(stream("other"), [event(99)], ExpectedVersion.noStream)
          const head = yield* visible(first.positions[0]!)
          const report = yield* EventImport.EventImport.use((importer) =>
            importer.importEvents(EventImport.parseLines(Stream.fromIterable(lines)), { batchSize: 5 })
          )
          assert.deepStrictEqual(report, { events: 12, skipped: 0, streams: 2, batches: 3 })
          yield* settled([a, b])
          const all = yield* log()
          assert.deepStrictEqual(
            all.map((e) => e.stream),
            [stream("other"), ...originals.map((e) => e.stream)]
          )
          const copies = all.slice(1)
          assert.deepStrictEqual(copies.map(content), originals.map(content))
          // New positions, in the order given, after the target's log.
          assert.isTrue(copies.every((copy) => Position.isAfter(copy.position, head)))
          assert.isTrue(
            copies.every((copy, i) => Position.format(copy.position) !== Position.format(originals[i]!.position))
          )
          assertOrdered(copies, "the copies' positions")
          // Byte for byte: exporting the copies gives the same lines, but for the positions.
          const again = yield* Stream.runCollect(
            EventImport.exportAll({ after: first.positions[0], categories: [category] })
          )
          assert.deepStrictEqual(again.map(withoutPosition), lines.map(withoutPosition))
          // The streams are in step: an append at the exact version continues each of them.
          assert.deepStrictEqual([yield* store.streamVersion(a), yield* store.streamVersion(b)], [3, 7])
          const next = yield* append(b, [event(100)], ExpectedVersion.exact(7))
          assert.strictEqual(next.streamVersion, 8)
          yield* verifiesClean(a, 4)
          yield* verifiesClean(b, 9)
        }),
      testTimeout
    )

    it.effect(
      "keeps recorded-at times and metadata exactly, continues streams, and verifies clean",
      () =>
        Effect.gen(function* () {
          const { append, readStream, store, stream, verifiesClean } = yield* importFixture
          const s = stream("account")
          const events = [imported(s, 0), imported(s, 1), imported(s, 2)]
          assert.deepStrictEqual(yield* importAll(events), { events: 3, skipped: 0, streams: 1, batches: 1 })
          assert.deepStrictEqual((yield* readStream(s)).map(asImported), events.map(asImported))
          assert.strictEqual(yield* store.streamVersion(s), 2)
          yield* failsWith(append(s, [newEvent({ n: 3 })], ExpectedVersion.noStream), "WrongExpectedVersion")
          const more = yield* append(s, [newEvent({ n: 3 })], ExpectedVersion.exact(2))
          assert.strictEqual(more.streamVersion, 3)
          yield* verifiesClean(s, 4)
        }),
      testTimeout
    )

    it.effect(
      "refuses a stream the store already has, naming it, and writes nothing of that batch",
      () =>
        Effect.gen(function* () {
          const { append, log, readStream, store, stream } = yield* importFixture
          const [taken, fresh] = [stream("taken"), stream("fresh")]
          const before = newEvent({ first: true })
          yield* append(taken, [before], ExpectedVersion.noStream)
          const error = yield* failsWith(
            importAll([imported(fresh, 0), imported(taken, 0), imported(fresh, 1)]),
            "StreamExists"
          )
          assert.deepStrictEqual([error.stream, error.version], [taken, 0])
          assert.include(error.message, JSON.stringify(taken))
          assert.include(error.message, `existing: "skip"`)
          assert.strictEqual(yield* store.streamVersion(fresh), -1)
          assert.deepStrictEqual(yield* readStream(fresh), [])
          assert.deepStrictEqual(idsOf(yield* log()), [before.eventId])
        }),
      testTimeout
    )

    it.effect(
      "gaps, versions out of order and ids recorded elsewhere are typed errors naming the stream and version",
      () =>
        Effect.gen(function* () {
          const { append, log, store, stream } = yield* importFixture
          const s = stream("gap")
          const cases: ReadonlyArray<readonly [string, ReadonlyArray<EventImport.ImportedEvent>, number]> = [
            ["a gap", [imported(s, 0), imported(s, 2)], 2],
            ["no version 0", [imported(s, 1)], 1],
            ["versions backwards", [imported(s, 1), imported(s, 0)], 1],
            ["a version again", [imported(s, 0), imported(s, 1), imported(s, 0)], 0]
          ]
          for (const [label, events, version] of cases) {
            const error = yield* failsWith(importAll(events), "InvalidImport")
            assert.deepStrictEqual([error.stream, error.streamVersion], [s, version], label)
            assert.include(error.message, JSON.stringify(s), label)
          }
          assert.deepStrictEqual(yield* log(), [])

          // An id the store has recorded in another stream.
          const other = newEvent({ elsewhere: true })
          yield* append(stream("elsewhere"), [other], ExpectedVersion.noStream)
          const dup = yield* failsWith(
            importAll([imported(s, 0), { ...imported(s, 1), eventId: other.eventId }]),
            "InvalidImport"
          )
          assert.deepStrictEqual([dup.stream, dup.streamVersion], [s, 1])
          assert.include(dup.message, "already recorded")
          assert.strictEqual(yield* store.streamVersion(s), -1)
          assert.deepStrictEqual(idsOf(yield* log()), [other.eventId])
        }),
      testTimeout
    )

    it.effect(
      "bad events are typed errors naming the event; SQL-looking names and data are stored verbatim",
      () =>
        Effect.gen(function* () {
          const { category, log, readStream, settled, stream, verifiesClean } = yield* importFixture
          const s = stream("bad")
          // The stores' default limit, 1 MiB of JSON per event.
          const cases: ReadonlyArray<readonly [EventImport.ImportedEvent, string]> = [
            [{ ...imported(s, 1), data: { text: "\ud800" } }, "lone surrogate"],
            [{ ...imported(s, 1), data: { text: "a\udc00b" } }, "lone surrogate"],
            [{ ...imported(s, 1), data: { text: "x".repeat(1024 * 1024) } }, "over the limit"],
            [{ ...imported(s, 1), eventId: "not-a-uuid" }, "is not a UUID"],
            [{ ...imported(s, 1), type: "" }, "type of 0 characters"],
            [{ ...imported(s, 1), schemaVersion: 0 }, "schema version 0"]
          ]
          for (const [event, reason] of cases) {
            const error = yield* failsWith(importAll([imported(s, 0), event]), "InvalidImport")
            assert.deepStrictEqual([error.stream, error.streamVersion], [s, 1], reason)
            assert.include(error.message, reason)
          }
          for (const name of [`${category}`, `${category}-bad\u0001`, `${category}-\ud800`]) {
            const badName = yield* failsWith(importAll([imported(name as StreamName.StreamName, 0)]), "InvalidImport")
            assert.strictEqual(badName.stream, name)
            assert.include(badName.message, "stream name is invalid")
          }
          assert.deepStrictEqual(yield* log(), [])

          const sqlish = stream("x'); DROP TABLE chronicle.streams; --")
          const event = {
            ...imported(sqlish, 0, { q: "'; DROP TABLE chronicle.events; --", k: ["$1", "\\x00", "?", ":name"] }),
            type: "Robert'); DROP TABLE students;--"
          }
          yield* importAll([event])
          yield* settled([sqlish])
          const [stored] = yield* readStream(sqlish)
          assert.deepStrictEqual(stored && asImported(stored), asImported(event))
          assert.deepStrictEqual(
            (yield* log()).map((e) => [e.stream, e.type, e.data]),
            [[sqlish, event.type, event.data]]
          )
          yield* verifiesClean(sqlish, 1)
        }),
      testTimeout
    )

    it.effect(
      "a subscription started before the import receives every imported event once, in order",
      () =>
        Effect.gen(function* () {
          const { category, store, stream } = yield* importFixture
          const head = yield* store.head
          const streams = [stream("a"), stream("b"), stream("c")]
          const events = range(300).map((i) => imported(streams[i % 3]!, Math.floor(i / 3)))
          const received: Array<Envelope.Envelope> = []
          const fiber = yield* store.subscribe({ after: head, categories: [category] }).pipe(
            Stream.take(events.length + 1),
            Stream.runForEach((e) => Effect.sync(() => received.push(e))),
            Effect.forkChild
          )
          yield* Effect.sleep("100 millis")
          yield* importAll(events, { batchSize: 64 })
          yield* within(
            Effect.repeat(Effect.sleep("10 millis"), { until: () => received.length >= events.length }),
            deliveryTimeout,
            () => `the subscription delivered ${received.length} of ${events.length} events`
          )
          // Nothing more (a repeat) arrives after the last.
          yield* Effect.sleep("200 millis")
          yield* Fiber.interrupt(fiber)
          assert.deepStrictEqual(idsOf(received), idsOf(events))
          assert.deepStrictEqual(received.map(asImported), events.map(asImported))
        }),
      testTimeout
    )

    it.effect(
      "a rerun with existing: skip passes over what an interrupted import committed and finishes it",
      () =>
        Effect.gen(function* () {
          const { log, settled, store, stream, verifiesClean } = yield* importFixture
          const [s, t] = [stream("resume1"), stream("resume2")]
          const events = [imported(s, 0), imported(s, 1), imported(t, 0), imported(s, 2), imported(t, 1)]
          // The first run stops in its second batch (an invalid event after a valid one): the first stays.
          yield* failsWith(
            importAll([...events.slice(0, 4), { ...events[4]!, type: "" }], { batchSize: 3 }),
            "InvalidImport"
          )
          yield* settled([s, t])
          assert.deepStrictEqual(idsOf(yield* log()), idsOf(events.slice(0, 3)))
          // Without skip, the rerun is refused.
          const refused = yield* failsWith(importAll(events, { batchSize: 3 }), "StreamExists")
          assert.include([s, t], refused.stream)
          const progress: Array<number> = []
          const report = yield* importAll(events, {
            batchSize: 3,
            existing: "skip",
            onProgress: (r) => Effect.sync(() => void progress.push(r.events + r.skipped))
          })
          assert.deepStrictEqual(report, { events: 2, skipped: 3, streams: 2, batches: 2 })
          assert.deepStrictEqual(progress, [3, 5])
          yield* settled([s, t])
          assert.deepStrictEqual((yield* log()).map(asImported), events.map(asImported))
          assert.deepStrictEqual([yield* store.streamVersion(s), yield* store.streamVersion(t)], [2, 1])
          // A stream whose stored events differ is still refused.
          const other = yield* failsWith(importAll([imported(s, 0)], { existing: "skip" }), "StreamExists")
          assert.strictEqual(other.stream, s)
          assert.include(other.message, "not the imported")
          assert.strictEqual(yield* store.streamVersion(s), 2)
          yield* verifiesClean(s, 3)
          yield* verifiesClean(t, 2)
          const whole = yield* Integrity.verify()
          assert.deepStrictEqual(whole.breaks, [], show(whole.breaks))
        }),
      testTimeout
    )

    it.effect(
      "a batch the input's failure cuts short writes nothing of that batch; earlier batches stay",
      () =>
        Effect.gen(function* () {
          const { log, readStream, settled, stream } = yield* importFixture
          const s = stream("lines")
          const events = range(3).map((v) => imported(s, v))
          const lines = events.map((e) => EventImport.toLine({ ...e, position: Position.make(1n, 1n) }))
          const failed = yield* failsWith(
            EventImport.EventImport.use((importer) =>
              importer.importEvents(EventImport.parseLines(Stream.fromIterable([...lines, "{oops"])), {
                batchSize: 2
              })
            ),
            "MalformedLine"
          )
          assert.strictEqual(failed.line, 4)
          yield* settled([s])
          assert.deepStrictEqual((yield* readStream(s)).map(asImported), events.slice(0, 2).map(asImported))
          assert.deepStrictEqual(idsOf(yield* log()), idsOf(events.slice(0, 2)))
          // The good lines again, with skip: the rest follows.
          const report = yield* EventImport.EventImport.use((importer) =>
            importer.importEvents(EventImport.parseLines(Stream.fromIterable(lines)), {
              batchSize: 2,
              existing: "skip"
            })
          )
          assert.deepStrictEqual(report, { events: 1, skipped: 2, streams: 1, batches: 2 })
          assert.deepStrictEqual((yield* readStream(s)).map(asImported), events.map(asImported))
        }),
      testTimeout
    )
  })
}
