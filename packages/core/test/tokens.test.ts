import * as LlmModels from "@convo/core/LlmModels"
import * as FakeOpenAI from "@convo/testing/FakeOpenAI"
import { assert, describe, it } from "@effect/vitest"
import { AIMessage, type BaseMessage, HumanMessage, SystemMessage, ToolMessage } from "@langchain/core/messages"
import { convertMessagesToCompletionsMessageParams } from "@langchain/openai"
import * as Effect from "effect/Effect"
import * as Tokens from "../src/internal/tokens.js"

const samples: ReadonlyArray<BaseMessage> = [
  new SystemMessage("You are a language tutor. 중국어로만 답변해주세요."),
  new HumanMessage("첫 문장으로 대화를 시작해주세요."),
  new AIMessage("你好！欢迎光临星巴克。请问您想喝点什么？"),
  new HumanMessage({
    content: [
      { type: "text", text: "What is in this picture?" },
      { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } }
    ]
  }),
  new AIMessage({ content: "", tool_calls: [{ id: "call_1", name: "weather", args: { city: "Seoul", days: 3 } }] }),
  new ToolMessage({ content: '{"sky":"clear","high":21}', tool_call_id: "call_1", name: "weather" }),
  new AIMessage("It is sunny in Seoul — 21 °C. Special text: <|endoftext|> {{braces}} `code` 🙂")
]

describe("token counts", () => {
  it.live("an OpenAI spec counts at least what the provider counts for the same request, with a small margin", () =>
    Effect.gen(function* () {
      const counter = yield* Tokens.counterFor(LlmModels.openAiGpt4o)
      assert.strictEqual(counter.encoding, "o200k_base")
      // what ChatOpenAI sends, counted by the fake provider on its own
      const request = { messages: convertMessagesToCompletionsMessageParams({ messages: [...samples] }) }
      const provider = yield* Effect.promise(() =>
        FakeOpenAI.countTokens(request as unknown as FakeOpenAI.ChatCompletionRequest)
      )
      const ours =
        Tokens.replyPriming + samples.reduce((sum, message) => sum + Tokens.messageTokens(counter, message), 0)
      assert.isAtLeast(ours, provider)
      assert.isAtMost(ours, provider + 4 * samples.length + 40, "a margin, not a guess")
      assert.strictEqual(counter.text("hello"), 1)
      assert.strictEqual(counter.text(""), 0)
    })
  )

  it("the heuristic for unknown models counts ASCII at 3 characters a token and other characters one each", () => {
    assert.strictEqual(Tokens.heuristic("abcdef"), 2)
    assert.strictEqual(Tokens.heuristic("안녕하세요"), 5)
    assert.strictEqual(Tokens.heuristic("🙂"), 1)
    assert.strictEqual(Tokens.encodingOf(LlmModels.anthropicClaudeSonnet4), "heuristic")
    assert.strictEqual(
      Tokens.encodingOf(LlmModels.openAiCompatible({ name: "llama3.2", baseURL: "http://x/v1" })),
      "heuristic"
    )
  })

  it("images cost their provider's documented maximum", () => {
    assert.strictEqual(Tokens.imageTokens("openai"), 1_445)
    assert.strictEqual(Tokens.imageTokens("anthropic"), 1_600)
    assert.strictEqual(Tokens.imageTokens("google"), 1_548)
  })
})
