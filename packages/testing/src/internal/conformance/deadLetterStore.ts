// Store conformance: the `DeadLetterStore` keeps each projection's parked events, in log order, exactly,
// and a record of each discarded one.
import { DeadLetterStore, type Envelope, Position, StreamName, UnitOfWork } from "@chronicle/core"
import { assert } from "@effect/vitest"
import { DateTime, Effect, Option } from "effect"
import { awkward, clockSkewMillis, comparable, type It, newEvent, randomCategory, testTimeout } from "./fixture.ts"

/** An envelope as a projection would have received it, at `position`. */
const envelopeAt = (
  position: Position.Position,
  options?: { readonly stream?: StreamName.StreamName | undefined; readonly data?: unknown }
): Envelope.Envelope => ({
  ...newEvent(options?.data ?? { at: Position.format(position) }),
  stream: options?.stream ?? StreamName.make(randomCategory(), "parked"),
  streamVersion: 0,
  position,
  recordedAt: DateTime.makeUnsafe(1_700_000_000_123)
})

const fixture = Effect.gen(function* () {
  const deadLetters = yield* DeadLetterStore.DeadLetterStore
  const prefix = randomCategory()
  const projection = (n: string) => `${prefix}:${n}@v1`
  const get = (p: string, eventId: string) => Effect.map(deadLetters.get(p, eventId), Option.getOrUndefined)
  /** The event ids parked for a projection, in the order `list` gives them. */
  const listed = (p: string) => Effect.map(deadLetters.list(p), (all) => all.map((e) => e.envelope.eventId))
  return { deadLetters, projection, get, listed }
})

/**
 * The `DeadLetterStore` keeps each projection's parked events, in log order, exactly.
 */
