/**
 * The account domain: open an account, deposit, withdraw, and the three steps
 * a money transfer takes on an account — debit (on the source), credit (on
 * the target), and reversal of the debit (compensation when the credit is
 * refused), plus the target turning a credit down once the transfer's
 * deadline passed (so a late credit cannot land after the refund). Each step
 * is idempotent by transfer id, so a re-delivered transfer step never moves
 * money twice.
 *
 * @since 0.1.0
 */
import { Decider, EventCodec, EventType } from "@chronicle/core"
import { Result, Schema } from "effect"

const Amount = Schema.Int.check(Schema.isGreaterThan(0))

/**
 * @since 0.1.0
 * @category events
 */
export const AccountOpened = EventType.make("AccountOpened", { accountId: Schema.String, owner: Schema.String })

/**
 * @since 0.1.0
 * @category events
 */
export const Deposited = EventType.make("Deposited", { amount: Amount })

/**
 * @since 0.1.0
 * @category events
 */
export const Withdrawn = EventType.make("Withdrawn", { amount: Amount })

/**
 * @since 0.1.0
 * @category events
 */
export const TransferDebited = EventType.make("TransferDebited", {
  transferId: Schema.String,
  to: Schema.String,
  amount: Amount
})

/**
 * @since 0.1.0
 * @category events
 */
export const TransferCredited = EventType.make("TransferCredited", {
  transferId: Schema.String,
  from: Schema.String,
  amount: Amount
})

/**
 * @since 0.1.0
 * @category events
 */
export const TransferDebitReversed = EventType.make("TransferDebitReversed", {
  transferId: Schema.String,
  amount: Amount,
  reason: Schema.String
})

/**
 * The target account turned a transfer's credit down (its deadline passed):
 * a later credit for the transfer is refused, so the source can be refunded
 * without the money arriving as well.
 *
 * @since 0.1.0
 * @category events
 */
export const TransferCreditDeclined = EventType.make("TransferCreditDeclined", {
  transferId: Schema.String,
  from: Schema.String,
  reason: Schema.String
})

/**
 * @since 0.1.0
 * @category events
 */
export const AccountEvents = EventCodec.make(
  AccountOpened,
  Deposited,
  Withdrawn,
  TransferDebited,
  TransferCredited,
  TransferDebitReversed,
  TransferCreditDeclined
)

/**
 * @since 0.1.0
 * @category events
 */
export type AccountEvent = EventCodec.Event<typeof AccountEvents>

/**
 * @since 0.1.0
 * @category commands
 */
export const OpenAccount = Schema.TaggedStruct("OpenAccount", { accountId: Schema.String, owner: Schema.String })

/**
 * @since 0.1.0
 * @category commands
 */
export const Deposit = Schema.TaggedStruct("Deposit", { amount: Amount })

/**
 * @since 0.1.0
 * @category commands
 */
export const Withdraw = Schema.TaggedStruct("Withdraw", { amount: Amount })

/**
 * Debit the source account for a transfer (the first step).
 *
 * @since 0.1.0
 * @category commands
 */
export const DebitForTransfer = Schema.TaggedStruct("DebitForTransfer", {
  transferId: Schema.String,
  to: Schema.String,
  amount: Amount
})

/**
 * Credit the target account for a transfer (the second step).
 *
 * @since 0.1.0
 * @category commands
 */
export const CreditForTransfer = Schema.TaggedStruct("CreditForTransfer", {
  transferId: Schema.String,
  from: Schema.String,
  amount: Amount
})

/**
 * Give the money of a transfer's debit back (compensation).
 *
 * @since 0.1.0
 * @category commands
 */
export const ReverseTransferDebit = Schema.TaggedStruct("ReverseTransferDebit", {
  transferId: Schema.String,
  reason: Schema.String
})

/**
 * Turn a transfer's credit down on the target account (its deadline passed):
 * refused when the credit is already recorded, and from then on the credit
 * is refused. Both land on the target's stream, so whichever comes first
 * wins and the other sees it.
 *
 * @since 0.1.0
 * @category commands
 */
export const DeclineTransferCredit = Schema.TaggedStruct("DeclineTransferCredit", {
  transferId: Schema.String,
  from: Schema.String,
  reason: Schema.String
})

/**
 * @since 0.1.0
 * @category commands
 */
export const AccountCommand = Schema.Union([
  OpenAccount,
  Deposit,
  Withdraw,
  DebitForTransfer,
  CreditForTransfer,
  ReverseTransferDebit,
  DeclineTransferCredit
])

/**
 * @since 0.1.0
 * @category commands
 */
