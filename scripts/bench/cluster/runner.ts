/**
 * One runner process of the cluster benchmark: `node runner.ts` with
 * DATABASE_URL and PORT set. It hosts the account stream entities on a socket
 * runner whose shard and runner state live in the same PostgreSQL as the
 * events, and prints "ready" once it runs.
 */
import { StreamEntity } from "@chronicle/cluster"
import { PgStore } from "@chronicle/postgres"
import { NodeClusterSocket, NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Option, Redacted } from "effect"
import { RunnerAddress } from "effect/cluster"
import { Accounts, schema, shardingConfig } from "./shared.ts"

const url = process.env.DATABASE_URL
const port = Number(process.env.PORT)
if (url === undefined || !Number.isInteger(port)) throw new Error("runner.ts needs DATABASE_URL and PORT")

const Cluster = NodeClusterSocket.layer({
  storage: "sql",
  shardingConfig: { ...shardingConfig, runnerAddress: Option.some(RunnerAddress.make("localhost", port)) }
})

Layer.launch(
  Layer.mergeAll(
    StreamEntity.layer(Accounts, { maxIdleTime: "10 minutes" }),
    Layer.effectDiscard(Effect.sync(() => console.log("ready")))
  ).pipe(
    Layer.provide(Cluster),
    Layer.provide(PgStore.layerStores({ schema, migrate: false })),
    Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 8 }))
  )
).pipe(NodeRuntime.runMain)
