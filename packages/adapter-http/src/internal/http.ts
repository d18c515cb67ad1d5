/**
 * Request and response helpers of the HTTP transport: the runtime-neutral request info the
 * authenticator sees, the JSON error body, a body reader with a size limit, and the mapping of a
 * refused connection to an HTTP status.
 *
 * @internal
 */
import type * as ChatAgent from "@convo/core/ChatAgent"
import * as Handshake from "@convo/core/Handshake"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/**
 * A request refused with an HTTP status; turned into a JSON error body by `toResponse`.
 *
 * @internal
 */
export class HttpFailure extends Data.TaggedError("HttpFailure")<{
  readonly status: number
  readonly code: string
  readonly message: string
}> {}

/** @internal */
export const fail = (status: number, code: string, message: string): Effect.Effect<never, HttpFailure> =>
  Effect.fail(new HttpFailure({ status, code, message }))

/** @internal */
export const errorResponse = (status: number, code: string, message: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(
    { error: { code, message } },
    { status, headers: { "cache-control": "no-store", "x-content-type-options": "nosniff" } }
  )

/** @internal */
export const toResponse = (failure: HttpFailure): HttpServerResponse.HttpServerResponse =>
  errorResponse(failure.status, failure.code, failure.message)

/** A refused connection: core's status and code for its reason. @internal */
export const rejection = (error: ChatAgent.ConnectionRejected): HttpFailure => {
  const body = Handshake.refusalBody(error)
  return new HttpFailure({
    status: Handshake.httpStatus(error.reason),
    code: body.error.code,
    message: body.error.message
  })
}

const isJsonMediaType = (contentType: string | undefined): boolean => {
  if (contentType === undefined) return false
  const mediaType = contentType.split(";")[0]!.trim().toLowerCase()
  return mediaType === "application/json" || (mediaType.startsWith("application/") && mediaType.endsWith("+json"))
}

/**
 * Reads a JSON body of at most `maxBytes` bytes: 415 when it is not declared as JSON, 413 when it
 * is larger (checked on `Content-Length` first, then while reading), 400 when it is not UTF-8 JSON.
 *
 * @internal
 */
export const readJsonBody = (
  request: HttpServerRequest.HttpServerRequest,
  maxBytes: number
): Effect.Effect<unknown, HttpFailure> =>
  Effect.gen(function* () {
    if (!isJsonMediaType(request.headers["content-type"])) {
      return yield* fail(415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)")
    }
    // a function: the error (with its stack) is made only for a body that is too large
    const tooLarge = () => fail(413, "too_large", `the body is larger than ${maxBytes} bytes`)
    const declared = request.headers["content-length"]
    if (declared !== undefined && /^[0-9]+$/.test(declared) && Number(declared) > maxBytes) return yield* tooLarge()
    // Past the limit the rest is read and dropped, so the client gets its 413: stopping early
    // destroys the request and its socket. Past `drainLimit` the connection is dropped instead.
    const drainLimit = Math.max(maxBytes * 8, 8 * 1024 * 1024)
    const chunks: Array<Uint8Array> = []
    let size = 0
    yield* Stream.runForEachWhile(request.stream, (chunk) =>
      Effect.sync(() => {
        size += chunk.byteLength
        if (size <= maxBytes) chunks.push(chunk)
        return size <= drainLimit
      })
    ).pipe(Effect.catchAll(() => fail(400, "bad_request", "the body could not be read")))
    if (size > maxBytes) return yield* tooLarge()
    const bytes = new Uint8Array(size)
    let offset = 0
    for (const chunk of chunks) {
      bytes.set(chunk, offset)
      offset += chunk.byteLength
    }
    let text: string
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes)
    } catch {
      return yield* fail(400, "bad_request", "the body is not valid UTF-8")
    }
    try {
      return JSON.parse(text) as unknown
    } catch {
      return yield* fail(400, "bad_request", "the body is not valid JSON")
    }
  })
