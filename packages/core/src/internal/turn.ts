/**
 * One turn: the human message goes to the model with the history, the reply streams out as
 * events, tools run, and the turn is handed to `onConversationComplete` — also when it fails or
 * is stopped, from a finalizer, with whatever the model produced.
 */
import type { BaseChatModel } from "@langchain/core/language_models/chat_models"
import {
  type AIMessageChunk,
  type BaseMessage,
  AIMessage,
  HumanMessage,
  SystemMessage,
  ToolMessage
} from "@langchain/core/messages"
import type { UsageMetadata } from "@langchain/core/messages"
import type { ToolCall } from "@langchain/core/messages/tool"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import type { Tool } from "../ChatAgent.js"
import type { Hooks } from "../ChatAgentHooks.js"
import type { Connection } from "../Connection.js"
import type { Conversation, ConversationStore, HistoryEntry, MessageStatus } from "../ConversationStore.js"
import * as Protocol from "../Protocol.js"
import { messagesOf, repairToolPairs } from "./llmContext.js"
import { textOf } from "./messageText.js"

/** Everything a turn needs, resolved once per session. @internal */
export interface TurnEnv {
  readonly connection: Connection
  readonly conversation: Conversation | null
  readonly hooks: Hooks
  readonly model: BaseChatModel
  readonly tools: ReadonlyMap<string, Tool>
  readonly systemPrompt: string | null
  readonly timeout: Duration.Duration | null
  readonly maxToolRounds: number
  readonly toolAttempts: number
  /** Sends an event of the turn to every client watching the conversation. */
  readonly emit: (event: Protocol.ServerEvent) => Effect.Effect<void>
  /** Sends an event to this client only. */
  readonly reply: (event: Protocol.ServerEvent) => Effect.Effect<void>
  /** The history of a session without a conversation (nothing is stored). */
  readonly memory: Array<BaseMessage>
}

/** A user message, validated. @internal */
export interface TurnInput {
  readonly text: string
  readonly images: ReadonlyArray<string>
  readonly clientId: string | null
}

class ModelFailed extends Data.TaggedError("ModelFailed")<{ readonly cause: unknown }> {}
class ModelTimedOut extends Data.TaggedError("ModelTimedOut")<{ readonly after: Duration.Duration }> {}

const uuid = (): string => globalThis.crypto.randomUUID()

const emptyUsage = (): Protocol.Usage => ({ inputTokens: 0, outputTokens: 0, totalTokens: 0 })

const usageOf = (chunk: AIMessageChunk | undefined): Protocol.Usage => {
  const usage = chunk?.usage_metadata as UsageMetadata | undefined
  if (usage === undefined) return emptyUsage()
  return {
    inputTokens: usage.input_tokens,
    outputTokens: usage.output_tokens,
    totalTokens: usage.total_tokens ?? usage.input_tokens + usage.output_tokens
  }
}

const addUsage = (a: Protocol.Usage, b: Protocol.Usage): Protocol.Usage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  totalTokens: a.totalTokens + b.totalTokens
})

/** The stored AI message of a streamed reply; `complete: false` drops half-streamed tool calls. */
const toAIMessage = (id: string, chunk: AIMessageChunk | undefined, complete: boolean): AIMessage =>
  new AIMessage({
    id,
    content: chunk?.content ?? "",
    additional_kwargs: complete ? (chunk?.additional_kwargs ?? {}) : {},
    response_metadata: chunk?.response_metadata ?? {},
    tool_calls: complete ? (chunk?.tool_calls ?? []) : [],
    invalid_tool_calls: complete ? (chunk?.invalid_tool_calls ?? []) : [],
    ...(chunk?.usage_metadata !== undefined ? { usage_metadata: chunk.usage_metadata } : {})
  })

const merged = (chunks: ReadonlyArray<AIMessageChunk>): AIMessageChunk | undefined =>
  chunks.length === 0 ? undefined : chunks.reduce((merged, chunk) => merged.concat(chunk))

const humanContent = (input: TurnInput): HumanMessage["content"] =>
  input.images.length === 0
    ? input.text
    : [
        ...(input.text.length > 0 ? [{ type: "text" as const, text: input.text }] : []),
        ...input.images.map((url) => ({ type: "image_url" as const, image_url: { url } }))
      ]

