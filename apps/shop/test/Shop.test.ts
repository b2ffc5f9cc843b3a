// How the command side answers the store's conflicts.
import { type CommandHandler, EventStore, MemoryStore, StreamName } from "@chronicle/core"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { WriteConflict } from "../src/Problems.ts"
import { run } from "../src/Shop.ts"

it.effect("a LogOrderConflict answers as a 409 WriteConflict that names the stream and says to send it again", () =>
  Effect.gen(function* () {
    const stream = StreamName.make("order", "o-1")
    const conflict = new EventStore.LogOrderConflict({ stream })
    // A handler whose append meets the conflict: what PgStore fails with when a transaction wrote before the lock.
    const handler: CommandHandler.CommandHandler<unknown, { readonly _tag: string }, unknown, never> = {
      handle: () => Effect.fail(conflict),
      load: () => Effect.die("not used"),
      loadAsOf: () => Effect.die("not used"),
      snapshot: () => Effect.die("not used")
    }
    const error = yield* Effect.flip(run(handler, stream, {}, { expectation: { _tag: "None" }, metadata: {} }))
    assert.instanceOf(error, WriteConflict)
    assert.strictEqual(error.stream, stream)
    assert.include(error.message, "nothing was written. Send it again.")
  }).pipe(Effect.provide(MemoryStore.layer()))
)
