/**
 * Closing the books: ending a long stream with a closing event that sums it
 * up and continuing in a new stream that opens with that summary, the way an
 * accountant closes a year — so no stream grows without bound, and old ones
 * can be archived or trimmed whole.
 *
 * The domain says when and how: its events for closing and opening, computed
 * from the old stream's state. {@link close} appends both in one atomic
 * `appendMany`: the closing events at the old stream's loaded version and
 * the opening events to a stream that must not exist yet. Make the closing
 * event terminal in the decider (`isTerminal`), and later commands to the
 * old stream fail with `StreamTerminated`.
 *
 * @example
 * ```ts
 * import { ClosingBooks, StreamName } from "@chronicle/core"
 *
 * const rollOver = ClosingBooks.close({
 *   handler: ledgers,
 *   codec: LedgerEvents,
 *   from: StreamName.make("ledger", "acme-2025"),
 *   to: StreamName.make("ledger", "acme-2026"),
 *   closing: (balance) => [BooksClosed.make({ balance })],
 *   opening: (balance) => [BooksOpened.make({ balance, from: "ledger-acme-2025" })]
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { CommandHandler } from "./CommandHandler.ts"
import type { Metadata } from "./Envelope.ts"
import type { EventCodec } from "./EventCodec.ts"
import { EventStore } from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import type { StreamName } from "./StreamName.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<Event extends { readonly _tag: string }, State> {
  /** The aggregate's command handler: it loads the old stream's state. */
  readonly handler: CommandHandler<any, Event, State, any, any>
  readonly codec: EventCodec<Event>
  /** The stream to close. */
  readonly from: StreamName
  /** The stream to continue in; it must not exist yet. */
  readonly to: StreamName
  /** The events that close the old stream, from its state and version. */
  readonly closing: (state: State, version: number) => ReadonlyArray<Event>
  /** The events that open the new stream, from the old one's state and version. */
  readonly opening: (state: State, version: number) => ReadonlyArray<Event>
  readonly metadata?: Metadata | undefined
}

/**
 * Closes `from` and opens `to` in one atomic append (see the module's
 * notes). Fails with `WrongExpectedVersion` — and writes nothing — when
 * `from` moved since it was loaded or `to` already exists: reload and try
 * again, or pick another name.
 *
 * @since 0.1.0
 * @category actions
 */
export const close = Effect.fn("ClosingBooks.close")(function* <Event extends { readonly _tag: string }, State>(
  options: Options<Event, State>
) {
  const store = yield* EventStore
  const loaded = yield* options.handler.load(options.from)
  const [closing, opening] = yield* Effect.all([
    options.codec.toEventData(options.closing(loaded.state, loaded.version), options.metadata),
    options.codec.toEventData(options.opening(loaded.state, loaded.version), options.metadata)
  ])
  const [closed, opened] = yield* store.appendMany([
    { stream: options.from, events: closing, expectedVersion: ExpectedVersion.exact(loaded.version) },
    { stream: options.to, events: opening, expectedVersion: ExpectedVersion.noStream }
  ])
  return { closed: closed!, opened: opened! }
})
