// Tamper evidence on PostgreSQL: rows edited, deleted, swapped or reordered by SQL are reported by
// `Integrity.verify` with the exact stream and version; untouched streams verify clean.
import { EventStore, ExpectedVersion, Integrity, StreamName } from "@chronicle/core"
import { PgIntegrity, PgStore } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"

const Stores = PgStore.layerStores().pipe(Layer.provideMerge(PgHarness.layer()))

/** A tampering by SQL on stream `s` (its events are versions 0–4), and what verify must report. */
interface Case {
  readonly name: string
  readonly tamper: (sql: SqlClient.SqlClient, s: string) => Effect.Effect<unknown, unknown>
  readonly version: number
  readonly problem: Integrity.Problem
}

const cases: ReadonlyArray<Case> = [
  {
    name: "data edited",
    tamper: (sql, s) => sql`UPDATE chronicle.events SET data = '{"n":99}' WHERE stream = ${s} AND stream_version = 2`,
    version: 2,
    problem: "ContentChanged"
  },
  {
    name: "data edited to the same JSON written differently",
    tamper: (sql, s) => sql`UPDATE chronicle.events SET data = '{"n": 2}' WHERE stream = ${s} AND stream_version = 2`,
    version: 2,
    problem: "ContentChanged"
  },
  {
    name: "metadata edited",
    tamper: (sql, s) =>
      sql`UPDATE chronicle.events SET metadata = '{"actor":"mallory"}' WHERE stream = ${s} AND stream_version = 1`,
    version: 1,
    problem: "ContentChanged"
  },
  {
    name: "type edited",
    tamper: (sql, s) => sql`UPDATE chronicle.events SET type = 'Refunded' WHERE stream = ${s} AND stream_version = 3`,
    version: 3,
    problem: "ContentChanged"
  },
  {
    name: "recorded-at moved by a microsecond",
    tamper: (sql, s) =>
      sql`UPDATE chronicle.events SET recorded_at = recorded_at + interval '1 microsecond' WHERE stream = ${s} AND stream_version = 0`,
    version: 0,
    problem: "ContentChanged"
  },
  {
    name: "a row deleted in the middle",
    tamper: (sql, s) => sql`DELETE FROM chronicle.events WHERE stream = ${s} AND stream_version = 2`,
    version: 2,
    problem: "VersionGap"
  },
  {
    name: "the first row deleted",
    tamper: (sql, s) => sql`DELETE FROM chronicle.events WHERE stream = ${s} AND stream_version = 0`,
    version: 0,
    problem: "VersionGap"
  },
  {
    name: "the last row deleted, the stream row untouched",
    tamper: (sql, s) => sql`DELETE FROM chronicle.events WHERE stream = ${s} AND stream_version = 4`,
    version: 4,
    problem: "VersionGap"
  },
  {
    name: "the last row deleted and the stream row's version put back",
    tamper: (sql, s) =>
      Effect.andThen(
        sql`DELETE FROM chronicle.events WHERE stream = ${s} AND stream_version = 4`,
        sql`UPDATE chronicle.streams SET version = 3 WHERE stream = ${s}`
      ),
    version: 3,
    problem: "HashMismatch"
  },
  {
    name: "every row deleted, the stream row untouched",
    tamper: (sql, s) => sql`DELETE FROM chronicle.events WHERE stream = ${s}`,
    version: 0,
    problem: "VersionGap"
  },
  {
    name: "two rows' contents swapped",
    tamper: (sql, s) =>
      sql`UPDATE chronicle.events e SET data = o.data, metadata = o.metadata, type = o.type
          FROM chronicle.events o
          WHERE e.stream = ${s} AND o.stream = ${s} AND e.stream_version IN (1, 2)
            AND o.stream_version = 3 - e.stream_version`,
    version: 1,
    problem: "ContentChanged"
  },
  {
    name: "two rows reordered (versions swapped, hashes and all)",
    tamper: (sql, s) =>
      Effect.all([
        sql`UPDATE chronicle.events SET stream_version = -1 WHERE stream = ${s} AND stream_version = 1`,
        sql`UPDATE chronicle.events SET stream_version = 1 WHERE stream = ${s} AND stream_version = 2`,
        sql`UPDATE chronicle.events SET stream_version = 2 WHERE stream = ${s} AND stream_version = -1`
      ]),
    version: 1,
    problem: "ContentChanged"
  },
  {
    name: "a row's hash replaced by the next row's",
    tamper: (sql, s) =>
      sql`UPDATE chronicle.events e SET hash = o.hash FROM chronicle.events o
          WHERE e.stream = ${s} AND o.stream = ${s} AND e.stream_version = 2 AND o.stream_version = 3`,
    version: 2,
    problem: "ContentChanged"
  },
  {
    name: "the stream row's hash edited",
    tamper: (sql, s) => sql`UPDATE chronicle.streams SET hash = sha256('forged') WHERE stream = ${s}`,
    version: 4,
    problem: "HashMismatch"
  },
  {
    name: "the stream row's version moved back",
    tamper: (sql, s) => sql`UPDATE chronicle.streams SET version = 2 WHERE stream = ${s}`,
    version: 3,
    problem: "ChainBroken"
  },
  {
    name: "a row inserted around the store",
    tamper: (sql, s) =>
      Effect.andThen(
        sql`INSERT INTO chronicle.events (event_id, stream, stream_version, category, type, schema_version, data, metadata, append_first)
            VALUES (gen_random_uuid(), ${s}, 5, ${StreamName.category(s as StreamName.StreamName)}, 'Tick', 1, '{}', '{}', 5)`,
        sql`UPDATE chronicle.streams SET version = 5 WHERE stream = ${s}`
      ),
    version: 5,
    problem: "ChainBroken"
  }
]

