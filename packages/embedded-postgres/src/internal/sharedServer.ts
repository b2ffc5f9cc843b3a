// One embedded server per data folder, shared by every process that uses the folder (the app, its
// CLI, a second app instance):
//
// - the server that runs records itself in `<dataDir>/chronicle-server.json` (URL, pid, port, start
//   time), written atomically once it accepts connections;
// - a process first looks for a recorded server that is alive (its pid runs and it answers
//   `SELECT 1`) and uses it; only when there is none does it start one (a stale record is replaced);
// - each process using the server keeps one "presence" session open while it does, and the last one
//   to leave (no other presence session) stops the server and removes the record;
// - looking-and-starting and leaving-and-stopping happen under a lock file beside the folder
//   (`<dataDir>.lock`, created exclusively, holding the pid), so two processes never both start
//   PostgreSQL on one folder (PostgreSQL's own `postmaster.pid` would refuse the second anyway).
import { PgConnection } from "@effect/sql-pg"
import { Effect, Exit, Option, Redacted, Schedule, Schema, Scope } from "effect"
import { link, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import * as PgServer from "../PgServer.ts"

/** What a running server records in its data folder. */
const ServerRecord = Schema.Struct({
  url: Schema.String,
  pid: Schema.Int,
  port: Schema.Int,
  startedAt: Schema.String
})
type ServerRecord = typeof ServerRecord.Type

const decodeRecord = Schema.decodeUnknownOption(Schema.fromJsonString(ServerRecord))

/** Where a data folder's server is recorded. */
export const recordFile = (dataDir: string): string => join(dataDir, "chronicle-server.json")

/** The lock file beside a data folder (inside it, it would stop `initdb`, which wants an empty folder). */
export const lockFile = (dataDir: string): string => `${dataDir.replace(/\/+$/, "")}.lock`

/** How the presence sessions name themselves in `pg_stat_activity`. */
const presenceName = "chronicle-embedded-presence"

/** Whether a process with this pid runs (one of another user counts: the server runs as `postgres` under root). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The shared server could not be found, started, recorded or left; `reason` says why. */
export class SharedServerFailed extends Schema.TaggedError<SharedServerFailed>()("SharedServerFailed", {
  reason: Schema.String
}) {}

const failure = (cause: unknown) =>
  new SharedServerFailed({ reason: cause instanceof Error ? cause.message : String(cause) })

/** Creates the lock file exclusively with this pid in it (written first, then linked, so it is never empty). */
const tryLock = (file: string) =>
  Effect.tryPromise({
    try: async () => {
      const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`
      // The folder the data folder goes in may not exist yet (a fresh clone has no `.data`).
      await mkdir(dirname(file), { recursive: true })
      await writeFile(temporary, String(process.pid))
      try {
        await link(temporary, file)
        return true
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
        const holder = Number((await readFile(file, "utf8").catch(() => "")).trim())
        // Left by a process that died while it held the lock: break it, then try again.
        if (!(holder > 0 && isAlive(holder))) await rm(file, { force: true })
        return false
      } finally {
        await rm(temporary, { force: true })
      }
    },
    catch: failure
  })

/** Runs `effect` holding the data folder's lock (waiting up to two minutes for it). */
const withLock = <A, E, R>(dataDir: string, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    tryLock(lockFile(dataDir)).pipe(
      Effect.repeat({ until: (locked) => locked, schedule: Schedule.spaced("100 millis") }),
      Effect.timeoutOrElse({
        duration: "2 minutes",
        orElse: () =>
          Effect.fail(
            new SharedServerFailed({
              reason: `${lockFile(dataDir)} stayed locked for 2 minutes; remove it if no process uses it`
            })
          )
      })
    ),
    () => effect,
    () => Effect.promise(() => rm(lockFile(dataDir), { force: true }))
  )

const readRecord = (dataDir: string) =>
  Effect.promise(() => readFile(recordFile(dataDir), "utf8").catch(() => "")).pipe(Effect.map(decodeRecord))

/** Writes the record atomically: readers see the old file or the whole new one. */
const writeRecord = (dataDir: string, record: ServerRecord) =>
  Effect.tryPromise({
    try: async () => {
      const temporary = `${recordFile(dataDir)}.${process.pid}.tmp`
      await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`)
      await rename(temporary, recordFile(dataDir))
    },
    catch: failure
  })

