// Telemetry end to end: the real app against a real PostgreSQL, exporting over OTLP/HTTP to a
// receiver this test starts; and the Prometheus scrape of /metrics.
import { PgServer } from "@chronicle/embedded-postgres"
import { PgHarness } from "@chronicle/testing"
import { assert, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Schedule, Scope } from "effect"
import { createServer } from "node:http"
import * as App from "../src/App.ts"
import * as Operations from "../src/Operations.ts"

/** What an OTLP/HTTP JSON exporter sent, by signal. */
interface Received {
  readonly traces: Array<any>
  readonly metrics: Array<any>
  readonly logs: Array<any>
}

/** An OTLP/HTTP receiver on a free port, collecting the JSON bodies of /v1/traces, /v1/metrics and /v1/logs. */
const receiver = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ readonly url: string; readonly received: Received; readonly close: () => Promise<void> }>(
        (resolve) => {
          const received: Received = { traces: [], metrics: [], logs: [] }
          const server = createServer((request, response) => {
            let body = ""
            request.on("data", (chunk) => {
              body += chunk
            })
            request.on("end", () => {
              const signal = request.url?.split("/").pop() as keyof Received
              received[signal]?.push(JSON.parse(body))
              response.writeHead(200, { "content-type": "application/json" }).end("{}")
            })
          })
          server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as { port: number }
            resolve({
              url: `http://127.0.0.1:${port}`,
              received,
              close: () => new Promise((done) => server.close(() => done()))
            })
          })
        }
      )
  ),
  (otlp) => Effect.promise(otlp.close)
)

/** An OTLP attribute list as a plain object. */
const attributes = (list: ReadonlyArray<{ key: string; value: Record<string, unknown> }> | undefined) =>
  Object.fromEntries(
    (list ?? []).map(({ key, value }) => [
      key,
      value.stringValue ??
        value.boolValue ??
        value.doubleValue ??
        (value.intValue === undefined ? value : Number(value.intValue))
    ])
  )

const spansOf = (received: Received): Array<any> =>
  received.traces.flatMap((body) => body.resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans)))

const metricNames = (received: Received): Set<string> =>
  new Set(
    received.metrics.flatMap((body) =>
      body.resourceMetrics.flatMap((r: any) => r.scopeMetrics.flatMap((s: any) => s.metrics.map((m: any) => m.name)))
    )
  )

const request = (base: string, method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  Effect.promise(async () => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: response.status, text: await response.text() }
  })

