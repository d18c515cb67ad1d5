/**
 * The language tutor (S22): the seed's `LanguageTutorChatConsumer` as a convo `ChatAgent`. The
 * system prompt is the seed's, word for word; its `{언어}`, `{상황}` and `{레벨}` come from the
 * room of the connection's conversation; the first user message makes the tutor speak first.
 */
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import type { Connection } from "@convo/core/Connection"
import * as LlmModels from "@convo/core/LlmModels"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { defaults, Rooms } from "./Rooms.js"

// #region system-prompt
/** The seed's system prompt. */
export const systemPrompt = `You are a language tutor.
{언어}로 대화를 나눕시다. 번역과 발음을 제공하지 않고 {언어}로만 답변해주세요.
"{상황}"의 상황으로 상황극을 진행합니다.
가능한한 {언어} {레벨}에 맞는 단어와 표현을 사용해주세요.`
// #endregion

/** The tutor agent, with its prompt context read from the rooms. */
export class Tutor extends Effect.Service<Tutor>()("@convo/example-language-tutor/Tutor", {
  effect: Effect.gen(function* () {
    const rooms = yield* Rooms

    // #region prompt-context
    /** The room of the connection's conversation (`/ws/example/chat/:conversation_pk/`). */
    const promptContext = (connection: Connection) =>
      rooms.byConversation(Number(connection.params["conversation_pk"])).pipe(
        Effect.map(Option.getOrElse(() => defaults)),
        Effect.map((room) => ({ 언어: room.language, 상황: room.situation, 레벨: room.level })),
        Effect.orDie
      )
    // #endregion

    // #region agent
    const agent = ChatAgent.make({
      name: "language-tutor",
      model: LlmModels.openAiGpt4o,
      temperature: 1,
      systemPrompt,
      promptContext,
      firstUserMessage: "첫 문장으로 대화를 시작해주세요."
    })
    // #endregion
    return { agent } as const
  })
}) {}

// #region hooks
/**
 * The tutor's hooks. `canAccept` keeps its default (only a logged-in user: the seed's tutorial
 * overrode it to accept everyone); `onConversationComplete` stores the turn as the default does,
 * then logs the tokens it used.
 */
export const hooks: Layer.Layer<ChatAgentHooks.ChatAgentHooks> = ChatAgentHooks.layer({
  onConversationComplete: (human, ai, toolsOutput, context) =>
    ChatAgentHooks.defaults.onConversationComplete(human, ai, toolsOutput, context).pipe(
      Effect.tap(() => {
        const usage =
          ai === null
            ? undefined
            : (ai as { usage_metadata?: { input_tokens: number; output_tokens: number } }).usage_metadata
        return Effect.logInfo(
          `conversation ${context.conversation.id}: turn stored (${context.status}` +
            (usage === undefined ? ")" : `, ${usage.input_tokens} in / ${usage.output_tokens} out tokens)`)
        )
      })
    )
})
// #endregion