/** A presence session on the server at `url`, open until `scope` closes; fails when the server does not answer. */
const presence = (url: string, scope: Scope.Scope) =>
  PgConnection.make({ url: Redacted.make(url), applicationName: presenceName, connectTimeout: "5 seconds" }).pipe(
    Effect.tap((session) => session.query("SELECT 1")),
    Scope.provide(scope)
  )

/** Stops a server this process did not start: a fast shutdown, then waits until its pid is gone. */
const stopRecorded = (pid: number) =>
  Effect.sync(() => {
    try {
      process.kill(pid, "SIGINT")
    } catch {
      // Gone already.
    }
  }).pipe(
    Effect.andThen(
      Effect.sync(() => isAlive(pid)).pipe(
        Effect.repeat({ until: (alive) => !alive, schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("30 seconds"),
        Effect.ignore
      )
    )
  )

interface Attached {
  readonly url: string
  readonly pid: number
  /** The server, when this process started it. */
  readonly started: PgServer.PgServer | undefined
  readonly presence: PgConnection.PgConnection
  readonly scope: Scope.Closeable
}

/** Uses the recorded server when it is alive, else starts one and records it (under the lock). */
const attach = (options: PgServer.StartOptions & { readonly dataDir: string }) =>
  withLock(
    options.dataDir,
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const recorded = yield* readRecord(options.dataDir)
      if (Option.isSome(recorded) && isAlive(recorded.value.pid)) {
        const session = yield* Effect.option(presence(recorded.value.url, scope))
        if (Option.isSome(session)) {
          const { pid, url } = recorded.value
          yield* Effect.logInfo(`Using the embedded PostgreSQL already running for ${options.dataDir} (pid ${pid})`)
          return { url, pid, started: undefined, presence: session.value, scope } satisfies Attached
        }
      }
      yield* Effect.logInfo(`Starting the embedded PostgreSQL in ${options.dataDir}…`)
      const started = yield* Effect.tryPromise({
        try: () => PgServer.start({ ...options, detached: true }),
        catch: failure
      })
      yield* writeRecord(options.dataDir, {
        url: started.url,
        pid: started.pid,
        port: started.port,
        startedAt: new Date().toISOString()
      })
      const session = yield* presence(started.url, scope)
      return { url: started.url, pid: started.pid, started, presence: session, scope } satisfies Attached
    })
  )

/** Leaves the server; the last process to leave stops it and removes the record (under the lock). */
const leave = (dataDir: string, attached: Attached) =>
  withLock(
    dataDir,
    Effect.gen(function* () {
      const others = yield* attached.presence
        .query(
          "SELECT count(*)::int AS others FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
          [presenceName]
        )
        .pipe(
          Effect.map((result) => Number(result.rows[0]?.others ?? 0)),
          // A server that no longer answers has nobody else to serve.
          Effect.orElseSucceed(() => 0)
        )
      yield* Scope.close(attached.scope, Exit.void)
      if (others > 0) return
      yield* attached.started === undefined
        ? stopRecorded(attached.pid)
        : Effect.promise(() => attached.started!.stop())
      yield* Effect.promise(() => rm(recordFile(dataDir), { force: true }))
    })
  ).pipe(Effect.orDie)

/**
 * The URL of the data folder's server, shared with the other processes that
 * use the folder, for as long as the scope is open.
 */
export const use = (options: PgServer.StartOptions & { readonly dataDir: string }) =>
  Effect.map(
    Effect.acquireRelease(attach(options), (attached) => leave(options.dataDir, attached)),
    (attached) => attached.url
  )
