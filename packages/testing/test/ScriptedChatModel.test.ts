import { ScriptedChatModel, ScriptedModelError } from "@convo/testing/ScriptedChatModel"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import {
  type AIMessageChunk,
  type BaseMessage,
  HumanMessage,
  SystemMessage,
  type UsageMetadata
} from "@langchain/core/messages"
import { tool } from "@langchain/core/tools"

// `usage_metadata` types as `never` with @langchain/core 1.4 under this compiler: read it through this.
const usageOf = (message: BaseMessage) => (message as { usage_metadata?: UsageMetadata }).usage_metadata

const prompt = [new SystemMessage("You are a language tutor."), new HumanMessage("첫 문장으로 대화를 시작해주세요.")]
const promptChars = "You are a language tutor.첫 문장으로 대화를 시작해주세요."

type Streamable = { stream: ScriptedChatModel["stream"] }

const collect = async (model: Streamable, messages: Array<BaseMessage> = prompt, signal?: AbortSignal) => {
  const chunks: Array<AIMessageChunk> = []
  let error: unknown = undefined
  try {
    for await (const chunk of await model.stream(messages, signal === undefined ? {} : { signal })) chunks.push(chunk)
  } catch (e) {
    error = e
  }
  const contents = chunks.map((c) => c.content as string).filter((c) => c !== "")
  const total = chunks.length === 0 ? undefined : chunks.reduce((a, b) => a.concat(b))
  return { chunks, contents, total, error }
}

// A JSON-schema tool: zod schemas trip `exactOptionalPropertyTypes` in LangChain's interop types.
const weather = tool(async (input: { city?: unknown }) => `sunny in ${String(input.city)}`, {
  name: "get_weather",
  description: "Weather of a city",
  schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
})

describe("ScriptedReply", () => {
  it("splits text evenly, by words, and keeps every character", () => {
    assert.deepStrictEqual(ScriptedReply.split("abcdefg", 3), ["ab", "cd", "efg"])
    assert.deepStrictEqual(ScriptedReply.split("ab", 5), ["a", "b"])
    assert.deepStrictEqual(ScriptedReply.split("", 3), [])
    assert.deepStrictEqual(ScriptedReply.words("  Hello  big world\n"), ["  Hello  ", "big ", "world\n"])
    assert.deepStrictEqual(ScriptedReply.words("   "), ["   "])
    assert.deepStrictEqual(ScriptedReply.text("你好世界", { chunks: 2 }).deltas, ["你好", "世界"])
  })
})

