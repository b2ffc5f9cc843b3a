/**
 * `pnpm bench`: every benchmark, one after the other (`pnpm bench kernel`,
 * `postgres`, `projection`, `import` or `cluster` for one). Each workload runs beside a baseline
 * doing the same work, in alternating rounds after a discarded warm-up; the
 * figures are medians with their spread, and ratios of medians, because the
 * machines are noisy (see bench/report.ts).
 */
import { Effect } from "effect"
import * as Cluster from "./bench/cluster.ts"
import * as Import from "./bench/import.ts"
import * as Kernel from "./bench/kernel.ts"
import * as Postgres from "./bench/postgres.ts"
import * as ProjectionBench from "./bench/projection.ts"

const only = process.argv[2]
if (only !== undefined && !["kernel", "postgres", "projection", "import", "cluster"].includes(only)) {
  console.error(`Unknown benchmark "${only}": run all, or one of kernel, postgres, projection, import, cluster.`)
  process.exit(1)
}

const program = Effect.gen(function* () {
  if (only === undefined || only === "kernel") yield* Kernel.run
  if (only === undefined || only === "postgres") yield* Postgres.run
  if (only === undefined || only === "projection") yield* ProjectionBench.run
  if (only === undefined || only === "import") yield* Import.run
  if (only === undefined || only === "cluster") yield* Cluster.run
})

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
