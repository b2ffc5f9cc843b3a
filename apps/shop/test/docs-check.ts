/**
 * `pnpm docs-check`: the API docs page as a user meets it, in a real headless
 * Chromium driven by playwright-core. Starts the shop on a free port with a
 * throw-away embedded PostgreSQL (never `DATABASE_URL`: the examples write),
 * opens `/docs` and checks that Scalar's page renders, logs no console error
 * while it loads, lists every operation of `/openapi.json`, and that "Test
 * Request" with the documented example succeeds on at least one command. Every
 * operation's example is sent, in the page's order, and the status the page
 * shows is printed. Prints each check's result; when one fails, saves a
 * screenshot in a temporary folder and exits 1 (also when Chromium is missing).
 *
 * Not part of `pnpm test`: CI machines have no Chromium. It lives with the app
 * because it imports the app's layer (scripts/ never import an app).
 */
import { PgServer } from "@chronicle/embedded-postgres"
import { Cause, Console, Effect, Layer, References, Result, Schema } from "effect"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chromium, type Page, type Request } from "playwright-core"
import * as App from "../src/App.ts"

/** Chromium is not installed where the check looks for it. */
class ChromiumMissing extends Schema.TaggedError<ChromiumMissing>()("ChromiumMissing", { path: Schema.String }) {
  override get message() {
    return `Chromium is not at ${this.path}; install it: apt-get install -y chromium (or set CHROMIUM_PATH)`
  }
}

/** The shop's layer failed to build; `reason` is its cause. */
class ShopDidNotStart extends Schema.TaggedError<ShopDidNotStart>()("ShopDidNotStart", { reason: Schema.String }) {
  override get message() {
    return `the shop did not start: ${this.reason}`
  }
}

/** A check did not hold; `reason` says what the page showed. */
class CheckFailed extends Schema.TaggedError<CheckFailed>()("CheckFailed", { reason: Schema.String }) {
  override get message() {
    return this.reason
  }
}

/** An operation of the OpenAPI document; `method` in lower case, as the document keys it. */
interface Operation {
  readonly method: string
  readonly path: string
}

/** What "Test Request" showed for an operation's documented example. */
interface Outcome {
  readonly operation: Operation
  readonly shown: string
  readonly status: number
  /** What was sent: the path with its query, and the body. */
  readonly sent: string
  /** What came back. */
  readonly body: string
}

const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

/** Headless flags for this closed network: no background connections, no first-run or sync work. */
const chromiumFlags = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

const httpMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

const isCommand = (operation: Operation) => !["get", "head", "options"].includes(operation.method)

const label = (operation: Operation) => `${operation.method.toUpperCase()} ${operation.path}`

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0]!

/** A step of the page's script; its failure fails the check with the step's own message. */
const attempt = <A>(step: () => Promise<A>) =>
  Effect.tryPromise({ try: step, catch: (error) => new CheckFailed({ reason: firstLine(error) }) })

/** The parts of the OpenAPI document the checks read. */
const OpenApiDocument = Schema.Struct({
  info: Schema.Struct({ title: Schema.String }),
  paths: Schema.Record(Schema.String, Schema.Record(Schema.String, Schema.Unknown))
})

/** The operations of an OpenAPI document, in its order. */
const operationsOf = (document: typeof OpenApiDocument.Type): ReadonlyArray<Operation> =>
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => httpMethods.includes(key))
      .map((method) => ({ method, path }))
  )

/** The shop on a free port, on a PostgreSQL started for this run and removed after it. */
const startShop = Effect.gen(function* () {
  const server = yield* Effect.acquireRelease(
    Effect.promise(() => PgServer.start()),
    (server) => Effect.promise(() => server.stop())
  )
  const port = yield* Effect.promise(() => PgServer.freePort())
  yield* Layer.build(App.layer(server.url, port)).pipe(
    Effect.catchCause((cause) => Effect.fail(new ShopDidNotStart({ reason: Cause.pretty(cause) })))
  )
  return `http://127.0.0.1:${port}`
})

