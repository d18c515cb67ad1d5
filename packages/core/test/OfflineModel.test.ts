import * as OfflineModel from "@convo/core/OfflineModel"
import * as PromptTemplate from "@convo/core/PromptTemplate"
import { assert, describe, it } from "@effect/vitest"
import {
  type AIMessageChunk,
  type BaseMessage,
  HumanMessage,
  SystemMessage,
  type UsageMetadata
} from "@langchain/core/messages"

const tutorPrompt = PromptTemplate.render(
  `You are a language tutor.
{언어}로 대화를 나눕시다. 번역과 발음을 제공하지 않고 {언어}로만 답변해주세요.
"{상황}"의 상황으로 상황극을 진행합니다.
가능한한 {언어} {레벨}에 맞는 단어와 표현을 사용해주세요.
`,
  { 언어: "중국어", 상황: "스타벅스에서 커피를 주문하는 상황", 레벨: "초급" }
)

const tutorMessages = [new SystemMessage(tutorPrompt), new HumanMessage("첫 문장으로 대화를 시작해주세요.")]

// `usage_metadata` types as `never` with @langchain/core 1.4 under this compiler: read it through this.
const usageOf = (message: BaseMessage) => (message as { usage_metadata?: UsageMetadata }).usage_metadata

const collect = async (model: OfflineModel.OfflineModel, messages: Parameters<typeof model.stream>[0]) => {
  const chunks: Array<AIMessageChunk> = []
  for await (const chunk of await model.stream(messages)) chunks.push(chunk)
  return chunks
}

describe("OfflineModel", () => {
  it("labels the reply, mentions the prompt's situation and echoes the last human message", () => {
    const reply = OfflineModel.replyFor(tutorMessages)
    assert.strictEqual(
      reply,
      [
        OfflineModel.LABEL,
        "Hello! Let's start the role-play: 스타벅스에서 커피를 주문하는 상황.",
        'You said: "첫 문장으로 대화를 시작해주세요."'
      ].join("\n")
    )
    assert.isTrue(reply.startsWith("[offline demo model"))
    assert.include(OfflineModel.LABEL, "OPENAI_API_KEY")
  })

  it("falls back to the prompt's first line, and copes with no system prompt or no human message", () => {
    assert.include(
      OfflineModel.replyFor([new SystemMessage("Be terse.\nSecond line"), new HumanMessage("hi")]),
      'My instructions begin with: "Be terse."'
    )
    assert.include(OfflineModel.replyFor([]), "Say something")
    assert.include(OfflineModel.replyFor([new HumanMessage("only")]), 'You said: "only"')
  })

  it("notes images in a multimodal message", () => {
    const reply = OfflineModel.replyFor([
      new HumanMessage({
        content: [
          { type: "text", text: "what is this?" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }
        ]
      })
    ])
    assert.include(reply, 'You said: "what is this?" (with 1 image)')
  })

  it("streams word by word, and the chunks concat to the reply with usage", async () => {
    const model = new OfflineModel.OfflineModel()
    const chunks = await collect(model, tutorMessages)
    const expected = OfflineModel.replyFor(tutorMessages)
    const words = chunks.filter((c) => c.content !== "")
    assert.isAbove(words.length, 5)
    for (const word of words) assert.match(word.content as string, /^\S+\s*$/)
    const total = chunks.reduce((a, b) => a.concat(b))
    assert.strictEqual(total.content, expected)
    const input = tutorMessages.reduce((sum, m) => sum + Math.ceil([...(m.content as string)].length / 4), 0)
    const output = Math.ceil([...expected].length / 4)
    assert.strictEqual(usageOf(total)?.input_tokens, input)
    assert.strictEqual(usageOf(total)?.output_tokens, output)
    assert.strictEqual(usageOf(total)?.total_tokens, input + output)
    assert.deepStrictEqual(total.tool_calls, [])
  })

  it("is deterministic, and invoke gives the same text and usage as the stream", async () => {
    const model = new OfflineModel.OfflineModel()
    const first = await model.invoke(tutorMessages)
    const second = await model.invoke(tutorMessages)
    assert.strictEqual(first.content, OfflineModel.replyFor(tutorMessages))
    assert.strictEqual(first.content, second.content)
    assert.deepStrictEqual(usageOf(first), usageOf(second))
    assert.strictEqual(usageOf(first)?.output_tokens, OfflineModel.roughTokens(first.content as string))
  })

  it("stops streaming when aborted", async () => {
    const model = new OfflineModel.OfflineModel({ delayMillis: 5 })
    const controller = new AbortController()
    const seen: Array<string> = []
    const run = async () => {
      for await (const chunk of await model.stream(tutorMessages, { signal: controller.signal })) {
        seen.push(chunk.content as string)
        if (seen.length === 2) controller.abort()
      }
    }
    let failed = false
    await run().catch(() => {
      failed = true
    })
    assert.isTrue(failed, "an aborted stream rejects")
    assert.strictEqual(seen.length, 2)
  })
})
