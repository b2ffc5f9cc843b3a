/**
 * The shop's operations CLI: `pnpm --filter @chronicle/shop cli <command>`
 * (see `--help`). It mounts `@chronicle/cli` with the shop's aggregates and
 * projections, on the same database as the app.
 */
import { Cli } from "@chronicle/cli"
import { Account, Order } from "@chronicle/example"
import { PgSchema, PgStore } from "@chronicle/postgres"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect, Redacted } from "effect"
import { Command } from "effect/cli"
import * as App from "./App.ts"
import * as ReadModels from "./ReadModels.ts"

const cli = Cli.make({
  name: "shop",
  aggregates: [
    { category: "order", decider: Order.decider, codec: Order.OrderEvents },
    { category: "account", decider: Account.decider, codec: Account.AccountEvents }
  ],
  projections: [ReadModels.orderSummary, ...ReadModels.projected],
  migrate: Effect.andThen(PgSchema.migrate(), ReadModels.migrate),
  resets: ReadModels.resets
})

const explain = (error: unknown): string => {
  const e = error as { readonly _tag?: string; readonly message?: string; readonly reason?: { readonly _tag?: string } }
  if (e._tag === "SqlError" && e.reason?._tag === "ConnectionError") {
    return "Cannot reach PostgreSQL. Is it running? Set DATABASE_URL to its address, or unset it to use the embedded server."
  }
  if (e._tag === "SqlError") return `The database refused: ${e.message}`
  if (e._tag === "ShowHelp") return ""
  return e.message ?? String(error)
}

const program = Effect.gen(function* () {
  const url = yield* App.databaseUrl
  yield* Command.run(cli, { version: "0.1.0" }).pipe(
    Effect.provide(PgStore.layer({ url: Redacted.make(url), maxConnections: 4 }))
  )
}).pipe(
  Effect.scoped,
  // Say what went wrong in one line, and exit non-zero.
  Effect.catch((error) => Console.error(explain(error)).pipe(Effect.andThen(Effect.sync(() => process.exit(1))))),
  Effect.provide(NodeServices.layer)
)

NodeRuntime.runMain(program)
