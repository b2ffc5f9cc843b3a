/**
 * The shop as operators meet it:
 *
 * | layer | does |
 * | --- | --- |
 * | `Telemetry` | traces, metrics and logs over OTLP when configured; nothing otherwise |
 * | `Logging` | pretty or JSON logs (`CHRONICLE_LOG_FORMAT`), at `CHRONICLE_LOG_LEVEL` |
 * | `Routes` | `GET /metrics` (Prometheus), `GET /health/live`, `GET /health/ready` |
 * | `requestLogs` | one DEBUG line per request |
 */
import { Projector, ProjectorStatus } from "@chronicle/core"
import { PgSchema } from "@chronicle/postgres"
import { Config, ConfigProvider, Duration, Effect, Layer, Logger, LogLevel, Metric, Option, References } from "effect"
import { FetchHttpClient, HttpMiddleware, HttpRouter, HttpServerResponse } from "effect/http"
import { Otlp, OtlpSerialization, PrometheusMetrics } from "effect/observability"
import { SqlClient } from "effect/sql"
import packageJson from "../package.json" with { type: "json" }

const resource = { serviceName: "chronicle-shop", serviceVersion: packageJson.version }

/** OpenTelemetry's defaults, which `Otlp.layerFromConfig` does not assume: every signal goes to OTLP. */
const otelDefaults = ConfigProvider.fromEnvRecord({
  OTEL_TRACES_EXPORTER: "otlp",
  OTEL_METRICS_EXPORTER: "otlp",
  OTEL_LOGS_EXPORTER: "otlp"
})

/**
 * Traces, metrics and logs over OTLP/HTTP: to `CHRONICLE_OTLP_URL` (JSON; the
 * signal paths `/v1/…` are appended), or as the standard `OTEL_*` variables
 * say (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`
 * `http/protobuf` or `http/json`, `OTEL_SDK_DISABLED`, …). With neither,
 * nothing is exported. What is still buffered is sent when the app stops.
 */
export const Telemetry: Layer.Layer<never> = Layer.unwrap(
  Effect.gen(function* () {
    const url = yield* Config.option(Config.String("CHRONICLE_OTLP_URL"))
    if (Option.isSome(url)) return Otlp.layerJson({ baseUrl: url.value, resource })
    const protocol = yield* Config.String("OTEL_EXPORTER_OTLP_PROTOCOL").pipe(Config.withDefault("http/protobuf"))
    return Otlp.layerFromConfig({ resource }).pipe(
      Layer.provide(protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
      Layer.provide(ConfigProvider.layerAdd(otelDefaults))
    )
  }).pipe(Effect.orDie)
).pipe(Layer.provide(FetchHttpClient.layer))

/** A log level as written in the environment: `debug` or `Debug`. */
const logLevel = (name: string) =>
  Config.LogLevel(name).pipe(
    Config.orElse(() =>
      Config.Literals(
        LogLevel.values.map((level) => level.toLowerCase()),
        name
      ).pipe(Config.map((lower) => LogLevel.values.find((level) => level.toLowerCase() === lower)!))
    )
  )

/**
 * Logs as `CHRONICLE_LOG_FORMAT` says (`pretty`, the default, or `json`: one
 * JSON object per line), from `CHRONICLE_LOG_LEVEL` up (default `info`).
 */
export const Logging: Layer.Layer<never, Config.ConfigError> = Layer.unwrap(
  Effect.gen(function* () {
    const format = yield* Config.Literals(["pretty", "json"], "CHRONICLE_LOG_FORMAT").pipe(Config.withDefault("pretty"))
    const level = yield* logLevel("CHRONICLE_LOG_LEVEL").pipe(Config.withDefault("Info"))
    return Layer.mergeAll(
      Logger.layer([format === "json" ? Logger.consoleJson : Logger.consolePretty()]),
      Layer.succeed(References.MinimumLogLevel, level)
    )
  })
)

/**
 * Logs each request (method, path, status, time) at DEBUG rather than INFO;
 * the handlers' own logs keep their levels.
 */
export const requestLogs = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  HttpMiddleware.logger(Effect.provideService(app, References.CurrentLogLevel, "Info")).pipe(
    Effect.provideService(References.CurrentLogLevel, "Debug")
  )

/** One readiness check: what was checked, whether it passed, and why not. */
interface Check {
  readonly name: string
  readonly status: "pass" | "fail"
  readonly detail?: string | undefined
}

const pass = (name: string): Check => ({ name, status: "pass" })
const fail = (name: string, detail: string): Check => ({ name, status: "fail", detail })
const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Whether the database answers within a couple of seconds. */
const database = SqlClient.SqlClient.use((sql) => sql`SELECT 1`).pipe(
  Effect.timeout("2 seconds"),
  Effect.as(pass("database")),
  Effect.catch((error) => Effect.succeed(fail("database", describe(error))))
)

/** Whether the store's schema has every migration this version knows. */
const migrations = PgSchema.pending().pipe(
  Effect.timeout("2 seconds"),
  Effect.map((pending) =>
    pending.length === 0 ? pass("migrations") : fail("migrations", `pending: ${pending.join(", ")}`)
  ),
  Effect.catch((error) => Effect.succeed(fail("migrations", `cannot check: ${describe(error)}`)))
)

/** Whether each projector runs, with a lag (age of its oldest unhandled event) under `maxLag`. */
const projections = (maxLag: Duration.Duration) =>
  Effect.flatMap(ProjectorStatus.current, (statuses) =>
    Effect.forEach(statuses, ([name, status]) => {
      const check = `projection ${name}`
      if (status.state !== "running") {
        return Effect.succeed(fail(check, `${status.state}${status.lastError ? `: ${status.lastError}` : ""}`))
      }
      return Effect.map(Metric.value(Projector.metrics(name).lagSeconds), ({ value }) =>
        value * 1000 > Duration.toMillis(maxLag)
          ? fail(check, `lag ${value.toFixed(1)} s is over ${Duration.format(maxLag)}`)
          : pass(check)
      )
    })
  )

/**
 * `GET /health/ready`: 200 when the database answers, its migrations are
 * applied, every projector runs and none lags more than
 * `CHRONICLE_READY_MAX_LAG` (default 30 seconds); otherwise 503. Both answer
 * `{ status, checks }` with each check's `pass` or `fail` and why.
 */
const ready = Effect.gen(function* () {
  const maxLag = yield* Config.Duration("CHRONICLE_READY_MAX_LAG").pipe(Config.withDefault(Duration.seconds(30)))
  const [db, schema, projectors] = yield* Effect.all([database, migrations, projections(maxLag)], {
    concurrency: "unbounded"
  })
  const checks = [db, schema, ...projectors]
  const isReady = checks.every((check) => check.status === "pass")
  return HttpServerResponse.jsonUnsafe(
    { status: isReady ? "ready" : "not ready", checks },
    { status: isReady ? 200 : 503, headers: { "cache-control": "no-store" } }
  )
}).pipe(Effect.orDie)

/** The operations endpoints, beside the API on the same router. */
export const Routes = Layer.mergeAll(
  PrometheusMetrics.layerHttp(),
  HttpRouter.add("GET", "/health/live", HttpServerResponse.jsonUnsafe({ status: "up" })),
  HttpRouter.add("GET", "/health/ready", ready)
)
