// The stalled-log-horizon signal: one open transaction holds every reader back; the gauge says for
// how long, and drops to 0 once the transaction ends.
import { EventId, EventStore, ExpectedVersion, StreamName } from "@chronicle/core"
import { PgEventStore, PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Metric, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"

const Live = PgStore.layerStores({ horizonInterval: "50 millis" }).pipe(Layer.provideMerge(PgHarness.layer()))

const stalled = Metric.value(Metric.withAttributes(PgEventStore.horizonStalledSeconds, { schema: "chronicle" }))

/** Waits until the gauge satisfies `until` (it is sampled in the background). */
const gaugeUntil = (until: (seconds: number) => boolean) =>
  Effect.map(stalled, (state) => state.value).pipe(
    Effect.repeat({ until, schedule: Schedule.spaced("20 millis") }),
    Effect.timeout("20 seconds")
  )

const tick = (n: string) => ({
  eventId: EventId.makeUnsafe(),
  type: "Tick",
  schemaVersion: 1,
  data: { n },
  metadata: {}
})

it.live("rises while an open transaction holds committed events back from readers, and returns to 0", () =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const sql = yield* SqlClient.SqlClient
    yield* store.append(StreamName.make("horizon", "before"), [tick("before")], ExpectedVersion.any)
    assert.strictEqual(yield* gaugeUntil((seconds) => seconds === 0), 0, "nothing is held back")

    // A transaction that has an id and stays open…
    const opened = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    const held = yield* sql
      .withTransaction(
        Effect.gen(function* () {
          // (As text: an xid8 result column hangs the driver.)
          yield* sql`SELECT pg_current_xact_id()::text AS xid`
          yield* Deferred.succeed(opened, undefined)
          yield* Deferred.await(release)
        })
      )
      .pipe(Effect.forkChild)
    yield* Deferred.await(opened)
    // …while a later append commits: readers cannot see it yet.
    yield* store.append(StreamName.make("horizon", "after"), [tick("after")], ExpectedVersion.any)
    const visible = yield* Stream.runCollect(store.readAll({ categories: ["horizon"] }))
    assert.deepStrictEqual(
      visible.map((e) => (e.data as { n: string }).n),
      ["before"]
    )
    assert.isAbove(yield* gaugeUntil((seconds) => seconds > 0), 0, "the gauge reports the stall")

    yield* Deferred.succeed(release, undefined)
    yield* Fiber.join(held)
    assert.strictEqual(yield* gaugeUntil((seconds) => seconds === 0), 0, "the horizon moved on")
  }).pipe(Effect.provide(Live))
)
