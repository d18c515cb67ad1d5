/**
 * The running part of a turn: the human message goes to the model with the history, the reply
 * streams out as events, tools run, and the reply so far is checkpointed at an interval.
 *
 * Every way out of a model call — its timeout, a stop, a disconnect, a shutdown — aborts the
 * request (its `AbortSignal`) first and never waits on the stream's own cleanup: LangChain's
 * stream `return()` awaits the pending body read, which only the abort ends, so a silent model
 * would otherwise hold the turn forever.
 */
import type { AIMessageChunk, BaseMessage } from "@langchain/core/messages"
import { AIMessage, ToolMessage } from "@langchain/core/messages"
import type { UsageMetadata } from "@langchain/core/messages"
import type { ToolCall } from "@langchain/core/messages/tool"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import type * as Protocol from "../Protocol.js"
import type { ContextTooLarge } from "./contextWindow.js"
import { DeltaPump } from "./deltaPump.js"
import { textOf } from "./messageText.js"
import { streamModel } from "./modelStream.js"
import { ReplyMerge } from "./replyMerge.js"
import type { Accepted, TurnEnv, TurnState } from "./turn.js"

/** The model call failed; `streamed`: after some of the reply arrived (never retried). @internal */
export class ModelFailed extends Data.TaggedError("ModelFailed")<{
  readonly cause: unknown
  readonly streamed: boolean
}> {}

/** The model did not finish within the agent's timeout; `lastFailure`: why the last attempt failed, if one did. @internal */
export class ModelTimedOut extends Data.TaggedError("ModelTimedOut")<{
  readonly after: Duration.Duration
  readonly lastFailure: unknown
}> {}

/** The history could not be read: the turn ends as `error` without calling the model. @internal */
export class HistoryUnavailable extends Data.TaggedError("HistoryUnavailable")<{}> {}

/** @internal */
export type TurnFailure = ModelFailed | ModelTimedOut | HistoryUnavailable | ContextTooLarge

/** What a turn sends to the model, and what of the history that is. @internal */
export interface Prompt {
  readonly messages: ReadonlyArray<BaseMessage>
  readonly context: Protocol.ContextInfo
}

const uuid = (): string => globalThis.crypto.randomUUID()

const usageOf = (chunk: AIMessageChunk | undefined): Protocol.Usage => {
  const usage = chunk?.usage_metadata as UsageMetadata | undefined
  if (usage === undefined) return { inputTokens: 0, outputTokens: 0, totalTokens: 0 }
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

/** The stored AI message of a streamed reply; `complete: false` drops half-streamed tool calls. @internal */
export const toAIMessage = (id: string, chunk: AIMessageChunk | undefined, complete: boolean): AIMessage =>
  new AIMessage({
    id,
    content: chunk?.content ?? "",
    additional_kwargs: complete ? (chunk?.additional_kwargs ?? {}) : {},
    response_metadata: chunk?.response_metadata ?? {},
    tool_calls: complete ? (chunk?.tool_calls ?? []) : [],
    invalid_tool_calls: complete ? (chunk?.invalid_tool_calls ?? []) : [],
    ...(chunk?.usage_metadata !== undefined ? { usage_metadata: chunk.usage_metadata } : {})
  })

/** What the turn produced so far: tool calls and results, then the reply streamed so far. @internal */
export const draftOf = (state: TurnState): ReadonlyArray<BaseMessage> => [
  ...state.toolsOutput,
  ...(state.reply.count > 0 ? [toAIMessage(state.aiId, state.reply.merged(), false)] : [])
]

/** A short text of an error, safe to log and show. @internal */
export const errorText = (cause: unknown): string => {
  if (cause instanceof Error) return cause.message.slice(0, 300)
  return String(cause).slice(0, 300)
}

const statusOf = (cause: unknown, depth = 0): number | undefined => {
  if (typeof cause !== "object" || cause === null) return undefined
  const status =
    (cause as { status?: unknown }).status ?? (cause as { response?: { status?: unknown } }).response?.status
  if (typeof status === "number") return status
  // LangChain wraps some client errors (a context overflow: `ContextOverflowError`) around the client's own
  return depth < 2 ? statusOf((cause as { cause?: unknown }).cause, depth + 1) : undefined
}

/** Rate limits, server errors and lost connections are worth another attempt; a refused request is not. */
const retryable = (error: ModelFailed): boolean => {
  if (error.streamed) return false
  const cause = error.cause
  if (cause instanceof Error && cause.name === "AbortError") return false
  const status = statusOf(cause)
  return status === undefined || status === 408 || status === 409 || status === 429 || status >= 500
}

/**
 * One model call: the reply streams out as deltas, read by a `DeltaPump` outside the fiber (which
 * resumes once per batch, not per chunk). Every exit aborts the request first.
 */
const streamOnce = (env: TurnEnv, state: TurnState, messages: ReadonlyArray<BaseMessage>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => ({
      controller: new AbortController(),
      iterator: undefined as AsyncIterator<AIMessageChunk> | undefined,
      pump: undefined as DeltaPump | undefined,
      /** How much of this call's text has been sent as deltas. */
      sent: 0,
      /** Every batch was taken: the stream ended or failed. */
      ended: false,
      /** Every batch was taken and sent: the stream ended by itself. */
      completed: false
    })),
    (call) =>
      Effect.gen(function* () {
        const iterator = yield* Effect.tryPromise({
          try: () => streamModel(env.model, messages as Array<BaseMessage>, call.controller.signal),
          catch: (cause) => new ModelFailed({ cause, streamed: false })
        })
        call.iterator = iterator
        const pump = new DeltaPump(iterator, env.deltaWindowMs, (chunk) => {
          state.reply.add(chunk)
          state.version++
        })
        call.pump = pump
        pump.start()
        while (true) {
          // interruptible while waiting: an interruption does not wait for the pending read
          const batch = yield* Effect.promise(() => pump.next())
          for (const text of batch.texts) {
            call.sent += text.length
            yield* env.emit({ type: "message_delta", id: state.aiId, text })
          }
          call.ended = batch.done || batch.failure !== undefined
          if (batch.failure !== undefined) {
            return yield* new ModelFailed({ cause: batch.failure.cause, streamed: batch.failure.streamed })
          }
          if (batch.done) {
            call.completed = true
            return
          }
        }
      }),
    (call) =>
      Effect.suspend(() => {
        call.pump?.close()
        // a stream that ended by itself holds no request: nothing to abort or to clean up
        if (call.completed) return Effect.void
        call.controller.abort()
        // cleanup after the abort, never awaited: the stream ends itself once the request is gone
        call.iterator?.return?.().catch(() => undefined)
        // text that arrived but was still waiting in a batch when the call was interrupted (a stop,
        // a timeout) is sent now: watchers have seen all the text the stored reply holds
        if (call.ended || call.pump === undefined) return Effect.void
        const rest = call.pump.text.slice(call.sent)
        return rest.length > 0 ? env.emit({ type: "message_delta", id: state.aiId, text: rest }) : Effect.void
      })
  )

