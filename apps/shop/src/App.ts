/**
 * The shop, composed in one place:
 *
 * | layer | does |
 * | --- | --- |
 * | `Database` | finds PostgreSQL: `DATABASE_URL`, or an embedded server in `.data/postgres` (or a throw-away one) |
 * | `PgStore.layer` | event store, snapshots, checkpoints, dead letters, projector transactions and leases on one pool |
 * | `ReadModels.migrate` | the read-model tables |
 * | `Shop.layer` | the command handlers (orders with an inline projection, accounts); in cluster mode `Cluster.layer`: this process's runner and the stream entities |
 * | `Projectors` | projector fibers: revenue by day, account balances, the money-transfer process manager; in cluster mode `Cluster.Projectors`, as cluster singletons |
 * | `HttpRouter.serve` | the HTTP API, `/openapi.json`, the `/docs` page, `/metrics` and `/health/…` |
 * | `Operations.Telemetry` | OTLP export of traces, metrics and logs, when configured |
 */
import { Projector, ProjectorStatus } from "@chronicle/core"
import { Transfer } from "@chronicle/example"
import { DatabaseUrl } from "@chronicle/embedded-postgres"
import { PgStore } from "@chronicle/postgres"
import { NodeHttpServer } from "@effect/platform-node"
import { ByteSize, Config, Effect, Layer, Redacted } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerResponse } from "effect/http"
import { HttpApiBuilder, HttpApiMiddleware, HttpApiScalar } from "effect/http-api"
import type { SqlClient } from "effect/sql"
import { createServer } from "node:http"
import { fileURLToPath } from "node:url"
import { Api } from "./Api.ts"
import * as Cluster from "./Cluster.ts"
import { HandlersLive } from "./Http.ts"
import * as Operations from "./Operations.ts"
import * as Problems from "./Problems.ts"
import * as ReadModels from "./ReadModels.ts"
import * as RequestContext from "./RequestContext.ts"
import { Shop } from "./Shop.ts"

/** Where the database is: `DATABASE_URL`, else an embedded server (kept in `.data/postgres`, or throw-away). */
export const databaseUrl = Effect.gen(function* () {
  const throwAway = (yield* Config.String("CHRONICLE_STORE").pipe(Config.withDefault("embedded"))) === "ephemeral"
  return yield* DatabaseUrl.configuredOrEmbedded({
    dataDir: throwAway ? undefined : fileURLToPath(new URL("../.data/postgres", import.meta.url))
  })
})

/** Single-process or cluster mode (see `Cluster`). */
export type Mode = typeof Cluster.mode extends Config.Config<infer A> ? A : never

/** The stores, the read models and the command side, on the database at `url`. */
export const core = (url: string, mode: Mode = "single") => {
  const Stores = PgStore.layer({ url: Redacted.make(url), maxConnections: 12 })
  const Migrated = Layer.effectDiscard(ReadModels.migrate).pipe(Layer.provide(Stores))
  const Commands = mode === "cluster" ? Cluster.layer : Shop.layer
  return Layer.mergeAll(Commands, Migrated).pipe(Layer.provideMerge(Stores))
}

/** Projector fibers for the life of the app; interruption at shutdown is safe (checkpoints commit with each batch). */
export const Projectors = Layer.unwrap(
  Shop.useSync(({ accounts }) =>
    Projector.layer<SqlClient.SqlClient>([...ReadModels.projected, Transfer.processManager(accounts)])
  )
)

/** The projector fibers of a mode: under leases in one process, as cluster singletons in a cluster. */
const projectors = (
  mode: Mode
): Layer.Layer<never, never, Layer.Services<typeof Projectors> | Layer.Services<typeof Cluster.Projectors>> =>
  mode === "cluster" ? Cluster.Projectors : Projectors

/**
 * The HTTP API with its OpenAPI document and docs page (`/` redirects there);
 * every error an RFC 9457 problem, every response with the request's
 * `X-Request-Id`, CORS for browsers on other origins.
 */
export const Routes = Layer.mergeAll(
  HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(
    Layer.provide(HandlersLive),
    Layer.provide(HttpApiMiddleware.layerProblemDetails({ includeDetails: true }))
  ),
  // Offline: no web fonts from Scalar's CDN, no favicon request.
  HttpApiScalar.layer(Api, { path: "/docs", scalar: { withDefaultFonts: false, favicon: "data:," } }),
  HttpRouter.add("GET", "/", HttpServerResponse.redirect("/docs", { status: 302 })),
  // Built after RequestContext's, so it runs inside it and its ERROR logs carry the request id.
  Problems.layer.pipe(Layer.provide(RequestContext.layer)),
  HttpRouter.cors({
    allowedHeaders: ["content-type", "if-match", "x-request-id", "x-actor", "traceparent"],
    exposedHeaders: ["etag", "link", "location", "x-request-id"],
    maxAge: 600
  })
)

/** Request bodies over this size are refused with 413 before they are parsed. */
export const maxBodySize = ByteSize.mebibytes(1)

/**
 * The whole app on `url`, serving on `port`, in one process or as one runner
 * of a cluster. Built in order: telemetry, the stores (migrated), the
 * command side, the listening server, the projectors, the routes; it stops
 * in reverse, so the projectors end before the pool closes and the telemetry
 * sends what it still holds last.
 */
export const layer = (url: string, port: number, mode: Mode = "single") =>
  HttpRouter.serve(Layer.mergeAll(Routes, Operations.Routes), {
    disableLogger: true,
    disableListenLog: true,
    middleware: Operations.requestLogs
  }).pipe(
    Layer.provide(Layer.succeed(HttpIncomingMessage.MaxBodySize, maxBodySize)),
    Layer.provide(projectors(mode)),
    Layer.provide(NodeHttpServer.layer(createServer, { port })),
    Layer.provideMerge(core(url, mode)),
    Layer.provideMerge(ProjectorStatus.layer),
    Layer.provide(Operations.Telemetry)
  )
