// Partitioned projections as cluster singletons, one runner in this process (SingleRunner on a real
// PostgreSQL): every partition starts, catches up the backlog and follows live appends, and the
// read model equals the unpartitioned fold from scratch.
import { CheckpointStore, EventStore, Projector } from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { SingleRunner } from "effect/cluster"
import * as Digest from "effect/crypto/Digest"
import { PartitionedProjection } from "../src/index.ts"
import { appendPayments, createTables, journalStats, rows, tally } from "./fixtures/tally.ts"

const Stores = PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer()))
const Cluster = SingleRunner.layer({ shardingConfig: { shardsPerGroup: 16 } }).pipe(
  Layer.provide(Digest.layerWebCrypto)
)

it.live(
  "SingleRunner: every partition runs as a singleton, catches up and follows; the tally equals the fold from scratch",
  () =>
    Effect.gen(function* () {
      yield* createTables("live")
      yield* createTables("fold")
      yield* appendPayments(1200)
      const started: Array<string> = []
      yield* Layer.build(
        PartitionedProjection.layer(tally({ partitions: 4, runner: "single" }), {
          onStart: (partition) => Effect.sync(() => started.push(partition))
        }).pipe(Layer.provide(Cluster))
      )
      // Live appends while the partitions catch up.
      yield* appendPayments(600, 1200)
      const head = yield* (yield* EventStore.EventStore).head
      const checkpoints = yield* CheckpointStore.CheckpointStore
      const caughtUp = Effect.map(checkpoints.list, (list) =>
        [0, 1, 2, 3].every((p) => (list.get(`tally@v1/p${p}of4`)?.sequence ?? -1n) >= head.sequence)
      )
      // A partition's checkpoint moves past the other partitions' events too, so all reach the head.
      yield* Effect.repeat(caughtUp, { until: (done) => done, schedule: Schedule.spaced("100 millis") }).pipe(
        Effect.timeout("60 seconds")
      )
      assert.deepStrictEqual([...started].sort(), [
        "tally@v1/p0of4",
        "tally@v1/p1of4",
        "tally@v1/p2of4",
        "tally@v1/p3of4"
      ])
      // And awaiting a position waits for all of them.
      yield* Projector.awaitPosition(tally({ partitions: 4, runner: "single" }), head, { timeout: "1 second" })

      yield* Projector.catchUp(tally({ name: "fold", partitions: 1, runner: "fold", suffix: "fold" }))
      assert.deepStrictEqual(yield* rows("live"), yield* rows("fold"))
      const stats = yield* journalStats("live")
      assert.deepStrictEqual(stats, { applied: 1800, distinct_events: 1800, runners: 1 })
    }).pipe(Effect.scoped, Effect.provide(Stores)),
  120_000
)
