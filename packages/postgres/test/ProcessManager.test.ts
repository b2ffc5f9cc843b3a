// A projection that appends (a process manager) runs each batch in one transaction. When an
// append in it meets a concurrent writer of its stream after the batch had already written, the
// store refuses it (LogOrderConflict): the projector must run the whole batch again in a new
// transaction — never park the event, never keep half of the batch.
import {
  CheckpointStore,
  DeadLetterStore,
  EventCodec,
  EventId,
  EventStore,
  EventType,
  ExpectedVersion,
  Projection,
  Projector,
  StreamName
} from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Stream } from "effect"

const Triggered = EventType.make("Triggered", {})
const Codec = EventCodec.make(Triggered)

const event = (type: string) =>
  Effect.map(EventId.make, (eventId) => ({ eventId, type, schemaVersion: 1, data: {}, metadata: {} }))

layer(PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer())), { excludeTestServices: true })(
  "a process manager's batch",
  (it) => {
    it.effect("a LogOrderConflict runs the whole batch again in a new transaction; nothing is parked", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const source = StreamName.make("source", "1")
        const audit = StreamName.make("audit", "1")
        const hot = StreamName.make("hot", "1")
        yield* store.append(source, [yield* event("Triggered")], ExpectedVersion.noStream)

        // A writer outside the batch's transaction, started before it.
        const go = yield* Deferred.make<void>()
        const written = yield* Deferred.make<void>()
        const writer = yield* Effect.forkChild(
          Effect.andThen(
            Deferred.await(go),
            Effect.andThen(
              Effect.flatMap(event("Concurrent"), (e) => store.append(hot, [e], ExpectedVersion.any)),
              Deferred.succeed(written, undefined)
            )
          )
        )

        let attempts = 0
        const processManager = Projection.make({
          name: "process-manager",
          version: 1,
          codec: Codec,
          handle: () =>
            Effect.gen(function* () {
              attempts++
              // The batch writes first: its transaction now has an id…
              yield* store.append(audit, [yield* event("Audited")], ExpectedVersion.any)
              if (attempts === 1) {
                // …and a concurrent writer commits to the hot stream with a newer one.
                yield* Deferred.succeed(go, undefined)
                yield* Deferred.await(written)
              }
              yield* store.append(hot, [yield* event("Commanded")], ExpectedVersion.any)
            })
        })

        yield* Projector.catchUp(processManager)
        yield* Fiber.join(writer)

        assert.strictEqual(attempts, 2, "the batch ran again after the conflict")
        const deadLetters = yield* DeadLetterStore.DeadLetterStore
        assert.deepStrictEqual(yield* deadLetters.list(), [], "nothing was parked")
        const audited = yield* Stream.runCollect(store.readStream(audit))
        assert.strictEqual(audited.length, 1, "the first attempt's write was rolled back with it")
        const hotTypes = (yield* Stream.runCollect(store.readStream(hot))).map((e) => e.type)
        assert.deepStrictEqual(hotTypes, ["Concurrent", "Commanded"])
        const checkpoints = yield* CheckpointStore.CheckpointStore
        const checkpoint = yield* checkpoints.load(Projection.checkpointName(processManager))
        assert.isTrue(checkpoint._tag === "Some", "the batch committed its checkpoint")

        // In log order the hot stream's events are in version order.
        const log = yield* Stream.runCollect(store.readAll({ categories: ["hot"] }))
        assert.deepStrictEqual(
          log.map((e) => e.streamVersion),
          [0, 1]
        )
      })
    )
  }
)
