// Reads a vitest JSON report and fails unless the runner's own summary counts
// tests and no failure: a guard that does not trust the exit code alone.
// Usage: node .ci/check-summary.mjs <report.json> [--expect-failure]
import { readFileSync } from "node:fs"

const [file, flag] = process.argv.slice(2)
let report
try {
  report = JSON.parse(readFileSync(file, "utf8"))
} catch (error) {
  console.error(`check-summary: no readable test report at ${file} (${error.message}); did the test run start?`)
  process.exit(1)
}
const { numTotalTests, numPassedTests, numFailedTests, numFailedTestSuites, numPendingTests, success } = report
const failedFiles = report.testResults.filter((file) => file.status === "failed").map((file) => file.name)
const line =
  `${numTotalTests} tests: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests} skipped; ` +
  `${numFailedTestSuites} failed suites`
const green = success === true && numFailedTests === 0 && numFailedTestSuites === 0 && numTotalTests > 0
if (flag === "--expect-failure") {
  if (green) {
    console.error(`check-summary: expected a failing run, but the summary is green (${line})`)
    process.exit(1)
  }
  console.log(`check-summary: the deliberately failing run is red, as it must be (${line})`)
} else if (!green) {
  console.error(`check-summary: RED — ${line}${failedFiles.length > 0 ? `\n  failed: ${failedFiles.join("\n  failed: ")}` : ""}`)
  process.exit(1)
} else {
  console.log(`check-summary: green — ${line}`)
}
