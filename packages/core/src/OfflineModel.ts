/**
 * An offline chat model for demos with no API key: a LangChain `BaseChatModel` that needs no
 * network. It streams a short reply word by word, clearly labelled as a demo (`LABEL`), that
 * mentions the situation it finds in the system prompt (the first quoted phrase, e.g. the
 * language tutor's `"스타벅스에서 커피를 주문하는 상황"`) and echoes the last human message.
 *
 * It is deterministic: the same messages give the same reply and the same `usage_metadata`
 * (rough counts: characters / 4, rounded up). It does not call tools.
 *
 * @since 0.1.0
 */
import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager"
import { BaseChatModel, type BaseChatModelParams } from "@langchain/core/language_models/chat_models"
import { AIMessageChunk, type BaseMessage, type UsageMetadata } from "@langchain/core/messages"
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs"
import { sleep } from "./internal/sleep.js"

/**
 * The first line of every offline reply, so nobody mistakes it for a real model's answer.
 *
 * @since 0.1.0
 * @category constants
 */
export const LABEL = "[offline demo model — set OPENAI_API_KEY for real answers]"

/**
 * The model name the offline model reports in `response_metadata.model_name`.
 *
 * @since 0.1.0
 * @category constants
 */
export const MODEL_NAME = "convo-offline-demo"

/**
 * @since 0.1.0
 * @category models
 */
export interface OfflineModelParams extends BaseChatModelParams {
  /** Pause between streamed words, in milliseconds (real time). Default 0; demos look alive at 20–40. */
  readonly delayMillis?: number | undefined
}

const textOf = (message: BaseMessage): string => {
  const content = message.content
  if (typeof content === "string") return content
  return content.map((part) => (part.type === "text" && typeof part["text"] === "string" ? part["text"] : "")).join("")
}

const imagesIn = (message: BaseMessage): number =>
  typeof message.content === "string"
    ? 0
    : message.content.filter((part) => part.type === "image_url" || part.type === "image").length

const oneLine = (text: string, max: number): string => {
  const flat = text.replace(/\s+/g, " ").trim()
  const chars = [...flat]
  return chars.length <= max ? flat : `${chars.slice(0, max - 1).join("")}…`
}

const QUOTED = /["“「『]([^"”」』\n]{1,200})["”」』]/u

/**
 * Rough token count: characters (code points) / 4, rounded up.
 *
 * @since 0.1.0
 * @category utils
 */
export const roughTokens = (text: string): number => Math.ceil([...text].length / 4)

/**
 * The reply the offline model gives to these messages (pure and deterministic).
 *
 * @since 0.1.0
 * @category utils
 */
export const replyFor = (messages: ReadonlyArray<BaseMessage>): string => {
  const system = messages
    .filter((m) => m.type === "system")
    .map(textOf)
    .join("\n")
  const human = [...messages].reverse().find((m) => m.type === "human")
  const lines = [LABEL]
  const situation = QUOTED.exec(system)?.[1]?.trim()
  if (situation !== undefined && situation.length > 0) {
    lines.push(`Hello! Let's start the role-play: ${oneLine(situation, 120)}.`)
  } else if (system.trim().length > 0) {
    lines.push(`Hello! My instructions begin with: "${oneLine(system.trim().split("\n")[0] ?? "", 100)}"`)
  } else {
    lines.push("Hello! I am a stand-in model that runs without a network.")
  }
  if (human === undefined) {
    lines.push("Say something and I will echo it.")
  } else {
    const text = oneLine(textOf(human), 200)
    const images = imagesIn(human)
    const attachment = images === 0 ? "" : ` (with ${images} image${images === 1 ? "" : "s"})`
    lines.push(text.length > 0 ? `You said: "${text}"${attachment}` : `You sent a message${attachment}.`)
  }
  return lines.join("\n")
}

/**
 * The offline demo model. Streams `replyFor(messages)` word by word, then a last empty chunk
 * carrying `usage_metadata` (as OpenAI's streaming does).
 *
 * @example
 * ```ts
 * import { OfflineModel } from "@convo/core/OfflineModel"
 * import { HumanMessage } from "@langchain/core/messages"
 *
 * const reply = await new OfflineModel().invoke([new HumanMessage("안녕하세요")])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export class OfflineModel extends BaseChatModel {
  static override lc_name(): string {
    return "OfflineModel"
  }

  readonly delayMillis: number

  constructor(params: OfflineModelParams = {}) {
    const { delayMillis, ...rest } = params
    super(rest)
    this.delayMillis = delayMillis !== undefined && Number.isFinite(delayMillis) && delayMillis > 0 ? delayMillis : 0
  }

  override _llmType(): string {
    return "convo-offline"
  }

  override async *_streamResponseChunks(
    messages: Array<BaseMessage>,
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun
  ): AsyncGenerator<ChatGenerationChunk> {
    const reply = replyFor(messages)
    const words = reply.match(/\S+\s*/g) ?? []
    for (const [i, word] of words.entries()) {
      if (i > 0) await sleep(this.delayMillis, options.signal)
      if (options.signal?.aborted) return
      const chunk = new ChatGenerationChunk({ message: new AIMessageChunk({ content: word }), text: word })
      yield chunk
      await runManager?.handleLLMNewToken(word, undefined, undefined, undefined, undefined, { chunk })
    }
    const input = messages.reduce((sum, m) => sum + roughTokens(textOf(m)), 0)
    const output = roughTokens(reply)
    const usage: UsageMetadata = { input_tokens: input, output_tokens: output, total_tokens: input + output }
    yield new ChatGenerationChunk({
      // The cast: with @langchain/core 1.4 under this compiler, `usage_metadata` in the fields types as `never`.
      message: new AIMessageChunk({
        content: "",
        response_metadata: { model_name: MODEL_NAME, finish_reason: "stop" },
        usage_metadata: usage
      } as unknown as ConstructorParameters<typeof AIMessageChunk>[0]),
      text: "",
      generationInfo: { finish_reason: "stop", model_name: MODEL_NAME }
    })
  }

  async _generate(
    messages: Array<BaseMessage>,
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun
  ): Promise<ChatResult> {
    let aggregate: ChatGenerationChunk | undefined
    for await (const chunk of this._streamResponseChunks(messages, options, runManager)) {
      aggregate = aggregate === undefined ? chunk : aggregate.concat(chunk)
    }
    return { generations: aggregate === undefined ? [] : [aggregate] }
  }
}
