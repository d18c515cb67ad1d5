/**
 * The HTTP transport of a chat agent (S21; pyhub's `ChatView` with server-sent events): the same
 * agent, the same storage and the same access rules as over WebSocket.
 *
 * - `POST <base>/conversations/:conversation_pk/messages` with a JSON user message (the protocol's
 *   `user_message`, or pyhub's `{"user_text", "images__base64"}`) answers `text/event-stream`: the
 *   events until that message's turn ends, one SSE event per protocol event (`id:` a counter,
 *   `event:` the type, `data:` the JSON event), comment lines as a heartbeat. The stream finds its
 *   turn by the message's `clientId` (one is made when the body has none). A client that
 *   disconnects mid-turn stops the turn, which is stored as `aborted`. A message the session
 *   refuses at once (empty, too long, a bad image) gets a JSON refusal instead of a stream; one
 *   refused later (a `clientId` already stored) ends the stream with an `error` event.
 * - `GET <base>/conversations/:conversation_pk/history?before=&limit=` answers a JSON page of
 *   history messages (`HistoryResponse`), newest page first, older pages with the `before` cursor.
 * - `DELETE <base>/conversations/:conversation_pk/messages` clears the conversation (S4).
 *
 * A `POST` opens a session with `ChatAgent.connect` (without its history page), so `canAccept`, the
 * conversation hooks and the ownership rule apply exactly as on a socket; `GET` and `DELETE` apply the
 * same rules without one. The user comes from the `Authenticator` service (anonymous when none is
 * provided). `POST` and `DELETE` check the `Origin` header (CSRF). Refusals
 * are JSON, `{ "error": { "code", "message" } }`, with 400 (malformed body or query), 401, 403
 * (another user's conversation, or a foreign `Origin`: `forbidden_origin`), 404, 413 (`maxBodyBytes`,
 * or text over the agent's limit), 415 (not JSON) or 503.
 *
 * The routes are named routes of core's `Routes` table (`convo-messages`, `convo-history`), so
 * `Routes.reverse` gives their URLs; put `HttpChat.routes()` into your own table to reverse them
 * beside your other routes.
 *
 * @example
 * import * as ChatAgent from "@convo/core/ChatAgent"
 * import * as LlmModels from "@convo/core/LlmModels"
 * import * as Routes from "@convo/core/Routes"
 * import * as HttpChat from "@convo/adapter-http/HttpChat"
 *
 * const agent = ChatAgent.make({ model: LlmModels.openAiGpt4oMini })
 * const routes = Routes.make([...HttpChat.routes({ base: "/api" })])
 * // "/api/conversations/7/messages"
 * const url = Routes.reverse(routes, "convo-messages", { conversation_pk: 7 })
 * // an HttpRouter: serve it with HttpServer.serve and a platform's server layer
 * const router = HttpChat.router(agent, { routes })
 *
 * @since 0.1.0
 */
import * as Authenticator from "@convo/core/Authenticator"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as Connection from "@convo/core/Connection"
import * as Handshake from "@convo/core/Handshake"
import * as Protocol from "@convo/core/Protocol"
import * as Routes from "@convo/core/Routes"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Http from "./internal/http.js"
import * as SessionEvents from "./internal/sessionEvents.js"
import * as Sse from "./internal/sse.js"

/**
 * The default name of the messages route (`POST` a message, `DELETE` to clear).
 *
 * @since 0.1.0
 * @category routes
 */
export const messagesRouteName = "convo-messages"

/**
 * The default name of the history route (`GET`).
 *
 * @since 0.1.0
 * @category routes
 */
export const historyRouteName = "convo-history"

/**
 * The two routes of the transport, to put into a route table (yours, or `Routes.make(routes())`).
 * `base` is a path prefix such as `/api` (no trailing slash).
 *
 * @since 0.1.0
 * @category routes
 * @example
 * import * as Routes from "@convo/core/Routes"
 * import * as HttpChat from "@convo/adapter-http/HttpChat"
 *
 * const table = Routes.make([
 *   Routes.ws("example-chat", "/ws/example/chat/:conversation_pk/"),
 *   ...HttpChat.routes({ base: "/api" })
 * ])
 */
export const routes = <const Base extends string = "">(options?: {
  readonly base?: Base | undefined
}): readonly [
  Routes.Route<typeof messagesRouteName, "http", `${Base}/conversations/:conversation_pk/messages`>,
  Routes.Route<typeof historyRouteName, "http", `${Base}/conversations/:conversation_pk/history`>
] => {
  const base = (options?.base ?? "") as Base
  return [
    Routes.http(messagesRouteName, `${base}/conversations/:conversation_pk/messages`),
    Routes.http(historyRouteName, `${base}/conversations/:conversation_pk/history`)
  ] as const
}

