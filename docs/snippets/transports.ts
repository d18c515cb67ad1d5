// Snippets of docs/guides/transports.md. Type-checked in CI; scripts/check-docs.mjs checks that
// each region appears verbatim in the guide.
import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
import * as ChatSocketNode from "@convo/adapter-ws/ChatSocketNode"
import * as HttpChat from "@convo/adapter-http/HttpChat"
import * as NodeChatPage from "@convo/adapter-http/NodeChatPage"
import * as Authenticator from "@convo/core/Authenticator"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as Routes from "@convo/core/Routes"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeHttp from "node:http"

const agent = ChatAgent.make({ model: LlmModels.openAiGpt4oMini, systemPrompt: "Be helpful." })

// #region routes
// one table of named routes for both transports; `reverse` builds their URLs
export const routes = Routes.make([
  Routes.ws("chat-socket", "/ws/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } }),
  Routes.http("chat-page", "/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } }),
  ...HttpChat.routes({ base: "/api" })
])

export const socketUrl = (conversationPk: number) =>
  Routes.reverse(routes, "chat-socket", { conversation_pk: conversationPk }) // Effect<"/ws/chat/42/", RouteError>
// #endregion routes

// #region authenticator
// the user of the HTTP session is the user of the socket (pyhub's AuthMiddlewareStack)
const sessions = new Map<string, { readonly id: string; readonly name: string }>()

export const SessionAuth = Authenticator.layer(
  (request) => Effect.succeed(sessions.get(request.cookies["session"] ?? "") ?? null),
  // an open socket is checked again before each frame and every minute: logged out, it closes (4401)
  { recheck: "1 minute" }
)
// #endregion authenticator

// #region mount
export const router = HttpRouter.empty.pipe(
  // WebSocket: the agent on a route with path parameters
  ChatSocket.route(routes, "chat-socket", agent, { allowedOrigins: ["same-origin"], maxFrameBytes: 256 * 1024 }),
  // HTTP: POST a message → text/event-stream; GET history; DELETE to clear
  HttpRouter.concat(HttpChat.router(agent, { routes, allowedOrigins: ["same-origin"] })),
  // the chat page and its static assets, configured with the socket URL
  HttpRouter.concat(
    NodeChatPage.router<never, never>({
      path: "/chat/42/",
      page: { wsUrl: Routes.reverseUnsafe(routes, "chat-socket", { conversation_pk: 42 }), title: "Chat" }
    })
  )
)

export const ServerLive = HttpServer.serve(router).pipe(
  // the socket's maxFrameBytes, enforced while a frame arrives (before it is buffered)
  Layer.provide(ChatSocketNode.layerReceiveLimit),
  Layer.provide(NodeHttpServer.layer(() => NodeHttp.createServer(), { port: 8000 })),
  Layer.provide(SessionAuth),
  Layer.provide(LlmModels.layerOfflineFallback),
  Layer.provide(ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer)))
)
// #endregion mount
