// The server is killed (immediate shutdown) while several writers append; after a restart every
// acknowledged append is present, nothing is half-written, and the same pool recovers by itself.
import { type Envelope, EventId, EventStore, ExpectedVersion, StreamName } from "@chronicle/core"
import { PgServer } from "@chronicle/embedded-postgres"
import { PgStore } from "@chronicle/postgres"
import { assert, it } from "@effect/vitest"
import { Context, type Duration, Effect, Fiber, Layer, Random, Redacted, Ref, Schedule, Stream } from "effect"

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
            const events = yield* Effect.forEach(
              Array.from({ length: eventsPerAppend }, (_, k) => k),
              (k) =>
                Effect.map(EventId.fromKey(`${batch}/${k}`), (eventId) => ({
                  eventId,
                  type: "Written",
                  schemaVersion: 1,
                  data: { batch, k },
                  metadata: {}
                }))
            )
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

const crashCycles = 6
const writerCount = 8

/** Follows the whole log from its start, through whatever happens, keeping what it delivers. */
const follow = (store: EventStore.EventStore["Service"], who: string) =>
  Effect.gen(function* () {
    const delivered: Array<Envelope.Envelope> = []
    const fiber = yield* store.subscribe().pipe(
      Stream.runForEach((e) => Effect.sync(() => void delivered.push(e))),
      Effect.forkChild
    )
    /** Waits (bounded) until `n` events are delivered; fails at once if the subscription ended. */
    const delivers = (n: number, when: string) =>
      Effect.repeat(
        Effect.suspend(() => {
          const ended = fiber.pollUnsafe()
          return ended === undefined
            ? Effect.succeed(delivered.length)
            : Effect.die(new Error(`${who}: the subscription ended ${when}: ${String(ended)}`))
        }),
        { until: (d) => d >= n, schedule: Schedule.spaced("20 millis") }
      ).pipe(
        Effect.timeoutOrElse({
          duration: "30 seconds",
          orElse: () =>
            Effect.die(
              new Error(`${who}: the subscription stalled ${when}: delivered ${delivered.length} of ${n} in 30 s`)
            )
        })
      )
    return { delivered, fiber, delivers }
  })

it.live(
  `live subscriptions survive ${crashCycles} crashes in a row: every event once, in order, and they keep delivering`,
  () =>
    Effect.gen(function* () {
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => PgServer.start()),
        (s) => Effect.promise(() => s.stop())
      )
      const url = Redacted.make(server.url)
      const storeOf = (options: { readonly maxConnections: number; readonly pollInterval: Duration.Input }) =>
        Effect.map(Layer.build(PgStore.layer({ url, ...options })), (stores) =>
          Context.get(stores, EventStore.EventStore)
        )
      const store = yield* storeOf({ maxConnections: writerCount + 4, pollInterval: "200 millis" })
      // Another process, which hears of appends only through LISTEN: it never polls in this test.
      const elsewhere = yield* storeOf({ maxConnections: 4, pollInterval: "1 hour" })

      const acknowledged = yield* Ref.make(0)
      const written = (stream: StreamName.StreamName, key: string) =>
        Effect.flatMap(EventId.fromKey(key), (eventId) =>
          store.append(
            stream,
            [{ eventId, type: "Written", schemaVersion: 1, data: { key }, metadata: {} }],
            ExpectedVersion.any
          )
        )
      // Writers stop between appends: an append interrupted after its commit announces nothing,
      // and the other process (which never polls here) would not hear of it.
      const writing = yield* Ref.make(true)
      const writer = (w: number) =>
        Effect.gen(function* () {
          for (let i = 0; yield* Ref.get(writing); i++) {
            const result = yield* Effect.result(written(StreamName.make("crashes", `w${w}`), `${w}-${i}`))
            if (result._tag === "Success") yield* Ref.update(acknowledged, (n) => n + 1)
            else yield* Effect.sleep("20 millis")
          }
        })
      const acknowledgedAtLeast = (n: number, when: string) =>
        Effect.repeat(Ref.get(acknowledged), { until: (a) => a >= n, schedule: Schedule.spaced("10 millis") }).pipe(
          Effect.timeoutOrElse({
            duration: "60 seconds",
            orElse: () => Effect.die(new Error(`no appends acknowledged ${when} within 60 s`))
          })
        )
      const crashAndRestart = Effect.gen(function* () {
        yield* Effect.promise(() => server.crash())
        yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 300)} millis`)
        yield* Effect.promise(() => server.restart())
      })

      // Two subscribers follow the log the whole time, through every crash and restart.
      const subscribers = [yield* follow(store, "the writers' process"), yield* follow(elsewhere, "another process")]
      const writers = yield* Effect.forEach(
        Array.from({ length: writerCount }, (_, w) => w),
        (w) => Effect.forkChild(writer(w))
      )
      for (let cycle = 1; cycle <= crashCycles; cycle++) {
        yield* acknowledgedAtLeast((yield* Ref.get(acknowledged)) + 100, `before crash ${cycle}`)
        yield* crashAndRestart
      }
      yield* acknowledgedAtLeast((yield* Ref.get(acknowledged)) + 100, "after the last restart")
      yield* Ref.set(writing, false)
      yield* Effect.forEach(writers, Fiber.join)

      // Each subscription delivers exactly the log: every event once, in log order...
      const log = yield* Stream.runCollect(store.readAll())
      assert.isAtLeast(log.length, yield* Ref.get(acknowledged), "every acknowledged append is in the log")
      for (const { delivered, delivers } of subscribers) {
        yield* delivers(log.length, `after ${crashCycles} crashes`)
        assert.deepStrictEqual(
          delivered.map((e) => e.eventId),
          log.map((e) => e.eventId),
          "delivered once each, in log order"
        )
      }
      // ...and stays live: after each of a few more restarts, a single event appended within the
      // first half second (while the other process may not be listening again yet) reaches both.
      for (let quiet = 1; quiet <= 3; quiet++) {
        yield* crashAndRestart
        yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 500)} millis`)
        yield* written(StreamName.make("crashes", "after"), `after-${quiet}`).pipe(
          Effect.retry({ times: 50, schedule: Schedule.spaced("100 millis") })
        )
        for (const { delivered, delivers } of subscribers) {
          yield* delivers(log.length + quiet, `after restart ${crashCycles + quiet}`)
          assert.strictEqual(delivered[log.length + quiet - 1]?.eventId, yield* EventId.fromKey(`after-${quiet}`))
        }
      }
      yield* Effect.forEach(subscribers, ({ fiber }) => Fiber.interrupt(fiber))
    }).pipe(Effect.scoped),
  300_000
)
