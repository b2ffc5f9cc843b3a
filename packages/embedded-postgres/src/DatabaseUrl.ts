/**
 * Which PostgreSQL to use, decided in one place for the app, the demo, the
 * benchmarks and the test harness: the configured `DATABASE_URL` when it is
 * set, otherwise an embedded server ({@link PgServer}): on a data folder, the
 * one already running there for another process, or one started now.
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
import * as sharedServer from "./internal/sharedServer.ts"
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
 * when it is set (nothing is started), otherwise an embedded server.
 *
 * On a `dataDir` the server is shared by every process that uses the folder:
 * the running server is recorded in `<dataDir>/chronicle-server.json`, a
 * process uses the recorded server when it is alive and starts one only when
 * none runs (never two on one folder: a lock file `<dataDir>.lock` guards the
 * start), and the last process to close its scope stops it. So an app's CLI
 * reaches the database of the running app, and leaves it running. Without a
 * `dataDir`, a throw-away server starts now and stops when the scope closes.
 * `CHRONICLE_DATA_DIR` in the configuration, when set, is the data folder
 * (in place of `dataDir`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const configuredOrEmbedded = Effect.fn("DatabaseUrl.configuredOrEmbedded")(function* (options: Options = {}) {
  const configured = yield* Config.option(Config.String("DATABASE_URL"))
  if (Option.isSome(configured)) return configured.value
  const { log } = options
  const dataDir = Option.getOrElse(yield* Config.option(Config.String("CHRONICLE_DATA_DIR")), () => options.dataDir)
  if (dataDir !== undefined) {
    return yield* Effect.mapError(
      sharedServer.use({ dataDir, log }),
      (cause) => new ServerStartFailed({ reason: cause._tag === "SharedServerFailed" ? cause.reason : cause.message })
    )
  }
  yield* Effect.logInfo("Starting a throw-away PostgreSQL…")
  const server = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: () => PgServer.start({ log }),
      catch: (cause) => new ServerStartFailed({ reason: cause instanceof Error ? cause.message : String(cause) })
    }),
    (server) => Effect.promise(() => server.stop())
  )
  return server.url
})
