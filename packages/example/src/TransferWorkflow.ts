/**
 * The money transfer as a durable workflow (`effect/workflow`): debit the
 * source, credit the target before a deadline, or refund the source.
 *
 * The workflow's execution id comes from the transfer id (`idempotencyKey`),
 * so starting the same transfer twice runs it once. Its steps are
 * activities, whose results the workflow engine journals; a runner that dies
 * mid-transfer has the workflow replayed from the top on another runner (or
 * the same one restarted), the journaled steps returning their recorded
 * results and the unfinished step running again:
 *
 * 1. `Deadline`: the instant the credit is due by (now + `deadline`),
 *    journaled, so a replay keeps the first run's deadline;
 * 2. `Debit`: `DebitForTransfer` on the source — refused (insufficient
 *    funds, source not open) ends the transfer as `Rejected`, nothing moved;
 * 3. `Credit`: `CreditForTransfer` on the target, retried on transient
 *    errors, until the deadline. When the deadline passes first (or the step
 *    re-runs after it), the step sends `DeclineTransferCredit` to the target
 *    instead: both commands land on the target's stream, so either the
 *    credit is already there (the decline is refused: the transfer
 *    completed) or the decline is, and a credit still in flight is refused —
 *    the money never arrives after the refund;
 * 4. `Refund`: when the credit was refused (target not open) or declined,
 *    `ReverseTransferDebit` on the source: `Compensated`.
 *
 * Each step's command carries an idempotency key made of the transfer id and
 * the step (`<transferId>/debit`, `/credit`, `/decline`, `/refund`), so a
 * step that re-runs after a crash (its command committed, its result not yet
 * journaled) finds its events recorded and appends nothing: the event store
 * holds each step's effect once. The event ids follow from the keys, as
 * `CommandHandler` derives them, so a step knows its event's id even when it
 * re-runs. The keys only catch an exact repeat; the account decider is
 * idempotent by transfer id as well, so a re-run decided against a state
 * that already holds its own effect changes nothing rather than failing (a
 * re-run debit refused for want of the money it already took would end the
 * transfer as `Rejected` with the money gone). Every event carries the transfer id as correlation id; the
 * debit's causation id is the workflow execution id, the credit's and the
 * decline's the debit event's id, the refund's the decline event's id (or
 * the debit's when the credit was refused).
 *
 * Commands go through a `CommandHandler` in the runner that executes the
 * workflow: it works in any process, its optimistic concurrency and
 * idempotency keys make concurrent writers safe, and interrupting a command
 * (the deadline) really stops it — a command sent to a stream entity of
 * `@chronicle/cluster` could still run on the entity's runner after its
 * caller gave up.
 *
 * The deadline is a journaled instant and a timeout inside the `Credit`
 * step, not a `DurableClock.sleep` raced against the credit: it fires on time
 * (a durable clock wakes on the engine's storage poll,
 * `entityMessagePollInterval`, 10 s by default), and whichever way the race
 * goes the decline on the target's stream settles it.
 *
 * @example
 * ```ts
 * import { TransferWorkflow } from "@chronicle/example"
 * import { Layer } from "effect"
 * import { ClusterWorkflowEngine } from "effect/cluster"
 *
 * // on every runner
 * const TransfersLive = TransferWorkflow.layer({ deadline: "30 seconds" }).pipe(
 *   Layer.provide(ClusterWorkflowEngine.layer)
 * )
 * // anywhere in the cluster
 * const outcome = TransferWorkflow.Transfer.execute({ transferId: "t1", from: "a1", to: "a2", amount: 10 })
 * ```
 *
 * @since 0.1.0
 */
