import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    name: "cluster",
    include: ["test/**/*.test.ts"],
    globalSetup: ["../testing/src/PgGlobalSetup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
