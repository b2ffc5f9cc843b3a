import { AppendCheck, type Envelope, ExpectedVersion, StreamName } from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { number, text } from "./inputs.ts"

const stream = StreamName.make("order", "1")

const event = (overrides: Partial<Record<keyof Envelope.EventData, unknown>>): Envelope.EventData =>
  ({
    eventId: "0190a8b0-0000-7000-8000-000000000001",
    type: "Happened",
    schemaVersion: 1,
    data: {},
    metadata: {},
    ...overrides
  }) as Envelope.EventData

const check = (
  overrides: Partial<Record<keyof Envelope.EventData, unknown>>,
  expectedVersion: unknown = ExpectedVersion.any,
  name: string = stream
) =>
  AppendCheck.check(
    {
      stream: name as StreamName.StreamName,
      events: [event(overrides)],
      expectedVersion: expectedVersion as ExpectedVersion.ExpectedVersion
    },
    1024 * 1024
  )

const accepted = (result: ReturnType<typeof check>) => Result.isSuccess(result)

const properties = { arbitrary: { runs: 2000 } }

describe("AppendCheck", () => {
  it.prop(
    "a string in data or metadata, as a value or a key, is accepted exactly when it is well-formed Unicode",
    [text],
    ([s]) => {
      const wellFormed = s.isWellFormed()
      assert.strictEqual(accepted(check({ data: { value: s } })), wellFormed)
      assert.strictEqual(accepted(check({ data: [{ [s]: 1 }] })), wellFormed)
      assert.strictEqual(accepted(check({ metadata: { actor: s } })), wellFormed)
      assert.strictEqual(accepted(check({ metadata: { extra: { [s]: null } } })), wellFormed)
    },
    properties
  )

  it("tells a lone surrogate from the text of an escape", () => {
    for (const text of ["\\ud800", "\\\\ud800", "\\\\\\\\udc00 x", "😀\ud83d\ude00", "\u0000"]) {
      assert.isTrue(accepted(check({ data: { text } })), JSON.stringify(text))
    }
    for (const text of ["\\\ud800", "\ude00\ud83d", "x\udbff"]) {
      assert.isFalse(accepted(check({ data: { text } })), JSON.stringify(text))
    }
  })

  it.prop(
    "a type is accepted exactly when it is 1 to 256 characters of well-formed Unicode without NUL",
    [text],
    ([s]) => {
      const valid = s.length >= 1 && s.length <= 256 && s.isWellFormed() && !s.includes("\u0000")
      assert.strictEqual(accepted(check({ type: s })), valid)
    },
    properties
  )

  it.prop(
    "a schema version is accepted exactly when it is an integer from 1 to 2^31 - 1",
    [number],
    ([n]) => {
      assert.strictEqual(accepted(check({ schemaVersion: n })), Number.isInteger(n) && n >= 1 && n <= 2 ** 31 - 1)
    },
    properties
  )

  it.prop(
    "an exact expected version is accepted exactly when it is an integer from 0 to 2^31 - 2, as its schema says",
    [number],
    ([n]) => {
      const expected = ExpectedVersion.exact(n)
      const valid = Number.isInteger(n) && n >= 0 && n <= 2 ** 31 - 2
      assert.strictEqual(accepted(check({}, expected)), valid)
      assert.strictEqual(Result.isSuccess(Schema.decodeResult(ExpectedVersion.ExpectedVersion)(expected)), valid)
    },
    properties
  )

  it.prop(
    "a stream name is accepted exactly when StreamName accepts it, even when it was built by a cast",
    [text],
    ([s]) => {
      assert.strictEqual(accepted(check({}, ExpectedVersion.any, `c-${s}`)), StreamName.isStreamName(`c-${s}`))
    },
    properties
  )

  it("says what is wrong, as InvalidAppend", () => {
    const cases: ReadonlyArray<readonly [string, ReturnType<typeof check>, RegExp]> = [
      ["a cast stream name", check({}, ExpectedVersion.any, "order-a\u0000"), /stream name is invalid: .*control/],
      ["an unknown expected version", check({}, { _tag: "Bogus" }), /expected version \{"_tag":"Bogus"\} is not Exact/],
      ["a NaN exact version", check({}, ExpectedVersion.exact(Number.NaN)), /Exact\(NaN\) is not Exact/],
      ["a string exact version", check({}, { _tag: "Exact", version: "1" }), /Exact\("1"\) is not Exact/],
      ["a null expected version", check({}, null), /expected version null is not Exact/],
      ["a type that is not a string", check({ type: 5 }), /a type that is not a string \(5\)/],
      ["a type with NUL", check({ type: "A\u0000" }), /contains NUL or a lone surrogate/],
      ["a schema version of 2^31", check({ schemaVersion: 2 ** 31 }), /integers from 1 to 2147483647/],
      ["a lone surrogate in a key", check({ data: { "\ud800": 1 } }), /string or key with a lone surrogate/]
    ]
    for (const [label, result, reason] of cases) {
      if (Result.isSuccess(result)) return assert.fail(`${label}: accepted`)
      assert.strictEqual(result.failure._tag, "InvalidAppend", label)
      assert.match(result.failure.reason, reason, label)
    }
  })

  it("checks an appendMany as a whole: every part, no stream twice, no event id in two parts", () => {
    const part = (name: string, ...ids: ReadonlyArray<number>) => ({
      stream: StreamName.make("order", name),
      events: ids.map((i) => event({ eventId: `0190A8B0-0000-7000-8000-00000000000${i}` })),
      expectedVersion: ExpectedVersion.any
    })
    const checked = AppendCheck.checkMany([part("b", 1, 2), part("a", 3)], 1024 * 1024)
    assert.isTrue(Result.isSuccess(checked))
    if (Result.isSuccess(checked)) {
      assert.deepStrictEqual(
        checked.success.map(({ append, events }) => [append.stream, events.map((e) => e.event.eventId)]),
        [
          ["order-b", ["0190a8b0-0000-7000-8000-000000000001", "0190a8b0-0000-7000-8000-000000000002"]],
          ["order-a", ["0190a8b0-0000-7000-8000-000000000003"]]
        ],
        "the parts in the order given, ids in lower case"
      )
    }
    const cases: ReadonlyArray<readonly [string, ReadonlyArray<ReturnType<typeof part>>, string, RegExp]> = [
      ["a stream twice", [part("a", 1), part("b", 2), part("a", 3)], "order-a", /appears twice in one appendMany/],
      ["an id in two parts", [part("a", 1, 2), part("b", 2)], "order-b", /appears in the parts for "order-a" and/],
      ["a later part that is invalid", [part("a", 1), part("b")], "order-b", /no events/]
    ]
    for (const [label, appends, failing, reason] of cases) {
      const result = AppendCheck.checkMany(appends, 1024 * 1024)
      assert.isTrue(Result.isFailure(result), label)
      if (Result.isFailure(result)) {
        assert.strictEqual(result.failure.stream, failing, label)
        assert.match(result.failure.reason, reason, label)
      }
    }
  })
})
