import { CheckpointStore, EventStore, ExpectedVersion, SnapshotStore, StreamName } from "@chronicle/core"
import { StoreConformance } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"

StoreConformance.eventStore("in-memory", EventStore.EventStore.layerMemory())
StoreConformance.snapshotStore("in-memory", SnapshotStore.SnapshotStore.layerMemory)
StoreConformance.checkpointStore("in-memory", CheckpointStore.CheckpointStore.layerMemory)

it.effect("the in-memory store rejects an oversized event before storing anything", () =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const stream = StreamName.make("big", "1")
    const error = yield* Effect.flip(
      store.append(
        stream,
        [
          {
            eventId: "0190a8b0-0000-7000-8000-000000000001",
            type: "Big",
            schemaVersion: 1,
            data: { blob: "x".repeat(2000) },
            metadata: {}
          }
        ],
        ExpectedVersion.any
      )
    )
    assert.strictEqual(error._tag, "InvalidAppend")
    assert.include(error.message, "over the limit of 1000")
    assert.strictEqual(yield* store.streamVersion(stream), -1)
  }).pipe(Effect.provide(EventStore.EventStore.layerMemory({ maxEventBytes: 1000 })))
)
