/**
 * Cluster mode: the same shop in several processes, on `effect/cluster`.
 * Every process serves the HTTP API and is a runner; the runners share the
 * shards, and shard and runner state live in the shop's PostgreSQL (tables
 * `cluster_*`, created on first start).
 *
 * | in single-process mode | in cluster mode |
 * | --- | --- |
 * | `CommandHandler`s in each process | commands go to the stream's entity (`StreamEntity`), on the runner owning its shard: one writer per stream, its state cached, concurrent commands appended together |
 * | projectors under advisory-lock leases (`Projector.layer`) | each projection a cluster singleton (`PartitionedProjection`), moved when runners join or leave |
 *
 * Configuration (environment):
 *
 * | variable | default | means |
 * | --- | --- | --- |
 * | `CHRONICLE_MODE` | `single` | `cluster` turns cluster mode on |
 * | `CHRONICLE_RUNNER_HOST` | `localhost` | the host other runners reach this one at |
 * | `CHRONICLE_RUNNER_PORT` | `34431` | the runner's port (one per process on a machine) |
 *
 * Every runner must use the same {@link shardingConfig}. A killed runner's
 * streams answer again after about `shardLockExpiration` +
 * `refreshAssignmentsInterval` (3 s + 1 s here; the engine's defaults take
 * about 28 s); a command in flight on it is run again on the new owner, which
 * reloads the stream first, so the expected-version check and idempotency
 * keys keep it from applying twice.
 */
import { PartitionedProjection, StreamEntity } from "@chronicle/cluster"
import { Account, Order, Transfer } from "@chronicle/example"
import { NodeClusterSocket } from "@effect/platform-node"
import { Config, Duration, Effect, Layer, Option } from "effect"
import { RunnerAddress, type ShardingConfig } from "effect/cluster"
import type { SqlClient } from "effect/sql"
import * as ReadModels from "./ReadModels.ts"
import { accountOptions, orderOptions, Shop } from "./Shop.ts"

/** Single-process (the default) or cluster mode, from `CHRONICLE_MODE`. */
export const mode = Config.Literals(["single", "cluster"], "CHRONICLE_MODE").pipe(Config.withDefault("single"))

/** The order stream entity: orders' decider, their inline read model and snapshots. */
export const Orders = StreamEntity.make({
  ...orderOptions,
  category: "order",
  command: Order.OrderCommand,
  state: Order.OrderState,
  error: Order.OrderRejected
})

/** The account stream entity. */
export const Accounts = StreamEntity.make({
  ...accountOptions,
  category: "account",
  command: Account.AccountCommand,
  state: Account.AccountState,
  error: Account.AccountRejected
})

/**
 * The shards and timings every runner shares: fail-over in about 4 s (the
 * lock refreshed every second, taken over 3 s after its last refresh, the
 * assignments read every second).
 */
export const shardingConfig: Partial<ShardingConfig.ShardingConfig["Service"]> = {
  shardsPerGroup: 64,
  shardLockRefreshInterval: Duration.seconds(1),
  shardLockExpiration: Duration.seconds(3),
  refreshAssignmentsInterval: Duration.seconds(1),
  runnerHealthCheckInterval: Duration.seconds(2)
}

/** This process's runner: a socket runner at `CHRONICLE_RUNNER_HOST:CHRONICLE_RUNNER_PORT`, state in SQL. */
const Runner = Layer.unwrap(
  Effect.gen(function* () {
    const host = yield* Config.String("CHRONICLE_RUNNER_HOST").pipe(Config.withDefault("localhost"))
    const port = yield* Config.Port("CHRONICLE_RUNNER_PORT").pipe(Config.withDefault(34431))
    return NodeClusterSocket.layer({
      storage: "sql",
      shardingConfig: { ...shardingConfig, runnerAddress: Option.some(RunnerAddress.make(host, port)) }
    })
  })
)

/** `Shop` with its commands routed to the stream entities. */
const RoutedShop = Layer.effect(
  Shop,
  Effect.gen(function* () {
    const orders = yield* StreamEntity.handler(Orders)
    const accounts = yield* StreamEntity.handler(Accounts)
    return Shop.of({ orders, accounts })
  })
)

/**
 * The projections as cluster singletons on the runners, the transfer
 * process manager sending through `Shop`'s routed account commands.
 */
export const Projectors = Layer.unwrap(
  Shop.useSync(({ accounts }) =>
    Layer.mergeAll(
      PartitionedProjection.layer(Transfer.processManager(accounts)),
      ...ReadModels.projected.map((projection) => PartitionedProjection.layer<any, SqlClient.SqlClient>(projection))
    )
  )
)

/**
 * Cluster mode's command side: this process's runner (`Sharding`, for
 * {@link Projectors} too), hosting the order and account entities, and
 * `Shop` routed to the entities. It needs the stores (and their
 * `SqlClient`, which the runner's storage uses too).
 */
export const layer = Layer.mergeAll(
  StreamEntity.layer(Orders, { maxIdleTime: "5 minutes" }),
  StreamEntity.layer(Accounts, { maxIdleTime: "5 minutes" })
).pipe(Layer.provideMerge(RoutedShop), Layer.provideMerge(Runner))
