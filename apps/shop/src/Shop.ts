/**
 * The shop's command side: one command handler per aggregate, and the
 * mapping of their outcomes and errors to the HTTP API's.
 */
import { CommandHandler, type EventStore, StreamName } from "@chronicle/core"
import { Account, Order, Transfer } from "@chronicle/example"
import { Context, Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql"
import { Conflict, Rejected, Terminated, WriteConflict } from "./Api.ts"
import * as ReadModels from "./ReadModels.ts"

export class Shop extends Context.Service<
  Shop,
  {
    readonly orders: CommandHandler.CommandHandler<
      Order.OrderCommand,
      Order.OrderEvent,
      Order.OrderState,
      Order.OrderRejected,
      SqlClient.SqlClient
    >
    readonly accounts: CommandHandler.CommandHandler<
      Account.AccountCommand,
      Account.AccountEvent,
      Account.AccountState,
      Account.AccountRejected
    >
  }
>()("@chronicle/shop/Shop") {
  static readonly layer = Layer.effect(
    Shop,
    Effect.gen(function* () {
      const orders = yield* CommandHandler.make({
        decider: Order.decider,
        codec: Order.OrderEvents,
        // Read-your-writes for order summaries: written in the append's transaction.
        inline: [ReadModels.orderSummary],
        snapshot: { schema: Order.OrderState, version: 1, every: 50 }
      })
      const accounts = yield* CommandHandler.make({ decider: Account.decider, codec: Account.AccountEvents })
      return Shop.of({ orders, accounts })
    })
  )
}

export const orderStream = (orderId: string) => StreamName.make("order", orderId)
export const accountStream = Transfer.accountStream

/**
 * Runs a command and answers as the API does: 409 on a conflict, 422 when the
 * domain refuses or the stream has ended.
 */
export const run = <State, E extends { readonly _tag: string }, Err, R>(
  stream: StreamName.StreamName,
  handled: Effect.Effect<CommandHandler.Outcome<E, State>, CommandHandler.HandleError<Err>, R>
) =>
  handled.pipe(
    Effect.map((outcome) => ({
      stream,
      version: outcome.version,
      events: outcome.events.map((e) => e._tag),
      state: outcome.state as unknown
    })),
    Effect.catch((error): Effect.Effect<never, Conflict | WriteConflict | Rejected | Terminated> => {
      const e = error as { readonly _tag?: string; readonly message?: string }
      switch (e._tag) {
        case "WrongExpectedVersion": {
          const { actualVersion, expected, message, stream } = error as unknown as EventStore.WrongExpectedVersion
          return Effect.fail(new Conflict({ stream, expected, actualVersion, message }))
        }
        case "LogOrderConflict": {
          const { message, stream } = error as unknown as EventStore.LogOrderConflict
          return Effect.fail(new WriteConflict({ stream, message }))
        }
        case "StreamTerminated": {
          const { message, stream, version } = error as unknown as CommandHandler.StreamTerminated
          return Effect.fail(new Terminated({ stream, version, message }))
        }
        case "OrderRejected":
        case "AccountRejected": {
          const rejected = error as unknown as { command: string; reason: string }
          return Effect.fail(new Rejected({ command: rejected.command, reason: rejected.reason }))
        }
        default:
          return Effect.die(error)
      }
    })
  )