describe("ScriptedChatModel", () => {
  it("streams a text reply in the scripted deltas, with auto usage", async () => {
    const model = new ScriptedChatModel({ replies: [ScriptedReply.text(["你好", "！欢迎", "光临。"])] })
    const { contents, total, error } = await collect(model)
    assert.isUndefined(error)
    assert.deepStrictEqual(contents, ["你好", "！欢迎", "光临。"])
    assert.strictEqual(total?.content, "你好！欢迎光临。")
    const usage = usageOf(total!)
    assert.strictEqual(usage?.input_tokens, ScriptedReply.roughTokens(promptChars))
    assert.strictEqual(usage?.output_tokens, ScriptedReply.roughTokens("你好！欢迎光临。"))
    assert.strictEqual(usage?.total_tokens, usage!.input_tokens + usage!.output_tokens)
    assert.strictEqual(total?.response_metadata["finish_reason"], "stop")
  })

  it("reports explicit usage, or none", async () => {
    const model = new ScriptedChatModel({
      replies: [
        ScriptedReply.text("a", { usage: { inputTokens: 7, outputTokens: 3 } }),
        ScriptedReply.text("b", { usage: "none" })
      ]
    })
    const first = await collect(model)
    assert.strictEqual(usageOf(first.total!)?.input_tokens, 7)
    assert.strictEqual(usageOf(first.total!)?.total_tokens, 10)
    const second = await collect(model)
    assert.isUndefined(usageOf(second.total!))
  })

  it("records the messages of each call, in order, and falls back to the default reply", async () => {
    const model = new ScriptedChatModel({ replies: [ScriptedReply.text("one")] })
    await collect(model)
    const follow = [...prompt, new HumanMessage("again")]
    const second = await collect(model, follow)
    assert.strictEqual(second.total?.content, "This is a scripted default reply.")
    model.setDefaultReply(ScriptedReply.text("custom default"))
    assert.strictEqual((await collect(model)).total?.content, "custom default")
    assert.strictEqual(model.calls.length, 3)
    assert.deepStrictEqual(
      model.calls[1]!.messages.map((m) => [m.type, m.content]),
      follow.map((m) => [m.type, m.content])
    )
    assert.strictEqual(model.calls[0]!.reply._tag, "Text")
  })

  it("invoke gives the whole reply", async () => {
    const model = new ScriptedChatModel({ replies: [ScriptedReply.text("Hello there, friend", { chunks: 4 })] })
    const message = await model.invoke(prompt)
    assert.strictEqual(message.content, "Hello there, friend")
    assert.strictEqual(usageOf(message)?.output_tokens, ScriptedReply.roughTokens("Hello there, friend"))
    assert.strictEqual(model.calls.length, 1)
  })

  it("bindTools shares the script and records the tools; tool calls assemble with parsed args", async () => {
    const model = new ScriptedChatModel({
      replies: [
        ScriptedReply.toolCalls(
          [
            { name: "get_weather", args: { city: "Seoul" } },
            { name: "get_weather", args: { city: "北京" }, id: "call_custom" }
          ],
          { text: "Let me check.", fragments: 4 }
        )
      ]
    })
    const bound = model.bindTools([weather], { tool_choice: "auto" })
    const { chunks, total, error } = await collect(bound)
    assert.isUndefined(error)
    assert.isAbove(chunks.filter((c) => (c.tool_call_chunks?.length ?? 0) > 0).length, 4)
    assert.strictEqual(total?.content, "Let me check.")
    assert.deepStrictEqual(
      total?.tool_calls?.map((c) => ({ name: c.name, args: c.args, id: c.id })),
      [
        { name: "get_weather", args: { city: "Seoul" }, id: "call_1" },
        { name: "get_weather", args: { city: "北京" }, id: "call_custom" }
      ]
    )
    assert.strictEqual(total?.response_metadata["finish_reason"], "tool_calls")
    assert.strictEqual(model.calls.length, 1, "the bound model records into the original's calls")
    assert.strictEqual(model.calls[0]!.tools.length, 1)
    assert.strictEqual(model.calls[0]!.toolChoice, "auto")
    assert.strictEqual(bound.tools[0], weather)
    assert.strictEqual(model.tools.length, 0)
    assert.strictEqual(model.pending, 0)
  })

  it("invalid tool-call JSON becomes an invalid tool call", async () => {
    const model = new ScriptedChatModel({
      replies: [ScriptedReply.toolCalls([{ name: "get_weather", args: "not json at all" }])]
    })
    const message = await model.bindTools([weather]).invoke(prompt)
    assert.deepStrictEqual(message.tool_calls, [])
    assert.strictEqual(message.invalid_tool_calls?.[0]?.name, "get_weather")
    assert.strictEqual(message.invalid_tool_calls?.[0]?.args, "not json at all")
  })

  it("throws a scripted HTTP error with its status", async () => {
    const model = new ScriptedChatModel({ replies: [ScriptedReply.httpError(429)] })
    const { chunks, error } = await collect(model)
    assert.strictEqual(chunks.length, 0)
    assert.instanceOf(error, ScriptedModelError)
    assert.strictEqual((error as ScriptedModelError).status, 429)
    assert.include((error as Error).message, "429 Rate limit")
  })

  it("throws mid-stream after the scripted deltas", async () => {
    const model = new ScriptedChatModel({
      replies: [ScriptedReply.streamError(["par", "tial"], { message: "socket hang up" })]
    })
    const { contents, error } = await collect(model)
    assert.deepStrictEqual(contents, ["par", "tial"])
    assert.instanceOf(error, ScriptedModelError)
    assert.strictEqual((error as Error).message, "socket hang up")
    assert.isUndefined((error as ScriptedModelError).status)
  })

  it("an abort during a chunk delay ends the stream early", async () => {
    const model = new ScriptedChatModel({
      replies: [ScriptedReply.text(["a", "b", "c", "d"], { chunkDelay: "20 millis" })]
    })
    const controller = new AbortController()
    const seen: Array<string> = []
    let error: unknown
    try {
      for await (const chunk of await model.stream(prompt, { signal: controller.signal })) {
        seen.push(chunk.content as string)
        if (seen.length === 1) controller.abort()
      }
    } catch (e) {
      error = e
    }
    assert.deepStrictEqual(seen, ["a"])
    assert.isDefined(error)
  })

  it("enqueue adds replies after construction", async () => {
    const model = new ScriptedChatModel().enqueue(ScriptedReply.text("x"), ScriptedReply.text("y"))
    assert.strictEqual(model.pending, 2)
    assert.strictEqual((await model.invoke(prompt)).content, "x")
    assert.strictEqual((await model.invoke(prompt)).content, "y")
  })
})

describe("roughTokens", () => {
  it("counts code points: a pair is one, a lone surrogate one", () => {
    const cases = ["", "abcd", "abcde", "😀😀😀😀😀", "a\ud800b", "\udc00\ud800", "한국어 text 中文 🎉"]
    for (const text of cases) assert.strictEqual(ScriptedReply.roughTokens(text), Math.ceil([...text].length / 4), text)
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }),
        (text) => ScriptedReply.roughTokens(text) === Math.ceil([...text].length / 4)
      )
    )
  })
})
