/**
 * A vitest `globalSetup` that provides a PostgreSQL server to the run:
 * `DATABASE_URL` when set, otherwise a throwaway embedded server, stopped and
 * deleted when the run ends.
 *
 * @since 0.1.0
 */
import type { TestProject } from "vitest/node"
import * as PgServer from "./PgServer.ts"

/**
 * @since 0.1.0
 */
export default async function setup(project: TestProject) {
  const existing = process.env.DATABASE_URL
  if (existing !== undefined) {
    project.provide("chronicleDatabaseUrl", existing)
    return
  }
  const server = await PgServer.start()
  project.provide("chronicleDatabaseUrl", server.url)
  return () => server.stop()
}
