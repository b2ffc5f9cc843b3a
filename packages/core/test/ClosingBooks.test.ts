// Closing the books: a ledger year ends with a terminal closing event and the next year's stream
// opens with its balance, in one atomic append; a taken name or a moved stream writes nothing.
import {
  ClosingBooks,
  CommandHandler,
  Decider,
  EventCodec,
  EventStore,
  EventType,
  MemoryStore,
  StreamName
} from "@chronicle/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema, Stream } from "effect"

const Posted = EventType.make("Posted", { amount: Schema.Int })
const BooksClosed = EventType.make("BooksClosed", { balance: Schema.Int })
const BooksOpened = EventType.make("BooksOpened", { balance: Schema.Int, from: Schema.String })
const LedgerEvents = EventCodec.make(Posted, BooksClosed, BooksOpened)
type LedgerEvent = EventCodec.Event<typeof LedgerEvents>

interface Ledger {
  readonly balance: number
  readonly closed: boolean
}

const ledger = Decider.make<{ readonly amount: number }, LedgerEvent, Ledger>({
  initialState: { balance: 0, closed: false },
  decide: (command) => Result.succeed([Posted.make({ amount: command.amount })]),
  evolve: (state, event) =>
    event._tag === "Posted"
      ? { ...state, balance: state.balance + event.amount }
      : event._tag === "BooksOpened"
        ? { balance: event.balance, closed: false }
        : { ...state, closed: true },
  isTerminal: (state) => state.closed
})

const [y2025, y2026] = [StreamName.make("ledger", "acme-2025"), StreamName.make("ledger", "acme-2026")]

const rollOver = (handler: CommandHandler.CommandHandler<{ readonly amount: number }, LedgerEvent, Ledger, never>) =>
  ClosingBooks.close({
    handler,
    codec: LedgerEvents,
    from: y2025,
    to: y2026,
    closing: (state) => [BooksClosed.make({ balance: state.balance })],
    opening: (state) => [BooksOpened.make({ balance: state.balance, from: y2025 })]
  })

const typesOf = (stream: StreamName.StreamName) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    return (yield* Stream.runCollect(store.readStream(stream))).map((e) => e.type)
  })

describe("ClosingBooks", () => {
  it.effect("closes a stream with its summary and continues in a new one; the old one takes no commands", () =>
    Effect.gen(function* () {
      const handler = yield* CommandHandler.make({ decider: ledger, codec: LedgerEvents })
      for (const amount of [100, -30, 45]) yield* handler.handle(y2025, { amount })
      const { closed, opened } = yield* rollOver(handler)
      assert.deepStrictEqual([closed.streamVersion, opened.streamVersion], [3, 0])
      assert.deepStrictEqual(yield* typesOf(y2025), ["Posted", "Posted", "Posted", "BooksClosed"])
      assert.deepStrictEqual(yield* typesOf(y2026), ["BooksOpened"])
      assert.strictEqual((yield* Effect.flip(handler.handle(y2025, { amount: 1 })))._tag, "StreamTerminated")
      const next = yield* handler.handle(y2026, { amount: 5 })
      assert.deepStrictEqual(next.state, { balance: 120, closed: false })
    }).pipe(Effect.provide(MemoryStore.layer()))
  )

  it.effect("a next stream that already exists writes nothing to either stream", () =>
    Effect.gen(function* () {
      const handler = yield* CommandHandler.make({ decider: ledger, codec: LedgerEvents })
      yield* handler.handle(y2025, { amount: 100 })
      yield* handler.handle(y2026, { amount: 1 })
      const error = yield* Effect.flip(rollOver(handler))
      assert.strictEqual(error._tag, "WrongExpectedVersion")
      assert.deepStrictEqual(yield* typesOf(y2025), ["Posted"])
      assert.deepStrictEqual(yield* typesOf(y2026), ["Posted"])
      assert.deepStrictEqual((yield* handler.handle(y2025, { amount: 1 })).state, { balance: 101, closed: false })
    }).pipe(Effect.provide(MemoryStore.layer()))
  )
})
