// A typed app against the installed .d.ts (strict, NodeNext; tsconfig.json checks convo's own
// declarations, tsconfig.test.json adds exactOptionalPropertyTypes): an agent with options and hooks, both
// transports, the chat page, routes reversed with typed parameters, the PostgreSQL extras, and
// the tagged errors narrowed by their guards.
import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
import * as CloseCode from "@convo/adapter-ws/CloseCode"
import * as HttpChat from "@convo/adapter-http/HttpChat"
import * as NodeChatPage from "@convo/adapter-http/NodeChatPage"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as Protocol from "@convo/core/Protocol"
import * as Routes from "@convo/core/Routes"
import * as PgMigrations from "@convo/postgres/PgMigrations"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"

export const routes = Routes.make([
  Routes.ws("chat", "/ws/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } }),
  Routes.http("page", "/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } }),
  ...HttpChat.routes({ base: "/api" })
])

// typed reverse: the parameter must be a number
export const socketUrl: Effect.Effect<string, Routes.RouteError> = Routes.reverse(routes, "chat", {
  conversation_pk: 7
})

export const agent: ChatAgent.ChatAgent = ChatAgent.make({
  model: LlmModels.openAiGpt4oMini,
  temperature: 0.7,
  systemPrompt: "Speak {language} only.",
  promptContext: { language: "French" }
})

export const hooks = ChatAgentHooks.layer({ canAccept: (connection) => Effect.succeed(connection.user !== null) })

export const router = HttpRouter.empty.pipe(
  ChatSocket.route(routes, "chat", agent, { allowedOrigins: ["same-origin"] }),
  HttpRouter.concat(HttpChat.router(agent, { routes })),
  HttpRouter.concat(NodeChatPage.router<never, never>({ path: "/chat/1/", page: { wsUrl: "/ws/chat/1/" } }))
)

export const server = HttpServer.serve(router).pipe(
  Layer.provide(NodeHttpServer.layer(createServer, { port: 0 })),
  Layer.provide(hooks),
  Layer.provide(LlmModels.layerOfflineFallback),
  Layer.provide(ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer)))
)

// the wire protocol's schema, shared by server and client
export const frame: Either.Either<Protocol.ClientMessage, Protocol.FrameError> = Protocol.decodeClientFrame(
  JSON.stringify({ type: "user_message", text: "salut" })
)

// store errors are tagged, with guards
export const describeError = (error: unknown): string =>
  ConversationStore.isConversationStoreError(error) ? `store: ${error._tag}` : "other"

export const closeCodes: ReadonlyArray<number> = [CloseCode.unauthenticated]

// the PostgreSQL package: its schema as plain SQL, for your own migration tool
export const pgSchema: string = PgMigrations.toSql({ prefix: "convo_" })
