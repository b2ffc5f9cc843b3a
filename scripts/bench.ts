/**
 * `pnpm bench`: every benchmark, one after the other. Figures are ratios to a
 * baseline measured in the same run, because the machines are noisy.
 */
import { Effect } from "effect"
import * as Kernel from "./bench/kernel.ts"
import * as Postgres from "./bench/postgres.ts"
import * as ProjectionBench from "./bench/projection.ts"

const only = process.argv[2]

const program = Effect.gen(function* () {
  if (only === undefined || only === "kernel") yield* Kernel.run
  if (only === undefined || only === "postgres") yield* Postgres.run
  if (only === undefined || only === "projection") yield* ProjectionBench.run
})

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
