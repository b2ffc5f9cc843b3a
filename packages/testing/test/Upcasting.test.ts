import { EventCodec, EventType } from "@chronicle/core"
import { Upcasting } from "@chronicle/testing"
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** Runs `f` with the `CI` environment variable set to `value` (or unset), then restores it. */
const withCi = <A>(value: string | undefined, f: () => A): A => {
  const before = process.env.CI
  if (value === undefined) delete process.env.CI
  else process.env.CI = value
  try {
    return f()
  } finally {
    if (before === undefined) delete process.env.CI
    else process.env.CI = before
  }
}

describe("Upcasting", () => {
  it("flags an event schema that changed without a new version, and accepts a new version", () => {
    const snapshot = join(mkdtempSync(join(tmpdir(), "chronicle-schemas-")), "events.json")
    const V1 = EventType.make("Registered", { name: Schema.String })
    const [onCi] = withCi("true", () => Upcasting.checkSchemas(EventCodec.make(V1), snapshot))
    assert.include(onCi, "is missing", "on CI a missing snapshot is a problem, not a first run")
    assert.deepStrictEqual(
      withCi(undefined, () => Upcasting.checkSchemas(EventCodec.make(V1), snapshot)),
      [],
      "the first local run writes the snapshot"
    )

    const changedInPlace = EventType.make("Registered", { name: Schema.String, email: Schema.String })
    const [problem] = Upcasting.checkSchemas(EventCodec.make(changedInPlace), snapshot)
    assert.include(problem, "Registered's schema changed but its version is still 1")
    assert.include(problem, "email")

    const evolved = V1.pipe(
      EventType.evolve({ name: Schema.String, email: Schema.String }, (v1) => ({ ...v1, email: "" }))
    )
    const [moved] = Upcasting.checkSchemas(EventCodec.make(evolved), snapshot)
    assert.include(moved, "moved from version 1 to 2")

    const replaced = Upcasting.checkSchemas(EventCodec.make(EventType.make("Other", {})), snapshot)
    assert.deepStrictEqual(
      replaced.map((problem) => problem.split(":")[0]),
      ["Other is new", "Registered was removed from the codec"]
    )
  })

  it("reports golden payloads that no longer decode, or decode to something else", () => {
    const Named = EventType.make("Named", { name: Schema.String })
    const codec = EventCodec.make(Named)
    const problems = Upcasting.checkGolden(codec, [
      { stored: { type: "Named", version: 1, data: { name: "a" } }, expected: Named.make({ name: "a" }) },
      { stored: { type: "Named", version: 1, data: { name: 1 } }, expected: Named.make({ name: "1" }) },
      { stored: { type: "Named", version: 1, data: { name: "b" } }, expected: Named.make({ name: "c" }) }
    ])
    assert.strictEqual(problems.length, 2)
    assert.include(problems[0], "no longer decodes")
    assert.include(problems[1], "decodes to something else")
  })
})
