/**
 * The WebSocket transport of a chat agent, runtime-neutral (on `@effect/platform`'s `HttpRouter`
 * and `Socket`): mount an agent on a named route of core's route table, and each upgrade request
 * on that path becomes a chat session.
 *
 * Before the upgrade, the request is checked and the session opened, so a refusal is an HTTP
 * response: not a WebSocket handshake (426 / 400), a path whose parameters the route's converters
 * reject (404), an Origin outside `allowedOrigins` (403), and every `ConnectionRejected` of the
 * agent — no user where one is required (401), another user's conversation (403), an unknown
 * conversation (404), the store or model unavailable (503) — each with a JSON body
 * `{"error", "message"}`. With `rejectWith: "close"`, a refused connection is upgraded and closed
 * at once with a close code instead (`CloseCode`), for browser clients, which cannot read the
 * status of a refused upgrade.
 *
 * After the upgrade, server events go out as JSON text frames, client text frames go to the
 * session in arrival order (a malformed one is answered with an `error` event; the socket stays
 * open), a binary frame closes with 4400 and a frame over `maxFrameBytes` with 1009. The protocol's
 * `ping` is answered with `pong`; WebSocket-level pings are answered by the server (Node's `ws`
 * answers them itself). A disconnect closes the session: a running turn stops and is stored as
 * `aborted`.
 *
 * The user comes from the `Authenticator` service when one is provided (anonymous otherwise); the
 * route's parameters become the connection's `params`; the connection's `data.request` holds the
 * `RequestInfo`.
 *
 * @example
 * import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
 * import * as ChatAgent from "@convo/core/ChatAgent"
 * import * as LlmModels from "@convo/core/LlmModels"
 * import * as Routes from "@convo/core/Routes"
 * import * as HttpRouter from "@effect/platform/HttpRouter"
 *
 * const routes = Routes.make([
 *   Routes.ws("example-chat", "/ws/example/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } })
 * ])
 * const tutor = ChatAgent.make({ model: LlmModels.openAiGpt4oMini })
 *
 * // an HttpRouter with the socket route, to serve with `HttpServer.serve()`
 * export const router = HttpRouter.empty.pipe(ChatSocket.route(routes, "example-chat", tutor))
 *
 * @since 0.1.0
 */
import * as Authenticator from "@convo/core/Authenticator"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as Connection from "@convo/core/Connection"
import * as Handshake from "@convo/core/Handshake"
import * as Routes from "@convo/core/Routes"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as CloseCode from "./CloseCode.js"
import * as SocketLoop from "./internal/socketLoop.js"
import * as ReceiveLimit from "./ReceiveLimit.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Origins that may open the socket: exact origins such as `https://chat.example.com`,
   * `"same-origin"` (the Origin's host equals the request's `Host`) or `"*"`. A request without an
   * Origin header (not a browser) is accepted. Default `["same-origin"]`.
   */
  readonly allowedOrigins?: ReadonlyArray<string> | undefined
  /**
   * The largest frame accepted, in bytes (UTF-8 for text); a larger one closes with 1009. Default 1
   * MiB. With a `ReceiveLimit` binding (`ChatSocketNode`), a frame is refused as soon as its header
   * announces more, before it is buffered.
   */
  readonly maxFrameBytes?: number | undefined
  /**
   * The most a socket may hold, each way, for a client that does not keep up: frames written but
   * not yet taken by the client (`ws`'s `bufferedAmount`, checked at the first frame of each
   * event-loop turn), and the client's own frames waiting to be handled. Past it the socket is
   * closed with 1008 and nothing more is buffered for it; the client reconnects with its last event
   * id and gets what it missed. Default 16 MiB.
   */
  readonly maxBufferedBytes?: number | undefined
  /**
   * How a refused connection is answered: `"status"` (default) refuses the upgrade with an HTTP
   * status and a JSON body; `"close"` upgrades and closes at once with a `CloseCode` and a reason.
   */
  readonly rejectWith?: "status" | "close" | undefined
}

/**
 * @since 0.1.0
 * @category defaults
 */
export const defaultMaxFrameBytes = 1024 * 1024

/**
 * @since 0.3.0
 * @category defaults
 */
export const defaultMaxBufferedBytes = 16 * 1024 * 1024

/**
 * The WebSocket routes of a route table.
 *
 * @since 0.1.0
 * @category models
 */
export type WsRoute<R extends Routes.Route> = Extract<R, { readonly kind: "ws" }>

/**
 * The names of a table's WebSocket routes.
 *
 * @since 0.1.0
 * @category models
 */
export type WsRouteName<R extends Routes.Route> = WsRoute<R>["name"]

/**
 * An agent mounted on a named WebSocket route.
 *
 * @since 0.1.0
 * @category models
 */
export interface Mount<R extends Routes.Route = Routes.Route> {
  readonly route: WsRouteName<R>
  readonly agent: ChatAgent.ChatAgent
  readonly options?: Options | undefined
}

const wsRoute = (table: Routes.Table, name: string): Routes.Route<string, "ws"> => {
  const found = Routes.get(table, name)
  if (Option.isNone(found)) {
    throw new Routes.RouteError({ reason: "UnknownRoute", route: name, detail: "no route has this name" })
  }
  if (found.value.kind !== "ws") {
    throw new Routes.RouteError({ reason: "UnknownRoute", route: name, detail: "this route is not a WebSocket route" })
  }
  return found.value as Routes.Route<string, "ws">
}

