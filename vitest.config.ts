import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*"],
    // The JSON summary is what `.ci/run` checks, independently of the exit code.
    reporters: ["default", ["json", { outputFile: ".vitest/results.json" }]]
  }
})