const callModel = (env: TurnEnv, state: TurnState, messages: ReadonlyArray<BaseMessage>) => {
  const attempts = streamOnce(env, state, messages).pipe(
    Effect.tapError((error) => Effect.sync(() => (state.lastFailure = error.cause))),
    Effect.retry({
      while: retryable,
      schedule: Schedule.exponential("250 millis").pipe(
        Schedule.jittered,
        Schedule.intersect(Schedule.recurs(Math.max(0, env.modelAttempts - 1)))
      )
    }),
    Effect.map(() => state.reply.merged())
  )
  const timeout = env.timeout
  return timeout === null
    ? attempts
    : Effect.timeoutFail(attempts, {
        duration: timeout,
        onTimeout: () => new ModelTimedOut({ after: timeout, lastFailure: state.lastFailure })
      })
}

const runTool = (env: TurnEnv, call: ToolCall) => {
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

/** Writes the turn's draft whenever it moved, every `checkpointInterval`, until interrupted. */
const checkpoints = (env: TurnEnv, accepted: Accepted, state: TurnState): Effect.Effect<void> => {
  const interval = env.checkpointInterval
  const conversation = env.conversation
  if (interval === null || conversation === null) return Effect.void
  let saved = 0
  return Effect.suspend(() => {
    if (state.version === saved) return Effect.void
    const version = state.version
    return env.store.checkpoint(conversation.id, accepted.turnId, draftOf(state)).pipe(
      Effect.tap(() => Effect.sync(() => (saved = version))),
      Effect.catchAll((error) => Effect.logWarning("could not checkpoint the reply", error))
    )
  }).pipe(Effect.delay(interval), Effect.forever)
}

/** A turn begins: `turn_start`, then its human message whole. @internal */
export const announce = (env: TurnEnv, accepted: Accepted): Effect.Effect<void> =>
  Effect.zipRight(
    env.emit({ type: "turn_start", turnId: accepted.turnId }),
    env.emit({
      type: "message_start",
      turnId: accepted.turnId,
      id: accepted.human.id!,
      role: "human",
      text: accepted.input.text,
      ...(accepted.input.images.length > 0 ? { images: accepted.input.images } : {}),
      ...(accepted.input.clientId !== null ? { clientId: accepted.input.clientId } : {})
    })
  )

/** The model loop of a turn, with its tool rounds. @internal */
export const body = (
  env: TurnEnv,
  accepted: Accepted,
  state: TurnState,
  prompt: Prompt
): Effect.Effect<void, TurnFailure> => {
  const { turnId } = accepted
  const loop = Effect.gen(function* () {
    yield* announce(env, accepted)
    state.started = true
    const messages: Array<BaseMessage> = [...prompt.messages]
    for (let round = 1; ; round++) {
      yield* env.emit({ type: "message_start", turnId, id: state.aiId, role: "ai", text: "" })
      state.aiStarted = true
      const reply = yield* callModel(env, state, messages)
      const usage = usageOf(reply)
      state.usage = addUsage(state.usage, usage)
      yield* env.emit({ type: "usage", turnId, messageId: state.aiId, usage, context: prompt.context })
      const ai = toAIMessage(state.aiId, reply, true)
      const calls = ai.tool_calls ?? []
      if (calls.length === 0 || env.tools.size === 0 || round >= env.maxToolRounds) {
        state.final = ai
        return
      }
      state.reply = new ReplyMerge()
      state.toolsOutput.push(ai)
      state.version++
      yield* env.emit({ type: "message_end", id: state.aiId, status: "complete" })
      state.aiStarted = false
      const results: Array<BaseMessage> = []
      for (const call of calls) {
        yield* env.emit({
          type: "tool_call",
          turnId,
          messageId: ai.id!,
          call: { id: call.id ?? "", name: call.name, args: call.args }
        })
        const result = yield* runTool(env, call)
        state.toolsOutput.push(result)
        state.version++
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
  return Effect.acquireUseRelease(
    // forked from an uninterruptible acquire: made interruptible, or the release would wait forever
    Effect.fork(Effect.interruptible(checkpoints(env, accepted, state))),
    () => loop,
    (fiber) => Fiber.interrupt(fiber)
  )
}