const tick = (n: number) => ({
  eventId: crypto.randomUUID(),
  type: "Tick",
  schemaVersion: 1,
  data: { n },
  metadata: { actor: "alice" }
})

layer(Stores, { timeout: 120_000, excludeTestServices: true })("PostgreSQL tamper evidence", (it) => {
  it.effect("every tampering by SQL is reported at its stream and version; untouched streams verify clean", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      /** A stream of versions 0–4: two appends, then three single ones. */
      const fresh = (id: string) =>
        Effect.gen(function* () {
          const s = StreamName.make("tamper", id)
          yield* store.append(s, [tick(0), tick(1)], ExpectedVersion.noStream)
          for (const n of [2, 3, 4]) yield* store.append(s, [tick(n)], ExpectedVersion.exact(n - 1))
          return s
        })
      const untouched = [yield* fresh("clean-1"), yield* fresh("clean-2")]
      const tampered: Array<Integrity.Break> = []
      for (const [i, c] of cases.entries()) {
        const s = yield* fresh(`case-${i}`)
        assert.deepStrictEqual((yield* Integrity.verify({ stream: s })).breaks, [], `${c.name}: before`)
        yield* c.tamper(sql, s)
        const report = yield* Integrity.verify({ stream: s })
        assert.strictEqual(report.breaks.length, 1, `${c.name}: ${JSON.stringify(report.breaks)}`)
        const [found] = report.breaks
        assert.deepInclude(found, { stream: s, version: c.version, problem: c.problem }, `${c.name}: ${found!.message}`)
        tampered.push(found!)
      }
      for (const s of untouched) {
        assert.deepStrictEqual(yield* Integrity.verify({ stream: s }), { streams: 1, events: 5, breaks: [] })
      }
      // The whole store: exactly the tampered streams, each with the same first break.
      const whole = yield* Integrity.verify()
      const byStream = (a: Integrity.Break, b: Integrity.Break) => (a.stream < b.stream ? -1 : 1)
      assert.deepStrictEqual([...whole.breaks].sort(byStream), [...tampered].sort(byStream))
      assert.strictEqual(whole.streams, cases.length + untouched.length)
    })
  )

  it.effect("verify reads in pages: a stream across many pages verifies clean, and a change deep in it shows", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const s = StreamName.make("paged", "long")
      for (let b = 0; b < 5; b++) {
        yield* store.append(
          s,
          Array.from({ length: 500 }, (_, k) => tick(b * 500 + k)),
          ExpectedVersion.any
        )
      }
      const verify = (stream?: StreamName.StreamName) =>
        Integrity.verify({ stream }).pipe(Effect.provide(PgIntegrity.layer({ batchSize: 70 })))
      assert.deepStrictEqual(yield* verify(s), { streams: 1, events: 2500, breaks: [] })
      yield* sql`UPDATE chronicle.events SET data = '{"n":-1}' WHERE stream = ${s} AND stream_version = 2000`
      assert.deepInclude((yield* verify(s)).breaks[0], { stream: s, version: 2000, problem: "ContentChanged" })
      // The whole store in pages of 70 finds it too, beside the first test's streams.
      assert.deepInclude(
        (yield* verify()).breaks.find((b) => b.stream === s),
        { version: 2000, problem: "ContentChanged" }
      )
    })
  )
})
