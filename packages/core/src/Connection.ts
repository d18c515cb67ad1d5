/**
 * What a chat agent knows about the client on the other end, whatever the transport: the user the
 * adapter authenticated (pyhub: `scope["user"]`) and the route parameters (pyhub:
 * `scope["url_route"]["kwargs"]`).
 *
 * @since 0.1.0
 */

/**
 * A user as the host application knows it. `id` is opaque to convo.
 *
 * @since 0.1.0
 * @category models
 */
export interface User {
  readonly id: string
  readonly name?: string | undefined
  readonly isStaff?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  /** A unique id of this connection (logs, traces). */
  readonly id: string
  /** The authenticated user, or `null` for an anonymous client. */
  readonly user: User | null
  /** Route parameters, e.g. `{ conversation_pk: "3" }` for `/ws/example/chat/:conversation_pk/`. */
  readonly params: Readonly<Record<string, string>>
  /** Anything else the adapter or the host app wants hooks to see (headers, session data). */
  readonly data?: Readonly<Record<string, unknown>> | undefined
  /** A reconnecting client's last event id (SSE `Last-Event-ID`): the session resumes after it. */
  readonly lastEventId?: number | undefined
}

/**
 * Builds a connection; the id is generated when absent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly user?: User | null | undefined
  readonly params?: Readonly<Record<string, string>> | undefined
  readonly id?: string | undefined
  readonly data?: Readonly<Record<string, unknown>> | undefined
  readonly lastEventId?: number | undefined
}): Connection => ({
  id: options.id ?? globalThis.crypto.randomUUID(),
  user: options.user ?? null,
  params: options.params ?? {},
  ...(options.data !== undefined ? { data: options.data } : {}),
  ...(options.lastEventId !== undefined ? { lastEventId: options.lastEventId } : {})
})
