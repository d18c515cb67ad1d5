// Snippets of docs/guides/chat-agent.md. Type-checked in CI; scripts/check-docs.mjs checks that
// each region appears verbatim in the guide.
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as Connection from "@convo/core/Connection"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import { tool } from "@langchain/core/tools"
import { ChatOpenAI } from "@langchain/openai"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"

// #region declare
const tutor = ChatAgent.make({
  model: LlmModels.openAiGpt4o,
  temperature: 1,
  systemPrompt: `You are a language tutor.
{언어}로 대화를 나눕시다. 번역과 발음을 제공하지 않고 {언어}로만 답변해주세요.
"{상황}"의 상황으로 상황극을 진행합니다.
가능한한 {언어} {레벨}에 맞는 단어와 표현을 사용해주세요.`,
  // a value, or a function of the connection (pyhub's get_llm_prompt_context_data)
  promptContext: (connection) => ({
    언어: connection.params["language"] ?? "중국어",
    상황: "스타벅스에서 커피를 주문하는 상황",
    레벨: "초급"
  }),
  firstUserMessage: "첫 문장으로 대화를 시작해주세요.",
  timeout: "60 seconds"
})
// #endregion declare

// #region tools
const weather = tool(async ({ city }: { city: string }) => `Sunny in ${city}`, {
  name: "weather",
  description: "Today's weather in a city",
  schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
})

const assistant = ChatAgent.make({ model: LlmModels.openAiGpt4oMini, tools: [weather] })
// #endregion tools

// #region hooks
// accept everyone, as the tutorial does; every other hook keeps its default
const acceptEveryone = ChatAgentHooks.layer({
  canAccept: () => Effect.succeed(true)
})

// store turns your own way (the default stores human, tools output and AI in one transaction)
const auditTurns = ChatAgentHooks.layer({
  onConversationComplete: (human, ai, toolsOutput, context) =>
    Effect.log(`turn ${context.turnId} ended ${context.status}: ${toolsOutput.length} tool messages`).pipe(
      Effect.zipRight(ChatAgentHooks.defaults.onConversationComplete(human, ai, toolsOutput, context))
    )
})
// #endregion hooks

// #region context
// send the model at most 24,000 tokens and 200 history messages of each conversation, and keep a
// running summary (written by a cheaper model) of what falls out, updated every 10 cut turns
const longTalks = ChatAgent.make({
  model: LlmModels.openAiGpt4o,
  systemPrompt: "You are a patient language tutor.",
  context: {
    maxTokens: 24_000,
    maxMessages: 200,
    summarize: new ChatOpenAI({ model: "gpt-4o-mini" }),
    summarizeEvery: 10
  }
})

// or a function of your own: the summary so far and the messages that fell out, oldest first
const ownSummaries = ChatAgent.make({
  model: LlmModels.openAiGpt4oMini,
  context: {
    summarize: ({ previous, messages }) =>
      Effect.succeed(`${previous ?? ""} …and ${messages.length} more messages about coffee.`.trim())
  }
})
// #endregion context

// #region session
const program = Effect.gen(function* () {
  const store = yield* ConversationStore.ConversationStore
  const conversation = yield* store.create({ userId: "alice" })
  const connection = Connection.make({
    user: { id: "alice" },
    params: { conversation_pk: String(conversation.id) }
  })
  const session = yield* ChatAgent.connect(tutor, connection)
  yield* Stream.runForEach(session.events, (event) => Effect.log(event.type)).pipe(Effect.forkScoped)
  yield* session.send({ type: "user_message", text: "你好" })
  yield* session.idle
})

const MainLayer = Layer.mergeAll(
  ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer)),
  LlmModels.layerOfflineFallback
)

export const main = program.pipe(Effect.scoped, Effect.provide(MainLayer))
// #endregion session

export { acceptEveryone, assistant, auditTurns, longTalks, ownSummaries }
