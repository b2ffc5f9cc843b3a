/**
 * A deliberately failing PostgreSQL test, outside the normal suite. `.ci/run`
 * runs it (`vitest.exit-check.config.ts`) and requires a non-zero exit code:
 * proof that nothing (the embedded server's lifecycle, an exit hook) turns a
 * failing PostgreSQL run into a green one.
 */
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

layer(PgHarness.layer())("exit-code check", (it) => {
  it.effect("fails on purpose after talking to PostgreSQL", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ answer: number }>`SELECT 41 AS answer`
      assert.strictEqual(rows[0]?.answer, 42, "deliberate failure: this test must fail")
    })
  )
})
