// Stream lifecycle on PostgreSQL: what delete, trim, archive and restore do to the tables, to the
// readers of streams and of the log, to appends (also racing with an action) and to verification;
// and that rows removed by plain SQL instead are still reported as tampering.
import {
  type Envelope,
  EventCodec,
  EventStore,
  EventType,
  ExpectedVersion,
  Integrity,
  Position,
  Projection,
  Projector,
  StreamLifecycle,
  StreamName
} from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Latch, Layer, Option, Queue, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql"

const Stores = PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer()))

const Tick = EventType.make("LifecycleTick", { n: Schema.Int })
const Ticks = EventCodec.make(Tick)

const tick = (n: number): Envelope.EventData => ({
  eventId: crypto.randomUUID(),
  type: "LifecycleTick",
  schemaVersion: 1,
  data: { n },
  metadata: { actor: "alice ünï 😀 '; --" }
})

const ticks = (from: number, count: number) => Array.from({ length: count }, (_, k) => tick(from + k))

let streams = 0
/** A stream no other test uses, in a category of its own. */
const fresh = (label: string) => StreamName.make(`lc${label}${Date.now().toString(36)}x${streams++}`, "s")

const request = { reason: "the lifecycle test says so", actor: "dpo@example.com" }

/** The rows of `stream` in a table. */
const rowsIn = (table: "events" | "events_archive", stream: string) =>
  SqlClient.SqlClient.use((sql) =>
    Effect.map(
      sql<{ n: number }>`SELECT count(*)::int AS n FROM chronicle.${sql(table)} WHERE stream = ${stream}`,
      (rows) => rows[0]!.n
    )
  )

/** Every stored column of `stream`'s events as text, wherever they are. */
const rawRows = (table: "events" | "events_archive", stream: string) =>
  SqlClient.SqlClient.use(
    (sql) =>
      sql<{ row: string }>`SELECT concat_ws('|', transaction_id::text, sequence::text, event_id::text, stream,
          stream_version::text, category, type, schema_version::text, data::text, metadata::text,
          recorded_at::text, append_first::text, encode(hash, 'hex')) AS row
        FROM chronicle.${sql(table)} WHERE stream = ${stream} ORDER BY stream_version`
  ).pipe(Effect.map((rows) => rows.map((r) => r.row)))

const readAll = (stream: StreamName.StreamName) =>
  EventStore.EventStore.use((store) => Stream.runCollect(store.readStream(stream)))

const fails = <A, E extends { readonly _tag: string }, R, const T extends E["_tag"]>(
  effect: Effect.Effect<A, E, R>,
  tag: T
) =>
  Effect.map(Effect.flip(effect), (error) => {
    assert.strictEqual(error._tag, tag, String(error))
    return error as Extract<E, { readonly _tag: T }>
  })

const verify = (stream: StreamName.StreamName) => Integrity.verify({ stream })

/** What an envelope is, position and time included, compared by value. */
const exactly = (e: Envelope.Envelope) => ({
  ...e,
  position: Position.format(e.position),
  recordedAt: String(e.recordedAt)
})

/** The actions recorded on the system stream about `stream`. */
const recordedFor = (stream: string) =>
  Effect.map(readAll(StreamLifecycle.systemStream), (events) =>
    events
      .filter((e) => (e.data as { readonly stream?: unknown }).stream === stream)
      .map((e) => ({ type: e.type, data: e.data, actor: e.metadata.actor }))
  )

