/**
 * The shop's command side: one command handler per aggregate, and the
 * mapping of their outcomes and errors to the HTTP API's.
 */
import {
  CommandHandler,
  type Envelope,
  type EventStore,
  type Position,
  type Projection,
  Projector,
  StreamName
} from "@chronicle/core"
import type { StreamEntity } from "@chronicle/cluster"
import { Account, Order, Transfer } from "@chronicle/example"
import { Context, Duration, Effect, Layer } from "effect"
import { HttpApiSchema } from "effect/http-api"
import type { SqlClient } from "effect/sql"
import {
  AlreadyExists,
  NotFound,
  PreconditionFailed,
  Rejected,
  Terminated,
  Unavailable,
  VersionConflict,
  WriteConflict
} from "./Problems.ts"
import * as ReadModels from "./ReadModels.ts"

/** The order handler's aggregate, read model and snapshots, the same in single-process and cluster mode. */
export const orderOptions = {
  decider: Order.decider,
  codec: Order.OrderEvents,
  // Read-your-writes for order summaries: written in the append's transaction.
  inline: [ReadModels.orderSummary],
  snapshot: { schema: Order.OrderState, version: 1, every: 50 }
}

/** The account handler's aggregate. */
export const accountOptions = { decider: Account.decider, codec: Account.AccountEvents }

/**
 * The errors a command may meet on its way in cluster mode (see
 * `StreamEntity.handler`): a full mailbox, a runner that is not (yet) the
 * stream's, message storage failing.
 */
export type ClusterError = StreamEntity.ClientError | StreamName.InvalidStreamName

/**
 * The shop's command handlers: in this process (`layer`), or routed to the
 * stream entities of a cluster (`Cluster.layer`), with the same interface.
 */
export class Shop extends Context.Service<
  Shop,
  {
    readonly orders: CommandHandler.CommandHandler<
      Order.OrderCommand,
      Order.OrderEvent,
      Order.OrderState,
      Order.OrderRejected | ClusterError,
      SqlClient.SqlClient
    >
    readonly accounts: CommandHandler.CommandHandler<
      Account.AccountCommand,
      Account.AccountEvent,
      Account.AccountState,
      Account.AccountRejected | ClusterError
    >
  }
>()("@chronicle/shop/Shop") {
  /** The command handlers in this process (single-process mode). */
  static readonly layer = Layer.effect(
    Shop,
    Effect.gen(function* () {
      const orders = yield* CommandHandler.make(orderOptions)
      const accounts = yield* CommandHandler.make(accountOptions)
      return Shop.of({ orders, accounts })
    })
  )
}

export const orderStream = (orderId: string) => StreamName.make("order", orderId)
export const accountStream = Transfer.accountStream

/**
 * Where a command's expected version comes from; it decides which problem a
 * stale one answers: a create command expects no stream (409 already-exists),
 * `expectedVersion` in the body a version (409 version-conflict), `If-Match`
 * a version (412); with none the handler retries conflicts itself.
 */
export type Expectation =
  | { readonly _tag: "Create" }
  | { readonly _tag: "Payload" | "IfMatch"; readonly version: number }
  | { readonly _tag: "None" }

/** What a command needs besides the command itself. */
export interface RunOptions {
  readonly expectation: Expectation
  readonly metadata: Envelope.Metadata
  readonly idempotencyKey?: string | undefined
  /** Asynchronous read models to wait for until they include the command's events (at most {@link awaitTimeout}). */
  readonly awaitProjections?: ReadonlyArray<Projection.Projection<any, any>> | undefined
}

/** How long a command waits for the read models it was asked to await. */
export const awaitTimeout = Duration.seconds(5)

/**
 * Waits for each projection to include `position`: `caught-up`, or
 * `timed-out` after {@link awaitTimeout} (the write stands either way).
 */
const awaitAll = (projections: ReadonlyArray<Projection.Projection<any, any>>, position: Position.Position) =>
  Effect.forEach(
    projections,
    (projection) =>
      Projector.awaitPosition(projection, position, { timeout: awaitTimeout }).pipe(
        Effect.as("caught-up" as const),
        Effect.catchTag("ProjectionTimeout", () => Effect.succeed("timed-out" as const)),
        Effect.orDie,
        Effect.map((status) => [projection.name, status] as const)
      ),
    { concurrency: "unbounded" }
  ).pipe(Effect.map((entries) => Object.fromEntries(entries)))

/** The problems a command answers. */
export type CommandProblem =
  | AlreadyExists
  | NotFound
  | PreconditionFailed
  | Rejected
  | Terminated
  | Unavailable
  | VersionConflict
  | WriteConflict

const expectedVersion = (expectation: Expectation) =>
  expectation._tag === "Create" ? -1 : expectation._tag === "None" ? undefined : expectation.version

const notFound = (stream: string) =>
  new NotFound({
    stream,
    detail:
      `There is no ${StreamName.category(stream)} ${JSON.stringify(StreamName.id(stream))}: ` +
      `the stream ${stream} has no events. Check the id, or create it first.`
  })

