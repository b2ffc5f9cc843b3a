// DESIGN.md guarantee 4 on PostgreSQL: the global log never skips an event that commits late.
import { type Envelope, EventId, EventStore, ExpectedVersion, Position, StreamName } from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Stream } from "effect"
import { SqlClient } from "effect/sql"

const Live = PgStore.layerStores({ pollInterval: "200 millis" }).pipe(
  Layer.provideMerge(PgHarness.layer({ maxConnections: 24 }))
)

const event = (data: unknown) => ({
  eventId: EventId.makeUnsafe(),
  type: "Tick",
  schemaVersion: 1,
  data,
  metadata: {}
})

/** How many events read after a later version of their own stream: 0 when every stream is in order. */
const orderViolations = (envelopes: ReadonlyArray<Envelope.Envelope>) => {
  const highest = new Map<string, number>()
  let violations = 0
  for (const e of envelopes) {
    const seen = highest.get(e.stream) ?? -1
    if (e.streamVersion < seen) violations++
    highest.set(e.stream, Math.max(seen, e.streamVersion))
  }
  return violations
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

layer(Live, { timeout: 180_000, excludeTestServices: true })("PostgreSQL global log ordering", (it) => {
  it.effect(
    "a transaction held open while later appends commit is delivered, once and in order, after it commits",
    () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        const category = "held"
        const subscriber = yield* store
          .subscribe({ categories: [category] })
          .pipe(Stream.take(6), Stream.runCollect, Effect.timeout("60 seconds"), Effect.forkChild)
        yield* store.append(StreamName.make(category, "before"), [event({ n: "before" })], ExpectedVersion.any)
        const appended = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        // The held transaction appends first (so it has the lower sequence and transaction id)…
        const held = yield* sql
          .withTransaction(
            Effect.gen(function* () {
              yield* store.append(StreamName.make(category, "held"), [event({ n: "held" })], ExpectedVersion.any)
              yield* Deferred.succeed(appended, undefined)
              yield* Deferred.await(release)
            })
          )
          .pipe(Effect.forkChild)
        yield* Deferred.await(appended)
        // …then later appends commit while it stays open.
        for (let i = 0; i < 4; i++) {
          yield* store.append(StreamName.make(category, `after${i}`), [event({ n: `after${i}` })], ExpectedVersion.any)
        }
        yield* Effect.sleep("500 millis")
        // Nothing after the held transaction may be delivered yet, or the held event would be skipped.
        const early = yield* Stream.runCollect(store.readAll({ categories: [category] }))
        assert.deepStrictEqual(
          early.map((e) => (e.data as { n: string }).n),
          ["before"]
        )
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(held)
        const delivered = yield* Fiber.join(subscriber)
        assert.deepStrictEqual(
          delivered.map((e) => (e.data as { n: string }).n),
          ["before", "held", "after0", "after1", "after2", "after3"]
        )
        for (let i = 1; i < delivered.length; i++)
          assert.isTrue(Position.isAfter(delivered[i]!.position, delivered[i - 1]!.position))
      })
  )

  it.effect("16 concurrent writers and a live subscriber over 20 000 events: nothing skipped, nothing repeated", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const category = "stress"
      const writers = 16
      const appendsPerWriter = 625
      const eventsPerAppend = 2
      const total = writers * appendsPerWriter * eventsPerAppend
      const subscriber = yield* store
        .subscribe({ categories: [category], batchSize: 500 })
        .pipe(Stream.take(total), Stream.runCollect, Effect.timeout("150 seconds"), Effect.forkChild)
      const acknowledged = yield* Effect.forEach(
        Array.from({ length: writers }, (_, w) => w),
        (w) =>
          Effect.forEach(
            Array.from({ length: appendsPerWriter }, (_, i) => i),
            (i) => {
              const events = Array.from({ length: eventsPerAppend }, (_, k) => event({ w, i, k }))
              return Effect.as(
                store.append(StreamName.make(category, `s${(w * 7 + i) % 40}`), events, ExpectedVersion.any),
                events.map((e) => e.eventId)
              )
            }
          ),
        { concurrency: "unbounded" }
      )
      const delivered = yield* Fiber.join(subscriber)
      const ids = delivered.map((e) => e.eventId)
      assert.strictEqual(ids.length, total)
      assert.strictEqual(new Set(ids).size, total, "no event delivered twice")
      assert.deepStrictEqual(new Set(ids), new Set(acknowledged.flat(2)), "every acknowledged event delivered")
      for (let i = 1; i < delivered.length; i++) {
        assert.isTrue(Position.isAfter(delivered[i]!.position, delivered[i - 1]!.position), `in order at ${i}`)
      }
      const versions = new Map<string, number>()
      for (const e of delivered) {
        assert.strictEqual(e.streamVersion, (versions.get(e.stream) ?? -1) + 1, `${e.stream} in version order`)
        versions.set(e.stream, e.streamVersion)
      }
    })
  )

  it.effect(
    "an append in a transaction that wrote before a concurrent append to the stream committed fails with LogOrderConflict and writes nothing",
    () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        const stream = StreamName.make("conflict", "s")
        yield* sql`CREATE TABLE conflict_side (n integer PRIMARY KEY)`
        yield* store.append(stream, [event({ n: 0 })], ExpectedVersion.noStream)
        const wrote = yield* Deferred.make<void>()
        const committed = yield* Deferred.make<void>()
        const late = event({ n: "late" })
        // The transaction writes first (so it has its id), then a concurrent append to the stream commits…
        const transaction = yield* sql
          .withTransaction(
            Effect.gen(function* () {
              yield* sql`INSERT INTO conflict_side (n) VALUES (1)`
              yield* Deferred.succeed(wrote, undefined)
              yield* Deferred.await(committed)
              return yield* store.append(stream, [late], ExpectedVersion.any)
            })
          )
          .pipe(Effect.flip, Effect.forkChild)
        yield* Deferred.await(wrote)
        yield* store.append(stream, [event({ n: 1 })], ExpectedVersion.exact(0))
        yield* Deferred.succeed(committed, undefined)
        // …so its append would read before that commit in the log: refused.
        const error = yield* Fiber.join(transaction)
        assert.strictEqual(error._tag, "LogOrderConflict", error.message)
        assert.deepStrictEqual(yield* sql`SELECT n FROM conflict_side`, [])
        const log = yield* Stream.runCollect(store.readAll({ categories: ["conflict"] }))
        assert.deepStrictEqual(
          log.map((e) => e.streamVersion),
          [0, 1]
        )
        assert.notInclude(
          log.map((e) => e.eventId),
          late.eventId
        )
        // Retried as a whole, the transaction appends after the commit it met.
        yield* sql.withTransaction(
          Effect.andThen(
            sql`INSERT INTO conflict_side (n) VALUES (1)`,
            store.append(stream, [late], ExpectedVersion.exact(1))
          )
        )
        assert.deepStrictEqual(
          (yield* Stream.runCollect(store.readAll({ categories: ["conflict"] }))).map((e) => e.streamVersion),
          [0, 1, 2]
        )
      })
  )

  it.effect("two appends to one stream in one transaction read in order, as two appends", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      const stream = StreamName.make("twice", "s")
      const [first, second] = [[event({ n: 0 }), event({ n: 1 })], [event({ n: 2 })]]
      yield* sql.withTransaction(
        Effect.andThen(
          store.append(stream, first, ExpectedVersion.noStream),
          store.append(stream, second, ExpectedVersion.exact(1))
        )
      )
      const log = yield* Stream.runCollect(store.readAll({ categories: ["twice"] }))
      assert.deepStrictEqual(
        log.map((e) => e.streamVersion),
        [0, 1, 2]
      )
      // Each is repeated on its own; across the boundary, the ids are not one append.
      assert.strictEqual((yield* store.append(stream, first, ExpectedVersion.any)).streamVersion, 1)
      assert.strictEqual((yield* store.append(stream, second, ExpectedVersion.any)).streamVersion, 2)
      const error = yield* Effect.flip(store.append(stream, [first[1]!, second[0]!], ExpectedVersion.any))
      assert.strictEqual(error._tag, "DuplicateEventId")
    })
  )

  it.effect(
    "appendMany, appends in caller transactions and plain appends on a few hot streams: every stream in order, in the log and live",
    () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        const category = "hot"
        const hot = range(4).map((i) => StreamName.make(category, `s${i}`))
        const finished = StreamName.make(category, "finished")
        const rounds = 150
        yield* sql`CREATE TABLE hot_side (attempt text PRIMARY KEY)`
        const subscriber = yield* store.subscribe({ categories: [category], batchSize: 200 }).pipe(
          Stream.takeUntil((e) => e.stream === finished),
          Stream.runCollect,
          Effect.timeout("150 seconds"),
          Effect.forkChild
        )
        const acknowledged: Array<string> = []
        const committedAttempts: Array<string> = []
        const refused: Array<{ readonly attempt: string; readonly eventIds: ReadonlyArray<string> }> = []
        const acknowledge = (eventIds: ReadonlyArray<string>) => Effect.sync(() => void acknowledged.push(...eventIds))
        /** `count` hot streams from `start` on, in name order (the order every writer locks them in). */
        const streamsFrom = (start: number, count: number) =>
          range(count)
            .map((k) => hot[(start + k) % hot.length]!)
            .sort()

        const appendMany = (w: number, i: number) => {
          const parts = streamsFrom(w + i, 2 + (i % 2)).map((stream) => ({
            stream,
            events: [event({ w, i })],
            expectedVersion: ExpectedVersion.any
          }))
          return Effect.andThen(
            store.appendMany(parts),
            acknowledge(parts.flatMap((p) => p.events.map((e) => e.eventId)))
          )
        }
        // The caller's own write comes first, so the transaction has its id before it locks a stream.
        const inTransaction = (w: number, i: number) => {
          const attempt = `${w}/${i}`
          const parts = streamsFrom(w * 3 + i, 2).map((stream) => ({ stream, event: event({ w, i, attempt }) }))
          const eventIds = parts.map((p) => p.event.eventId)
          return sql
            .withTransaction(
              Effect.gen(function* () {
                yield* sql`INSERT INTO hot_side (attempt) VALUES (${attempt})`
                for (const part of parts) yield* store.append(part.stream, [part.event], ExpectedVersion.any)
              })
            )
            .pipe(
              Effect.andThen(
                Effect.sync(() => {
                  acknowledged.push(...eventIds)
                  committedAttempts.push(attempt)
                })
              ),
              Effect.catchTag("LogOrderConflict", () => Effect.sync(() => void refused.push({ attempt, eventIds })))
            )
        }
        const plain = (w: number, i: number) => {
          const e = event({ w, i })
          return Effect.andThen(
            store.append(hot[(w + i) % hot.length]!, [e], ExpectedVersion.any),
            acknowledge([e.eventId])
          )
        }

        /** Four writers of one kind, `rounds` writes each. */
        const writers = <E>(write: (w: number, i: number) => Effect.Effect<void, E>) =>
          range(4).map((w) => Effect.forEach(range(rounds), (i) => write(w, i), { discard: true }))
        yield* Effect.all([...writers(appendMany), ...writers(inTransaction), ...writers(plain)], {
          concurrency: "unbounded",
          discard: true
        })
        yield* store.append(finished, [event({ finished: true })], ExpectedVersion.noStream)

        const delivered = (yield* Fiber.join(subscriber)).filter((e) => e.stream !== finished)
        const log = (yield* Stream.runCollect(store.readAll({ categories: [category] }))).filter(
          (e) => e.stream !== finished
        )
        const [inLog, live] = [orderViolations(log), orderViolations(delivered)]
        yield* Effect.logInfo(
          `hot streams: ${log.length} events; order violations: ${inLog} in the log, ${live} live; ` +
            `${refused.length} of ${4 * rounds} caller transactions refused with LogOrderConflict`
        )
        assert.strictEqual(inLog, 0, "events read after a later version of their stream, in the log")
        assert.strictEqual(live, 0, "events delivered after a later version of their stream, live")
        assert.deepStrictEqual(
          delivered.map((e) => e.eventId),
          log.map((e) => e.eventId),
          "the subscription delivers the log"
        )
        assert.strictEqual(log.length, acknowledged.length)
        assert.deepStrictEqual(new Set(log.map((e) => e.eventId)), new Set(acknowledged), "every acknowledged event")
        // A refused transaction wrote nothing: neither its events nor its own row.
        const logged = new Set(log.map((e) => e.eventId))
        for (const { attempt, eventIds } of refused) {
          for (const id of eventIds) assert.isFalse(logged.has(id), `refused ${attempt} wrote ${id}`)
        }
        const sideRows = yield* sql<{ attempt: string }>`SELECT attempt FROM hot_side`
        assert.deepStrictEqual(new Set(sideRows.map((r) => r.attempt)), new Set(committedAttempts))
      })
  )
})