it.live(
  "exports command, append and projector spans (linked) and metrics over OTLP; /metrics has chronicle_* series",
  () =>
    Effect.gen(function* () {
      const otlp = yield* receiver
      const url = yield* PgHarness.createDatabase("shop_otel")
      const port = yield* Effect.promise(() => PgServer.freePort())
      const base = `http://127.0.0.1:${port}`
      const configured = ConfigProvider.layerAdd(ConfigProvider.fromEnvRecord({ CHRONICLE_OTLP_URL: otlp.url }), {
        asPrimary: true
      })
      const app = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(app, Exit.void))
      yield* Layer.buildWithScope(App.layer(url, port).pipe(Layer.provide(configured)), app)

      // A request in a trace of the caller's: the command's span joins it, and so does its id in the events.
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
      const traceparent = `00-${traceId}-00f067aa0ba902b7-01`
      const items = [{ productId: "p-1", quantity: 2, unitPrice: 1250 }]
      const placed = yield* request(base, "POST", "/orders", {
        orderId: "o-1",
        customerId: "c-1",
        items,
        currency: "EUR"
      })
      assert.strictEqual(placed.status, 200, placed.text)
      const paid = yield* request(
        base,
        "POST",
        "/orders/o-1/pay",
        { paymentReference: "r-1", amount: 2500 },
        { traceparent }
      )
      assert.strictEqual(paid.status, 200, paid.text)
      // Revenue by day is projected by a fiber: wait for it.
      yield* request(base, "GET", "/revenue").pipe(
        Effect.repeat({ until: (r) => r.text.includes("2500"), schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("20 seconds")
      )

      const scrape = yield* request(base, "GET", "/metrics")
      assert.strictEqual(scrape.status, 200)
      for (const series of [
        "chronicle_events_appended 2",
        'chronicle_append_seconds_count{operation="append"} 2',
        'chronicle_commands{command="ConfirmPayment",outcome="appended"} 1',
        'chronicle_projection_lag_events{projection="revenue-by-day@v1"} 0',
        'chronicle_log_horizon_stalled_seconds{schema="chronicle"}'
      ]) {
        assert.include(scrape.text, series)
      }

      // Stopping the app sends what the exporters still hold.
      yield* Scope.close(app, Exit.void)
      const spans = spansOf(otlp.received)
      const resource = attributes(otlp.received.traces[0].resourceSpans[0].resource.attributes)
      assert.deepInclude(resource, { "service.name": "chronicle-shop", "service.version": "0.1.0" })

      const inTrace = spans.filter((span) => span.traceId === traceId)
      const command = inTrace.find((span) => span.name === "CommandHandler.handle")
      assert.isDefined(command, `spans in the request's trace: ${inTrace.map((s) => s.name).join(", ")}`)
      assert.deepInclude(attributes(command.attributes), {
        stream: "order-o-1",
        command: "ConfirmPayment",
        attempts: 1,
        outcome: "appended"
      })
      for (const name of ["CommandHandler.load", "CommandHandler.decide", "EventStore.readStream"]) {
        assert.isDefined(
          inTrace.find((span) => span.name === name),
          name
        )
      }
      const append = inTrace.find((span) => span.name === "EventStore.append")
      assert.isDefined(append)
      const appended = attributes(append.attributes)
      assert.deepInclude(appended, { stream: "order-o-1", event_count: 1, expected_version: "0" })
      assert.match(String(appended.position), /^\d+:\d+$/)

      // The revenue projector's batch is a trace of its own, linked to the command that caused its event.
      const batch = spans.find(
        (span) =>
          span.name === "Projector.batch" &&
          attributes(span.attributes).projection === "revenue-by-day@v1" &&
          (span.links ?? []).some((link: any) => link.traceId === traceId && link.spanId === command.spanId)
      )
      assert.isDefined(batch, "a revenue batch span links to the command's span")
      assert.notStrictEqual(batch.traceId, traceId)
      const batchAttributes = attributes(batch.attributes)
      assert.strictEqual(batchAttributes.batch_size, 1)
      assert.strictEqual(batchAttributes.first_position, batchAttributes.last_position)
      assert.strictEqual(batchAttributes.last_position, appended.position)

      const metrics = metricNames(otlp.received)
      for (const name of [
        "chronicle_append_seconds",
        "chronicle_events_appended",
        "chronicle_commands",
        "chronicle_projection_lag_events",
        "chronicle_projection_lag_seconds",
        "chronicle_log_horizon_stalled_seconds"
      ]) {
        assert.isTrue(metrics.has(name), `${name} in ${[...metrics].join(", ")}`)
      }
    })
)

it.live("the standard OTEL_* variables configure the export too (protocol http/json)", () =>
  Effect.gen(function* () {
    const otlp = yield* receiver
    const configured = ConfigProvider.layerAdd(
      ConfigProvider.fromEnvRecord({
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json"
      }),
      { asPrimary: true }
    )
    yield* Effect.void.pipe(
      Effect.withSpan("probe"),
      Effect.provide(Operations.Telemetry.pipe(Layer.provide(configured)))
    )
    const probe = spansOf(otlp.received).find((span) => span.name === "probe")
    assert.isDefined(probe, "the span reached the receiver when the layer closed")
    assert.deepInclude(attributes(otlp.received.traces[0].resourceSpans[0].resource.attributes), {
      "service.name": "chronicle-shop"
    })
  })
)