export type AccountCommand = typeof AccountCommand.Type

/**
 * @since 0.1.0
 * @category state
 */
export const AccountState = Schema.Struct({
  opened: Schema.Boolean,
  accountId: Schema.String,
  owner: Schema.String,
  balance: Schema.Int,
  /** Transfer debits not reversed, by transfer id. */
  debits: Schema.Record(Schema.String, Schema.Int),
  credited: Schema.Array(Schema.String),
  reversed: Schema.Array(Schema.String),
  /** Transfers whose credit was declined. */
  declined: Schema.Array(Schema.String)
})

/**
 * @since 0.1.0
 * @category state
 */
export type AccountState = typeof AccountState.Type

/**
 * The command is not allowed for this account.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccountRejected extends Schema.TaggedError<AccountRejected>()("AccountRejected", {
  command: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.command} rejected: ${this.reason}`
  }
}

/**
 * @since 0.1.0
 * @category state
 */
export const initialState: AccountState = {
  opened: false,
  accountId: "",
  owner: "",
  balance: 0,
  debits: {},
  credited: [],
  reversed: [],
  declined: []
}

/**
 * Why `DeclineTransferCredit` is refused when the transfer's credit is
 * already recorded.
 *
 * @since 0.1.0
 * @category errors
 */
export const alreadyCredited = "the transfer is already credited"

const reject = (command: AccountCommand, reason: string) =>
  Result.fail(new AccountRejected({ command: command._tag, reason }))

const none = Result.succeed([] as ReadonlyArray<AccountEvent>)

/**
 * The account decider.
 *
 * @since 0.1.0
 * @category decider
 */
export const decider = Decider.make<AccountCommand, AccountEvent, AccountState, AccountRejected>({
  initialState,
  decide: (command, state) => {
    if (command._tag === "OpenAccount") {
      return state.opened
        ? reject(command, "the account is already open")
        : Result.succeed([AccountOpened.make({ accountId: command.accountId, owner: command.owner })])
    }
    if (!state.opened) return reject(command, "the account is not open")
    switch (command._tag) {
      case "Deposit":
        return Result.succeed([Deposited.make({ amount: command.amount })])
      case "Withdraw":
        return command.amount > state.balance
          ? reject(command, `insufficient funds: balance ${state.balance}, requested ${command.amount}`)
          : Result.succeed([Withdrawn.make({ amount: command.amount })])
      case "DebitForTransfer":
        if (command.transferId in state.debits || state.reversed.includes(command.transferId)) return none
        if (command.to === state.accountId) return reject(command, "cannot transfer to the same account")
        return command.amount > state.balance
          ? reject(command, `insufficient funds: balance ${state.balance}, requested ${command.amount}`)
          : Result.succeed([TransferDebited.make(command)])
      case "CreditForTransfer":
        if (state.credited.includes(command.transferId)) return none
        if (state.declined.includes(command.transferId)) return reject(command, "the transfer's credit was declined")
        return Result.succeed([TransferCredited.make(command)])
      case "DeclineTransferCredit":
        if (state.declined.includes(command.transferId)) return none
        if (state.credited.includes(command.transferId)) return reject(command, alreadyCredited)
        return Result.succeed([TransferCreditDeclined.make(command)])
      case "ReverseTransferDebit": {
        if (state.reversed.includes(command.transferId)) return none
        const amount = state.debits[command.transferId]
        return amount === undefined
          ? reject(command, `no debit for transfer ${command.transferId}`)
          : Result.succeed([
              TransferDebitReversed.make({ transferId: command.transferId, amount, reason: command.reason })
            ])
      }
    }
  },
  evolve: (state, event) => {
    switch (event._tag) {
      case "AccountOpened":
        return { ...state, opened: true, accountId: event.accountId, owner: event.owner }
      case "Deposited":
        return { ...state, balance: state.balance + event.amount }
      case "Withdrawn":
        return { ...state, balance: state.balance - event.amount }
      case "TransferDebited":
        return {
          ...state,
          balance: state.balance - event.amount,
          debits: { ...state.debits, [event.transferId]: event.amount }
        }
      case "TransferCredited":
        return { ...state, balance: state.balance + event.amount, credited: [...state.credited, event.transferId] }
      case "TransferCreditDeclined":
        return { ...state, declined: [...state.declined, event.transferId] }
      case "TransferDebitReversed": {
        const { [event.transferId]: _, ...debits } = state.debits
        return {
          ...state,
          balance: state.balance + event.amount,
          debits,
          reversed: [...state.reversed, event.transferId]
        }
      }
    }
  }
})
