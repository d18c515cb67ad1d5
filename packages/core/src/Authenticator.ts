/**
 * The authenticator port: turns an incoming request (the WebSocket upgrade, an HTTP request) into
 * the connection's user (pyhub: `AuthMiddlewareStack` put the session's user on the socket). Both
 * adapters use it, so the user of the HTTP session is the user of the WebSocket connection (S19).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { User } from "./Connection.js"

/**
 * What an adapter knows of a request, runtime-neutral.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestInfo {
  /** The request URL (path and query; absolute when the adapter knows the host). */
  readonly url: string
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | undefined>>
  /** Cookies parsed from the `Cookie` header. */
  readonly cookies: Readonly<Record<string, string>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The user of the request, or `null` for an anonymous one. */
  readonly authenticate: (request: RequestInfo) => Effect.Effect<User | null>
  /**
   * Whether an open connection's user still holds (the session was not logged out or expired),
   * given the request the connection was opened with. A long-lived transport (the WebSocket
   * adapter) asks before each frame it hands to the session and every `recheckEvery` while the
   * connection is open, and closes it (4401) when the answer is `false`. Absent: a connection keeps
   * the user it was opened with until it closes.
   */
  readonly recheck?: ((request: RequestInfo, user: User) => Effect.Effect<boolean>) | undefined
  /** How often an idle connection is rechecked. Default 1 minute. */
  readonly recheckEvery?: Duration.Duration | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions {
  /**
   * Recheck open connections by running `authenticate` again with the request they were opened
   * with: the user must be the same. An authenticator that fails keeps the connection (an outage
   * does not log everyone out). `true` rechecks every minute while idle, or give the interval.
   */
  readonly recheck?: boolean | Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Authenticator extends Context.Tag("@convo/core/Authenticator")<Authenticator, Service>() {}

/**
 * An authenticator from a function, e.g. a session-cookie lookup. With `recheck`, open connections
 * are checked again with the same function (see `Service.recheck`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  authenticate: (request: RequestInfo) => Effect.Effect<User | null, E, R>,
  options?: LayerOptions
): Layer.Layer<Authenticator, never, R> =>
  Layer.effect(
    Authenticator,
    Effect.map(Effect.context<R>(), (context): Service => {
      const service: Service = {
        authenticate: (request) =>
          authenticate(request).pipe(
            Effect.provide(context),
            Effect.catchAllCause((cause) =>
              Effect.logWarning("authentication failed; treating the request as anonymous", cause).pipe(Effect.as(null))
            )
          )
      }
      const recheck = options?.recheck
      if (recheck === undefined || recheck === false) return service
      return {
        ...service,
        recheck: (request, user) =>
          Effect.suspend(() => authenticate(request)).pipe(
            Effect.provide(context),
            Effect.map((current) => current !== null && current.id === user.id),
            Effect.catchAllCause((cause) =>
              Effect.logWarning("rechecking a connection failed; keeping it open", cause).pipe(Effect.as(true))
            )
          ),
        recheckEvery: Duration.decode(recheck === true ? Duration.minutes(1) : recheck)
      }
    })
  )

/**
 * Every request is anonymous.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAnonymous: Layer.Layer<Authenticator> = Layer.succeed(Authenticator, {
  authenticate: () => Effect.succeed(null)
})

/**
 * Parses a `Cookie` header.
 *
 * @since 0.1.0
 * @category utils
 */
export const parseCookies = (header: string | undefined): Record<string, string> => {
  const cookies: Record<string, string> = {}
  if (header === undefined) return cookies
  for (const part of header.split(";")) {
    const index = part.indexOf("=")
    if (index <= 0) continue
    const name = part.slice(0, index).trim()
    const raw = part.slice(index + 1).trim()
    if (name.length === 0 || name in cookies) continue
    try {
      cookies[name] = decodeURIComponent(raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw)
    } catch {
      cookies[name] = raw
    }
  }
  return cookies
}

/**
 * Whether a request's `Origin` may open a socket or post a message (cross-site WebSocket
 * hijacking and CSRF). `allowed` lists origins such as `https://chat.example.com`; `"same-origin"`
 * in it accepts an Origin whose host equals the request's `Host`. A request without an Origin
 * (not a browser) is accepted.
 *
 * @since 0.1.0
 * @category utils
 */
export const isOriginAllowed = (request: RequestInfo, allowed: ReadonlyArray<string>): boolean => {
  const origin = request.headers["origin"]
  if (origin === undefined || origin.length === 0) return true
  if (allowed.includes("*") || allowed.includes(origin)) return true
  if (!allowed.includes("same-origin")) return false
  try {
    return new URL(origin).host === request.headers["host"]
  } catch {
    return false
  }
}
