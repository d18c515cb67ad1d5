/**
 * Tutorial #01 (docs/tutorials/01-first-chat-bot.md): the smallest convo app — the language tutor
 * agent on a WebSocket route and convo's chat page, with the offline model when there is no
 * OPENAI_API_KEY. No accounts and no saved history yet: tutorial #02 (the rest of this example)
 * adds them. Run it with `npx tsx examples/language-tutor/src/tutorial/first-chat-bot.ts`.
 */
// #region imports
import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
import * as NodeChatPage from "@convo/adapter-http/NodeChatPage"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
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
// #endregion

// #region agent
export const tutor = ChatAgent.make({
  model: LlmModels.openAiGpt4o,
  temperature: 1,
  systemPrompt: `You are a language tutor.
{언어}로 대화를 나눕시다. 번역과 발음을 제공하지 않고 {언어}로만 답변해주세요.
"{상황}"의 상황으로 상황극을 진행합니다.
가능한한 {언어} {레벨}에 맞는 단어와 표현을 사용해주세요.`,
  promptContext: {
    언어: "중국어",
    상황: "스타벅스에서 커피를 주문하는 상황",
    레벨: "초급"
  },
  firstUserMessage: "첫 문장으로 대화를 시작해주세요."
})
// #endregion

// #region can-accept
// accept every connection, logged in or not (the default accepts logged-in users only)
export const hooks = ChatAgentHooks.layer({
  canAccept: () => Effect.succeed(true)
})
// #endregion

// #region routes
export const routes = Routes.make([
  Routes.http("language-tutor-page", "/example/chat/language-tutor/"),
  Routes.ws("language-tutor", "/ws/example/chat/language-tutor/")
])

const router = HttpRouter.empty.pipe(
  ChatSocket.route(routes, "language-tutor", tutor),
  HttpRouter.concat(
    NodeChatPage.router<never, never>({
      path: "/example/chat/language-tutor/",
      page: { wsUrl: Routes.reverseUnsafe(routes, "language-tutor"), title: "Language tutor", lang: "ko" }
    })
  )
)
// #endregion

// #region server
/** The app on a port (0: any free port). */
export const layer = (port: number) =>
  HttpServer.serve(router).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => NodeHttp.createServer(), { port, host: "127.0.0.1" })),
    Layer.provide(hooks),
    Layer.provide(LlmModels.layerOfflineFallback),
    Layer.provide(ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer)))
  )
// #endregion
