/**
 * `pnpm start`: serves the shop's API until stopped. Ctrl-C or SIGTERM: the
 * server drains, the projectors stop between batches, telemetry is flushed,
 * the embedded database shuts down, one "stopped" line, exit code 0. A port
 * in use: one line saying so, exit code 1.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Config, Effect, Exit, Layer, Runtime, Schema } from "effect"
import type { HttpServerError } from "effect/http"
import * as App from "./App.ts"
import * as Cluster from "./Cluster.ts"
import * as Operations from "./Operations.ts"

/** The port is taken by another process. */
class PortInUse extends Schema.TaggedError<PortInUse>()("PortInUse", { port: Schema.Int }) {
  // Logged as one line where it happens; the runtime need not print it again.
  override readonly [Runtime.errorReported] = false
  override get message() {
    return `Port ${this.port} is in use; set PORT to a free one (say PORT=${this.port + 1}) or stop the other process.`
  }
}

const isAddressInUse = (cause: unknown) => (cause as { readonly code?: unknown } | undefined)?.code === "EADDRINUSE"

const program = Effect.gen(function* () {
  const url = yield* App.databaseUrl
  const port = yield* Config.Port("PORT").pipe(Config.withDefault(3000))
  const mode = yield* Cluster.mode
  yield* Layer.build(App.layer(url, port, mode)).pipe(
    Effect.catchTag(
      "ServeError",
      (error): Effect.Effect<never, PortInUse | HttpServerError.ServeError> =>
        isAddressInUse(error.cause)
          ? Effect.andThen(Effect.logError(new PortInUse({ port }).message), Effect.fail(new PortInUse({ port })))
          : Effect.fail(error)
    )
  )
  // Only now is the server listening.
  yield* Effect.logInfo(
    `The shop listens on http://localhost:${port} (API docs at /docs)${mode === "cluster" ? ", in cluster mode" : ""}`
  )
  return yield* Effect.never
}).pipe(
  Effect.scoped,
  Effect.onInterrupt(() => Effect.logInfo("The shop stopped")),
  Effect.provide(Operations.Logging)
)

NodeRuntime.runMain(program, {
  // Stopping on a signal is how the shop ends: exit code 0, like a clean exit.
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
})
