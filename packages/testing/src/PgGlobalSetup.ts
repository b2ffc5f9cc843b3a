/**
 * A vitest `globalSetup` that provides a PostgreSQL server to the run:
 * `DATABASE_URL` when set, otherwise a throwaway embedded server, stopped and
 * deleted when the run ends (see `DatabaseUrl.configuredOrEmbedded` in
 * `@chronicle/embedded-postgres`).
 *
 * @since 0.1.0
 */
import { DatabaseUrl } from "@chronicle/embedded-postgres"
import { Effect, Exit, Scope } from "effect"
import type { TestProject } from "vitest/node"

/**
 * @since 0.1.0
 */
export default async function setup(project: TestProject) {
  // The server lives from setup to teardown, so the scope is closed by the teardown vitest calls.
  const scope = Scope.makeUnsafe()
  const url = await Effect.runPromise(Scope.provide(DatabaseUrl.configuredOrEmbedded(), scope))
  project.provide("chronicleDatabaseUrl", url)
  return () => Effect.runPromise(Scope.close(scope, Exit.void))
}
