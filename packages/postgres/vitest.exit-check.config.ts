import { defineConfig } from "vitest/config"

// Runs only the deliberately failing test (see exit-check/Failing.test.ts); not part of `pnpm test`.
export default defineConfig({
  test: {
    name: "postgres-exit-check",
    include: ["exit-check/**/*.test.ts"],
    globalSetup: ["../testing/src/PgGlobalSetup.ts"],
    reporters: ["default", ["json", { outputFile: "../../.vitest/exit-check.json" }]]
  }
})
