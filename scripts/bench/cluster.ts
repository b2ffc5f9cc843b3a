/**
 * Commands on one hot stream through `@chronicle/cluster`'s stream entities,
 * with the runners in processes of their own and the commands sent from this
 * one (a client-only member of the cluster), beside raw single-row inserts in
 * the same run; then what the entity's cache saves on a long stream; then
 * catch-up of a partitioned projection beside raw SQL.
 *
 * | Chronicle | raw baseline | shown beside |
 * | --- | --- | --- |
 * | 8 writers, 1 deposit per command, to one account's stream entity hosted in the writers' own process (a local runner: no process hop, nothing of the cluster in SQL) | the same raw inserts | — |
 * | 8 writers, 1 deposit per command, to one account's stream entity, with 1, 2 and 3 runner processes up (one comparison each, once that many have joined) | 8 fibers, one autocommit `INSERT` of one event row each (no read, no check, no contention) | with 1 runner: `CommandHandler` in this process (one shared handler, 8 fibers, a stream of its own) |
 * | `Projector.catchUpPartitions` of a balance-per-stream read model from position 0 (20 000 events over 200 streams, pages of 2 000), with 1, 2 and 4 partitions | projection.ts's `rawCatchUp`: one reader, the same pages of log rows, the same upsert and a checkpoint write per page, one transaction each | — |
 *
 * The entity decides every command against its cached state and appends the
 * commands waiting together in one append (group commit); this process sends
 * the commands that waited while two messages were on their way to the
 * entity together, in one message (`StreamEntity.client`); the handler loads
 * the stream for every command. Then: a 10 000-event stream's first command
 * through the entity (which loads it), the commands after it (cached), and
 * a `CommandHandler` command on the same stream (no snapshot), in ms.
 *
 * On one machine the runners, this process and PostgreSQL share the cores:
 * more runners add hops and processes, not capacity (one stream lives on one
 * runner). Scale-out shows with streams spread over runners on machines of
 * their own.
 *
 * Last, once the runners have stopped, partitioned catch-up (cluster/catchUp.ts):
 * each partition is a fiber of this process with its own checkpoint and
 * reads its own streams' events (the store filters); after each round the read model
 * must equal the fold of the log, per stream.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { CommandHandler, EventId, EventStore, ExpectedVersion, StreamName } from "@chronicle/core"
import { StreamEntity } from "@chronicle/cluster"
import { DatabaseUrl } from "@chronicle/embedded-postgres"
import { Account } from "@chronicle/example"
import { PgSchema, PgStore } from "@chronicle/postgres"
import { NodeClusterSocket } from "@effect/platform-node"
import { MessageStorage, RunnerHealth, Runners, RunnerStorage, Sharding, ShardingConfig } from "effect/cluster"
import { PgClient } from "@effect/sql-pg"
import { Console, Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { type Comparison, compare, operations, report } from "./report.ts"
import * as CatchUp from "./cluster/catchUp.ts"
import { Accounts, schema, shardingConfig } from "./cluster/shared.ts"

const writers = 8
const commandsPerRound = 3000
/** CommandHandler's rounds: it reads the stream for every command, so far fewer fit in a round's time. */
const handlerCommandsPerRound = 300
const longStream = 10_000

