// The server is killed (immediate shutdown) while several writers append; after a restart every
// acknowledged append is present, nothing is half-written, and the same pool recovers by itself.
import { EventId, EventStore, ExpectedVersion, StreamName } from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgServer } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Redacted, Ref, Stream } from "effect"

const eventsPerAppend = 3

it.live(
  "acknowledged appends survive a crash; unacknowledged ones are all or nothing; the pool recovers",
  () =>
    Effect.gen(function* () {
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => PgServer.start()),
        (s) => Effect.promise(() => s.stop())
      )
      const stores = yield* Layer.build(
        PgStore.layer({ url: Redacted.make(server.url), maxConnections: 8, pollInterval: "200 millis" })
      )
      const store = Context.get(stores, EventStore.EventStore)

      const acknowledged = yield* Ref.make<ReadonlyArray<{ stream: string; batch: string }>>([])
      const failures = yield* Ref.make<ReadonlyArray<string>>([])
      const writer = (w: number) =>
        Effect.gen(function* () {
          for (let i = 0; ; i++) {
            const stream = StreamName.make("crash", `w${w}`)
            const batch = `${w}-${i}`
            const events = Array.from({ length: eventsPerAppend }, (_, k) => ({
              eventId: EventId.fromKey(`${batch}/${k}`),
              type: "Written",
              schemaVersion: 1,
              data: { batch, k },
              metadata: {}
            }))
            const result = yield* Effect.result(store.append(stream, events, ExpectedVersion.any))
            if (result._tag === "Success") yield* Ref.update(acknowledged, (a) => [...a, { stream, batch }])
            else {
              yield* Ref.update(failures, (f) => [...f, result.failure._tag])
              yield* Effect.sleep("20 millis")
            }
          }
        })
      // A subscriber follows the log the whole time, through the crash and the restart.
      const delivered: Array<string> = []
      const subscriber = yield* store.subscribe({ categories: ["crash"] }).pipe(
        Stream.runForEach((e) => Effect.sync(() => void delivered.push(e.eventId))),
        Effect.forkChild
      )
      const writers = yield* Effect.forEach([0, 1, 2, 3, 4, 5], (w) => Effect.forkChild(writer(w)))

      yield* Effect.repeat(Ref.get(acknowledged), { until: (a) => a.length >= 200 })
      yield* Effect.promise(() => server.crash())
      const atCrash = (yield* Ref.get(acknowledged)).length
      yield* Effect.sleep("500 millis")
      yield* Effect.promise(() => server.restart())
      // The same process and pool keep going: more appends are acknowledged after the restart.
      yield* Effect.repeat(Ref.get(acknowledged), { until: (a) => a.length >= atCrash + 200 }).pipe(
        Effect.timeout("60 seconds")
      )
      yield* Effect.forEach(writers, Fiber.interrupt)
      const failed = yield* Ref.get(failures)
      assert.isAbove(failed.length, 0, "the crash was felt")
      assert.isTrue(
        failed.every((tag) => tag === "StoreError"),
        `a lost server is a StoreError, got ${failed}`
      )

      const acks = yield* Ref.get(acknowledged)
      const stored = new Map<string, number>()
      for (let w = 0; w < 6; w++) {
        const events = yield* Stream.runCollect(store.readStream(StreamName.make("crash", `w${w}`)))
        events.forEach((e, i) => {
          assert.strictEqual(e.streamVersion, i, "versions stay contiguous")
        })
        for (const e of events) {
          const { batch } = e.data as { batch: string }
          stored.set(batch, (stored.get(batch) ?? 0) + 1)
        }
      }
      for (const { batch } of acks)
        assert.strictEqual(stored.get(batch), eventsPerAppend, `acknowledged ${batch} is there`)
      for (const [batch, count] of stored) assert.strictEqual(count, eventsPerAppend, `${batch} is whole`)

      // The subscriber delivered every stored event exactly once, without being restarted.
      const total = [...stored.values()].reduce((n, c) => n + c, 0)
      yield* Effect.repeat(
        Effect.sync(() => delivered.length),
        { until: (n) => n >= total }
      ).pipe(Effect.timeout("30 seconds"))
      yield* Fiber.interrupt(subscriber)
      assert.strictEqual(delivered.length, total)
      assert.strictEqual(new Set(delivered).size, total, "nothing delivered twice")
    }).pipe(Effect.scoped),
  180_000
)