/** A stream an operator deleted (`chronicle streams delete`): it is gone for good. */
export const deleted = (stream: string) =>
  new NotFound({
    stream,
    detail:
      `The ${StreamName.category(stream)} ${JSON.stringify(StreamName.id(stream))} was deleted (the stream ${stream} ` +
      `is tombstoned): it takes no commands and has no history any more. Create a new one with another id.`
  })

const writeConflict = (stream: string) =>
  new WriteConflict({
    stream,
    detail: `Concurrent writes to ${stream} kept conflicting with this command; nothing was written. Send it again.`
  })

/** The problem a stale expected version answers. */
const stale = (stream: string, expectation: Expectation, actualVersion: number): CommandProblem => {
  if (expectation._tag === "Create")
    return new AlreadyExists({
      stream,
      actualVersion,
      detail:
        `${stream} already exists (at version ${actualVersion}); nothing was written. ` +
        `Choose another id, or send commands to the existing one.`
    })
  if (actualVersion === -1) return notFound(stream)
  if (expectation._tag === "None") return writeConflict(stream)
  const { version } = expectation
  const moved =
    `${stream} is at version ${actualVersion}, not ${version}: it changed since you read it; nothing was written. ` +
    `Read it again (GET /streams/${stream}/state), decide again and send the command with the new version`
  return expectation._tag === "IfMatch"
    ? new PreconditionFailed({
        stream,
        expectedVersion: version,
        actualVersion,
        detail: `${moved} in If-Match.`
      })
    : new VersionConflict({
        stream,
        expectedVersion: version,
        actualVersion,
        detail: `${moved} as expectedVersion.`
      })
}

/**
 * Runs a command on a stream and answers as the API does: the stream's new
 * version, state, event types and the global position of its last event,
 * with the version as `ETag`; or the problem that explains why not. A
 * refusal on a stream with no events is 404: the order or account does not
 * exist. A stored event that does not decode, or the store failing, is a
 * defect: the server's fault, answered as a 500 problem.
 */
export const run = <Command, E extends { readonly _tag: string }, State, Err, R>(
  handler: CommandHandler.CommandHandler<Command, E, State, Err, R>,
  stream: StreamName.StreamName,
  command: Command,
  options: RunOptions
) =>
  handler
    .handle(stream, command, {
      expectedVersion: expectedVersion(options.expectation),
      metadata: options.metadata,
      idempotencyKey: options.idempotencyKey
    })
    .pipe(
      Effect.flatMap((outcome) => {
        const position = outcome.positions.at(-1)
        const awaited = options.awaitProjections ?? []
        return Effect.map(
          position === undefined || awaited.length === 0 ? Effect.void : awaitAll(awaited, position),
          (projections) =>
            HttpApiSchema.withHeaders({
              body: {
                stream,
                version: outcome.version,
                events: outcome.events.map((e) => e._tag),
                ...(position === undefined ? {} : { position }),
                ...(projections === undefined ? {} : { projections }),
                state: outcome.state as unknown
              },
              headers: { etag: `"${outcome.version}"` }
            })
        )
      }),
      Effect.catch((error): Effect.Effect<never, CommandProblem, R> => {
        const e = error as { readonly _tag?: string }
        switch (e._tag) {
          case "WrongExpectedVersion": {
            const { actualVersion } = error as unknown as EventStore.WrongExpectedVersion
            return Effect.fail(stale(stream, options.expectation, actualVersion))
          }
          case "LogOrderConflict":
            return Effect.fail(writeConflict(stream))
          case "StreamDeleted":
            return Effect.fail(deleted(stream))
          case "StreamArchived":
            return Effect.flatMap(Effect.orDie(handler.load(stream)), (loaded) =>
              Effect.fail(
                new Terminated({
                  stream,
                  version: loaded.version,
                  detail:
                    `${stream} is archived and takes no commands until an operator restores it ` +
                    `(chronicle streams restore ${stream}); nothing was written.`
                })
              )
            )
          case "StreamTerminated": {
            const { version } = error as unknown as CommandHandler.StreamTerminated
            return Effect.fail(
              new Terminated({
                stream,
                version,
                detail:
                  `${stream} reached a final state at version ${version} and takes no more commands; ` +
                  `nothing was written. Start a new ${StreamName.category(stream)} instead.`
              })
            )
          }
          case "MailboxFull":
          case "AlreadyProcessingMessage":
          case "PersistenceError":
          case "EntityNotAssignedToRunner":
            return Effect.fail(
              new Unavailable({
                stream,
                retryAfter: 1,
                detail:
                  `The cluster could not take the command for ${stream} now (${e._tag}); nothing was written. ` +
                  `Send it again in a second; if it persists, check that the runners are up.`
              })
            )
          case "OrderRejected":
          case "AccountRejected": {
            const { command, reason } = error as unknown as { command: string; reason: string }
            return Effect.flatMap(Effect.orDie(handler.load(stream)), (loaded) =>
              Effect.fail(
                loaded.version === -1
                  ? notFound(stream)
                  : new Rejected({
                      stream,
                      command,
                      reason,
                      detail: `${command} on ${stream} was refused: ${reason}. Nothing was written.`
                    })
              )
            )
          }
          default:
            return Effect.die(error)
        }
      })
    )