/** A runner process; killed when the scope closes. Succeeds once it printed "ready". */
const startRunner = (url: string, port: number) =>
  Effect.acquireRelease(
    Effect.callback<ChildProcess>((resume) => {
      const child = spawn(process.execPath, [join(import.meta.dirname, "cluster", "runner.ts")], {
        env: { ...process.env, DATABASE_URL: url, PORT: String(port) },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      const collect = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes("ready")) resume(Effect.succeed(child))
      }
      child.stdout!.on("data", collect)
      child.stderr!.on("data", (chunk: Buffer) => {
        output += chunk.toString()
      })
      child.on("exit", (code) => resume(Effect.die(new Error(`runner on ${port} exited (${code}): ${output}`))))
    }),
    (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGTERM"))
  )

/** The stream-entity comparisons and the long stream; the runner processes stop when it ends. */
const entities = Effect.fnUntraced(function* (url: string) {
  const Pg = PgClient.layer({ url: Redacted.make(url), maxConnections: 12 })
  const context = yield* Layer.build(PgStore.layerStores({ schema }).pipe(Layer.provideMerge(Pg)))
  const sql = Context.get(context, SqlClient.SqlClient)
  const store = Context.get(context, EventStore.EventStore)
  // The baseline's table: the same columns, keys and indexes, before the hash chain.
  yield* PgSchema.migrate("raw_cluster", { upTo: 3 }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
  const runId = Date.now().toString(36)

  const base = 44000 + Math.floor(Math.random() * 2000)
  let runners = 0
  const ensureRunners = (n: number) =>
    Effect.gen(function* () {
      while (runners < n) {
        yield* startRunner(url, base + runners)
        runners++
        yield* Console.log(`  (${runners} runner process${runners === 1 ? "" : "es"} up)`)
        // Shards move to a runner that joins within about a second (refreshAssignmentsInterval).
        if (runners > 1) yield* Effect.sleep("3 seconds")
      }
    })
  yield* ensureRunners(1)
  const client = yield* Layer.build(
    NodeClusterSocket.layer({ clientOnly: true, storage: "sql", shardingConfig }).pipe(Layer.provide(Pg))
  )
  const send = yield* StreamEntity.client(Accounts).pipe(Effect.provideContext(client))
  const handler = yield* CommandHandler.make({ decider: Account.decider, codec: Account.AccountEvents }).pipe(
    Effect.provideContext(context)
  )

  const hot = `hot${runId}`
  yield* send(hot, Account.OpenAccount.make({ accountId: hot, owner: "bench" }))
  const handled = StreamName.make("account", `handled${runId}`)
  yield* handler
    .handle(handled, Account.OpenAccount.make({ accountId: "handled", owner: "bench" }))
    .pipe(Effect.provideContext(context))

  const deposit = Account.Deposit.make({ amount: 1 })
  let rawVersion = 0
  const rawStream = `account-raw${runId}`
  const raw = {
    name: "raw single-row INSERT",
    run: operations(commandsPerRound, writers, () =>
      Effect.suspend(() =>
        sql`INSERT INTO raw_cluster.events
          (event_id, stream, stream_version, append_first, category, type, schema_version, data, metadata)
          VALUES (${EventId.makeUnsafe()}, ${rawStream}, ${rawVersion}, ${rawVersion++}, 'account', 'Deposited', 1,
            ${JSON.stringify({ amount: 1 })}::json, '{}'::json)`.pipe(Effect.orDie)
      )
    )
  }
  // The entity hosted by the writers' own process: the same writer, no process hop (a runner of its
  // own with nothing in SQL, so it joins no cluster). How far the entity path itself is from raw SQL.
  const local = yield* Layer.build(
    StreamEntity.layer(Accounts).pipe(
      Layer.provideMerge(
        Sharding.layer.pipe(
          Layer.provideMerge(Runners.layerNoop),
          Layer.provideMerge(MessageStorage.layerNoop),
          Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
          Layer.provide(ShardingConfig.layer(shardingConfig))
        )
      ),
      Layer.provide(Layer.succeedContext(context))
    )
  )
  const sendLocal = yield* StreamEntity.client(Accounts).pipe(Effect.provideContext(local))
  const localHot = `local${runId}`
  yield* sendLocal(localHot, Account.OpenAccount.make({ accountId: localHot, owner: "bench" }))
  const comparisons: Array<Comparison> = [
    yield* compare({
      workload: `${writers} writers, one stream, 1 command each, the entity in the writers' process`,
      unit: "commands",
      count: commandsPerRound,
      rounds: 5,
      warmups: 2,
      baseline: raw,
      subject: {
        name: "StreamEntity, local",
        run: operations(commandsPerRound, writers, () => sendLocal(localHot, deposit))
      }
    })
  ]
  // One comparison per runner count, each after the runners it names are up (processes only join).
  for (const n of [1, 2, 3]) {
    yield* ensureRunners(n)
    comparisons.push(
      yield* compare({
        workload: `${writers} writers, one stream, 1 command each, ${n} runner process${n === 1 ? "" : "es"}`,
        unit: "commands",
        count: commandsPerRound,
        rounds: 5,
        // The runner processes' code warms up over the first thousands of commands.
        warmups: 2,
        baseline: raw,
        subject: { name: "StreamEntity", run: operations(commandsPerRound, writers, () => send(hot, deposit)) },
        context:
          n === 1
            ? [
                {
                  name: "CommandHandler, in process",
                  count: handlerCommandsPerRound,
                  run: operations(handlerCommandsPerRound, writers, () =>
                    handler.handle(handled, deposit).pipe(Effect.provideContext(context), Effect.orDie)
                  )
                }
              ]
            : []
      })
    )
  }
  report("Stream entities on Effect Cluster vs raw SQL (commands/s)", comparisons)

  // What the cache saves: a long stream's first command loads it, the next ones do not.
  const long = `long${runId}`
  const longName = StreamName.make("account", long)
  yield* store.append(
    longName,
    [
      {
        eventId: EventId.makeUnsafe(),
        type: "AccountOpened",
        schemaVersion: 1,
        data: { accountId: long, owner: "bench" },
        metadata: {}
      }
    ],
    ExpectedVersion.noStream
  )
  for (let i = 1; i < longStream; i += 1000) {
    yield* store.append(
      longName,
      Array.from({ length: Math.min(1000, longStream - i) }, () => ({
        eventId: EventId.makeUnsafe(),
        type: "Deposited",
        schemaVersion: 1,
        data: { amount: 1 },
        metadata: {}
      })),
      ExpectedVersion.any
    )
  }
  const timed = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.suspend(() => {
      const start = performance.now()
      return Effect.map(effect, () => performance.now() - start)
    })
  const first = yield* timed(send(long, deposit))
  const cached: Array<number> = []
  for (let i = 0; i < 20; i++) cached.push(yield* timed(send(long, deposit)))
  cached.sort((a, b) => a - b)
  const handlerMs = yield* timed(handler.handle(longName, deposit).pipe(Effect.provideContext(context)))
  yield* Console.log(
    `\nA ${longStream.toLocaleString("en-US")}-event stream through its entity: the first command (loads it) ` +
      `${first.toFixed(1)} ms; the next 20, cached: median ${cached[10]!.toFixed(1)} ms; ` +
      `one CommandHandler command on it (loads it, no snapshot): ${handlerMs.toFixed(1)} ms`
  )
}, Effect.scoped)

export const run = Effect.gen(function* () {
  const url = yield* DatabaseUrl.configuredOrEmbedded()
  yield* entities(url)
  // Once the runners have stopped: their processes would share the cores with the catch-up.
  yield* CatchUp.run(url)
}).pipe(Effect.scoped)
