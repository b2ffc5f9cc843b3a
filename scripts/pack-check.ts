/**
 * `pnpm pack-check`: the published packages work outside the workspace. Builds
 * every library package, packs each with `pnpm pack` (which applies
 * `publishConfig`), checks the packed manifests point at `dist/` and carry no
 * `workspace:` ranges, then installs the tarballs with npm in a scratch project
 * under the system's temporary directory, type-checks a small program against
 * the shipped `.d.ts` files and runs the emitted JavaScript with plain `node`.
 * Exits non-zero, saying what broke, on the first failure. About 25 s; `.ci/run`
 * runs it after the tests.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const libraries = ["core", "postgres", "testing", "cli", "cluster", "example", "embedded-postgres"]
// Installed in the scratch project: the rest need vitest or PostgreSQL binaries, and only their manifests are checked.
const installed = ["core", "postgres", "example", "cli"]
const pnpm = ["-y", "pnpm@12"]
const tsc = join(root, "node_modules", ".bin", "tsc")

const run = (command: string, args: ReadonlyArray<string>, cwd: string): string =>
  execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

const step = <A>(title: string, body: () => A): A => {
  const started = performance.now()
  try {
    const result = body()
    console.log(`pack-check: ${title} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
    return result
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    throw new Error(`pack-check: FAILED while ${title}\n${stdout ?? ""}${stderr ?? String(error)}`)
  }
}

const packedManifest = (tarball: string): Record<string, any> =>
  JSON.parse(run("tar", ["-xzOf", tarball, "package/package.json"], root))

const checkManifest = (name: string, tarball: string): void => {
  const manifest = packedManifest(tarball)
  const main = manifest.exports?.["."]
  if (main?.types !== "./dist/index.d.ts" || main?.import !== "./dist/index.js") {
    throw new Error(`${name}: the packed exports do not point at dist/: ${JSON.stringify(manifest.exports)}`)
  }
  const ranges = JSON.stringify([manifest.dependencies, manifest.peerDependencies])
  if (ranges.includes("workspace:")) throw new Error(`${name}: a workspace: range was packed: ${ranges}`)
  const files = run("tar", ["-tzf", tarball], root).split("\n")
  for (const file of ["package/dist/index.js", "package/dist/index.d.ts", "package/LICENSE"]) {
    if (!files.includes(file)) throw new Error(`${name}: ${file} is missing from the tarball`)
  }
  if (files.some((file) => file.startsWith("package/test/"))) throw new Error(`${name}: tests were packed`)
}

const program = `import { CommandHandler, Decider, EventCodec, EventType, MemoryStore, StreamName } from "@chronicle/core"
import * as Position from "@chronicle/core/Position"
import { Order } from "@chronicle/example"
import { PgStore } from "@chronicle/postgres"
import { Cli } from "@chronicle/cli"
import { Effect, Result, Schema } from "effect"

const Deposited = EventType.make("Deposited", { amount: Schema.Int })
const Withdrawn = EventType.make("Withdrawn", { amount: Schema.Int })
const WalletEvents = EventCodec.make(Deposited, Withdrawn)
type WalletEvent = EventCodec.Event<typeof WalletEvents>
type WalletCommand =
  | { readonly _tag: "Deposit"; readonly amount: number }
  | { readonly _tag: "Withdraw"; readonly amount: number }

const wallet = Decider.make<WalletCommand, WalletEvent, number, never>({
  initialState: 0,
  decide: (command) =>
    Result.succeed([command._tag === "Deposit" ? Deposited.make({ amount: command.amount }) : Withdrawn.make({ amount: command.amount })]),
  evolve: (balance, event) => (event._tag === "Deposited" ? balance + event.amount : balance - event.amount)
})

const program = Effect.gen(function* () {
  const wallets = yield* CommandHandler.make({ decider: wallet, codec: WalletEvents })
  const stream = StreamName.make("wallet", "alice")
  yield* wallets.handle(stream, { _tag: "Deposit", amount: 100 })
  // @ts-expect-error: the shipped types are real, not any: a Withdraw needs an amount
  const _unchecked = () => wallets.handle(stream, { _tag: "Withdraw" })
  const outcome = yield* wallets.handle(stream, { _tag: "Withdraw", amount: 30 })
  return outcome.state
}).pipe(Effect.provide(MemoryStore.layer()))

const balance: number = await Effect.runPromise(program)
if (balance !== 70) throw new Error("expected a balance of 70, got " + balance)
for (const [name, value] of Object.entries({ Position, Order, PgStore, Cli })) {
  if (typeof value !== "object" || Object.keys(value).length === 0) throw new Error(name + " did not load")
}
const internal = "@chronicle/core/internal/memoryStores"
await import(internal).then(
  () => { throw new Error("@chronicle/core/internal/* is importable") },
  (error) => { if (error.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw error }
)
console.log("scratch program: balance " + balance + "; core, its subpaths, example, postgres and cli load from dist")
`

const tsconfig = {
  compilerOptions: {
    target: "ES2024",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2024", "DOM"],
    types: [],
    strict: true,
    exactOptionalPropertyTypes: true,
    skipLibCheck: true,
    outDir: "out"
  },
  include: ["main.ts"]
}

const scratch = mkdtempSync(join(tmpdir(), "chronicle-pack-check-"))
try {
  step("built every library package (pnpm build)", () => run("npx", [...pnpm, "build"], root))
  const tarballs = join(scratch, "tarballs")
  mkdirSync(tarballs)
  const packed = step("packed the library packages (pnpm pack)", () =>
    Object.fromEntries(
      libraries.map((name) => {
        const before = new Set(readdirSync(tarballs))
        run("npx", [...pnpm, "pack", "--pack-destination", tarballs], join(root, "packages", name))
        const tarball = readdirSync(tarballs).find((file) => !before.has(file))
        if (tarball === undefined) throw new Error(`pnpm pack wrote no tarball for packages/${name}`)
        return [name, join(tarballs, tarball)]
      })
    )
  )
  step("checked the packed manifests (dist exports, no workspace: ranges, no tests)", () => {
    for (const name of libraries) checkManifest(name, packed[name]!)
  })
  const project = join(scratch, "project")
  mkdirSync(project)
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }))
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify(tsconfig))
  writeFileSync(join(project, "main.ts"), program)
  step(`installed ${installed.map((name) => `@chronicle/${name}`).join(", ")} and effect with npm`, () =>
    run(
      "npm",
      ["install", "--no-audit", "--no-fund", "effect@4.1.0", ...installed.map((name) => packed[name]!)],
      project
    )
  )
  step("type-checked the program against the shipped .d.ts and emitted it (tsc)", () => run(tsc, ["-p", "."], project))
  const output = step("ran the emitted JavaScript with plain node", () =>
    run(process.execPath, [join(project, "out", "main.js")], project)
  )
  console.log(`pack-check: passed: ${output.trim()}`)
} catch (error) {
  console.error(error instanceof Error ? error.message : error)
  process.exitCode = 1
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
