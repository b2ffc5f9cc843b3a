/**
 * Who asked, and in which conversation: every request gets a request id (the
 * client's `X-Request-Id`, else the trace id of its W3C `traceparent`, else a
 * fresh UUIDv7), echoed in the `X-Request-Id` response header. A command's
 * events carry it as correlation and causation id, and the `X-Actor` header
 * as actor.
 */
import { EventId } from "@chronicle/core"
import { Context, Effect, type Layer, Option, Schema } from "effect"
import { HttpEffect, HttpRouter, HttpServerRequest, HttpServerResponse, HttpTraceContext } from "effect/http"

/** Printable ASCII, no spaces: what a request id or an actor may be made of. */
const printable = (identifier: string, max: number, description: string, example: string) =>
  Schema.String.check(Schema.isPattern(new RegExp(`^[\\x21-\\x7E]{1,${max}}$`, "u"))).annotate({
    identifier,
    description: `${description} (1 to ${max} printable ASCII characters, no spaces)`,
    examples: [example]
  })

/**
 * A request id as a client sends it in `X-Request-Id`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RequestId = printable(
  "RequestId",
  128,
  "The request's id; becomes the correlation id of the events it causes",
  "req-7f3a"
)

/**
 * Who asks, as a client names it in `X-Actor`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Actor = printable("Actor", 64, "Who asks; recorded as the actor of the events it causes", "clerk-ana")

/**
 * The request headers every endpoint reads: request id, actor and W3C trace
 * context.
 *
 * @since 0.1.0
 * @category schemas
 */
export const headers = {
  "x-request-id": Schema.optional(RequestId),
  "x-actor": Schema.optional(Actor),
  traceparent: Schema.optional(
    Schema.String.annotate({
      description: "W3C trace context; its trace id is the request id when there is no X-Request-Id",
      examples: ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]
    })
  )
}

/**
 * The current request's id, set by {@link layer} for the life of a request.
 *
 * @since 0.1.0
 * @category references
 */
export const CurrentRequestId = Context.Reference<string | undefined>("@chronicle/shop/RequestContext/RequestId", {
  defaultValue: () => undefined
})

const isRequestId = Schema.is(RequestId)

/** The request id of a request: its `X-Request-Id`, its trace id, or a new one. */
const requestIdOf = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<string> => {
  const given = request.headers["x-request-id"]
  if (given !== undefined && isRequestId(given)) return Effect.succeed(given)
  const trace = HttpTraceContext.w3c(request.headers)
  return Option.isSome(trace) ? Effect.succeed(trace.value.traceId) : EventId.make
}

/**
 * Global middleware: fixes the request id, provides it as
 * {@link CurrentRequestId} and echoes it on every response (errors too).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, never, HttpRouter.HttpRouter> = HttpRouter.middleware(
  (httpEffect) =>
    Effect.gen(function* () {
      const requestId = yield* requestIdOf(yield* HttpServerRequest.HttpServerRequest)
      return yield* httpEffect.pipe(
        HttpEffect.withPreResponseHandler((_, response) =>
          Effect.succeed(HttpServerResponse.setHeader(response, "x-request-id", requestId))
        ),
        Effect.provideService(CurrentRequestId, requestId)
      )
    }),
  { global: true }
)

/**
 * The metadata of the events a request's command causes: the request id as
 * correlation and causation id, the `X-Actor` header as actor.
 *
 * @since 0.1.0
 * @category constructors
 */
export const metadata = Effect.fn("RequestContext.metadata")(function* (actor: string | undefined) {
  const requestId = yield* CurrentRequestId
  return { correlationId: requestId, causationId: requestId, actor }
})
