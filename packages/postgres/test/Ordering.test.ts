// DESIGN.md guarantee 4 on PostgreSQL: the global log never skips an event that commits late.
import { EventId, EventStore, ExpectedVersion, Position, StreamName } from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Stream } from "effect"
import { SqlClient } from "effect/sql"

const Live = PgStore.layerStores({ pollInterval: "200 millis" }).pipe(
  Layer.provideMerge(PgHarness.layer({ maxConnections: 24 }))
)

const event = (data: unknown) => ({
  eventId: EventId.fromParts(Date.now(), globalThis.crypto.getRandomValues(new Uint8Array(10))),
  type: "Tick",
  schemaVersion: 1,
  data,
  metadata: {}
})

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
})