import { CommandHandler, type Envelope, EventId, type EventStore, StreamName, type UnitOfWork } from "@chronicle/core"
import { Clock, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { Activity, Workflow, type WorkflowEngine } from "effect/workflow"
import * as Account from "./Account.ts"

const Amount = Schema.Int.check(Schema.isGreaterThan(0))

/**
 * The transfer is done: debited once, credited once.
 *
 * @since 0.1.0
 * @category outcomes
 */
export const Completed = Schema.TaggedStruct("Completed", { debitEventId: Schema.String, creditEventId: Schema.String })

/**
 * The credit was refused or did not happen by the deadline: the source got
 * its money back.
 *
 * @since 0.1.0
 * @category outcomes
 */
export const Compensated = Schema.TaggedStruct("Compensated", {
  reason: Schema.String,
  debitEventId: Schema.String,
  refundEventId: Schema.String
})

/**
 * The source refused the debit: nothing moved.
 *
 * @since 0.1.0
 * @category outcomes
 */
export const Rejected = Schema.TaggedStruct("Rejected", { reason: Schema.String })

/**
 * @since 0.1.0
 * @category outcomes
 */
export const TransferOutcome = Schema.Union([Completed, Compensated, Rejected])

/**
 * @since 0.1.0
 * @category outcomes
 */
export type TransferOutcome = typeof TransferOutcome.Type

/**
 * The transfer workflow; its execution id is derived from the transfer id.
 *
 * @since 0.1.0
 * @category workflows
 */
export const Transfer = Workflow.make("Transfer", {
  payload: { transferId: Schema.String, from: Schema.String, to: Schema.String, amount: Amount },
  success: TransferOutcome,
  idempotencyKey: ({ transferId }) => transferId
})

/**
 * A transfer as the workflow receives it.
 *
 * @since 0.1.0
 * @category workflows
 */
export type TransferPayload = typeof Transfer.payloadSchema.Type

/**
 * The steps that send a command.
 *
 * @since 0.1.0
 * @category workflows
 */
export type Step = "debit" | "credit" | "decline" | "refund"

/**
 * How a runner runs transfers.
 *
 * @since 0.1.0
 * @category layers
 */
export interface Options {
  /** How long after its start a transfer's credit may land; after that, the source is refunded. */
  readonly deadline: Duration.Input
  /**
   * How a step retries transient errors (conflicts that outlived the handler's retries, the
   * store), at most 50 times, before the step dies. Default: every 100 ms.
   */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** Runs before a step's command; for tests (a target that never answers, a crash). */
  readonly beforeStep?: ((step: Step, transfer: TransferPayload) => Effect.Effect<void>) | undefined
  /** Runs after a step's command committed, before its result is journaled; for tests (a crash). */
  readonly afterStep?: ((step: Step, transfer: TransferPayload) => Effect.Effect<void>) | undefined
}

/**
 * The idempotency key of a transfer's step.
 *
 * @since 0.1.0
 * @category ids
 */
export const stepKey = (transferId: string, step: Step): string => `${transferId}/${step}`

/**
 * The id of the event a transfer's step records on a stream (each step
 * records one event), derived from the step's idempotency key as
 * `CommandHandler` derives it.
 *
 * @since 0.1.0
 * @category ids
 */
export const stepEventId = (transferId: string, step: Step, stream: StreamName.StreamName): Effect.Effect<string> =>
  EventId.fromKey(`${JSON.stringify([stepKey(transferId, step), stream])}/0`)

const Debited = Schema.TaggedStruct("Debited", { eventId: Schema.String })
const Refused = Schema.TaggedStruct("Refused", { reason: Schema.String })
const Credited = Schema.TaggedStruct("Credited", { eventId: Schema.String })
const Declined = Schema.TaggedStruct("Declined", { eventId: Schema.String })
const DebitResult = Schema.Union([Debited, Refused])
const CreditResult = Schema.Union([Credited, Refused, Declined])
const Refunded = Schema.Struct({ eventId: Schema.String })

const accountStream = (id: string) => StreamName.make("account", id)

/**
 * Runs transfers on this runner (it needs a `WorkflowEngine`, such as
 * `ClusterWorkflowEngine.layer`, and the stores).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<never, never, EventStore.EventStore | UnitOfWork.UnitOfWork | WorkflowEngine.WorkflowEngine> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const accounts = yield* CommandHandler.make({ decider: Account.decider, codec: Account.AccountEvents })
      const deadline = Duration.fromInputUnsafe(options.deadline)
      const retry = options.retry ?? Schedule.spaced("100 millis")
      const before = options.beforeStep ?? (() => Effect.void)
      const after = options.afterStep ?? (() => Effect.void)

      /**
       * One step's command with its key and metadata: the decider's rejection as a value, other
       * errors retried, then a defect. `undefined` when nothing new was appended (a repeat).
       */
      const send = (
        step: Step,
        transfer: TransferPayload,
        stream: StreamName.StreamName,
        command: Account.AccountCommand,
        causationId: string
      ) => {
        const metadata: Envelope.Metadata = {
          correlationId: transfer.transferId,
          causationId,
          actor: "transfer-workflow"
        }
        return before(step, transfer).pipe(
          Effect.andThen(
            accounts
              .handle(stream, command, { metadata, idempotencyKey: stepKey(transfer.transferId, step) })
              .pipe(Effect.retry({ schedule: retry, times: 50, while: (error) => error._tag !== "AccountRejected" }))
          ),
          Effect.tap(() => after(step, transfer)),
          Effect.as(undefined),
          Effect.catchTag("AccountRejected", (rejected) => Effect.succeed(rejected.reason)),
          Effect.orDie
        )
      }

      const debit = (transfer: TransferPayload, executionId: string): Effect.Effect<typeof DebitResult.Type> => {
        const stream = accountStream(transfer.from)
        const command = Account.DebitForTransfer.make({
          transferId: transfer.transferId,
          to: transfer.to,
          amount: transfer.amount
        })
        return Effect.flatMap(
          send("debit", transfer, stream, command, executionId),
          (refused): Effect.Effect<typeof DebitResult.Type> =>
            refused === undefined
              ? Effect.map(stepEventId(transfer.transferId, "debit", stream), (eventId) => Debited.make({ eventId }))
              : Effect.succeed(Refused.make({ reason: refused }))
        )
      }

      const decline = (transfer: TransferPayload, debitEventId: string): Effect.Effect<typeof CreditResult.Type> => {
        const stream = accountStream(transfer.to)
        const command = Account.DeclineTransferCredit.make({
          transferId: transfer.transferId,
          from: transfer.from,
          reason: "the transfer's deadline passed"
        })
        return Effect.flatMap(
          send("decline", transfer, stream, command, debitEventId),
          (refused): Effect.Effect<typeof CreditResult.Type> =>
            refused === undefined
              ? Effect.map(stepEventId(transfer.transferId, "decline", stream), (eventId) => Declined.make({ eventId }))
              : // The credit is there after all (or the target is not open: no credit can land either).
                refused === Account.alreadyCredited
                ? Effect.map(stepEventId(transfer.transferId, "credit", stream), (eventId) =>
                    Credited.make({ eventId })
                  )
                : Effect.succeed(Refused.make({ reason: refused }))
        )
      }

      const credit = (
        transfer: TransferPayload,
        debitEventId: string,
        deadlineAt: number
      ): Effect.Effect<typeof CreditResult.Type> =>
        Effect.gen(function* () {
          const stream = accountStream(transfer.to)
          const command = Account.CreditForTransfer.make({
            transferId: transfer.transferId,
            from: transfer.from,
            amount: transfer.amount
          })
          const left = deadlineAt - (yield* Clock.currentTimeMillis)
          if (left <= 0) return yield* decline(transfer, debitEventId)
          const sent = yield* Effect.timeoutOption(send("credit", transfer, stream, command, debitEventId), left)
          if (sent._tag === "None") return yield* decline(transfer, debitEventId)
          const refused = sent.value
          return refused === undefined
            ? Credited.make({ eventId: yield* stepEventId(transfer.transferId, "credit", stream) })
            : Refused.make({ reason: refused })
        })

      const refund = (
        transfer: TransferPayload,
        reason: string,
        causationId: string
      ): Effect.Effect<typeof Refunded.Type> => {
        const stream = accountStream(transfer.from)
        const command = Account.ReverseTransferDebit.make({ transferId: transfer.transferId, reason })
        return Effect.flatMap(
          send("refund", transfer, stream, command, causationId),
          (refused): Effect.Effect<typeof Refunded.Type> =>
            refused === undefined
              ? Effect.map(stepEventId(transfer.transferId, "refund", stream), (eventId) => Refunded.make({ eventId }))
              : Effect.die(new Error(`the refund of transfer ${transfer.transferId} was refused: ${refused}`))
        )
      }

      return Transfer.toLayer((transfer, executionId) =>
        Effect.gen(function* () {
          const deadlineAt = yield* Activity.make({
            name: "Deadline",
            success: Schema.Finite,
            execute: Effect.map(Clock.currentTimeMillis, (now) => now + Duration.toMillis(deadline))
          })
          const debited = yield* Activity.make({
            name: "Debit",
            success: DebitResult,
            execute: debit(transfer, executionId)
          })
          if (debited._tag === "Refused") return Rejected.make({ reason: debited.reason })
          const credited = yield* Activity.make({
            name: "Credit",
            success: CreditResult,
            execute: credit(transfer, debited.eventId, deadlineAt)
          })
          if (credited._tag === "Credited") {
            return Completed.make({ debitEventId: debited.eventId, creditEventId: credited.eventId })
          }
          const [reason, causationId] =
            credited._tag === "Refused"
              ? [`credit refused: ${credited.reason}`, debited.eventId]
              : ["credit declined: the deadline passed", credited.eventId]
          const refunded = yield* Activity.make({
            name: "Refund",
            success: Refunded,
            execute: refund(transfer, reason, causationId)
          })
          return Compensated.make({ reason, debitEventId: debited.eventId, refundEventId: refunded.eventId })
        })
      )
    })
  )
