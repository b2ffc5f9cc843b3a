// How the command side answers the store's conflicts.
import { EventStore, MemoryStore, StreamName } from "@chronicle/core"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { WriteConflict } from "../src/Api.ts"
import { run } from "../src/Shop.ts"

it.effect("a LogOrderConflict answers as a 409 WriteConflict that names the stream and says to retry", () =>
  Effect.gen(function* () {
    const stream = StreamName.make("order", "o-1")
    const conflict = new EventStore.LogOrderConflict({ stream })
    const error = yield* Effect.flip(run(stream, Effect.fail(conflict))).pipe(Effect.provide(MemoryStore.layer()))
    assert.instanceOf(error, WriteConflict)
    assert.deepStrictEqual({ stream: error.stream, message: error.message }, { stream, message: conflict.message })
  })
)
