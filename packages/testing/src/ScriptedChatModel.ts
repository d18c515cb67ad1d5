/**
 * A LangChain chat model that replays a script (`ScriptedReply`) without any HTTP: text streamed
 * in the given deltas, tool calls streamed in fragments, usage, HTTP-like errors, errors in the
 * middle of a stream, and delays. It records every call's messages and bound tools. For fast
 * agent tests and benchmarks; `FakeOpenAI` runs the same scripts through the real OpenAI client.
 *
 * Every call takes the next reply from the queue (shared by the model and every model
 * `bindTools` returns), or the default reply when the queue is empty. Replies stream like
 * `ChatOpenAI`'s: content deltas, tool-call chunks, then one last empty chunk with
 * `usage_metadata` and `finish_reason`.
 *
 * @since 0.1.0
 */
import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager"
import {
  BaseChatModel,
  type BaseChatModelParams,
  type BindToolsInput
} from "@langchain/core/language_models/chat_models"
import { AIMessageChunk, type BaseMessage, type UsageMetadata } from "@langchain/core/messages"
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs"
import { sleep } from "./internal/sleep.js"
import * as ScriptedReply from "./ScriptedReply.js"

/**
 * One call of the model, as it was made.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedCall {
  readonly messages: ReadonlyArray<BaseMessage>
  /** The tools bound with `bindTools` on the model that was called. */
  readonly tools: ReadonlyArray<BindToolsInput>
  /** `tool_choice` from `bindTools` kwargs or the call options, if any. */
  readonly toolChoice: unknown
  /** The reply it was given. */
  readonly reply: ScriptedReply.ScriptedReply
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ScriptedChatModelParams extends BaseChatModelParams {
  readonly replies?: ReadonlyArray<ScriptedReply.ScriptedReply> | undefined
  /** Given when the queue is empty. Default `ScriptedReply.defaultReply`. */
  readonly defaultReply?: ScriptedReply.ScriptedReply | undefined
}

