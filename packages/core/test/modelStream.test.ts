import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { assert, describe, it } from "@effect/vitest"
import { BaseCallbackHandler } from "@langchain/core/callbacks/base"
import type { BaseChatModel } from "@langchain/core/language_models/chat_models"
import { type AIMessageChunk, type BaseMessage, HumanMessage } from "@langchain/core/messages"
import { ChatGenerationChunk, type LLMResult } from "@langchain/core/outputs"
import { streamModel } from "../src/internal/modelStream.js"

/** A user's callbacks: what LangChain tells them about one call. */
class Recorder extends BaseCallbackHandler {
  name = "recorder"
  override awaitHandlers = true
  starts = 0
  tokens: Array<string> = []
  ends: Array<string> = []
  override handleChatModelStart() {
    this.starts++
  }
  override handleLLMNewToken(token: string) {
    this.tokens.push(token)
  }
  override handleLLMEnd(output: LLMResult) {
    this.ends.push(output.generations[0]![0]!.text)
  }
}

const texts = ["Hello", ", ", "world"]
const messages = [new HumanMessage("hi")]

const drain = async (iterator: AsyncIterator<AIMessageChunk>): Promise<Array<string>> => {
  const out: Array<string> = []
  for (;;) {
    const next = await iterator.next()
    if (next.done === true) return out
    out.push(next.value.content as string)
  }
}

describe("streamModel", () => {
  it("streams the model's chunks, and the callbacks set on the model see the call", async () => {
    const recorder = new Recorder()
    const model = new ScriptedChatModel({ defaultReply: ScriptedReply.text(texts), callbacks: [recorder] })
    const chunks = await drain(await streamModel(model, messages, new AbortController().signal))
    assert.deepStrictEqual(chunks.join(""), "Hello, world")
    assert.strictEqual(recorder.starts, 1)
    assert.deepStrictEqual(recorder.tokens.join(""), "Hello, world")
    assert.deepStrictEqual(recorder.ends, ["Hello, world"])
  })

  it("keeps the config of a bound model (withConfig, bindTools)", async () => {
    const recorder = new Recorder()
    const model = new ScriptedChatModel({ defaultReply: ScriptedReply.text(texts) }).withConfig({
      callbacks: [recorder]
    }) as unknown as BaseChatModel
    const chunks = await drain(await streamModel(model, messages, new AbortController().signal))
    assert.strictEqual(chunks.join(""), "Hello, world")
    assert.deepStrictEqual(recorder.ends, ["Hello, world"])
  })

  it("uses a model's own stream when it overrides it", async () => {
    let calls = 0
    class Custom extends ScriptedChatModel {
      override async stream(input: Array<BaseMessage>, options?: Partial<this["ParsedCallOptions"]>) {
        calls++
        return super.stream(input, options)
      }
    }
    const model = new Custom({ defaultReply: ScriptedReply.text(texts) })
    const chunks = await drain(await streamModel(model, messages, new AbortController().signal))
    assert.strictEqual(chunks.join(""), "Hello, world")
    assert.strictEqual(calls, 1)
  })

  it("ends a waiting read when the request is aborted", async () => {
    const model = new ScriptedChatModel({ defaultReply: ScriptedReply.text(texts, { chunkDelay: "10 seconds" }) })
    const controller = new AbortController()
    const iterator = await streamModel(model, messages, controller.signal)
    assert.strictEqual(((await iterator.next()).value as AIMessageChunk).content, "Hello")
    const pending = iterator.next()
    setTimeout(() => controller.abort(), 10)
    const began = Date.now()
    const outcome = await pending.then(
      () => "resolved",
      () => "rejected"
    )
    assert.strictEqual(outcome, "rejected")
    assert.isBelow(Date.now() - began, 5_000)
  })

  /** How many times LangChain folds a chunk into the reply for its handlers, while `run` runs. */
  const folds = async <A>(run: () => Promise<A>): Promise<[A, number]> => {
    const concat = ChatGenerationChunk.prototype.concat
    let count = 0
    ChatGenerationChunk.prototype.concat = function (this: ChatGenerationChunk, chunk: ChatGenerationChunk) {
      count++
      return concat.call(this, chunk)
    }
    try {
      return [await run(), count]
    } finally {
      ChatGenerationChunk.prototype.concat = concat
    }
  }

  it("with no handler to see the call, reads the provider's chunks without folding them, as _streamIterator yields them", async () => {
    const model = new ScriptedChatModel({
      defaultReply: ScriptedReply.text(texts, { usage: { inputTokens: 3, outputTokens: 4 } })
    })
    const collect = async (iterator: AsyncIterator<AIMessageChunk>) => {
      const out: Array<AIMessageChunk> = []
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) out.push(next.value)
      return out
    }
    const [fast, fastFolds] = await folds(async () =>
      collect(await streamModel(model, messages, new AbortController().signal))
    )
    const [stock, stockFolds] = await folds(() =>
      collect(
        (
          model as unknown as { _streamIterator: (m: Array<BaseMessage>, o: object) => AsyncIterator<AIMessageChunk> }
        )._streamIterator(messages, {})
      )
    )
    assert.strictEqual(fastFolds, 0)
    assert.isAbove(stockFolds, 0)
    const shape = (chunk: AIMessageChunk) => ({
      content: chunk.content,
      id: chunk.id,
      response_metadata: chunk.response_metadata,
      usage_metadata: chunk.usage_metadata,
      tool_call_chunks: chunk.tool_call_chunks
    })
    assert.deepStrictEqual(fast.map(shape), stock.map(shape))
  })
})
