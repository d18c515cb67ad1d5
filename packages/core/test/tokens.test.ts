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

  it("a long run without separators reaches the encoder in short pieces, and counts about the same", () => {
    // BPE is quadratic in a piece's length (8,000 x's: seconds of CPU in js-tiktoken), and a piece
    // of any length would otherwise be remembered: a hostile message must cost neither
    const seen: Array<string> = []
    const encoder = {
      encode: (text: string) => {
        seen.push(text)
        return Array.from({ length: Math.ceil(text.length / 8) }, () => 0)
      }
    }
    const count = Tokens.pieceCounter(encoder, String.raw`\p{L}+|\s+|[^\s\p{L}]+`)
    assert.strictEqual(count("x".repeat(32_000)), 4_000)
    assert.isAtMost(Math.max(...seen.map((piece) => piece.length)), Tokens.maxPiece)
    // a cut never falls between the two halves of a surrogate pair
    seen.length = 0
    assert.isAbove(count("!" + "🙂".repeat(100)), 0)
    assert.isAtMost(Math.max(...seen.map((piece) => piece.length)), Tokens.maxPiece)
    assert.deepStrictEqual(
      seen.filter((piece) => /[\uD800-\uDBFF]$|^[\uDC00-\uDFFF]/.test(piece)),
      []
    )
  })

  it.live("the real encoder counts a long run close to its whole count", () =>
    Effect.gen(function* () {
      const counter = yield* Tokens.counterFor(LlmModels.openAiGpt4o)
      const base64 = Buffer.from(Array.from({ length: 3_000 }, (_, i) => (i * 7_919) % 256)).toString("base64")
      // whole: 2,746 tokens (js-tiktoken, o200k_base)
      const n = counter.text(base64)
      assert.isAtLeast(n, 2_746)
      assert.isAtMost(n, 2_746 * 1.02)
      assert.strictEqual(counter.text("x".repeat(64_000)), 8_000)
    })
  )

  it("images cost their provider's documented maximum", () => {
    assert.strictEqual(Tokens.imageTokens("openai"), 1_445)
    assert.strictEqual(Tokens.imageTokens("anthropic"), 1_600)
    assert.strictEqual(Tokens.imageTokens("google"), 1_548)
  })
})