/**
 * The error a scripted `HttpError` or `StreamError` throws. `status` is set for HTTP errors, as
 * on the OpenAI client's `APIError`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ScriptedModelError extends Error {
  readonly status: number | undefined
  readonly type: string | undefined
  readonly code: string | null | undefined
  constructor(
    message: string,
    options?: { readonly status?: number; readonly type?: string; readonly code?: string | null }
  ) {
    super(message)
    this.name = options?.status === undefined ? "ScriptedStreamError" : "ScriptedHttpError"
    this.status = options?.status
    this.type = options?.type
    this.code = options?.code
  }
}

interface State {
  readonly queue: Array<ScriptedReply.ScriptedReply>
  readonly calls: Array<RecordedCall>
  defaultReply: ScriptedReply.ScriptedReply
  toolCallIds: number
}

const textOf = (message: BaseMessage): string => {
  const content = message.content
  if (typeof content === "string") return content
  return content.map((part) => (part.type === "text" && typeof part["text"] === "string" ? part["text"] : "")).join("")
}

// With @langchain/core 1.4 under this compiler the message fields' `usage_metadata` types as `never`.
const aiChunk = (fields: {
  readonly content: string
  readonly tool_call_chunks?: ReadonlyArray<Record<string, unknown>>
  readonly usage_metadata?: UsageMetadata
  readonly response_metadata?: Record<string, unknown>
}): AIMessageChunk => new AIMessageChunk(fields as unknown as ConstructorParameters<typeof AIMessageChunk>[0])

/**
 * The scripted model.
 *
 * @example
 * ```ts
 * import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
 * import * as ScriptedReply from "@convo/testing/ScriptedReply"
 *
 * const model = new ScriptedChatModel({
 *   replies: [ScriptedReply.text("你好！", { chunks: 2 }), ScriptedReply.httpError(500)]
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export class ScriptedChatModel extends BaseChatModel {
  static override lc_name(): string {
    return "ScriptedChatModel"
  }

  /** The tools bound to this model (empty unless it came from `bindTools`). */
  get tools(): ReadonlyArray<BindToolsInput> {
    return this.#tools
  }

  #tools: ReadonlyArray<BindToolsInput> = []
  #state: State
  #toolChoice: unknown = undefined

  constructor(params: ScriptedChatModelParams = {}) {
    const { defaultReply, replies, ...rest } = params
    super(rest)
    this.#state = {
      queue: [...(replies ?? [])],
      calls: [],
      defaultReply: defaultReply ?? ScriptedReply.defaultReply,
      toolCallIds: 0
    }
  }

  /** Every call so far (of this model and the models `bindTools` made from it), in order. */
  get calls(): ReadonlyArray<RecordedCall> {
    return this.#state.calls
  }

  /** Replies still queued. */
  get pending(): number {
    return this.#state.queue.length
  }

  /** Queues more replies. */
  enqueue(...replies: ReadonlyArray<ScriptedReply.ScriptedReply>): this {
    this.#state.queue.push(...replies)
    return this
  }

  /** Sets the reply given when the queue is empty. */
  setDefaultReply(reply: ScriptedReply.ScriptedReply): this {
    this.#state.defaultReply = reply
    return this
  }

  override _llmType(): string {
    return "scripted"
  }

  /**
   * A model that shares this one's script and records these tools with each call. The scripted
   * tool calls do not depend on them.
   */
  override bindTools(tools: Array<BindToolsInput>, kwargs?: Partial<this["ParsedCallOptions"]>): ScriptedChatModel {
    const next = new ScriptedChatModel({})
    next.#state = this.#state
    next.#tools = [...this.#tools, ...tools]
    next.#toolChoice = kwargs?.tool_choice ?? this.#toolChoice
    return next
  }

  override async *_streamResponseChunks(
    messages: Array<BaseMessage>,
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun
  ): AsyncGenerator<ChatGenerationChunk> {
    const state = this.#state
    const reply = state.queue.shift() ?? state.defaultReply
    state.calls.push({
      messages: [...messages],
      tools: this.#tools,
      toolChoice: options.tool_choice ?? this.#toolChoice,
      reply
    })
    const signal = options.signal
    await sleep(reply.firstByteDelayMillis, signal)

    if (reply._tag === "HttpError") {
      throw new ScriptedModelError(`${reply.status} ${reply.message}`, {
        status: reply.status,
        type: reply.type,
        code: reply.code
      })
    }

    let sent = 0
    const emit = async function* (chunk: ChatGenerationChunk) {
      if (sent > 0) await sleep(reply.chunkDelayMillis, signal)
      sent++
      yield chunk
      await runManager?.handleLLMNewToken(chunk.text, undefined, undefined, undefined, undefined, { chunk })
    }

    for (const delta of reply.deltas) {
      yield* emit(new ChatGenerationChunk({ message: aiChunk({ content: delta }), text: delta }))
    }

    if (reply._tag === "StreamError") {
      if (sent > 0) await sleep(reply.chunkDelayMillis, signal)
      throw new ScriptedModelError(reply.message)
    }

    if (reply._tag === "ToolCalls") {
      for (const [index, call] of reply.calls.entries()) {
        const id = call.id ?? `call_${++state.toolCallIds}`
        yield* emit(
          new ChatGenerationChunk({
            message: aiChunk({
              content: "",
              tool_call_chunks: [{ type: "tool_call_chunk", index, id, name: call.name, args: "" }]
            }),
            text: ""
          })
        )
        for (const fragment of ScriptedReply.split(call.arguments, reply.fragments)) {
          yield* emit(
            new ChatGenerationChunk({
              message: aiChunk({ content: "", tool_call_chunks: [{ type: "tool_call_chunk", index, args: fragment }] }),
              text: ""
            })
          )
        }
      }
    }

    const finishReason = reply._tag === "ToolCalls" ? "tool_calls" : reply.finishReason
    // the prompt's text (the whole history) only when the reply counts its tokens
    const usage = ScriptedReply.usageFor(reply, reply.usage === "auto" ? messages.map(textOf).join("") : "")
    yield* emit(
      new ChatGenerationChunk({
        message: aiChunk({
          content: "",
          response_metadata: { model_name: "scripted", finish_reason: finishReason },
          ...(usage === undefined
            ? {}
            : {
                usage_metadata: {
                  input_tokens: usage.inputTokens,
                  output_tokens: usage.outputTokens,
                  total_tokens: usage.inputTokens + usage.outputTokens
                }
              })
        }),
        text: "",
        generationInfo: { finish_reason: finishReason }
      })
    )
  }

  override async _generate(
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