/** The path of a request URL: Node gives the path and query, web runtimes the absolute URL. */
const pathnameOf = (url: string): string => {
  const path = url.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/, "")
  const end = path.search(/[?#]/)
  return end === -1 ? path : path.slice(0, end)
}

const isWebSocketHandshake = (request: HttpServerRequest.HttpServerRequest): boolean =>
  request.method === "GET" &&
  (request.headers["upgrade"] ?? "").toLowerCase() === "websocket" &&
  (request.headers["sec-websocket-key"] ?? "").length > 0 &&
  ["8", "13"].includes(request.headers["sec-websocket-version"] ?? "")

const upgradeRequired = HttpServerResponse.unsafeJson(
  { error: "upgrade_required", message: "this path serves WebSocket connections only" },
  { status: 426, headers: { upgrade: "websocket", connection: "Upgrade" } }
)

const badHandshake = HttpServerResponse.unsafeJson(
  { error: "bad_request", message: "not a valid WebSocket handshake" },
  { status: 400 }
)

/**
 * The request handler of one agent on one WebSocket route of the table: for any router, or
 * anything that runs an `HttpServerRequest` handler. The route's pattern is matched again with the
 * table's converters, against the request's original URL. Throws a `RouteError` at once when the
 * table has no WebSocket route of that name.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler = <R extends Routes.Route>(
  table: Routes.Table<R>,
  name: WsRouteName<R>,
  agent: ChatAgent.ChatAgent,
  options?: Options
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  HttpServerRequest.HttpServerRequest | ChatAgent.Requirements
> => {
  const route = wsRoute(table, name)
  const single = Routes.make([route])
  const maxFrameBytes = options?.maxFrameBytes ?? defaultMaxFrameBytes
  const maxBufferedBytes = options?.maxBufferedBytes ?? defaultMaxBufferedBytes
  const rejectWith = options?.rejectWith ?? "status"
  const handshake: Handshake.Options = { allowedOrigins: options?.allowedOrigins }

  return Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    if ((request.headers["upgrade"] ?? "").toLowerCase() !== "websocket") return upgradeRequired
    if (!isWebSocketHandshake(request)) return badHandshake
    const matched = Routes.match(single, "ws", pathnameOf(request.originalUrl))
    if (Option.isNone(matched)) {
      return Handshake.refusalResponse(
        new ChatAgent.ConnectionRejected({ reason: "NotFound", detail: "no chat at this path" })
      )
    }
    const info = Handshake.requestInfo(request)

    return yield* Effect.scoped(
      Effect.gen(function* () {
        const opened = yield* Effect.gen(function* () {
          const user = yield* Handshake.verify(info, handshake)
          const connection = Connection.make({
            user,
            params: matched.value.params,
            data: { transport: "ws", route: route.name, request: info },
            lastEventId: Handshake.lastEventId(info)
          })
          return yield* ChatAgent.connect(agent, connection)
        }).pipe(Effect.withSpan("ChatSocket.accept", { attributes: { route: route.name } }), Effect.either)

        if (Either.isLeft(opened)) {
          const rejection = opened.left
          if (rejectWith === "status") return Handshake.refusalResponse(rejection)
          yield* ReceiveLimit.beforeUpgrade(request, SocketLoop.refusedFrameBytes)
          const socket = yield* request.upgrade
          yield* SocketLoop.refuse(socket, CloseCode.ofRejection(rejection.reason), rejection.detail)
          return HttpServerResponse.empty()
        }
        yield* ReceiveLimit.beforeUpgrade(request, maxFrameBytes)
        const recheck = yield* SocketLoop.recheckOf(
          yield* Effect.serviceOption(Authenticator.Authenticator),
          info,
          opened.right.connection.user
        )
        const socket = yield* request.upgrade
        yield* SocketLoop.run(opened.right, socket, { maxFrameBytes, maxBufferedBytes, recheck })
        return HttpServerResponse.empty()
      })
    ).pipe(Effect.catchTag("RequestError", () => Effect.succeed(upgradeRequired)))
  })
}

/**
 * Mounts an agent on a WebSocket route of the table: adds a `GET` route with the route's pattern
 * to an `HttpRouter`. Throws a `RouteError` at once when the table has no WebSocket route of that
 * name.
 *
 * @since 0.1.0
 * @category routing
 */
export const route =
  <R extends Routes.Route>(
    table: Routes.Table<R>,
    name: WsRouteName<R>,
    agent: ChatAgent.ChatAgent,
    options?: Options
  ) =>
  <E, RR>(router: HttpRouter.HttpRouter<E, RR>): HttpRouter.HttpRouter<E, RR | ChatAgent.Requirements> =>
    HttpRouter.get(router, wsRoute(table, name).pattern as HttpRouter.PathInput, handler(table, name, agent, options))

/**
 * A router with every mount.
 *
 * @since 0.1.0
 * @category routing
 */
export const router = <R extends Routes.Route>(
  table: Routes.Table<R>,
  mounts: ReadonlyArray<Mount<R>>
): HttpRouter.HttpRouter<never, ChatAgent.Requirements> =>
  mounts.reduce(
    (acc: HttpRouter.HttpRouter<never, ChatAgent.Requirements>, mount) =>
      route(table, mount.route, mount.agent, mount.options)(acc),
    HttpRouter.empty
  )

/**
 * Serves the mounts on the `HttpServer` provided (e.g. `NodeHttpServer.layer`, or
 * `ChatSocketNode.layer`, which brings one).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R extends Routes.Route>(
  table: Routes.Table<R>,
  mounts: ReadonlyArray<Mount<R>>
): Layer.Layer<never, never, HttpServer.HttpServer | ChatAgent.Requirements> => HttpServer.serve(router(table, mounts))
