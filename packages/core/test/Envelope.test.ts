import { Envelope, StreamName } from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, DateTime, Effect, Exit, Schema } from "effect"

const properties = { arbitrary: { runs: 500 } }

/** Recorded envelopes: any JSON data and metadata, any position, any time. */
const envelopes: Arbitrary.Arbitrary<Envelope.Envelope> = Arbitrary.map(
  Arbitrary.all({
    eventId: Arbitrary.schema(Schema.String),
    stream: Arbitrary.map(Arbitrary.schema(Schema.String), (id) =>
      StreamName.make(
        "category",
        `x${id}`
          .slice(0, 200)
          .replace(/[\u0000-\u001f\u007f-\u009f]/g, "")
          .toWellFormed()
      )
    ),
    streamVersion: Arbitrary.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
    commit: Arbitrary.schema(Schema.BigInt),
    sequence: Arbitrary.schema(Schema.BigInt),
    type: Arbitrary.schema(Schema.String),
    schemaVersion: Arbitrary.schema(Schema.Int),
    data: Arbitrary.schema(Schema.Json),
    metadata: Arbitrary.schema(Envelope.Metadata),
    recordedAt: Arbitrary.schema(Schema.DateTimeUtc)
  }),
  ({ commit, metadata, sequence, ...rest }) => ({
    ...rest,
    // What a store reads back: metadata without undefined fields (JSON has none).
    metadata: JSON.parse(JSON.stringify(metadata)),
    position: { commit, sequence }
  })
)

const equivalent = Schema.toEquivalence(Envelope.Envelope)

/** Through JSON text, the way HTTP, the CLI and the dead-letter table carry an envelope. */
const throughJson = (envelope: Envelope.Envelope) =>
  Envelope.decode(JSON.parse(JSON.stringify(Envelope.encode(envelope))))

describe("Envelope", () => {
  it.effect.prop(
    "decoding an envelope's JSON gives the envelope back",
    [envelopes],
    ([envelope]) =>
      Effect.gen(function* () {
        const decoded = yield* throughJson(envelope)
        assert.isTrue(equivalent(decoded, envelope), `${JSON.stringify(Envelope.encode(envelope))}`)
        assert.strictEqual(decoded.position.commit, envelope.position.commit)
        assert.strictEqual(decoded.position.sequence, envelope.position.sequence)
        assert.strictEqual(DateTime.toEpochMillis(decoded.recordedAt), DateTime.toEpochMillis(envelope.recordedAt))
      }),
    properties
  )

  it("writes the position as decimal strings and the time as ISO 8601", () => {
    const json = Envelope.encode({
      eventId: "0190a8b0-0000-7000-8000-000000000001",
      stream: StreamName.make("order", "7"),
      streamVersion: 3,
      position: { commit: 2n ** 64n, sequence: 42n },
      type: "OrderPlaced",
      schemaVersion: 2,
      data: { total: 700 },
      metadata: { correlationId: "req-1" },
      recordedAt: DateTime.makeUnsafe("2026-11-24T10:00:00.123Z")
    })
    assert.deepStrictEqual(json, {
      eventId: "0190a8b0-0000-7000-8000-000000000001",
      stream: "order-7",
      streamVersion: 3,
      position: { commit: "18446744073709551616", sequence: "42" },
      type: "OrderPlaced",
      schemaVersion: 2,
      data: { total: 700 },
      metadata: { correlationId: "req-1" },
      recordedAt: "2026-11-24T10:00:00.123Z"
    })
  })

  it.effect("refuses JSON that is not an envelope, saying which field is wrong", () =>
    Effect.gen(function* () {
      const valid = {
        eventId: "0190a8b0-0000-7000-8000-000000000001",
        stream: "order-7",
        streamVersion: 0,
        position: { commit: "1", sequence: "1" },
        type: "OrderPlaced",
        schemaVersion: 1,
        data: {},
        metadata: {},
        recordedAt: "2026-11-24T10:00:00.000Z"
      }
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(Envelope.decode(valid))))
      const broken: ReadonlyArray<readonly [string, unknown]> = [
        ["stream", "nodash"],
        ["streamVersion", 1.5],
        ["position", "1:1"],
        ["position", { commit: "one", sequence: "1" }],
        ["recordedAt", "yesterday"],
        ["metadata", { actor: 7 }]
      ]
      for (const [field, value] of broken) {
        const error = yield* Effect.flip(Envelope.decode({ ...valid, [field]: value }))
        assert.include(error.message, field)
      }
    })
  )
})