/** A page in a fresh headless Chromium (playwright gives each launch a new, empty profile). */
const openPage = Effect.gen(function* () {
  if (!existsSync(executablePath)) return yield* new ChromiumMissing({ path: executablePath })
  const browser = yield* Effect.acquireRelease(
    Effect.promise(() => chromium.launch({ executablePath, args: chromiumFlags })),
    (browser) => Effect.promise(() => browser.close())
  )
  const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1440, height: 900 } }))
  page.setDefaultTimeout(15_000)
  return page
})

/** The console errors and uncaught exceptions of `page`, as they happen. */
const consoleErrors = (page: Page) => {
  const errors: Array<string> = []
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`${message.text()} (${message.location().url})`)
  })
  page.on("pageerror", (error) => errors.push(`uncaught: ${firstLine(error)}`))
  return errors
}

const testRequestButton = (page: Page, operation: Operation) =>
  page.getByRole("button", { name: `Test Request (${operation.method} ${operation.path})`, exact: true })

const renders = Effect.fn("DocsCheck.renders")(function* (page: Page, base: string, title: string) {
  yield* attempt(() => page.goto(`${base}/docs`))
  yield* attempt(() => page.getByRole("heading", { level: 1, name: title, exact: true }).waitFor())
  yield* attempt(() => page.waitForLoadState("networkidle"))
  return `the heading "${title}" is shown`
})

const listsEveryOperation = Effect.fn("DocsCheck.listsEveryOperation")(function* (
  page: Page,
  operations: ReadonlyArray<Operation>
) {
  // Every group but the first starts collapsed: open each with its "Show More", as a reader would.
  yield* attempt(async () => {
    const showMore = page.getByRole("button", { name: /^Show all .* endpoints$/ })
    for (const _ of await showMore.all()) await showMore.first().click()
  })
  const shown = yield* attempt(() =>
    Promise.all(
      operations.map((operation) =>
        testRequestButton(page, operation)
          .waitFor({ state: "attached", timeout: 5_000 })
          .then(
            () => true,
            () => false
          )
      )
    )
  )
  const missing = operations.filter((_, index) => !shown[index])
  if (missing.length > 0) {
    return yield* new CheckFailed({ reason: `not on the page: ${missing.map(label).join(", ")}` })
  }
  return `all ${operations.length} operations, each with its "Test Request" button`
})

const noConsoleErrors = (errors: ReadonlyArray<string>) =>
  errors.length === 0
    ? Effect.succeed("none")
    : Effect.fail(new CheckFailed({ reason: `${errors.length} error(s):\n    ${errors.join("\n    ")}` }))

/** Opens "Test Request" for `operation`, sends its example as the page fills it in, reads the status shown. */
const tryExample = Effect.fn("DocsCheck.tryExample")(function* (page: Page, base: string, operation: Operation) {
  const button = testRequestButton(page, operation)
  if ((yield* attempt(() => button.count())) === 0) {
    return yield* new CheckFailed({ reason: `no "Test Request" button` })
  }
  yield* attempt(() => button.click())
  const client = page.getByRole("dialog")
  const send = client.getByRole("button", { name: new RegExp(`Send ${operation.method} request to `) })
  const response = yield* attempt(() =>
    Promise.all([
      page.waitForResponse(
        (response) => response.request().method() === operation.method.toUpperCase() && response.url().startsWith(base)
      ),
      send.click()
    ]).then(([response]) => response)
  )
  const status = response.status()
  const shown = yield* attempt(() =>
    client.getByRole("link", { name: new RegExp(`^${status}\\b`) }).textContent({ timeout: 5_000 })
  )
  const body = yield* attempt(() => response.text())
  yield* attempt(async () => {
    await client.getByRole("button", { name: "Close Client", exact: true }).click()
    await client.waitFor({ state: "hidden" })
  })
  const sent = yield* attempt(() => describeRequest(response.request()))
  return { operation, shown: (shown ?? "").trim(), status, sent, body } satisfies Outcome
})

/** Headers every browser request carries; the others were put there by the page (say, from the document). */
const browserHeader =
  /^(accept|accept-.*|cache-control|pragma|content-type|content-length|user-agent|origin|referer|sec-.*|connection|host)$/

