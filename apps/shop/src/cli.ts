#!/usr/bin/env node
/**
 * The shop's operations CLI: `pnpm chronicle <command>` from the
 * repository root (see `--help`). It mounts `@chronicle/cli` with the shop's
 * aggregates and projections, on the same database as the app: `DATABASE_URL`,
 * or the embedded server of the app's data folder, the one the running app
 * uses (started only when none runs, and left running for the app).
 * `--help` and `--version` start nothing.
 */
import { Cli } from "@chronicle/cli"
import { Account, Order } from "@chronicle/example"
import { PgSchema, PgStore } from "@chronicle/postgres"
import { NodeCrypto, NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Layer, Redacted, References } from "effect"
import { Command } from "effect/cli"
import * as App from "./App.ts"
import * as ReadModels from "./ReadModels.ts"

const cli = Cli.make({
  name: "chronicle",
  aggregates: [
    // The snapshot policy of the app's order handler (Shop.ts): `streams trim` and `retention` snapshot with it.
    {
      category: "order",
      decider: Order.decider,
      codec: Order.OrderEvents,
      snapshot: { schema: Order.OrderState, version: 1, every: 50 }
    },
    { category: "account", decider: Account.decider, codec: Account.AccountEvents }
  ],
  projections: ReadModels.projected,
  inline: [ReadModels.orderSummary],
  migrate: Effect.andThen(PgSchema.migrate(), ReadModels.migrate),
  resets: ReadModels.resets
})

/** Database errors in the words of someone at a terminal; others keep their own message. */
const describe = (error: unknown): string | undefined => {
  const e = error as { readonly _tag?: string; readonly message?: string; readonly reason?: { readonly _tag?: string } }
  if (e._tag === "SqlError" && e.reason?._tag === "ConnectionError") {
    return "Cannot reach PostgreSQL. Is it running? Set DATABASE_URL to its address, or unset it to use the embedded server."
  }
  if (e._tag === "SqlError") return `The database refused: ${e.message}`
  return undefined
}

/**
 * The stores on the app's database, built only once a command runs; and node:crypto's SHA-256,
 * which `verify` hashes with (three times as fast as WebCrypto's).
 */
const Stores = Layer.merge(
  Layer.unwrap(Effect.map(App.databaseUrl, (url) => PgStore.layer({ url: Redacted.make(url), maxConnections: 4 }))),
  NodeCrypto.layerDigest
)

cli.pipe(
  Command.provide(Stores),
  Cli.run({ version: "0.1.0", describe }),
  // The commands' output only: no log lines about finding the database (`--log-level` shows them).
  Effect.provideService(References.MinimumLogLevel, "Warn"),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
