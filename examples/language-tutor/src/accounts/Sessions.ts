/**
 * Sessions stored in the database. A session id is 32 random bytes, sent to the browser in the
 * `convo_session` cookie (`__Host-convo_session` when the cookie is `Secure`) and never stored: the
 * table keeps an HMAC of it under the session secret, so a copy of the database does not hold live
 * session ids. The CSRF token of a session is another HMAC of its id, so it is per session and
 * needs no column.
 *
 * The secret is `SESSION_SECRET`, or one generated on first start and kept in `example_setting`.
 * Only logged-in users have a session row. A visitor who is not logged in gets a signed CSRF token
 * for the log-in and sign-up forms instead: a random visitor id in the `convo_csrf` cookie, and the
 * token is an HMAC of it, so no anonymous visit stores anything. Logging in starts a new session
 * (no session fixation).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as NodeCrypto from "node:crypto"
import { AppConfig } from "../Config.js"
import { Int, unavailable } from "../lib/Sql.js"
import type { User } from "./Users.js"

/**
 * The session cookie's name: with the `__Host-` prefix when the cookie is `Secure`, so the browser
 * accepts it only from this host over https, with `Path=/` and no `Domain` (a sibling subdomain
 * cannot plant one).
 */
export const cookieName = (secure: boolean): string => (secure ? "__Host-convo_session" : "convo_session")

/** The anonymous visitor's CSRF cookie's name, prefixed like the session cookie's. */
export const visitorCookieName = (secure: boolean): string => (secure ? "__Host-convo_csrf" : "convo_csrf")

/** Whether a request's cookies are `Secure`: `COOKIE_SECURE=1`, or the request came through an https proxy. */
export const secureRequest = (
  headers: Readonly<Record<string, string | undefined>>,
  options: { readonly cookieSecure: boolean }
): boolean => options.cookieSecure || headers["x-forwarded-proto"] === "https"

/** How long a logged-in session lasts. */
export const userSessionMillis = 14 * 24 * 60 * 60 * 1000

/** How long an anonymous visitor's CSRF cookie (for the log-in and sign-up forms) lasts. */
export const visitorCookieMillis = 24 * 60 * 60 * 1000

/** A live session. */
export interface Session {
  /** The session id, as the cookie holds it. */
  readonly token: string
  readonly user: User | null
  readonly expiresAt: number
}

const SessionRow = Schema.Struct({
  user_id: Schema.NullOr(Int),
  expires_at: Int,
  username: Schema.NullOr(Schema.String),
  is_staff: Schema.NullOr(Int),
  user_created_at: Schema.NullOr(Int)
})

const tokenPattern = /^[A-Za-z0-9_-]{43}$/

/** The key under which session ids are hashed and CSRF tokens derived. */
export class SessionSecret extends Effect.Service<SessionSecret>()("@convo/example-language-tutor/SessionSecret", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    if (Option.isSome(config.sessionSecret)) return { key: config.sessionSecret.value }
    const sql = yield* SqlClient.SqlClient
    const generated = NodeCrypto.randomBytes(32).toString("hex")
    yield* sql`INSERT INTO example_setting (key, value) VALUES ('session_secret', ${generated}) ON CONFLICT (key) DO NOTHING`
    const rows = yield* sql<{ value: string }>`SELECT value FROM example_setting WHERE key = 'session_secret'`
    const value = rows[0]?.value
    if (value === undefined) return yield* Effect.dieMessage("the session secret could not be stored")
    return { key: Redacted.make(value) }
  }).pipe(Effect.orDie)
}) {}

/** The sessions repository. */
export class Sessions extends Effect.Service<Sessions>()("@convo/example-language-tutor/Sessions", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { key } = yield* SessionSecret

    const hmac = (purpose: string, token: string) =>
      NodeCrypto.createHmac("sha256", Redacted.value(key)).update(`${purpose}:${token}`).digest("base64url")
    const idHash = (token: string) => hmac("session", token)

    const find = SqlSchema.findOne({
      Request: Schema.String,
      Result: SessionRow,
      execute: (hash) => sql`
        SELECT s.user_id, s.expires_at, u.username, u.is_staff, u.created_at AS user_created_at
        FROM example_session s LEFT JOIN example_user u ON u.id = s.user_id
        WHERE s.id_hash = ${hash} AND s.expires_at > ${Date.now()}`
    })

    /** Starts a session for a user. */
    const create = Effect.fn("Sessions.create")(function* (user: User) {
      const token = NodeCrypto.randomBytes(32).toString("base64url")
      const now = Date.now()
      const expiresAt = now + userSessionMillis
      yield* sql`DELETE FROM example_session WHERE expires_at <= ${now}`.pipe(unavailable("Sessions.create"))
      yield* sql`INSERT INTO example_session (id_hash, user_id, created_at, expires_at)
                 VALUES (${idHash(token)}, ${user.id}, ${now}, ${expiresAt})`.pipe(unavailable("Sessions.create"))
      const session: Session = { token, user, expiresAt }
      return session
    })

    /** The live session with this id, if any. */
    const get = Effect.fn("Sessions.get")(function* (token: string) {
      if (!tokenPattern.test(token)) return Option.none<Session>()
      const row = yield* find(idHash(token)).pipe(
        Effect.catchTag("ParseError", Effect.die),
        unavailable("Sessions.get")
      )
      return Option.map(row, (r): Session => ({
        token,
        expiresAt: r.expires_at,
        user:
          r.user_id === null || r.username === null
            ? null
            : { id: r.user_id, username: r.username, isStaff: r.is_staff === 1, createdAt: r.user_created_at ?? 0 }
      }))
    })

    /** Ends a session. */
    const destroy = Effect.fn("Sessions.destroy")(function* (token: string) {
      yield* sql`DELETE FROM example_session WHERE id_hash = ${idHash(token)}`.pipe(unavailable("Sessions.destroy"))
    })

    /** The CSRF token of a session. */
    const csrfToken = (session: Session): string => hmac("csrf", session.token)

    const same = (expected: string, submitted: string): boolean => {
      const a = Buffer.from(expected)
      const b = Buffer.from(submitted)
      return a.length === b.length && NodeCrypto.timingSafeEqual(a, b)
    }

    /** Whether a submitted CSRF token is the session's (constant-time). */
    const checkCsrf = (session: Session, submitted: string): boolean => same(csrfToken(session), submitted)

    /** A fresh anonymous visitor id, for the visitor cookie. */
    const newVisitor = (): string => NodeCrypto.randomBytes(32).toString("base64url")

    /** Whether a visitor cookie's value is one this app could have made (its shape only: it is not stored). */
    const isVisitor = (visitor: string): boolean => tokenPattern.test(visitor)

    /** The CSRF token of an anonymous visitor: an HMAC of the visitor cookie, so nothing is stored. */
    const visitorCsrfToken = (visitor: string): string => hmac("csrf-visitor", visitor)

    /** Whether a submitted CSRF token is the visitor's (constant-time). */
    const checkVisitorCsrf = (visitor: string, submitted: string): boolean =>
      isVisitor(visitor) && same(visitorCsrfToken(visitor), submitted)

    return {
      create,
      get,
      destroy,
      csrfToken,
      checkCsrf,
      newVisitor,
      isVisitor,
      visitorCsrfToken,
      checkVisitorCsrf
    } as const
  }),
  dependencies: [SessionSecret.Default]
}) {}