/**
 * How the transport is mounted.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The route table holding the two routes. Default: `Routes.make(routes())`. */
  readonly routes?: Routes.Table | undefined
  /** The name of the messages route in `routes`. Default `convo-messages`. */
  readonly messagesRoute?: string | undefined
  /** The name of the history route in `routes`. Default `convo-history`. */
  readonly historyRoute?: string | undefined
  /**
   * Origins allowed to `POST` and `DELETE` (CSRF), as for `Authenticator.isOriginAllowed`:
   * `"same-origin"`, exact origins, or `"*"`. A request without `Origin` (not a browser) passes.
   * Default `["same-origin"]`.
   */
  readonly allowedOrigins?: ReadonlyArray<string> | undefined
  /** The largest request body accepted; larger ones get 413. Default 1 MiB. */
  readonly maxBodyBytes?: number | undefined
  /** A comment line sent this often while a turn runs, so proxies keep the stream open. Default 15 seconds; `null` for none. */
  readonly heartbeat?: Duration.DurationInput | null | undefined
}

/**
 * @since 0.1.0
 * @category defaults
 */
export const defaultMaxBodyBytes = 1024 * 1024

/**
 * The JSON body of every refusal.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorBody = Schema.Struct({
  error: Schema.Struct({ code: Schema.String, message: Schema.String })
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type ErrorBody = typeof ErrorBody.Type

/**
 * A page of history: the newest `limit` messages older than `before` (the newest of all without
 * it), in order. `nextBefore` is the cursor of the next older page, `null` when there is none.
 *
 * @since 0.1.0
 * @category schemas
 */
