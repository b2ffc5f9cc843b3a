/**
 * Which PostgreSQL to use, decided in one place for the app, the demo, the
 * benchmarks and the test harness: the configured `DATABASE_URL` when it is
 * set, otherwise an embedded server ({@link PgServer}) that runs for as long
 * as the scope is open.
 *
 * @example
 * ```ts
 * import { DatabaseUrl } from "@chronicle/embedded-postgres"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const url = yield* DatabaseUrl.configuredOrEmbedded({ dataDir: ".data/postgres" })
 *   // … use url; an embedded server stops when the scope closes
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 */
import { Config, Effect, Option, Schema } from "effect"
import * as PgServer from "./PgServer.ts"

/**
 * The embedded server did not start; `reason` is what the binaries (or the
 * search for them) reported.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerStartFailed extends Schema.TaggedError<ServerStartFailed>()("ServerStartFailed", {
  reason: Schema.String
}) {
  override get message() {
    return `The embedded PostgreSQL did not start (set DATABASE_URL to use another server): ${this.reason}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Where the embedded server keeps its data (created on first use, kept when
   * the scope closes); default: a throw-away directory, deleted when it closes.
   */
  readonly dataDir?: string | undefined
  /** Receives the embedded server's log lines. */
  readonly log?: ((line: string) => void) | undefined
}

/**
 * The URL of the PostgreSQL to use: `DATABASE_URL` from the configuration
 * when it is set (nothing is started), otherwise the URL of an embedded server
 * started now and stopped when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const configuredOrEmbedded = Effect.fn("DatabaseUrl.configuredOrEmbedded")(function* (options: Options = {}) {
  const configured = yield* Config.option(Config.String("DATABASE_URL"))
  if (Option.isSome(configured)) return configured.value
  yield* Effect.logInfo(
    options.dataDir === undefined
      ? "Starting a throw-away PostgreSQL…"
      : `Starting the embedded PostgreSQL in ${options.dataDir}…`
  )
  const server = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: () => PgServer.start({ dataDir: options.dataDir, log: options.log }),
      catch: (cause) => new ServerStartFailed({ reason: cause instanceof Error ? cause.message : String(cause) })
    }),
    (server) => Effect.promise(() => server.stop())
  )
  return server.url
})