export const deadLetterStore = (it: It<DeadLetterStore.DeadLetterStore | UnitOfWork.UnitOfWork>): void => {
  it.effect(
    "parks, lists in log order, gets and removes parked events; removing a missing one is fine",
    () =>
      Effect.gen(function* () {
        const { deadLetters, get, listed, projection } = yield* fixture
        const p = projection("orders")
        const [first, second, third] = [
          envelopeAt(Position.make(5n, 2n)),
          envelopeAt(Position.make(5n, 3n)),
          envelopeAt(Position.make(2n ** 40n, 0n))
        ]
        // Parked out of log order.
        for (const envelope of [third, first, second]) {
          yield* deadLetters.park({ projection: p, envelope, error: `failed at ${envelope.eventId}` })
        }
        assert.deepStrictEqual(yield* listed(p), [first.eventId, second.eventId, third.eventId])
        const found = yield* get(p, second.eventId)
        assert.deepStrictEqual(
          [found?.projection, found?.envelope.eventId, found?.error],
          [p, second.eventId, `failed at ${second.eventId}`]
        )
        assert.isUndefined(yield* get(p, newEvent({}).eventId))

        yield* deadLetters.remove(p, second.eventId)
        assert.isUndefined(yield* get(p, second.eventId))
        assert.deepStrictEqual(yield* listed(p), [first.eventId, third.eventId])
        yield* deadLetters.remove(p, second.eventId)
        yield* deadLetters.remove(projection("never"), first.eventId)
        assert.deepStrictEqual(yield* listed(p), [first.eventId, third.eventId])
        assert.deepStrictEqual(yield* listed(projection("never")), [])
      }),
    testTimeout
  )

  it.effect(
    "parking an event again replaces its entry, and event ids match whatever their case",
    () =>
      Effect.gen(function* () {
        const { deadLetters, get, listed, projection } = yield* fixture
        const p = projection("replace")
        const envelope = envelopeAt(Position.make(7n, 1n))
        const upper = envelope.eventId.toUpperCase()
        assert.notStrictEqual(upper, envelope.eventId, "the id has letters to change the case of")
        yield* deadLetters.park({ projection: p, envelope, error: "first" })
        yield* deadLetters.park({ projection: p, envelope, error: "second" })
        const parked = yield* deadLetters.list(p)
        assert.deepStrictEqual(
          parked.map((e) => [e.envelope.eventId, e.error]),
          [[envelope.eventId, "second"]]
        )
        // The same id in upper case is the same event.
        assert.strictEqual((yield* get(p, upper))?.error, "second")
        yield* deadLetters.park({ projection: p, envelope: { ...envelope, eventId: upper }, error: "third" })
        assert.deepStrictEqual(
          (yield* deadLetters.list(p)).map((e) => e.error),
          ["third"]
        )
        assert.strictEqual((yield* get(p, envelope.eventId))?.error, "third")
        yield* deadLetters.remove(p, upper)
        assert.deepStrictEqual(yield* listed(p), [])
      }),
    testTimeout
  )

  it.effect(
    "each projection's parked events are its own",
    () =>
      Effect.gen(function* () {
        const { deadLetters, get, listed, projection } = yield* fixture
        const [a, b] = [projection("a"), projection("a-too")]
        const [shared, onlyB] = [envelopeAt(Position.make(3n, 0n)), envelopeAt(Position.make(4n, 0n))]
        yield* deadLetters.park({ projection: a, envelope: shared, error: "a failed" })
        yield* deadLetters.park({ projection: b, envelope: shared, error: "b failed" })
        yield* deadLetters.park({ projection: b, envelope: onlyB, error: "b failed again" })
        assert.deepStrictEqual(yield* listed(a), [shared.eventId])
        assert.deepStrictEqual(yield* listed(b), [shared.eventId, onlyB.eventId])
        assert.isUndefined(yield* get(a, onlyB.eventId))
        assert.strictEqual((yield* get(a, shared.eventId))?.error, "a failed")
        assert.strictEqual((yield* get(b, shared.eventId))?.error, "b failed")
        // Listing every projection shows both, in log order.
        const mine = (yield* deadLetters.list()).filter((e) => e.projection === a || e.projection === b)
        assert.deepStrictEqual(mine.map((e) => [e.projection, e.envelope.eventId]).slice(2), [[b, onlyB.eventId]])
        assert.sameDeepMembers(mine.map((e) => [e.projection, e.envelope.eventId]).slice(0, 2), [
          [a, shared.eventId],
          [b, shared.eventId]
        ])
        yield* deadLetters.remove(a, shared.eventId)
        assert.deepStrictEqual(yield* listed(a), [])
        assert.deepStrictEqual(yield* listed(b), [shared.eventId, onlyB.eventId])
      }),
    testTimeout
  )

  it.effect(
    "envelopes with awkward JSON read back exactly, with their bigint positions and recordedAt",
    () =>
      Effect.gen(function* () {
        const { deadLetters, get, projection } = yield* fixture
        const p = projection(`odd '; DROP TABLE dead_letters; -- ünï 😀`)
        const maxInt64 = 2n ** 63n - 1n
        const envelope: Envelope.Envelope = {
          ...newEvent(awkward, {
            type: "Type.with-odd_chars ünï 'q'",
            schemaVersion: 3,
            metadata: { correlationId: `corr-'"\\😀`, actor: "alice'; --", extra: { ...awkward, n: 3 } }
          }),
          stream: StreamName.make(randomCategory(), `it's "quoted" \\ ünï 😀`),
          streamVersion: 2 ** 31 - 2,
          position: Position.make(maxInt64, 2n ** 53n + 1n),
          recordedAt: DateTime.makeUnsafe(1_700_000_000_987)
        }
        const error = `it's "broken" \\ ünï 😀\nat line 2`
        const before = yield* DateTime.now
        yield* deadLetters.park({ projection: p, envelope, error })
        const parked = yield* get(p, envelope.eventId)
        assert.isDefined(parked)
        assert.deepStrictEqual(
          [parked!.projection, comparable(parked!.envelope), parked!.error],
          [p, comparable(envelope), error]
        )
        assert.strictEqual(typeof parked!.envelope.position.commit, "bigint")
        assert.strictEqual(typeof parked!.envelope.position.sequence, "bigint")
        assert.isTrue(Position.equals(parked!.envelope.position, envelope.position))
        assert.isTrue(DateTime.isUtc(parked!.envelope.recordedAt), "recordedAt is Utc")
        assert.isTrue(DateTime.isDateTime(parked!.parkedAt) && DateTime.isUtc(parked!.parkedAt), "parkedAt is Utc")
        assert.isTrue(
          Math.abs(DateTime.toEpochMillis(parked!.parkedAt) - DateTime.toEpochMillis(before)) < clockSkewMillis,
          "parkedAt is about now"
        )
        assert.deepStrictEqual(
          (yield* deadLetters.list(p)).map((e) => comparable(e.envelope)),
          [comparable(envelope)]
        )
      }),
    testTimeout
  )

  it.effect(
    "discarding takes a parked event off the list and keeps who discarded it, when and why",
    () =>
      Effect.gen(function* () {
        const { deadLetters, get, listed, projection } = yield* fixture
        const p = projection("discard")
        const [skipped, kept] = [envelopeAt(Position.make(9n, 1n)), envelopeAt(Position.make(9n, 2n))]
        yield* deadLetters.park({ projection: p, envelope: skipped, error: "cannot handle" })
        yield* deadLetters.park({ projection: p, envelope: kept, error: "still parked" })
        const before = yield* DateTime.now
        const discard = { reason: `a test event; it's "ünï" 😀`, by: "alice'; --" }
        // Ids match whatever their case.
        const record = yield* deadLetters.discard(p, skipped.eventId.toUpperCase(), discard)
        assert.isTrue(Option.isSome(record), "the parked event was discarded")
        assert.deepStrictEqual(yield* listed(p), [kept.eventId])
        assert.isUndefined(yield* get(p, skipped.eventId))
        const discarded = yield* deadLetters.discarded(p)
        assert.deepStrictEqual(
          discarded.map((d) => [d.projection, comparable(d.envelope), d.error, d.reason, d.discardedBy]),
          [[p, comparable(skipped), "cannot handle", discard.reason, discard.by]]
        )
        assert.deepStrictEqual(Option.getOrUndefined(record), discarded[0])
        const at = DateTime.toEpochMillis(discarded[0]!.discardedAt)
        assert.isTrue(DateTime.isUtc(discarded[0]!.discardedAt), "discardedAt is Utc")
        assert.isTrue(Math.abs(at - DateTime.toEpochMillis(before)) < clockSkewMillis, "discardedAt is about now")
        assert.isAtLeast(at, DateTime.toEpochMillis(discarded[0]!.parkedAt), "discarded after it was parked")

        // Nothing parked under that id (any more, or for another projection): nothing to discard.
        assert.isTrue(Option.isNone(yield* deadLetters.discard(p, skipped.eventId, discard)))
        assert.isTrue(Option.isNone(yield* deadLetters.discard(projection("other"), kept.eventId, discard)))
        assert.deepStrictEqual(yield* listed(p), [kept.eventId])
        assert.deepStrictEqual(yield* deadLetters.discarded(projection("other")), [])

        // Parked again (say, by a rebuild) and discarded again: a second record, in discard order.
        yield* deadLetters.park({ projection: p, envelope: skipped, error: "again" })
        yield* deadLetters.discard(p, skipped.eventId, { reason: "second time", by: "bob" })
        assert.deepStrictEqual(
          (yield* deadLetters.discarded(p)).map((d) => [d.envelope.eventId, d.error, d.reason]),
          [
            [skipped.eventId, "cannot handle", discard.reason],
            [skipped.eventId, "again", "second time"]
          ]
        )
        const all = (yield* deadLetters.discarded()).filter((d) => d.projection === p)
        assert.strictEqual(all.length, 2, "listing every projection's discarded events includes these")
      }),
    testTimeout
  )

  it.effect(
    "a discard inside a failing unit of work rolls back with it",
    () =>
      Effect.gen(function* () {
        const { deadLetters, listed, projection } = yield* fixture
        const unit = yield* UnitOfWork.UnitOfWork
        const p = projection("discard-unit")
        const envelope = envelopeAt(Position.make(11n, 0n))
        yield* deadLetters.park({ projection: p, envelope, error: "parked" })
        const failure = yield* Effect.flip(
          unit.run(
            Effect.andThen(
              deadLetters.discard(p, envelope.eventId, { reason: "rolled back", by: "test" }),
              Effect.fail("the unit gives up" as const)
            )
          )
        )
        assert.strictEqual(failure, "the unit gives up")
        assert.deepStrictEqual(yield* listed(p), [envelope.eventId])
        assert.deepStrictEqual(yield* deadLetters.discarded(p), [])
        yield* unit.run(deadLetters.discard(p, envelope.eventId, { reason: "committed", by: "test" }))
        assert.deepStrictEqual(yield* listed(p), [])
        assert.deepStrictEqual(
          (yield* deadLetters.discarded(p)).map((d) => d.reason),
          ["committed"]
        )
      }),
    testTimeout
  )

  it.effect(
    "parking and removing inside a failing unit of work roll back with it",
    () =>
      Effect.gen(function* () {
        const { deadLetters, listed, projection } = yield* fixture
        const unit = yield* UnitOfWork.UnitOfWork
        const p = projection("unit")
        const [kept, rolledBack] = [envelopeAt(Position.make(1n, 0n)), envelopeAt(Position.make(2n, 0n))]
        yield* deadLetters.park({ projection: p, envelope: kept, error: "kept" })
        const failure = yield* Effect.flip(
          unit.run(
            Effect.gen(function* () {
              yield* deadLetters.park({ projection: p, envelope: rolledBack, error: "rolled back" })
              yield* deadLetters.park({ projection: p, envelope: kept, error: "replaced, then rolled back" })
              yield* deadLetters.remove(p, kept.eventId)
              // Inside the unit its own writes are visible.
              assert.deepStrictEqual(yield* listed(p), [rolledBack.eventId])
              return yield* Effect.fail("the unit gives up" as const)
            })
          )
        )
        assert.strictEqual(failure, "the unit gives up")
        const parked = yield* deadLetters.list(p)
        assert.deepStrictEqual(
          parked.map((e) => [e.envelope.eventId, e.error]),
          [[kept.eventId, "kept"]]
        )
        // A unit that commits keeps its writes.
        yield* unit.run(deadLetters.park({ projection: p, envelope: rolledBack, error: "committed" }))
        assert.deepStrictEqual(yield* listed(p), [kept.eventId, rolledBack.eventId])
      }),
    testTimeout
  )
}