export const HistoryResponse = Schema.Struct({
  conversationId: Schema.NullOr(Schema.Number),
  /** The conversation's public id (`null` without a conversation). */
  publicId: Schema.NullOr(Schema.String),
  messages: Schema.Array(Protocol.HistoryMessage),
  hasMore: Schema.Boolean,
  nextBefore: Schema.NullOr(Schema.Number)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type HistoryResponse = typeof HistoryResponse.Type

/**
 * What the transport needs from its environment. `Authenticator`, `ChatAgentHooks` and
 * `TurnLock` are read when provided.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = ChatAgent.Requirements

// The HTTP status of a message the session refused (an error event without a turn).
const refusalStatus = (code: Protocol.ErrorCode): number => {
  switch (code) {
    case "too_large":
      return 413
    case "forbidden":
      return 403
    case "not_found":
      return 404
    case "busy":
      return 429
    case "duplicate":
      return 409
    case "unavailable":
    case "internal":
      return 503
    default:
      return 400
  }
}

const httpRoute = (table: Routes.Table, name: string): Routes.Route => {
  const found = Routes.get(table, name)
  if (Option.isNone(found)) {
    throw new Routes.RouteError({ reason: "UnknownRoute", route: name, detail: "the route table has no such route" })
  }
  if (found.value.kind !== "http") {
    throw new Routes.RouteError({ reason: "InvalidPattern", route: name, detail: "the route is not an http route" })
  }
  return found.value
}

// The route parameters, checked with the route's converters (the router matched the pattern only).
const routeParams = (route: Routes.Route) =>
  Effect.flatMap(HttpRouter.params, (raw) => {
    const params: Record<string, string> = {}
    for (const [name, value] of Object.entries(raw)) {
      if (value === undefined) continue
      const converter = route.params[name]
      if (converter !== undefined && !converter.test(value)) {
        return Http.fail(404, "not_found", `"${value}" is not a valid ${name}`)
      }
      params[name] = value
    }
    return Effect.succeed(params)
  })

const marker = (): string => `convo-http-${globalThis.crypto.randomUUID()}`

// What every request does first: the Origin check (when `checkOrigin`), the route parameters, the user.
const open = (route: Routes.Route, allowedOrigins: ReadonlyArray<string>, checkOrigin: boolean) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const info = Handshake.requestInfo(request)
    if (checkOrigin && !Authenticator.isOriginAllowed(info, allowedOrigins)) {
      return yield* Http.fail(403, "forbidden_origin", "requests from this origin are not allowed")
    }
    const params = yield* routeParams(route)
    const user = yield* Handshake.authenticate(info)
    return { request, info, params, user }
  })

/** A request that passed the Origin check, with its route parameters and user. */
interface Opened {
  readonly info: Authenticator.RequestInfo
  readonly params: Record<string, string>
  readonly user: Connection.User | null
}

const connectionOf = (route: Routes.Route, opened: Opened) =>
  Connection.make({
    user: opened.user,
    params: opened.params,
    data: { transport: "http", route: route.name, request: opened.info }
  })

// Opens a session in the request's scope (closing it ends a running turn); its events are read one
// at a time until the turn's stream takes the rest. No history page: the stream carries the turn only
// (the history route gives pages).
const connect = (agent: ChatAgent.ChatAgent, route: Routes.Route, opened: Opened) =>
  Effect.gen(function* () {
    const session = yield* ChatAgent.connect(agent, connectionOf(route, opened), { history: false }).pipe(
      Effect.mapError(Http.rejection)
    )
    const events = yield* SessionEvents.attach(session)
    return { session, events }
  })

// Takes events until the pong answering `id`; gives the events before it.
const takeUntilPong = (events: SessionEvents.SessionEvents, id: string) =>
  Effect.gen(function* () {
    const taken: Array<Protocol.ServerEvent> = []
    for (;;) {
      const event = yield* events.take
      if (event === undefined || (event.type === "pong" && event.id === id)) return taken
      taken.push(event)
    }
  })

// An error that answers a message rather than a turn: the session refused the message.
const isRefusal = (event: Protocol.ServerEvent): event is Protocol.ServerEventOf<"error"> =>
  event.type === "error" && event.turnId === undefined

const sseHeaders = {
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
  "x-content-type-options": "nosniff"
}

/**
 * POST: one turn as server-sent events. The session answers a message it refuses at once (empty,
 * too long, a bad image) with an error event before the pong of a ping sent right after it: that
 * becomes a 400/413 JSON refusal. Otherwise the stream carries the session's events (the agent's
 * first turn, if it speaks first, and live events of the conversation) until the `turn_end` of the
 * turn whose human message carries this request's client id.
 */
const postMessage = (
  agent: ChatAgent.ChatAgent,
  route: Routes.Route,
  allowedOrigins: ReadonlyArray<string>,
  maxBodyBytes: number,
  heartbeat: Duration.Duration | null
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Http.HttpFailure,
  Requirements | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext | Scope.Scope
> =>
  Effect.gen(function* () {
    const opened = yield* open(route, allowedOrigins, true)
    const body = yield* Http.readJsonBody(opened.request, maxBodyBytes)
    const message = yield* Either.match(Protocol.decodeClientMessage(body), {
      onLeft: (error) => Http.fail(400, "bad_request", error.detail),
      onRight: (decoded) =>
        decoded.type === "user_message"
          ? Effect.succeed(decoded)
          : Http.fail(400, "bad_request", `expected a user message, got "${decoded.type}"`)
    })
    // the stream ends with this message's turn, found by its client id (one is given when absent)
    const clientId = message.clientId ?? `http-${globalThis.crypto.randomUUID()}`
    const { events, session } = yield* connect(agent, route, opened)

    yield* session.send({ ...message, clientId })
    const accepted = marker()
    yield* session.send({ type: "ping", id: accepted })
    const prefix = yield* takeUntilPong(events, accepted)
    const refusal = prefix.find(isRefusal)
    if (refusal !== undefined) {
      // a first turn (the agent speaking first) may be running: let it finish and store itself
      yield* session.idle
      return yield* Http.fail(refusalStatus(refusal.code), refusal.code, refusal.message)
    }

    let turnId: string | undefined
    const isLast = (event: Protocol.ServerEvent): boolean => {
      if (event.type === "message_start" && event.role === "human" && event.clientId === clientId) {
        turnId = event.turnId
      }
      // a refusal that comes later (a duplicate client id, history unavailable) also ends it
      return (event.type === "turn_end" && event.turnId === turnId) || isRefusal(event)
    }
    let index = 0
    const render = (event: Protocol.ServerEvent) =>
      event.type === "pong"
        ? { text: undefined, last: false }
        : { text: Sse.encodeEvent(++index, event), last: isLast(event) }
    const prefixed = prefix.map(render)
    const before = prefixed.findIndex((rendered) => rendered.last)
    // a comment line every `heartbeat` while the turn runs (the prefix goes out at once)
    const beat =
      heartbeat === null ? undefined : { everyMs: Duration.toMillis(heartbeat), text: Sse.comment("keep-alive") }
    const turn =
      before !== -1
        ? Stream.fromIterable(prefixed.slice(0, before + 1).flatMap((rendered) => rendered.text ?? []))
        : Stream.concat(
            Stream.fromIterable(prefixed.flatMap((rendered) => rendered.text ?? [])),
            events.stream(render, beat)
          )
    return HttpServerResponse.stream(turn.pipe(Stream.encodeText), {
      contentType: "text/event-stream",
      headers: sseHeaders
    })
  })

const positiveInt = /^[1-9][0-9]{0,15}$/

const queryNumber = (
  params: Readonly<Record<string, string | ReadonlyArray<string>>>,
  name: string
): Effect.Effect<number | undefined, Http.HttpFailure> => {
  const value = params[name]
  if (value === undefined || value === "") return Effect.succeed(undefined)
  if (typeof value !== "string" || !positiveInt.test(value) || !Number.isSafeInteger(Number(value))) {
    return Http.fail(400, "bad_request", `"${name}" must be a positive integer`)
  }
  return Effect.succeed(Number(value))
}

/**
 * GET: a page of history through `ChatAgent.history`: the session's access rules and history
 * filter, without opening a session. Without `before`, the newest page.
 */
const getHistory = (
  agent: ChatAgent.ChatAgent,
  route: Routes.Route
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Http.HttpFailure,
  | Requirements
  | HttpServerRequest.HttpServerRequest
  | HttpRouter.RouteContext
  | Scope.Scope
  | HttpServerRequest.ParsedSearchParams
> =>
  Effect.gen(function* () {
    const query = yield* HttpServerRequest.ParsedSearchParams
    const before = yield* queryNumber(query, "before")
    const limit = yield* queryNumber(query, "limit")
    if (limit !== undefined && limit > 500) return yield* Http.fail(400, "bad_request", `"limit" must be at most 500`)
    const opened = yield* open(route, [], false)
    const page = yield* ChatAgent.history(agent, connectionOf(route, opened), { before, limit }).pipe(
      Effect.catchTags({
        ConnectionRejected: (error) => Effect.fail(Http.rejection(error)),
        ConversationNotFound: (error) => Http.fail(404, "not_found", error.message),
        StoreError: (error) =>
          Effect.logError("could not read the history", error).pipe(
            Effect.zipRight(Http.fail(503, "unavailable", "the history could not be loaded"))
          )
      })
    )
    const response: HistoryResponse = {
      conversationId: page.conversationId,
      publicId: page.publicId ?? null,
      messages: page.messages,
      hasMore: page.hasMore,
      nextBefore: page.hasMore && page.messages.length > 0 ? page.messages[0]!.seq : null
    }
    return HttpServerResponse.unsafeJson(response, { headers: { "cache-control": "no-store" } })
  })

/** DELETE: clears the conversation through `ChatAgent.clear`, for a user the agent accepts for it (its owner). */
const clearMessages = (
  agent: ChatAgent.ChatAgent,
  route: Routes.Route,
  allowedOrigins: ReadonlyArray<string>
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Http.HttpFailure,
  Requirements | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext | Scope.Scope
> =>
  Effect.gen(function* () {
    const opened = yield* open(route, allowedOrigins, true)
    yield* ChatAgent.clear(agent, connectionOf(route, opened)).pipe(
      Effect.catchTags({
        ConnectionRejected: (error) => Effect.fail(Http.rejection(error)),
        ConversationNotFound: (error) => Http.fail(404, "not_found", error.message),
        StoreError: (error) =>
          Effect.logError("could not clear the conversation", error).pipe(
            Effect.zipRight(Http.fail(503, "unavailable", "the conversation could not be cleared"))
          )
      })
    )
    return HttpServerResponse.empty({ status: 204 })
  })

const handled = <R>(
  effect: Effect.Effect<HttpServerResponse.HttpServerResponse, Http.HttpFailure, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.catchTag(effect, "HttpFailure", (failure) => Effect.succeed(Http.toResponse(failure)))

/**
 * The transport's routes as an `HttpRouter`: `POST` and `DELETE` on the messages route, `GET` on
 * the history route. Throws a `Routes.RouteError` when the table lacks a route name (a definition
 * error, as `Routes.make` throws).
 *
 * @since 0.1.0
 * @category constructors
 */
export const router = (agent: ChatAgent.ChatAgent, options?: Options): HttpRouter.HttpRouter<never, Requirements> => {
  const table = options?.routes ?? Routes.make(routes())
  const messages = httpRoute(table, options?.messagesRoute ?? messagesRouteName)
  const history = httpRoute(table, options?.historyRoute ?? historyRouteName)
  const allowedOrigins = options?.allowedOrigins ?? Handshake.defaultAllowedOrigins
  const maxBodyBytes = options?.maxBodyBytes ?? defaultMaxBodyBytes
  const heartbeat = options?.heartbeat === null ? null : Duration.decode(options?.heartbeat ?? Duration.seconds(15))
  return HttpRouter.empty.pipe(
    HttpRouter.post(
      messages.pattern as HttpRouter.PathInput,
      handled(postMessage(agent, messages, allowedOrigins, maxBodyBytes, heartbeat)).pipe(
        Effect.withSpan("HttpChat.postMessage", { captureStackTrace: false })
      )
    ),
    HttpRouter.del(
      messages.pattern as HttpRouter.PathInput,
      handled(clearMessages(agent, messages, allowedOrigins)).pipe(
        Effect.withSpan("HttpChat.clearMessages", { captureStackTrace: false })
      )
    ),
    HttpRouter.get(
      history.pattern as HttpRouter.PathInput,
      handled(getHistory(agent, history)).pipe(Effect.withSpan("HttpChat.getHistory", { captureStackTrace: false }))
    )
  )
}
