/**
 * The visit: what a page handler knows of the browser it answers — the logged-in user, the
 * session's CSRF token — and what it may do: log in, log out, check a posted CSRF token. It is
 * built per request from the session cookie (`make`), and `commit` adds the `Set-Cookie` header
 * the handler's actions call for.
 *
 * The cookie is `HttpOnly; SameSite=Lax; Path=/`, plus `Secure` when `COOKIE_SECURE=1` or the
 * request came through an https proxy (`X-Forwarded-Proto: https`).
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Forbidden, LoginRequired, type Unavailable } from "../lib/HttpErrors.js"
import * as Forms from "../lib/Forms.js"
import { cookieName, type Session, Sessions } from "./Sessions.js"
import type { User } from "./Users.js"

/** The visit of the current request. */
export interface Service {
  /** The logged-in user, or `null`. */
  readonly user: User | null
  /** The CSRF token to put in a form; starts an anonymous session when there is none. */
  readonly csrfToken: Effect.Effect<string, Unavailable>
  /** Fails with `Forbidden` unless the form carries this session's CSRF token. */
  readonly checkCsrf: (form: Forms.Form) => Effect.Effect<void, Forbidden>
  /** Logs a user in: a new session replaces the current one. */
  readonly logIn: (user: User) => Effect.Effect<void, Unavailable>
  /** Ends the session. */
  readonly logOut: Effect.Effect<void, Unavailable>
}

/** The visit of the current request. */
export class Visit extends Context.Tag("@convo/example-language-tutor/Visit")<Visit, Service>() {}

/** The logged-in user, or a redirect to the log-in page that comes back here. */
export const requireUser: Effect.Effect<User, LoginRequired, Visit | HttpServerRequest.HttpServerRequest> = Effect.gen(
  function* () {
    const visit = yield* Visit
    if (visit.user !== null) return visit.user
    const request = yield* HttpServerRequest.HttpServerRequest
    return yield* new LoginRequired({ next: request.url })
  }
)

/** The logged-in staff user, or `Forbidden`. */
export const requireStaff: Effect.Effect<User, LoginRequired | Forbidden, Visit | HttpServerRequest.HttpServerRequest> =
  Effect.flatMap(requireUser, (user) =>
    user.isStaff ? Effect.succeed(user) : Effect.fail(new Forbidden({ message: "Only staff may see this page." }))
  )

/** A visit and the cookie change its actions call for. */
export interface Built {
  readonly visit: Service
  /** Adds the `Set-Cookie` header, if the session changed. */
  readonly commit: (response: HttpServerResponse.HttpServerResponse) => HttpServerResponse.HttpServerResponse
}

/** Builds the visit of a request from its session cookie. */
export const make = (
  request: HttpServerRequest.HttpServerRequest,
  options: { readonly secureCookies: boolean }
): Effect.Effect<Built, Unavailable, Sessions> =>
  Effect.gen(function* () {
    const sessions = yield* Sessions
    const token = request.cookies[cookieName]
    let session: Session | null = token === undefined ? null : Option.getOrNull(yield* sessions.get(token))
    let cookie: { readonly _tag: "Set"; readonly session: Session } | { readonly _tag: "Clear" } | null = null
    const secure = options.secureCookies || request.headers["x-forwarded-proto"] === "https"

    const start = (user: User | null) =>
      Effect.map(sessions.create(user), (fresh) => {
        session = fresh
        cookie = { _tag: "Set", session: fresh }
        return fresh
      })

    const visit: Service = {
      get user() {
        return session?.user ?? null
      },
      csrfToken: Effect.suspend(() => (session === null ? start(null) : Effect.succeed(session))).pipe(
        Effect.map((current) => sessions.csrfToken(current))
      ),
      checkCsrf: (form) =>
        Effect.suspend(() => {
          const submitted = form["csrf_token"]
          if (session === null || submitted === undefined || !sessions.checkCsrf(session, submitted)) {
            return Effect.fail(
              new Forbidden({
                message: "The form's security token is missing or stale. Reload the page and try again."
              })
            )
          }
          return Effect.void
        }),
      logIn: (user) =>
        Effect.gen(function* () {
          if (session !== null) yield* sessions.destroy(session.token)
          yield* start(user)
        }),
      logOut: Effect.gen(function* () {
        if (session !== null) yield* sessions.destroy(session.token)
        session = null
        cookie = { _tag: "Clear" }
      })
    }

    const commit = (response: HttpServerResponse.HttpServerResponse) => {
      const change = cookie as typeof cookie
      if (change === null) return response
      const base = { httpOnly: true, sameSite: "lax", path: "/", secure } as const
      return change._tag === "Clear"
        ? HttpServerResponse.unsafeSetCookie(response, cookieName, "", { ...base, maxAge: Duration.zero })
        : HttpServerResponse.unsafeSetCookie(response, cookieName, change.session.token, {
            ...base,
            expires: new Date(change.session.expiresAt)
          })
    }
    return { visit, commit }
  })
