/**
 * How every page is served: build the visit from the session cookie, run the handler with it,
 * turn the app's errors into pages with their status (a `LoginRequired` into a redirect to the
 * log-in page), any other failure into a 500 page that shows nothing internal, and set the session
 * cookie if the handler changed the session.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type { Sessions } from "./accounts/Sessions.js"
import * as Visit from "./accounts/Visit.js"
import { AppConfig } from "./Config.js"
import { html } from "./lib/Html.js"
import { type HttpError, statusOf } from "./lib/HttpErrors.js"
import * as Layout from "./Layout.js"
import { url } from "./Routes.js"

const localBase = "http://local.invalid"

/**
 * A local path to come back to after logging in; anything else goes home. The path must come back
 * unchanged from the URL parser, on this origin: that refuses what browsers read as another host
 * (`//evil`, `/\\evil`, `/\t/evil`, which parsers turn into `//evil`) and anything a `Location`
 * header cannot carry (control characters, unencoded non-ASCII), so a redirect to it never fails.
 */
export const safeNext = (next: string | undefined): string => {
  if (next === undefined || !next.startsWith("/") || next.startsWith("//")) return url("home")
  let parsed: URL
  try {
    parsed = new URL(next, localBase)
  } catch {
    return url("home")
  }
  const path = `${parsed.pathname}${parsed.search}${parsed.hash}`
  return parsed.origin === localBase && path === next ? next : url("home")
}

const plain = (status: number, text: string) =>
  HttpServerResponse.text(text, { status, headers: Layout.securityHeaders })

/** The response for an app error. */
export const errorResponse = (
  error: HttpError
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Visit.Visit> => {
  if (error._tag === "LoginRequired") {
    return Effect.succeed(
      HttpServerResponse.redirect(`${url("login")}?${new URLSearchParams({ next: error.next })}`, { status: 303 })
    )
  }
  const status = statusOf(error)
  const title =
    status === 404 ? "Not found" : status === 403 ? "Forbidden" : status === 400 ? "Bad request" : "Unavailable"
  return Layout.render({ title, body: html`<p class="error">${error.message}</p>`, status }).pipe(
    Effect.orElseSucceed(() => plain(status, error.message))
  )
}

/** Serves a page handler. */
export const handle = <E extends HttpError, R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  Exclude<R, Visit.Visit> | HttpServerRequest.HttpServerRequest | Sessions | AppConfig
> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const config = yield* AppConfig
    const built = yield* Visit.make(request, { secureCookies: config.cookieSecure })
    const response = yield* handler.pipe(
      Effect.catchAll(errorResponse),
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause)
          : Effect.logError("page failed", cause).pipe(
              Effect.andThen(
                Layout.render({
                  title: "Something went wrong",
                  body: html`<p class="error">The server could not answer this page. Try again.</p>`,
                  status: 500
                })
              ),
              Effect.orElseSucceed(() => plain(500, "The server could not answer this page."))
            )
      ),
      Effect.provideService(Visit.Visit, built.visit)
    )
    return built.commit(response)
  }).pipe(
    Effect.catchTag("Unavailable", (error) => Effect.succeed(plain(503, error.message))),
    Effect.catchAllCause((cause) =>
      Effect.logError("page failed", cause).pipe(Effect.as(plain(500, "The server could not answer this page.")))
    )
  )