layer(Stores, { timeout: 120_000, excludeTestServices: true })("PostgreSQL stream lifecycle", (it) => {
  it.effect(
    "delete: the events leave the table, appends and reads fail, verify is clean; rows deleted by SQL are not",
    () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        const [doomed, other, tampered] = [fresh("del"), fresh("keep"), fresh("sqldel")]
        yield* store.append(doomed, ticks(0, 2), ExpectedVersion.noStream)
        yield* store.append(doomed, ticks(2, 2), ExpectedVersion.exact(1))
        yield* store.append(other, ticks(0, 3), ExpectedVersion.noStream)
        yield* store.append(tampered, ticks(0, 4), ExpectedVersion.noStream)
        const otherBefore = yield* rawRows("events", other)

        const status = yield* StreamLifecycle.tombstone(doomed, {
          ...request,
          expectedVersion: ExpectedVersion.exact(3)
        })
        assert.deepStrictEqual(status, { stream: doomed, version: 3, state: "Deleted", removedBefore: 4 })
        assert.strictEqual(yield* rowsIn("events", doomed), 0)
        assert.strictEqual(yield* rowsIn("events_archive", doomed), 0)
        assert.deepStrictEqual(yield* rawRows("events", other), otherBefore)

        assert.strictEqual((yield* fails(readAll(doomed), "StreamDeleted")).version, 3)
        for (const expected of [
          ExpectedVersion.any,
          ExpectedVersion.noStream,
          ExpectedVersion.streamExists,
          ExpectedVersion.exact(3)
        ]) {
          const refused = yield* fails(store.append(doomed, [tick(9)], expected), "StreamDeleted")
          assert.strictEqual(refused.version, 3)
          // Also inside a transaction, where the optimistic statement cannot fail and fall back.
          yield* fails(sql.withTransaction(store.append(doomed, [tick(9)], expected)), "StreamDeleted")
          yield* fails(
            store.appendMany([{ stream: doomed, events: [tick(9)], expectedVersion: expected }]),
            "StreamDeleted"
          )
        }
        assert.strictEqual(yield* rowsIn("events", doomed), 0)
        assert.strictEqual(yield* store.streamVersion(doomed), 3)
        assert.deepStrictEqual(yield* verify(doomed), { streams: 1, events: 0, breaks: [] })
        assert.deepStrictEqual(yield* verify(other), { streams: 1, events: 3, breaks: [] })
        assert.deepStrictEqual(yield* recordedFor(doomed), [
          { type: "StreamDeleted", data: { stream: doomed, version: 3, reason: request.reason }, actor: request.actor }
        ])

        // The same removal by plain SQL leaves no marker: verify reports it.
        yield* sql`DELETE FROM chronicle.events WHERE stream = ${tampered}`
        assert.deepInclude((yield* verify(tampered)).breaks[0], { stream: tampered, version: 0, problem: "VersionGap" })
      })
  )

  it.effect("trim: the rows before the cut leave, reads start at it, appends go on, verify is clean", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      const [s, sqlTrimmed] = [fresh("trim"), fresh("sqltrim")]
      for (const target of [s, sqlTrimmed]) {
        yield* store.append(target, ticks(0, 2), ExpectedVersion.noStream)
        yield* store.append(target, ticks(2, 2), ExpectedVersion.exact(1))
        yield* store.append(target, ticks(4, 2), ExpectedVersion.exact(3))
      }
      const before = yield* readAll(s)

      const status = yield* StreamLifecycle.trim(s, 3, request)
      assert.deepStrictEqual(status, { stream: s, version: 5, state: "Live", removedBefore: 3 })
      assert.strictEqual(yield* rowsIn("events", s), 3)
      assert.deepStrictEqual((yield* readAll(s)).map(exactly), before.slice(3).map(exactly))
      assert.deepStrictEqual(yield* verify(s), { streams: 1, events: 3, breaks: [] })

      // The optimistic appends go on from the row's version; a new stream it is not.
      assert.strictEqual((yield* store.append(s, [tick(6)], ExpectedVersion.exact(5))).streamVersion, 6)
      assert.strictEqual((yield* store.append(s, [tick(7)], ExpectedVersion.any)).streamVersion, 7)
      assert.strictEqual((yield* store.append(s, ticks(8, 2), ExpectedVersion.streamExists)).streamVersion, 9)
      const stale = yield* fails(store.append(s, [tick(0)], ExpectedVersion.noStream), "WrongExpectedVersion")
      assert.strictEqual(stale.actualVersion, 9)
      yield* fails(sql.withTransaction(store.append(s, [tick(0)], ExpectedVersion.noStream)), "WrongExpectedVersion")
      assert.deepStrictEqual(
        (yield* readAll(s)).map((e) => e.streamVersion),
        [3, 4, 5, 6, 7, 8, 9]
      )
      assert.deepStrictEqual(yield* verify(s), { streams: 1, events: 7, breaks: [] })
      assert.deepStrictEqual(
        (yield* recordedFor(s)).map((r) => r.data),
        [{ stream: s, version: 5, removedBefore: 3, reason: request.reason }]
      )

      // A row deleted by SQL in the kept part is reported at its version.
      yield* sql`DELETE FROM chronicle.events WHERE stream = ${s} AND stream_version = 4`
      assert.deepInclude((yield* verify(s)).breaks[0], { stream: s, version: 4, problem: "VersionGap" })
      // The same cut made by SQL leaves no marker: reported at version 0.
      yield* sql`DELETE FROM chronicle.events WHERE stream = ${sqlTrimmed} AND stream_version < 3`
      assert.deepInclude((yield* verify(sqlTrimmed)).breaks[0], {
        stream: sqlTrimmed,
        version: 0,
        problem: "VersionGap"
      })
    })
  )

  it.effect("archive: the hot table empties of the stream, which reads back byte for byte, in itself and the log", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      const lifecycle = yield* StreamLifecycle.StreamLifecycle
      const [cold, hot] = [fresh("cold"), fresh("hot")]
      const categories = [StreamName.category(cold), StreamName.category(hot)]
      yield* store.append(cold, ticks(0, 2), ExpectedVersion.noStream)
      yield* store.append(hot, ticks(0, 1), ExpectedVersion.noStream)
      yield* store.append(cold, ticks(2, 2), ExpectedVersion.exact(1))
      yield* store.append(hot, ticks(1, 1), ExpectedVersion.exact(0))
      yield* store.append(cold, ticks(4, 1), ExpectedVersion.exact(3))
      const raw = yield* rawRows("events", cold)
      const stream0 = (yield* readAll(cold)).map(exactly)
      const log0 = (yield* Stream.runCollect(store.readAll({ categories }))).map(exactly)
      assert.lengthOf(log0, 7)
      const head0 = Position.format(yield* store.head)

      // A subscription started before the archive, one event at a time, held after its first.
      const seen = yield* Queue.unbounded<Envelope.Envelope>()
      const hold = yield* Latch.make()
      const subscriber = yield* store.subscribe({ categories, batchSize: 1 }).pipe(
        Stream.runForEach((e) => Effect.andThen(Queue.offer(seen, e), hold.await)),
        Effect.forkChild
      )
      const first = yield* Queue.take(seen)
      assert.strictEqual(first.eventId, log0[0]!.eventId)

      // The service itself (the module's function would record the action, moving the log's head).
      const status = yield* lifecycle.archive(cold)
      assert.deepStrictEqual(status, { stream: cold, version: 4, state: "Archived", removedBefore: 0 })
      assert.strictEqual(yield* rowsIn("events", cold), 0)
      assert.deepStrictEqual(yield* rawRows("events_archive", cold), raw)
      assert.deepStrictEqual((yield* readAll(cold)).map(exactly), stream0)
      assert.deepStrictEqual(
        (yield* Stream.runCollect(store.readStream(cold, { direction: "backward", from: 3, maxCount: 2 }))).map(
          exactly
        ),
        [stream0[3]!, stream0[2]!]
      )
      assert.deepStrictEqual((yield* Stream.runCollect(store.readAll({ categories }))).map(exactly), log0)
      assert.strictEqual(yield* store.streamVersion(cold), 4)
      assert.strictEqual(Position.format(yield* store.head), head0)

      yield* hold.open
      const delivered = [first, ...(yield* Effect.forEach(log0.slice(1), () => Queue.take(seen)))]
      yield* Fiber.interrupt(subscriber)
      assert.deepStrictEqual(delivered.map(exactly), log0)

      for (const expected of [ExpectedVersion.exact(4), ExpectedVersion.any, ExpectedVersion.noStream]) {
        yield* fails(store.append(cold, [tick(9)], expected), "StreamArchived")
        yield* fails(sql.withTransaction(store.append(cold, [tick(9)], expected)), "StreamArchived")
      }
      // Its ids stay taken while it is archived, in both append paths.
      const takenId = { ...tick(0), eventId: stream0[0]!.eventId }
      yield* fails(store.append(hot, [takenId], ExpectedVersion.exact(1)), "DuplicateEventId")
      yield* fails(store.append(hot, [tick(2), takenId], ExpectedVersion.exact(1)), "DuplicateEventId")
      yield* fails(
        store.appendMany([{ stream: hot, events: [takenId], expectedVersion: ExpectedVersion.exact(1) }]),
        "DuplicateEventId"
      )
      assert.strictEqual(yield* rowsIn("events", hot), 2)
      assert.deepStrictEqual(yield* verify(cold), { streams: 1, events: 5, breaks: [] })
      assert.deepStrictEqual(yield* lifecycle.archive(cold), status)

      const restored = yield* StreamLifecycle.restore(cold, request)
      assert.deepStrictEqual(restored, { ...status, state: "Live" })
      assert.strictEqual(yield* rowsIn("events_archive", cold), 0)
      assert.deepStrictEqual(yield* rawRows("events", cold), raw)
      assert.strictEqual((yield* store.append(cold, [tick(5)], ExpectedVersion.exact(4))).streamVersion, 5)
      assert.deepStrictEqual(yield* verify(cold), { streams: 1, events: 6, breaks: [] })
      assert.deepStrictEqual(
        (yield* recordedFor(cold)).map((r) => [r.type, r.actor]),
        [["StreamRestored", request.actor]]
      )
    })
  )

  it.effect("the global log's reads merge one index scan per table, with no sort", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      // The shape of the store's log page (PgEventStore's bothTables). These tables are small enough
      // for a sequential scan to win on cost: with it (and bitmap scans) ruled out, what the shape
      // allows shows: each table's index scan, limited, then merged, with no sort.
      const where = sql.literal(
        "(transaction_id, sequence) > ('0'::xid8, 0::int8) AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())"
      )
      const branch = (table: string) =>
        sql`SELECT transaction_id, sequence, data FROM chronicle.${sql(table)} WHERE ${where}
          ORDER BY transaction_id, sequence LIMIT 1000`
      const plan = yield* sql.withTransaction(
        Effect.andThen(
          sql`SET LOCAL enable_seqscan = off`,
          Effect.andThen(
            sql`SET LOCAL enable_bitmapscan = off`,
            sql<{ "QUERY PLAN": string }>`EXPLAIN SELECT transaction_id::text AS commit, sequence, data FROM (
              (${branch("events")}) UNION ALL (${branch("events_archive")})
            ) e ORDER BY transaction_id, sequence LIMIT 1000`
          )
        )
      )
      const text = plan.map((row) => row["QUERY PLAN"]).join("\n")
      assert.include(text, "Merge Append", text)
      assert.notMatch(text, /Sort\s+\(cost/, text)
    })
  )

  it.effect("a rebuild over a log with an archived stream equals the fold before archiving", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const [a, b] = [fresh("fold"), fresh("fold")]
      const categories = [StreamName.category(a), StreamName.category(b)]
      for (let round = 0; round < 3; round++) {
        yield* store.append(a, ticks(round * 2, 2), ExpectedVersion.any)
        yield* store.append(b, ticks(round * 2, 2), ExpectedVersion.any)
      }
      const folds: Array<Array<string>> = [[], []]
      const fold = (version: number) =>
        Projection.make({
          name: `lifecycle-fold-${categories[0]}`,
          version,
          codec: Ticks,
          categories,
          handle: (e) =>
            Effect.sync(() => {
              folds[version - 1]!.push(`${e.stream}@${e.streamVersion}=${e.event.n}#${Position.format(e.position)}`)
            })
        })
      yield* Projector.catchUp(fold(1))
      yield* StreamLifecycle.archive(a, request)
      yield* Projector.catchUp(fold(2))
      assert.lengthOf(folds[0]!, 12)
      assert.deepStrictEqual(folds[1], folds[0])
    })
  )

  it.effect("an action racing an append: the append waits for the lock, then is refused and writes nothing", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      const lifecycle = yield* StreamLifecycle.StreamLifecycle
      const race = <E>(
        stream: StreamName.StreamName,
        action: Effect.Effect<unknown, E>,
        expected: ExpectedVersion.ExpectedVersion
      ) =>
        Effect.gen(function* () {
          const locked = yield* Latch.make()
          const holder = yield* sql
            .withTransaction(Effect.andThen(action, Effect.andThen(locked.open, Effect.sleep("300 millis"))))
            .pipe(Effect.forkChild)
          yield* locked.await
          // Its statement starts (and takes its snapshot) while the action holds the lock.
          const exit = yield* Effect.exit(store.append(stream, [tick(99)], expected))
          yield* Fiber.join(holder)
          return exit
        })

      const [deleted, archived, trimmed] = [fresh("racedel"), fresh("racearc"), fresh("racetrim")]
      for (const s of [deleted, archived, trimmed]) yield* store.append(s, ticks(0, 3), ExpectedVersion.noStream)

      const onDelete = yield* race(deleted, lifecycle.delete(deleted, ExpectedVersion.any), ExpectedVersion.exact(2))
      assert.isTrue(Exit.isFailure(onDelete) && String(onDelete.cause).includes("StreamDeleted"), String(onDelete))
      assert.strictEqual(yield* rowsIn("events", deleted), 0)
      assert.deepStrictEqual(yield* verify(deleted), { streams: 1, events: 0, breaks: [] })

      const onArchive = yield* race(archived, lifecycle.archive(archived), ExpectedVersion.any)
      assert.isTrue(Exit.isFailure(onArchive) && String(onArchive.cause).includes("StreamArchived"), String(onArchive))
      assert.strictEqual(yield* rowsIn("events", archived), 0)
      assert.strictEqual(yield* rowsIn("events_archive", archived), 3)

      // A trim keeps the version: the append goes on at version 3.
      const onTrim = yield* race(trimmed, lifecycle.trim(trimmed, 2), ExpectedVersion.exact(2))
      assert.isTrue(Exit.isSuccess(onTrim) && onTrim.value.streamVersion === 3, String(onTrim))
      assert.deepStrictEqual(yield* verify(trimmed), { streams: 1, events: 2, breaks: [] })
    })
  )

  it.effect("an action inside the caller's transaction that fails is rolled back with the caller's writes", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      const lifecycle = yield* StreamLifecycle.StreamLifecycle
      const [a, b, c] = [fresh("txa"), fresh("txb"), fresh("txc")]
      for (const s of [a, b, c]) yield* store.append(s, ticks(0, 3), ExpectedVersion.noStream)
      yield* sql`CREATE TABLE lifecycle_audit (stream text)`
      const exit = yield* Effect.exit(
        sql.withTransaction(
          Effect.gen(function* () {
            yield* sql`INSERT INTO lifecycle_audit VALUES (${a})`
            yield* lifecycle.delete(a, ExpectedVersion.exact(2))
            yield* lifecycle.trim(b, 2)
            yield* lifecycle.archive(c)
            return yield* Effect.fail("the caller gives up")
          })
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.lengthOf(yield* sql`SELECT * FROM lifecycle_audit`, 0)
      for (const s of [a, b, c]) {
        assert.strictEqual(yield* rowsIn("events", s), 3)
        assert.deepStrictEqual(
          Option.map(yield* lifecycle.status(s), (st) => [st.state, st.removedBefore]),
          Option.some(["Live", 0] as [StreamLifecycle.State, number])
        )
        assert.strictEqual((yield* store.append(s, [tick(3)], ExpectedVersion.exact(2))).streamVersion, 3)
        assert.deepStrictEqual(yield* verify(s), { streams: 1, events: 4, breaks: [] })
      }
    })
  )

  it.effect("list: a category's streams by name, LIKE's metacharacters taken literally; bad names", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const lifecycle = yield* StreamLifecycle.StreamLifecycle
      const tag = Date.now().toString(36)
      const names = [`l_${tag}-2`, `l_${tag}-1`, `lx${tag}-1`, `l%${tag}-1`, `l_${tag}x-1`].map(
        (n) => n as StreamName.StreamName
      )
      for (const n of names) yield* store.append(n, [tick(0)], ExpectedVersion.noStream)
      yield* lifecycle.archive(names[0]!)
      assert.deepStrictEqual(
        (yield* lifecycle.list({ category: `l_${tag}` })).map((s) => [s.stream, s.state]),
        [
          [`l_${tag}-1`, "Live"],
          [`l_${tag}-2`, "Archived"]
        ]
      )
      assert.deepStrictEqual(
        (yield* lifecycle.list({ category: `l_${tag}`, after: names[1], limit: 5 })).map((s) => s.stream),
        [`l_${tag}-2`]
      )
      assert.deepStrictEqual(yield* lifecycle.list({ category: `l_${tag}`, limit: 0 }), [])
      assert.deepStrictEqual(yield* lifecycle.list({ category: `l_${tag}-1` }), [])
      assert.deepStrictEqual(yield* lifecycle.list({ category: "l\u0000" }), [])
      assert.isTrue(Option.isNone(yield* lifecycle.status("no dash" as StreamName.StreamName)))
      yield* fails(lifecycle.delete("no dash" as StreamName.StreamName, ExpectedVersion.any), "StreamNotFound")
      yield* fails(lifecycle.trim(fresh("never"), 1), "StreamNotFound")
      yield* fails(lifecycle.trim(names[1]!, 0), "InvalidTrim")
    })
  )
})
