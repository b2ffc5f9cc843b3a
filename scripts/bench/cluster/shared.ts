/**
 * What the cluster benchmark's runner processes and its client share: the
 * account stream entity, the cluster's settings and the events' schema.
 */
import { StreamEntity } from "@chronicle/cluster"
import { Account } from "@chronicle/example"
import { Duration } from "effect"
import type { ShardingConfig } from "effect/cluster"

export const Accounts = StreamEntity.make({
  category: "account",
  decider: Account.decider,
  codec: Account.AccountEvents,
  command: Account.AccountCommand,
  state: Account.AccountState,
  error: Account.AccountRejected
})

/** The PostgreSQL schema of the benchmark's events (the cluster's own tables are `cluster_*`). */
export const schema = "bench_cluster"

/** Identical in every process (EFFECT4-CLUSTER.md): shards, and fail-over timings shortened. */
export const shardingConfig: Partial<ShardingConfig.ShardingConfig["Service"]> = {
  shardsPerGroup: 16,
  shardLockRefreshInterval: Duration.seconds(1),
  shardLockExpiration: Duration.seconds(3),
  refreshAssignmentsInterval: Duration.seconds(1),
  runnerHealthCheckInterval: Duration.seconds(2)
}
