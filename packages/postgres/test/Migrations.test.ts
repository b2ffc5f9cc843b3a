// Upgrading a database written by migration 1: idempotent repeats become exact (migration 2).
// Upgrading one written by migration 3: its events get chained (migration 4).
// Upgraded streams get their partition hash (migration 7).
import type { Envelope } from "@chronicle/core"
import { ExpectedVersion, Integrity, Position, Projection, StreamName } from "@chronicle/core"
import { PgEventStore, PgIntegrity, PgSchema } from "@chronicle/postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { SqlClient } from "effect/sql"

const event = (n: number) => ({
  eventId: `0190a8b0-0000-7000-8000-${n.toString(16).padStart(12, "0")}`,
  type: "Tick",
  schemaVersion: 1,
  data: { n },
  metadata: {}
})

layer(PgHarness.layer(), { timeout: 60_000, excludeTestServices: true })("PostgreSQL migrations", (it) => {
  it.effect("a database with events from migration 1 upgrades to exact repeats", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const migrations = sql<{ id: number }>`SELECT id FROM chronicle.migrations ORDER BY id`
      yield* PgSchema.migrate(PgSchema.defaultSchema, { upTo: 1 })
      assert.deepStrictEqual(yield* migrations, [{ id: 1 }])

      // Events written by migration 1's append function, called as the store called it then.
      const appendV1 = (stream: StreamName.StreamName, events: ReadonlyArray<Envelope.EventData>) =>
        sql`SELECT status FROM chronicle.append(
          ${stream}, ${StreamName.category(stream)}, 'any', -1, ${events.map((e) => e.eventId)}::uuid[],
          ${events.map((e) => e.type)}::text[], ${events.map((e) => e.schemaVersion)}::int4[],
          ${events.map((e) => JSON.stringify(e.data))}::text[], ${events.map((e) => JSON.stringify(e.metadata))}::text[]
        )`.pipe(Effect.tap((rows) => Effect.sync(() => assert.deepStrictEqual(rows, [{ status: "ok" }]))))
      const s = StreamName.make("old", "s")
      const t = StreamName.make("old", "t")
      const [a1, a2, b1, c1, c2] = [event(1), event(2), event(3), event(4), event(5)]
      yield* appendV1(s, [a1, a2])
      yield* appendV1(s, [b1])
      // Two appends to one stream in one transaction: migration 1 did not tell them apart.
      yield* sql.withTransaction(Effect.andThen(appendV1(t, [c1]), appendV1(t, [c2])))

      const store = yield* PgEventStore.make({ migrate: false })
      const log = Stream.runCollect(store.readAll())
      /** What an exact repeat of the append of these recorded events answers: their first result. */
      const firstResult = (stream: StreamName.StreamName, events: ReadonlyArray<Envelope.EventData>) => {
        const recorded = before.filter((e) => events.some((event) => event.eventId === e.eventId))
        return { stream, streamVersion: recorded.at(-1)!.streamVersion, positions: recorded.map((e) => e.position) }
      }

      yield* PgSchema.migrate()
      yield* PgSchema.migrate()
      // Read after migrating: today's store reads tables later migrations add (events_archive).
      const before = yield* log
      assert.deepStrictEqual((yield* migrations).slice(0, 3), [{ id: 1 }, { id: 2 }, { id: 3 }])
      // Migration 7 hashed the streams already written, as Projection.partitionOf does.
      const hashed = yield* sql<{ stream: string; partition_hash: string }>`
        SELECT stream, partition_hash::text FROM chronicle.streams ORDER BY stream`
      assert.deepStrictEqual(
        hashed.map((row) => [row.stream, Number(row.partition_hash) % 7]),
        [s, t].map((stream) => [stream, Projection.partitionOf(stream, 7)])
      )
      for (const index of [0, 1]) {
        const part = yield* Stream.runCollect(store.readAll({ partition: { index, count: 2 } }))
        assert.deepStrictEqual(
          part.map((e) => e.eventId),
          before.filter((e) => Projection.partitionOf(e.stream, 2) === index).map((e) => e.eventId)
        )
      }
      assert.deepStrictEqual(yield* PgSchema.pending(), [])

      // Exactly one earlier append repeats, with its first result.
      for (const [stream, events] of [
        [s, [a1, a2]],
        [s, [b1]],
        [t, [c1, c2]]
      ] as const) {
        assert.deepStrictEqual(yield* store.append(stream, events, ExpectedVersion.any), firstResult(stream, events))
      }
      // Anything else with a recorded id is a duplicate.
      const notRepeats: ReadonlyArray<readonly [string, StreamName.StreamName, ReadonlyArray<Envelope.EventData>]> = [
        ["a prefix of an append", s, [a1]],
        ["a suffix of an append", s, [a2]],
        ["the tail of one append and the next append", s, [a2, b1]],
        ["two appends", s, [a1, a2, b1]],
        ["an append extended with a new event", s, [b1, event(6)]],
        ["part of the transaction's appends", t, [c1]]
      ]
      for (const [label, stream, events] of notRepeats) {
        const error = yield* Effect.flip(store.append(stream, events, ExpectedVersion.any))
        assert.strictEqual(error._tag, "DuplicateEventId", `${label}: ${error.message}`)
      }
      assert.deepStrictEqual(
        (yield* log).map((e) => e.eventId),
        before.map((e) => e.eventId),
        "nothing written"
      )

      // Appends after the upgrade keep their own boundaries, also within one transaction.
      const [d1, d2] = [event(7), event(8)]
      const [d, e] = yield* sql.withTransaction(
        Effect.all([store.append(s, [d1], ExpectedVersion.exact(2)), store.append(s, [d2], ExpectedVersion.exact(3))])
      )
      assert.deepStrictEqual(yield* store.append(s, [d1], ExpectedVersion.any), d)
      assert.deepStrictEqual(yield* store.append(s, [d2], ExpectedVersion.any), e)
      const error = yield* Effect.flip(store.append(s, [d1, d2], ExpectedVersion.any))
      assert.strictEqual(error._tag, "DuplicateEventId")
      const stream = yield* Stream.runCollect(store.readStream(s))
      assert.deepStrictEqual(
        stream.map((e) => e.eventId),
        [a1, a2, b1, d1, d2].map((e) => e.eventId)
      )
      assert.deepStrictEqual(
        stream.slice(3).map((e) => Position.format(e.position)),
        [...d.positions, ...e.positions].map(Position.format)
      )
    })
  )

  it.effect("a database with events from migration 3 gets every stream chained, in batches", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const schema = "upgrade4"
      yield* PgSchema.migrate(schema, { upTo: 3 })
      // Events as migration 3's append function wrote them, awkward JSON and names included.
      const appendV3 = (stream: StreamName.StreamName, events: ReadonlyArray<Envelope.EventData>) =>
        sql`SELECT status FROM upgrade4.append(
          ${stream}, ${StreamName.category(stream)}, 'any', -1, ${events.map((e) => e.eventId)}::uuid[],
          ${events.map((e) => e.type)}::text[], ${events.map((e) => e.schemaVersion)}::int4[],
          ${events.map((e) => JSON.stringify(e.data))}::text[], ${events.map((e) => JSON.stringify(e.metadata))}::text[]
        )`
      const old = StreamName.make("old", "ünï 😀")
      yield* appendV3(old, [
        { ...event(1), data: { text: "漢字 \u2028 'quoted' \\", nested: { a: [1.5, null] } } },
        event(2)
      ])
      yield* appendV3(old, [{ ...event(3), metadata: { correlationId: "c", actor: "ß" } }])
      // More events than one backfill batch (10 000), in streams of 7 that straddle its boundaries.
      yield* sql`
        INSERT INTO upgrade4.events (event_id, stream, stream_version, append_first, category, type, schema_version, data, metadata)
        SELECT gen_random_uuid(), 'bulk-' || s, v, 0, 'bulk', 'Tick', 1, json_build_object('s', s, 'v', v), '{}'
        FROM generate_series(1, 3000) AS s, generate_series(0, 6) AS v`
      yield* sql`INSERT INTO upgrade4.streams (stream, version) SELECT 'bulk-' || s, 6 FROM generate_series(1, 3000) AS s`

      yield* PgSchema.migrate(schema)
      const verify = (stream?: StreamName.StreamName) =>
        Integrity.verify({ stream }).pipe(Effect.provide(PgIntegrity.layer({ schema })))
      assert.deepStrictEqual(yield* verify(), { streams: 3001, events: 21_003, breaks: [] })

      // Appends after the upgrade chain on from the backfilled heads.
      const store = yield* PgEventStore.make({ schema, migrate: false })
      yield* store.append(old, [event(4), event(5)], ExpectedVersion.exact(2))
      yield* store.append(StreamName.make("bulk", "7"), [event(6)], ExpectedVersion.exact(6))
      assert.deepStrictEqual(yield* verify(old), { streams: 1, events: 5, breaks: [] })
      assert.deepStrictEqual((yield* verify()).breaks, [])

      // And a backfilled event edited afterwards shows.
      yield* sql`UPDATE upgrade4.events SET data = '{"s":1,"v":5}' WHERE stream = 'bulk-1' AND stream_version = 4`
      assert.deepStrictEqual(
        (yield* verify()).breaks.map((b) => [b.stream, b.version, b.problem]),
        [["bulk-1", 4, "ContentChanged"]]
      )
    })
  )
})
