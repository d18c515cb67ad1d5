/**
 * What every transport does with a request before a chat session opens: read it as a
 * runtime-neutral `RequestInfo`, check its `Origin` (cross-site WebSocket hijacking and CSRF),
 * authenticate it with the `Authenticator` service (anonymous when none is provided), and answer a
 * refusal with an HTTP status and a JSON body. The WebSocket adapter does this before the upgrade,
 * the HTTP adapter before it streams; neither holds the rule itself.
 *
 * @since 0.1.0
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Authenticator from "./Authenticator.js"
import { ConnectionRejected } from "./ChatAgent.js"
import type { User } from "./Connection.js"

/**
 * The origins accepted when none are configured: only the page's own (`Origin` host equal to the
 * request's `Host`).
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultAllowedOrigins: ReadonlyArray<string> = ["same-origin"]

/**
 * Reads a platform request as a `RequestInfo`: its original URL (even under a router prefix: the
 * path and query on Node, the absolute URL on runtimes built on web `Request`s), lower-cased
 * headers and parsed cookies.
 *
 * @since 0.1.0
 * @category constructors
 */
export const requestInfo = (request: HttpServerRequest.HttpServerRequest): Authenticator.RequestInfo => {
  const headers: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value
  return { url: request.originalUrl, headers, cookies: Authenticator.parseCookies(headers["cookie"]) }
}

/**
 * The user of a request: the `Authenticator` service's answer when one is provided, else `null`
 * (anonymous). An authenticator that dies counts as anonymous, with a warning, as
 * `Authenticator.layer` does for its failures.
 *
 * @since 0.1.0
 * @category authentication
 */
export const authenticate = (request: Authenticator.RequestInfo): Effect.Effect<User | null> =>
  Effect.flatMap(Effect.serviceOption(Authenticator.Authenticator), (service) =>
    Option.isNone(service)
      ? Effect.succeed(null)
      : service.value
          .authenticate(request)
          .pipe(
            Effect.catchAllCause((cause) =>
              Effect.logWarning("the authenticator failed; treating the request as anonymous", cause).pipe(
                Effect.as(null)
              )
            )
          )
  )

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Origins that may connect (`"same-origin"`, `"*"`, or exact origins). Default `["same-origin"]`. */
  readonly allowedOrigins?: ReadonlyArray<string> | undefined
}

/**
 * The Origin check, then authentication: the user of the request, or a `Forbidden` rejection when
 * its Origin is not allowed.
 *
 * @since 0.1.0
 * @category authentication
 */
export const verify: (
  request: Authenticator.RequestInfo,
  options?: Options
) => Effect.Effect<User | null, ConnectionRejected> = Effect.fn("Handshake.verify")(function* (
  request: Authenticator.RequestInfo,
  options?: Options
) {
  if (!Authenticator.isOriginAllowed(request, options?.allowedOrigins ?? defaultAllowedOrigins)) {
    return yield* new ConnectionRejected({
      reason: "Forbidden",
      detail: `origin ${JSON.stringify(request.headers["origin"])} is not allowed`
    })
  }
  return yield* authenticate(request)
})

/**
 * The HTTP status of a rejection: 401, 403, 404 or 503.
 *
 * @since 0.1.0
 * @category refusals
 */
export const httpStatus = (reason: ConnectionRejected["reason"]): 401 | 403 | 404 | 503 => {
  switch (reason) {
    case "Unauthenticated":
      return 401
    case "Forbidden":
      return 403
    case "NotFound":
      return 404
    case "Unavailable":
      return 503
  }
}

/**
 * The last event id a reconnecting client sends: the `Last-Event-ID` header (server-sent events) or
 * the `lastEventId` query parameter (WebSocket URLs, which carry no custom headers from browsers).
 * Anything but a non-negative integer is ignored.
 *
 * @since 0.1.0
 * @category requests
 */
export const lastEventId = (info: Authenticator.RequestInfo): number | undefined => {
  let raw = info.headers["last-event-id"]
  if (raw === undefined) {
    const query = info.url.indexOf("?")
    if (query !== -1) raw = new URLSearchParams(info.url.slice(query + 1)).get("lastEventId") ?? undefined
  }
  if (raw === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(raw.trim())) return undefined
  const value = Number(raw.trim())
  return Number.isSafeInteger(value) ? value : undefined
}

/**
 * The JSON body of a refusal, the same shape as every HTTP error of convo's adapters:
 * `{"error": {"code": "unauthenticated", "message": "log in to use this chat"}}`.
 *
 * @since 0.1.0
 * @category refusals
 */
export interface RefusalBody {
  readonly error: {
    readonly code: "unauthenticated" | "forbidden" | "not_found" | "unavailable"
    readonly message: string
  }
}

const errorCodes = {
  Unauthenticated: "unauthenticated",
  Forbidden: "forbidden",
  NotFound: "not_found",
  Unavailable: "unavailable"
} as const

/**
 * @since 0.1.0
 * @category refusals
 */
export const refusalBody = (rejection: ConnectionRejected): RefusalBody => ({
  error: { code: errorCodes[rejection.reason], message: rejection.detail }
})

/**
 * A rejection as an HTTP response: its status and its JSON body.
 *
 * @since 0.1.0
 * @category refusals
 */
export const refusalResponse = (rejection: ConnectionRejected): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(refusalBody(rejection), { status: httpStatus(rejection.reason) })
