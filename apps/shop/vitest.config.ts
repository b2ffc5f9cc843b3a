import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    name: "shop",
    include: ["test/**/*.test.ts"],
    globalSetup: ["../../packages/testing/src/PgGlobalSetup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
