/**
 * The visit: what a page handler knows of the browser it answers — the logged-in user, the
 * session's CSRF token — and what it may do: log in, log out, check a posted CSRF token. It is
 * built per request from the session cookie (`make`), and `commit` adds the `Set-Cookie` header
 * the handler's actions call for.
 *
 * The cookies are `HttpOnly; SameSite=Lax; Path=/`, plus `Secure` (and the `__Host-` name prefix)
 * when `COOKIE_SECURE=1` or the request came through an https proxy (`X-Forwarded-Proto: https`).
 * A visitor who is not logged in has no session: the forms' CSRF token is signed from a random
 * visitor cookie, so anonymous page views store nothing.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Forbidden, LoginRequired, type Unavailable } from "../lib/HttpErrors.js"
import * as Forms from "../lib/Forms.js"
import {
  cookieName,
  secureRequest,
  type Session,
  Sessions,
  visitorCookieMillis,
  visitorCookieName
} from "./Sessions.js"
import type { User } from "./Users.js"

/** The visit of the current request. */
export interface Service {
  /** The logged-in user, or `null`. */
  readonly user: User | null
  /** The CSRF token to put in a form; gives an anonymous visitor a (signed, unstored) visitor cookie. */
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

/** Builds the visit of a request from its session cookie (or, not logged in, its visitor cookie). */
export const make = (
  request: HttpServerRequest.HttpServerRequest,
  options: { readonly secureCookies: boolean }
): Effect.Effect<Built, Unavailable, Sessions> =>
  Effect.gen(function* () {
    const sessions = yield* Sessions
    const secure = secureRequest(request.headers, { cookieSecure: options.secureCookies })
    const sessionCookie = cookieName(secure)
    const visitorCookie = visitorCookieName(secure)
    const token = request.cookies[sessionCookie]
    let session: Session | null = token === undefined ? null : Option.getOrNull(yield* sessions.get(token))
    const existingVisitor = request.cookies[visitorCookie]
    let visitor: string | null =
      existingVisitor !== undefined && sessions.isVisitor(existingVisitor) ? existingVisitor : null
    let sessionChange: { readonly _tag: "Set"; readonly session: Session } | { readonly _tag: "Clear" } | null = null
    let visitorChange: { readonly _tag: "Set"; readonly visitor: string } | { readonly _tag: "Clear" } | null = null

    const visit: Service = {
      get user() {
        return session?.user ?? null
      },
      csrfToken: Effect.sync(() => {
        if (session !== null) return sessions.csrfToken(session)
        if (visitor === null) {
          visitor = sessions.newVisitor()
          visitorChange = { _tag: "Set", visitor }
        }
        return sessions.visitorCsrfToken(visitor)
      }),
      checkCsrf: (form) =>
        Effect.suspend(() => {
          const submitted = form["csrf_token"]
          const valid =
            submitted !== undefined &&
            (session !== null
              ? sessions.checkCsrf(session, submitted)
              : visitor !== null && sessions.checkVisitorCsrf(visitor, submitted))
          return valid
            ? Effect.void
            : Effect.fail(
                new Forbidden({
                  message: "The form's security token is missing or stale. Reload the page and try again."
                })
              )
        }),
      logIn: (user) =>
        Effect.gen(function* () {
          if (session !== null) yield* sessions.destroy(session.token)
          const fresh = yield* sessions.create(user)
          session = fresh
          sessionChange = { _tag: "Set", session: fresh }
          if (visitor !== null) {
            visitor = null
            visitorChange = { _tag: "Clear" }
          }
        }),
      logOut: Effect.gen(function* () {
        if (session !== null) yield* sessions.destroy(session.token)
        session = null
        sessionChange = { _tag: "Clear" }
      })
    }

    const commit = (response: HttpServerResponse.HttpServerResponse) => {
      const base = { httpOnly: true, sameSite: "lax", path: "/", secure } as const
      let out = response
      const onSession = sessionChange as typeof sessionChange
      if (onSession !== null) {
        out =
          onSession._tag === "Clear"
            ? HttpServerResponse.unsafeSetCookie(out, sessionCookie, "", { ...base, maxAge: Duration.zero })
            : HttpServerResponse.unsafeSetCookie(out, sessionCookie, onSession.session.token, {
                ...base,
                expires: new Date(onSession.session.expiresAt)
              })
      }
      const onVisitor = visitorChange as typeof visitorChange
      if (onVisitor !== null) {
        out =
          onVisitor._tag === "Clear"
            ? HttpServerResponse.unsafeSetCookie(out, visitorCookie, "", { ...base, maxAge: Duration.zero })
            : HttpServerResponse.unsafeSetCookie(out, visitorCookie, onVisitor.visitor, {
                ...base,
                maxAge: Duration.millis(visitorCookieMillis)
              })
      }
      return out
    }
    return { visit, commit }
  })