/** The request as sent: path and query, the headers the page added, the body. */
const describeRequest = async (request: Request) => {
  const url = new URL(request.url())
  const headers = Object.entries(await request.allHeaders())
    .filter(([name]) => !browserHeader.test(name))
    .map(([name, value]) => `${name}: ${value}`)
  return [`${decodeURI(url.pathname)}${url.search}`, ...headers, request.postData() ?? ""].join(" ").trim()
}

const compact = (text: string, length: number) => {
  const line = text.replace(/\s+/g, " ")
  return line.length > length ? `${line.slice(0, length)}…` : line
}

const describe = (outcome: Outcome) =>
  outcome.status < 300
    ? `${label(outcome.operation).padEnd(36)} ${outcome.shown}`
    : `${label(outcome.operation).padEnd(36)} ${outcome.shown}: ${compact(outcome.body, 200) || "(empty body)"}` +
      `\n      sent ${compact(outcome.sent, 400)}`

const testRequestSucceeds = Effect.fn("DocsCheck.testRequestSucceeds")(function* (
  page: Page,
  base: string,
  operations: ReadonlyArray<Operation>
) {
  const lines: Array<string> = []
  let commandSucceeded = false
  for (const operation of operations) {
    const result = yield* Effect.result(tryExample(page, base, operation))
    if (Result.isFailure(result)) {
      lines.push(`${label(operation).padEnd(36)} the page did not complete the request: ${result.failure.reason}`)
      yield* attempt(() => page.keyboard.press("Escape"))
      continue
    }
    lines.push(describe(result.success))
    const ok = result.success.status >= 200 && result.success.status < 300
    if (ok && isCommand(operation)) commandSucceeded = true
  }
  const table = lines.map((line) => `\n    ${line}`).join("")
  if (!commandSucceeded) {
    return yield* new CheckFailed({ reason: `no command's documented example succeeded:${table}` })
  }
  return `a command's documented example succeeded; each example, in the page's order:${table}`
})

/** Runs `check`, prints its result, and on failure saves a screenshot of the page as it is then. */
const report = Effect.fn("DocsCheck.report")(function* (
  title: string,
  check: Effect.Effect<string, CheckFailed>,
  page: Page,
  screenshots: () => string
) {
  const result = yield* Effect.result(check)
  if (Result.isSuccess(result)) {
    yield* Console.log(`docs-check: ok     ${title}: ${result.success}`)
    return true
  }
  const file = join(screenshots(), `${title.replace(/\W+/g, "-")}.png`)
  const saved = yield* Effect.result(attempt(() => page.screenshot({ path: file, fullPage: true })))
  yield* Console.log(
    `docs-check: FAILED ${title}: ${result.failure.reason}\n    screenshot: ${Result.isSuccess(saved) ? file : "none"}`
  )
  return false
})

const program = Effect.gen(function* () {
  const page = yield* openPage
  const base = yield* startShop
  const document = yield* Effect.promise(() => fetch(`${base}/openapi.json`).then((response) => response.json())).pipe(
    Effect.flatMap(Schema.decodeUnknownEffect(OpenApiDocument))
  )
  const operations = operationsOf(document)
  const errors = consoleErrors(page)
  let folder: string | undefined
  const screenshots = () => (folder ??= mkdtempSync(join(tmpdir(), "docs-check-")))

  // In order: the console errors are read after the page has loaded and its groups are open.
  const results = [
    yield* report("renders Scalar's page", renders(page, base, document.info.title), page, screenshots),
    yield* report("lists every operation", listsEveryOperation(page, operations), page, screenshots),
    yield* report("no console errors while loading", noConsoleErrors([...errors]), page, screenshots),
    yield* report("Test Request succeeds", testRequestSucceeds(page, base, operations), page, screenshots)
  ]
  return results.every(Boolean)
}).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Warn"))

Effect.runPromise(program).then(
  (passed) => process.exit(passed ? 0 : 1),
  (error) => {
    console.error(`docs-check: ${firstLine(error)}`)
    process.exit(1)
  }
)
