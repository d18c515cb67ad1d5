/**
 * The Node binding of `ChatSocket`: a standalone Node HTTP server (`@effect/platform-node`) that
 * serves the mounted agents. Everything else in the adapter is runtime-neutral.
 *
 * @example
 * import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
 * import * as ChatSocketNode from "@convo/adapter-ws/ChatSocketNode"
 * import * as ChatAgent from "@convo/core/ChatAgent"
 * import * as LlmModels from "@convo/core/LlmModels"
 * import * as Routes from "@convo/core/Routes"
 *
 * const routes = Routes.make([Routes.ws("example-chat", "/ws/example/chat/:conversation_pk/")])
 * const tutor = ChatAgent.make({ model: LlmModels.openAiGpt4oMini })
 * const mounts: ReadonlyArray<ChatSocket.Mount<(typeof routes.routes)[number]>> = [
 *   { route: "example-chat", agent: tutor }
 * ]
 *
 * // Layer<HttpServer, ServeError, ConversationStore | ChatModelFactory>
 * export const server = ChatSocketNode.layer(routes, mounts, { port: 8000 })
 *
 * @since 0.1.0
 */
import type * as ChatAgent from "@convo/core/ChatAgent"
import type * as Routes from "@convo/core/Routes"
import type * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import * as ChatSocket from "./ChatSocket.js"
import * as NodeReceiveLimit from "./internal/nodeReceiveLimit.js"
import * as ReceiveLimit from "./ReceiveLimit.js"

/**
 * Where the server listens. Port 0 picks a free port: read it from `HttpServer`'s `address`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Listen {
  readonly port?: number | undefined
  readonly host?: string | undefined
}

/**
 * The frame limit of each chat socket enforced while frames arrive, on `@effect/platform-node`'s
 * WebSocket server (see `ReceiveLimit`): a frame whose header announces more than the socket's
 * `maxFrameBytes` closes the socket with 1009 before its payload is buffered. `layer` includes it;
 * provide it beside `NodeHttpServer.layer` when you serve `ChatSocket.route` yourself.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerReceiveLimit: Layer.Layer<ReceiveLimit.ReceiveLimit> = Layer.succeed(ReceiveLimit.ReceiveLimit, {
  beforeUpgrade: NodeReceiveLimit.beforeUpgrade
})

/**
 * A Node HTTP server listening on `listen` and serving the mounts, with `layerReceiveLimit`. It
 * gives the `HttpServer` service (for its address) and stops with its scope.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R extends Routes.Route>(
  table: Routes.Table<R>,
  mounts: ReadonlyArray<ChatSocket.Mount<R>>,
  listen: Listen = {}
): Layer.Layer<HttpServer.HttpServer, ServeError, ChatAgent.Requirements> =>
  ChatSocket.layer(table, mounts).pipe(
    Layer.provide(layerReceiveLimit),
    Layer.provideMerge(
      NodeHttpServer.layer(() => Http.createServer(), {
        port: listen.port ?? 0,
        ...(listen.host !== undefined ? { host: listen.host } : {})
      })
    )
  )
