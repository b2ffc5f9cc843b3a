/**
 * Every problem the API answers, and the middleware for those no handler
 * answers. All are RFC 9457 problems (`application/problem+json`): `type`,
 * `title`, `status`, a `detail` that says what happened and what to do, and
 * typed extension members (`stream`, `expectedVersion`, `actualVersion`…).
 *
 * The endpoints declare the problem classes they fail with (see `Api.ts`);
 * the API renders those, and the 400 of a request that does not decode. The
 * middleware answers the rest: a route that does not exist (404), a body over
 * the limit (413), a body that is not JSON (415), and defects — a stored
 * event that does not decode, the store failing — answered as a 500 problem
 * with an id to quote in `instance` and logged at ERROR with the cause under
 * that id.
 */
import { EventId } from "@chronicle/core"
import { ByteSize, Cause, Effect, type Layer, Schema } from "effect"
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
import { CurrentRequestId } from "./RequestContext.ts"

// ---------------------------------------------------------------------------
// Problems
// ---------------------------------------------------------------------------

const Stream = Schema.String.annotate({
  description: "The stream the problem is about",
  examples: ["order-order-1001"]
})
const Version = Schema.Int.annotate({ description: "A stream version (-1: the stream does not exist)" })

/**
 * 404: no such order, account, stream or route.
 *
 * @since 0.1.0
 * @category problems
 */
export class NotFound extends HttpApiError.Problem<NotFound>()(
  "NotFound",
  { type: "urn:chronicle:problem:not-found", status: 404, title: "Not found" },
  { stream: Schema.optionalKey(Stream) }
) {}

/**
 * 409: a create command for an order or account that already exists.
 *
 * @since 0.1.0
 * @category problems
 */
export class AlreadyExists extends HttpApiError.Problem<AlreadyExists>()(
  "AlreadyExists",
  { type: "urn:chronicle:problem:already-exists", status: 409, title: "Already exists" },
  { stream: Stream, actualVersion: Version }
) {}

/**
 * 409: the stream is not at the `expectedVersion` the body named.
 *
 * @since 0.1.0
 * @category problems
 */
export class VersionConflict extends HttpApiError.Problem<VersionConflict>()(
  "VersionConflict",
  { type: "urn:chronicle:problem:version-conflict", status: 409, title: "Version conflict" },
  { stream: Stream, expectedVersion: Version, actualVersion: Version }
) {}

/**
 * 409: the command's transaction met a concurrent write to the stream;
 * nothing was written, send it again.
 *
 * @since 0.1.0
 * @category problems
 */
export class WriteConflict extends HttpApiError.Problem<WriteConflict>()(
  "WriteConflict",
  { type: "urn:chronicle:problem:write-conflict", status: 409, title: "Concurrent write" },
  { stream: Stream }
) {}

/**
 * 503: the cluster could not take the command now (cluster mode): the
 * stream's runner is full, or message storage failed. Nothing was written;
 * send it again after `retryAfter` seconds.
 *
 * @since 0.1.0
 * @category problems
 */
export class Unavailable extends HttpApiError.Problem<Unavailable>()(
  "Unavailable",
  { type: "urn:chronicle:problem:unavailable", status: 503, title: "Unavailable" },
  { stream: Stream, retryAfter: Schema.Int }
) {}

/**
 * 412: the stream is not at the version the `If-Match` header named.
 *
 * @since 0.1.0
 * @category problems
 */
export class PreconditionFailed extends HttpApiError.Problem<PreconditionFailed>()(
  "PreconditionFailed",
  { type: "urn:chronicle:problem:precondition-failed", status: 412, title: "Precondition failed" },
  { stream: Stream, expectedVersion: Version, actualVersion: Version }
) {}

/**
 * 422: the domain refused the command; `reason` says why.
 *
 * @since 0.1.0
 * @category problems
 */
export class Rejected extends HttpApiError.Problem<Rejected>()(
  "Rejected",
  { type: "urn:chronicle:problem:rejected", status: 422, title: "Command rejected" },
  { stream: Stream, command: Schema.String, reason: Schema.String }
) {}

/**
 * 422: the stream reached a terminal state (say, a paid order) and takes no
 * more commands.
 *
 * @since 0.1.0
 * @category problems
 */
export class Terminated extends HttpApiError.Problem<Terminated>()(
  "Terminated",
  { type: "urn:chronicle:problem:terminated", status: 422, title: "Stream terminated" },
  { stream: Stream, version: Version }
) {}

/**
 * 400: a request that decodes but still cannot be taken (a time that is not
 * ISO 8601, `If-Match` and `expectedVersion` that disagree). Requests that do
 * not decode get the 400 problem with `errors` of `HttpApiMiddleware.ProblemDetails`.
 *
 * @since 0.1.0
 * @category problems
 */
export class InvalidRequest extends HttpApiError.Problem<InvalidRequest>()("InvalidRequest", {
  type: "urn:chronicle:problem:invalid-request",
  status: 400,
  title: "Invalid request"
}) {}

/**
 * 413: the body is over the server's limit (1 MiB); it was not read.
 *
 * @since 0.1.0
 * @category problems
 */
export class PayloadTooLarge extends HttpApiError.Problem<PayloadTooLarge>()(
  "PayloadTooLarge",
  { type: "urn:chronicle:problem:payload-too-large", status: 413, title: "Payload too large" },
  { maxBytes: Schema.optionalKey(Schema.Int.annotate({ description: "The most bytes a body may hold" })) }
) {}

/**
 * 415: the body is not `application/json`.
 *
 * @since 0.1.0
 * @category problems
 */
export class UnsupportedMediaType extends HttpApiError.Problem<UnsupportedMediaType>()(
  "UnsupportedMediaType",
  { type: "urn:chronicle:problem:unsupported-media-type", status: 415, title: "Unsupported media type" },
  { contentType: Schema.optionalKey(Schema.String) }
) {}

// ---------------------------------------------------------------------------
// Middleware
// ---------------------------------------------------------------------------

const where = (request: HttpServerRequest.HttpServerRequest) => `${request.method} ${request.url}`

/** A defect: logged at ERROR with its cause, answered as a 500 problem naming the error id. */
const internalError = Effect.fn("Problems.internalError")(function* (
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