const errorText = (cause: unknown): string => {
  if (cause instanceof Error) return cause.message.slice(0, 300)
  return String(cause).slice(0, 300)
}

/** Runs one turn. It never fails: every failure becomes events and a stored status. @internal */
export const run = (env: TurnEnv, input: TurnInput): Effect.Effect<void, never, ConversationStore> =>
  Effect.gen(function* () {
    let history: ReadonlyArray<HistoryEntry> | null = null
    if (env.conversation !== null) {
      const loaded = yield* Effect.either(env.hooks.getPreviousMessages(env.connection, env.conversation))
      if (Either.isLeft(loaded)) {
        yield* Effect.logError("could not load the history", loaded.left)
        yield* env.reply(
          Protocol.errorEvent("unavailable", "The history could not be loaded; the message was not sent.")
        )
        return
      }
      history = loaded.right
      // a message re-sent after a reconnect (same client id) never runs a turn twice
      if (input.clientId !== null && history.some((entry) => entry.clientId === input.clientId)) {
        yield* env.reply(Protocol.errorEvent("duplicate", "This message was already received."))
        return
      }
    }
    const turnId = uuid()
    const human = new HumanMessage({ id: `msg-${uuid()}`, content: humanContent(input) })
    const state = {
      aiId: `run-${uuid()}`,
      /** The reply's chunks so far, merged once when the reply ends (merging per chunk allocates a message per chunk). */
      chunks: [] as Array<AIMessageChunk>,
      final: null as AIMessage | null,
      toolsOutput: [] as Array<BaseMessage>,
      usage: emptyUsage()
    }
    yield* env.emit({ type: "turn_start", turnId })
    yield* env.emit({
      type: "message_start",
      turnId,
      id: human.id!,
      role: "human",
      text: input.text,
      ...(input.images.length > 0 ? { images: input.images } : {}),
      ...(input.clientId !== null ? { clientId: input.clientId } : {})
    })

    const callModel = (messages: ReadonlyArray<BaseMessage>) => {
      // the model's stream runs in this fiber (no fiber per chunk); interrupting it aborts the request
      const call = Effect.acquireUseRelease(
        Effect.sync(() => new AbortController()),
        (controller) =>
          Effect.tryPromise({
            try: () => env.model.stream(messages as Array<BaseMessage>, { signal: controller.signal }),
            catch: (cause) => new ModelFailed({ cause })
          }).pipe(
            Effect.flatMap((chunks) =>
              Stream.runForEach(
                Stream.fromAsyncIterable(chunks, (cause) => new ModelFailed({ cause })),
                (chunk) => {
                  state.chunks.push(chunk)
                  const text = textOf(chunk.content)
                  return text.length > 0 ? env.emit({ type: "message_delta", id: state.aiId, text }) : Effect.void
                }
              )
            ),
            Effect.map(() => merged(state.chunks))
          ),
        (controller) => Effect.sync(() => controller.abort())
      )
      const timeout = env.timeout
      return timeout === null
        ? call
        : Effect.timeoutFail(call, { duration: timeout, onTimeout: () => new ModelTimedOut({ after: timeout }) })
    }

    const runTool = (call: ToolCall) => {
      const tool = env.tools.get(call.name)
      const failed = (message: string) =>
        new ToolMessage({ content: `Error: ${message}`, tool_call_id: call.id ?? "", name: call.name, status: "error" })
      if (tool === undefined) return Effect.succeed(failed(`unknown tool "${call.name}"`))
      return Effect.tryPromise({
        try: (signal) => tool.invoke({ ...call, type: "tool_call" }, { signal }),
        catch: (cause) => cause
      }).pipe(
        Effect.retry({ times: Math.max(0, env.toolAttempts - 1) }),
        Effect.map((result: unknown) =>
          ToolMessage.isInstance(result)
            ? result
            : new ToolMessage({
                content: typeof result === "string" ? result : JSON.stringify(result),
                tool_call_id: call.id ?? "",
                name: call.name
              })
        ),
        Effect.catchAll((cause) => Effect.succeed(failed(errorText(cause))))
      )
    }

    const body = Effect.gen(function* () {
      const messages: Array<BaseMessage> = [
        ...(env.systemPrompt !== null && env.systemPrompt.length > 0 ? [new SystemMessage(env.systemPrompt)] : []),
        ...repairToolPairs(history === null ? env.memory : messagesOf(history)),
        human
      ]
      for (let round = 1; ; round++) {
        yield* env.emit({ type: "message_start", turnId, id: state.aiId, role: "ai", text: "" })
        const reply = yield* callModel(messages)
        const usage = usageOf(reply)
        state.usage = addUsage(state.usage, usage)
        yield* env.emit({ type: "usage", turnId, messageId: state.aiId, usage })
        const ai = toAIMessage(state.aiId, reply, true)
        const calls = ai.tool_calls ?? []
        if (calls.length === 0 || env.tools.size === 0 || round >= env.maxToolRounds) {
          state.final = ai
          return
        }
        state.chunks = []
        state.toolsOutput.push(ai)
        yield* env.emit({ type: "message_end", id: state.aiId, status: "complete" })
        const results: Array<BaseMessage> = []
        for (const call of calls) {
          yield* env.emit({
            type: "tool_call",
            turnId,
            messageId: ai.id!,
            call: { id: call.id ?? "", name: call.name, args: call.args }
          })
          const result = yield* runTool(call)
          state.toolsOutput.push(result)
          results.push(result)
          yield* env.emit({
            type: "tool_result",
            turnId,
            toolCallId: result.tool_call_id,
            name: call.name,
            content: textOf(result.content),
            isError: result.status === "error"
          })
        }
        messages.push(ai, ...results)
        state.aiId = `run-${uuid()}`
      }
    })

    const finish = (exit: Exit.Exit<void, ModelFailed | ModelTimedOut>) =>
      Effect.gen(function* () {
        const status: MessageStatus = Exit.isSuccess(exit)
          ? "complete"
          : Cause.isInterruptedOnly(exit.cause)
            ? "aborted"
            : "error"
        const ai =
          status === "complete"
            ? state.final
            : state.chunks.length > 0
              ? toAIMessage(state.aiId, merged(state.chunks), false)
              : null
        if (Exit.isFailure(exit) && status === "error") {
          const failure = Cause.failureOption(exit.cause)
          const error = failure._tag === "Some" ? failure.value : undefined
          if (error?._tag === "ModelTimedOut") {
            yield* env.emit({
              type: "error",
              code: "timeout",
              message: `The model did not answer within ${Duration.format(error.after)}.`,
              turnId
            })
          } else {
            yield* Effect.logError(
              "model call failed",
              error?._tag === "ModelFailed" ? errorText(error.cause) : Cause.pretty(exit.cause)
            )
            yield* env.emit({
              type: "error",
              code: "model_error",
              message: `The model call failed: ${error?._tag === "ModelFailed" ? errorText(error.cause) : "internal error"}`,
              turnId
            })
          }
        }
        let stored = true
        if (env.conversation === null) {
          env.memory.push(human, ...state.toolsOutput, ...(ai === null ? [] : [ai]))
        } else {
          stored = yield* env.hooks
            .onConversationComplete(human, ai, state.toolsOutput, {
              connection: env.connection,
              conversation: env.conversation,
              turnId,
              status,
              clientId: input.clientId
            })
            .pipe(
              Effect.retry({ times: 1 }),
              Effect.as(true),
              Effect.catchAllCause((cause) => Effect.logError("could not store the turn", cause).pipe(Effect.as(false)))
            )
          if (!stored) {
            yield* env.emit({
              type: "error",
              code: "unavailable",
              message: "The conversation could not be saved.",
              turnId
            })
          }
        }
        if (ai !== null || status === "complete") {
          yield* env.emit({ type: "message_end", id: state.aiId, status })
        }
        yield* env.emit({ type: "message_end", id: human.id!, status })
        yield* env.emit({ type: "turn_end", turnId, status: stored ? status : "error", usage: state.usage })
      })

    yield* body.pipe(
      Effect.onExit((exit) => Effect.uninterruptible(finish(exit))),
      Effect.ignore
    )
  }).pipe(Effect.withSpan("ChatAgent.turn"))
