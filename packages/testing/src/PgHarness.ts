/**
 * The PostgreSQL test harness. A vitest `globalSetup` ({@link globalSetup})
 * uses `DATABASE_URL` when it is set and otherwise starts one throwaway
 * server for the whole run; each test file then gets its own fresh database
 * through {@link layer}, so files never see each other's data.
 *
 * @example
 * ```ts
 * // vitest.config.ts
 * export default defineConfig({ test: { globalSetup: ["@chronicle/testing/PgGlobalSetup"] } })
 *
 * // some.test.ts
 * import { PgHarness } from "@chronicle/testing"
 * layer(PgHarness.layer())("my store", (it) => { ... })
 * ```
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted, type Scope } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import type { SqlClient } from "effect/sql"
import { inject } from "vitest"

declare module "vitest" {
  export interface ProvidedContext {
    chronicleDatabaseUrl: string
  }
}

/**
 * The server URL for this test run, provided by the global setup:
 * `DATABASE_URL`, or the throwaway server it started.
 *
 * @since 0.1.0
 * @category getters
 */
export const serverUrl = (): string => {
  const url = inject("chronicleDatabaseUrl")
  if (url === undefined) {
    throw new Error(
      'No PostgreSQL for the tests: add "@chronicle/testing/PgGlobalSetup" to the vitest globalSetup ' +
        "(it uses DATABASE_URL when set, otherwise starts a throwaway server)."
    )
  }
  return url
}

/**
 * The URL of `database` on the same server as `url`.
 *
 * @since 0.1.0
 * @category utils
 */
export const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/**
 * Creates a fresh database on the test server and returns its URL; the
 * database is dropped when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const createDatabase = (prefix = "chronicle_test"): Effect.Effect<string, never, Scope.Scope> => {
  const admin = serverUrl()
  const onServer = (statement: string) =>
    Effect.scoped(
      Effect.gen(function* () {
        const sql = yield* PgClient.make({ url: Redacted.make(admin), maxConnections: 1 })
        yield* sql.unsafe(statement)
      })
    ).pipe(Effect.provide(Reactivity.layer), Effect.orDie)
  const name = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  return Effect.acquireRelease(Effect.as(onServer(`CREATE DATABASE "${name}"`), withDatabase(admin, name)), () =>
    Effect.ignore(onServer(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
  )
}

/**
 * A `PgClient` (and `SqlClient`) for a fresh database of this test file,
 * dropped when the layer is released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: {
  readonly maxConnections?: number | undefined
}): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient> =>
  Layer.unwrap(
    Effect.map(createDatabase(), (url) =>
      PgClient.layer({ url: Redacted.make(url), maxConnections: options?.maxConnections ?? 20 })
    )
  ).pipe(Layer.orDie)
