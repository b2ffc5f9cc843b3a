/**
 * The shop, composed in one place:
 *
 * | layer | does |
 * | --- | --- |
 * | `Database` | finds PostgreSQL: `DATABASE_URL`, or an embedded server in `.data/postgres` (or a throw-away one) |
 * | `PgStore.layer` | event store, snapshots, checkpoints, dead letters, projector transactions and leases on one pool |
 * | `ReadModels.migrate` | the read-model tables |
 * | `Shop.layer` | the command handlers (orders with an inline projection, accounts) |
 * | `Projectors` | projector fibers: revenue by day, account balances, the money-transfer process manager |
 * | `HttpRouter.serve` | the HTTP API, `/openapi.json` and the `/docs` page |
 */
import { Projector } from "@chronicle/core"
import { Transfer } from "@chronicle/example"
import { DatabaseUrl } from "@chronicle/embedded-postgres"
import { PgStore } from "@chronicle/postgres"
import { NodeHttpServer } from "@effect/platform-node"
import { ByteSize, Config, Effect, Layer, Redacted } from "effect"
import { HttpIncomingMessage, HttpRouter } from "effect/http"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import type { SqlClient } from "effect/sql"
import { createServer } from "node:http"
import { fileURLToPath } from "node:url"
import { Api } from "./Api.ts"
import { HandlersLive } from "./Http.ts"
import * as ReadModels from "./ReadModels.ts"
import { Shop } from "./Shop.ts"

/** Where the database is: `DATABASE_URL`, else an embedded server (kept in `.data/postgres`, or throw-away). */
export const databaseUrl = Effect.gen(function* () {
  const throwAway = (yield* Config.String("CHRONICLE_STORE").pipe(Config.withDefault("embedded"))) === "ephemeral"
  return yield* DatabaseUrl.configuredOrEmbedded({
    dataDir: throwAway ? undefined : fileURLToPath(new URL("../.data/postgres", import.meta.url))
  })
})

/** The stores, the read models and the command side, on the database at `url`. */
export const core = (url: string) => {
  const Stores = PgStore.layer({ url: Redacted.make(url), maxConnections: 12 })
  const Migrated = Layer.effectDiscard(ReadModels.migrate).pipe(Layer.provide(Stores))
  return Layer.mergeAll(Shop.layer, Migrated).pipe(Layer.provideMerge(Stores))
}

/** Projector fibers for the life of the app; interruption at shutdown is safe (checkpoints commit with each batch). */
export const Projectors = Layer.unwrap(
  Shop.useSync(({ accounts }) =>
    Projector.layer<SqlClient.SqlClient>([...ReadModels.projected, Transfer.processManager(accounts)])
  )
)

/** The HTTP API with its OpenAPI document and docs page. */
export const Routes = Layer.mergeAll(
  HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(Layer.provide(HandlersLive)),
  HttpApiScalar.layer(Api, { path: "/docs" })
)

/** Request bodies over this size are refused with 413 before they are parsed. */
export const maxBodySize = ByteSize.mebibytes(1)

/** The whole app on `url`, serving on `port`. */
export const layer = (url: string, port: number) =>
  HttpRouter.serve(Routes).pipe(
    Layer.provide(Layer.succeed(HttpIncomingMessage.MaxBodySize, maxBodySize)),
    Layer.provide(Projectors),
    Layer.provide(NodeHttpServer.layer(createServer, { port })),
    Layer.provideMerge(core(url))
  )
