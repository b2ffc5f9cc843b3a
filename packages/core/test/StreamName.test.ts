import { StreamName } from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { text } from "./inputs.ts"

describe("StreamName", () => {
  it("accepts category-id names, whatever the id holds", () => {
    for (const name of ["order-1", "order-7f3a-b2", "order-'; DROP TABLE events; --", "ordre-été ☕", "a-b"]) {
      assert.isTrue(Result.isSuccess(StreamName.decodeResult(name)), name)
    }
    assert.strictEqual(StreamName.category("order-7f3a-b2"), "order")
    assert.strictEqual(StreamName.id("order-7f3a-b2"), "7f3a-b2")
    assert.strictEqual(StreamName.make("order", "x-y"), "order-x-y")
  })

  it("rejects empty parts, control characters and absurd lengths with a typed error", () => {
    const cases: Array<[string, RegExp]> = [
      ["", /empty/],
      ["order", /no "-"/],
      ["-1", /category is empty/],
      ["order-", /id is empty/],
      ["order-a\u0000b", /control character/],
      ["order-a\nb", /control character/],
      ["order-\ud800", /lone surrogate/],
      [`order-${"x".repeat(StreamName.maxLength)}`, /characters long/]
    ]
    for (const [name, reason] of cases) {
      const result = StreamName.decodeResult(name)
      if (Result.isSuccess(result)) return assert.fail(`accepted ${JSON.stringify(name)}`)
      assert.strictEqual(result.failure._tag, "InvalidStreamName")
      assert.match(result.failure.reason, reason)
    }
    assert.throws(() => StreamName.make("or-der", "1"), /category contains/)
  })

  it.prop(
    "isStreamName accepts exactly what decodeResult accepts, and nothing that is not a string",
    [text],
    ([s]) => {
      for (const name of [s, `c-${s}`]) {
        assert.strictEqual(StreamName.isStreamName(name), Result.isSuccess(StreamName.decodeResult(name)), name)
      }
    },
    { arbitrary: { runs: 2000 } }
  )

  it("isStreamName rejects what is not a string", () => {
    for (const value of [undefined, null, 42, ["order-1"], { toString: () => "order-1" }]) {
      assert.isFalse(StreamName.isStreamName(value), String(value))
    }
  })
})
