// `chronicle verify` as a process against PostgreSQL: a clean store verifies with its counts and exit
// code 0; streams tampered with by SQL are one line each, with their stream and version, and exit code 1.
import { EventId, EventStore, ExpectedVersion, StreamName } from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { PgClient } from "@effect/sql-pg"
import { assert, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

const cliPath = fileURLToPath(new URL("../src/cli.ts", import.meta.url))

const cli = (databaseUrl: string, ...args: Array<string>) =>
  Effect.promise(
    () =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl }
        delete env.CHRONICLE_DATA_DIR
        execFile(process.execPath, [cliPath, ...args], { env }, (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : ((error.code as number) ?? 1), stdout, stderr })
        )
      })
  )

const tick = (n: number) => ({
  eventId: EventId.makeUnsafe(),
  type: "Tick",
  schemaVersion: 1,
  data: { n },
  metadata: {}
})

it.live(
  "verify: counts on a clean store, one line per broken stream and exit code 1 after tampering",
  () =>
    Effect.gen(function* () {
      const url = yield* PgHarness.createDatabase("shop_verify")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const context = yield* Layer.build(PgStore.layer({ url: Redacted.make(url), maxConnections: 2 }))
          const store = Context.get(context, EventStore.EventStore)
          for (const id of ["a", "b", "c"]) {
            yield* store.append(StreamName.make("audit", id), [tick(0), tick(1), tick(2)], ExpectedVersion.noStream)
          }
        })
      )
      const clean = yield* cli(url, "verify")
      assert.strictEqual(clean.code, 0, clean.stderr)
      assert.strictEqual(clean.stdout.trim(), "3 streams, 9 events verified")

      yield* Effect.scoped(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`UPDATE chronicle.events SET data = '{"n":7}' WHERE stream = 'audit-a' AND stream_version = 1`
          yield* sql`DELETE FROM chronicle.events WHERE stream = 'audit-c' AND stream_version = 2`
        }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })))
      )
      const broken = yield* cli(url, "verify")
      assert.strictEqual(broken.code, 1)
      assert.deepStrictEqual(broken.stdout.trim().split("\n"), [
        "audit-a version 1: ContentChanged: event 1 is not what was chained: its content or hash was altered, or it was swapped or moved",
        "audit-c version 2: VersionGap: event 2 is missing: the stream records version 2, its last stored event is 1"
      ])
      assert.include(broken.stderr, "2 of 3 streams (8 events) are broken")

      const one = yield* cli(url, "verify", "audit-b")
      assert.strictEqual(one.code, 0, one.stderr)
      assert.strictEqual(one.stdout.trim(), "1 stream, 3 events verified")
    }).pipe(Effect.scoped),
  120_000
)
