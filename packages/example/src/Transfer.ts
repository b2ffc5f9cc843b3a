/**
 * The money-transfer process manager: when a source account records a
 * `TransferDebited`, credit the target account; if the target refuses (not
 * open), reverse the debit. Commands carry the debit event's correlation id
 * and its id as causation id, and an idempotency key derived from it, so a
 * re-delivered debit never credits or reverses twice.
 *
 * @since 0.1.0
 */
import { type CommandHandler, Envelope, Projection, StreamName } from "@chronicle/core"
import { Effect } from "effect"
import * as Account from "./Account.ts"

/**
 * The stream of an account.
 *
 * @since 0.1.0
 * @category streams
 */
export const accountStream = (accountId: string) => StreamName.make("account", accountId)

/**
 * The process manager, as a projection over the account events that sends
 * commands through `accounts`.
 *
 * @since 0.1.0
 * @category process managers
 */
export const processManager = <E extends { readonly _tag: string } = never>(
  accounts: CommandHandler.CommandHandler<
    Account.AccountCommand,
    Account.AccountEvent,
    Account.AccountState,
    Account.AccountRejected | E
  >
) =>
  Projection.make({
    name: "money-transfers",
    version: 1,
    codec: Account.AccountEvents,
    types: ["TransferDebited"],
    categories: ["account"],
    handle: (debit) => {
      const from = StreamName.id(debit.stream)
      const { amount, to, transferId } = debit.event
      const metadata = Envelope.causedBy(debit, "money-transfers")
      return accounts
        .handle(accountStream(to), Account.CreditForTransfer.make({ transferId, from, amount }), {
          metadata,
          idempotencyKey: debit.eventId
        })
        .pipe(
          Effect.catchIf(
            (error): error is Account.AccountRejected => error instanceof Account.AccountRejected,
            (refused) =>
              accounts.handle(
                accountStream(from),
                Account.ReverseTransferDebit.make({ transferId, reason: refused.reason }),
                { metadata, idempotencyKey: `${debit.eventId}/compensation` }
              )
          ),
          Effect.asVoid
        )
    }
  })
