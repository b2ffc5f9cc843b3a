/**
 * RFC 9457 problems for what no endpoint handler answers: a route that does
 * not exist (404), a body over the limit (413), a body that is not JSON (415),
 * and defects — a stored event that does not decode, the store failing —
 * answered as a 500 problem with an id to quote in `instance` and logged at
 * ERROR with the cause under that id.
 *
 * The endpoints' own problems (and the 400 of a request that does not decode)
 * are rendered by the API itself: see `Api.ts`.
 */
import { EventId } from "@chronicle/core"
import { ByteSize, Cause, Effect, type Layer } from "effect"
import {
  HttpIncomingMessage,
  HttpRouter,
  HttpServerError,
  HttpServerRequest,
  HttpServerRespondable,
  type HttpServerResponse,
  ProblemDetails
} from "effect/http"
import { HttpApiError } from "effect/http-api"
import { NotFound, PayloadTooLarge, UnsupportedMediaType } from "./Api.ts"
import { CurrentRequestId } from "./RequestContext.ts"

const where = (request: HttpServerRequest.HttpServerRequest) => `${request.method} ${request.url}`

/** A defect: logged at ERROR with its cause, answered as a 500 problem naming the error id. */
const internalError = Effect.fn("Problem.internalError")(function* (
  request: HttpServerRequest.HttpServerRequest,
  cause: Cause.Cause<unknown>
) {
  const errorId = yield* EventId.make
  const requestId = yield* CurrentRequestId
  yield* Effect.logError(`${where(request)} failed; answered 500 with error id ${errorId}`, cause).pipe(
    Effect.annotateLogs({ errorId, ...(requestId === undefined ? {} : { requestId }) })
  )
  return yield* HttpServerRespondable.toResponse(
    new HttpApiError.InternalServerErrorProblem({
      instance: `urn:uuid:${errorId}`,
      detail:
        `The server failed to handle ${where(request)}; the cause is logged under error id ${errorId}. ` +
        `Quote that id when you report it; a command may or may not have taken effect, so read the stream before retrying.`
    })
  )
})

/** The problem for a response the platform made without a body. */
const fromStatus = (
  request: HttpServerRequest.HttpServerRequest,
  response: HttpServerResponse.HttpServerResponse
): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  switch (response.status) {
    case 404:
      return HttpServerRespondable.toResponse(
        new NotFound({
          detail: `There is no route ${where(request)}; the API is described at /docs and /openapi.json.`
        })
      )
    case 413:
      return Effect.gen(function* () {
        const limit = yield* HttpIncomingMessage.MaxBodySize
        return yield* HttpServerRespondable.toResponse(
          new PayloadTooLarge({
            ...(limit === undefined ? {} : { maxBytes: ByteSize.toNumberUnsafe(limit) }),
            detail:
              `The request body is over the limit${limit === undefined ? "" : ` of ${ByteSize.format(limit)}`} ` +
              `and was not read; send a smaller one.`
          })
        )
      })
    case 415: {
      const contentType = request.headers["content-type"]
      return HttpServerRespondable.toResponse(
        new UnsupportedMediaType({
          ...(contentType === undefined ? {} : { contentType }),
          detail: `The body's content type is ${contentType ?? "missing"}; send JSON with Content-Type: application/json.`
        })
      )
    }
    default:
      return Effect.succeed(
        ProblemDetails.toResponse({
          type: ProblemDetails.blankType,
          status: response.status,
          detail: `The server could not take ${where(request)} (HTTP ${response.status}); see /docs for the API.`
        })
      )
  }
}

/** A response the platform made for a request no handler took (no route, a body over the limit, not JSON). */
const isBare = (response: HttpServerResponse.HttpServerResponse) =>
  response.status >= 400 &&
  (response.body._tag === "Empty" ||
    (response.body._tag === "Uint8Array" && response.body.contentType === "text/plain"))

/**
 * Global middleware: every error the API itself does not render becomes a
 * problem. Interruptions (a client that went away) are left to the server.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, never, HttpRouter.HttpRouter> = HttpRouter.middleware(
  (httpEffect) =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const response = yield* httpEffect.pipe(
        Effect.catchCauseIf(
          (cause) => !Cause.hasInterruptsOnly(cause),
          (cause) =>
            Effect.flatMap(HttpServerError.causeResponse(cause), ([response]) =>
              response.status >= 500 ? internalError(request, cause) : Effect.succeed(response)
            )
        )
      )
      return isBare(response) ? yield* fromStatus(request, response) : response
    }),
  { global: true }
)
