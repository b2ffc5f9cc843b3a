import { EventStore, ExpectedVersion, StreamName } from "@chronicle/core"
import { PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Context, Effect, Layer, Redacted, Stream } from "effect"
import { SqlClient } from "effect/sql"

/** Every option differs from its default, so a dropped one shows. */
const options = { maxConnections: 3, schema: "ledger", batchSize: 2, maxEventBytes: 200 }

/** Both constructors, given the URL of a fresh database: they must build the same store. */
const constructors = {
  layer: (url: string) => PgStore.layer({ ...options, url: Redacted.make(url) }),
  layerConfig: (url: string) =>
    PgStore.layerConfig({ ...options, url: Config.Redacted("DATABASE_URL") }).pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { DATABASE_URL: url } })))
    )
}

const event = (n: number, text = "") => ({
  eventId: `0190a8b0-0000-7000-8000-${n.toString(16).padStart(12, "0")}`,
  type: "Noted",
  schemaVersion: 1,
  data: { n, text },
  metadata: {}
})

describe("PgStore", () => {
  for (const [name, make] of Object.entries(constructors)) {
    it.effect(`${name} applies maxConnections, schema, batchSize and maxEventBytes`, () =>
      Effect.gen(function* () {
        const context = yield* Layer.build(make(yield* PgHarness.createDatabase("chronicle_pgstore")))
        const store = Context.get(context, EventStore.EventStore)
        const sql = Context.get(context, SqlClient.SqlClient)

        // maxConnections: 8 statements at once, each holding its connection; the pool (which
        // also lends one to LISTEN) opens no more than 3 sessions, where the default would open 9.
        yield* Effect.forEach(Array.from({ length: 8 }), () => sql`SELECT pg_sleep(0.2)`, {
          concurrency: "unbounded",
          discard: true
        })
        const [{ sessions }] = yield* sql<{ sessions: number }>`
            SELECT count(*)::int AS sessions FROM pg_stat_activity WHERE datname = current_database()`
        assert.strictEqual(sessions, 3, "sessions the pool opened on the database")

        // schema: the tables live in `ledger`, and nothing was created in the default schema.
        const stream = StreamName.make("note", "1")
        yield* store.append(
          stream,
          [1, 2, 3, 4, 5].map((n) => event(n)),
          ExpectedVersion.noStream
        )
        const [tables] = yield* sql<{ ledger: number; chronicle: string | null }>`
            SELECT (SELECT count(*)::int FROM ledger.events) AS ledger, to_regclass('chronicle.events')::text AS chronicle`
        assert.deepStrictEqual(tables, { ledger: 5, chronicle: null })

        // batchSize: the stream is read in pages of 2.
        const pages = yield* Stream.runCollect(Stream.chunks(store.readStream(stream)))
        assert.deepStrictEqual(
          pages.map((page) => page.map((e) => e.streamVersion)),
          [[0, 1], [2, 3], [4]]
        )

        // maxEventBytes: an event over 200 bytes of JSON is refused before the database.
        const refused = yield* Effect.flip(store.append(stream, [event(6, "x".repeat(300))], ExpectedVersion.any))
        assert.strictEqual(refused._tag, "InvalidAppend")
        assert.include(refused.message, "over the limit of 200")
      }).pipe(Effect.scoped)
    )
  }
})
