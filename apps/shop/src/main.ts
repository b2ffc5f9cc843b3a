/**
 * `pnpm start`: serves the shop's API until stopped (Ctrl-C or SIGTERM: the
 * server drains, projectors stop between batches, the embedded database shuts
 * down).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer } from "effect"
import * as App from "./App.ts"

const program = Effect.gen(function* () {
  const url = yield* App.databaseUrl
  const port = yield* Config.Int("PORT").pipe(Config.withDefault(3000))
  yield* Effect.logInfo(`The shop listens on http://localhost:${port} (API docs at /docs)`)
  return yield* Layer.launch(App.layer(url, port))
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
