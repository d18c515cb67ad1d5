/**
 * One turn, from a user message that is already durable (`turnAccept`) to its stored end: wait for
 * the conversation's lock, recover turns that dead processes left, read the history, run the model
 * (`turnRun`), and finish (`turnFinish`). From the moment the message was accepted, every exit —
 * success, failure, timeout, stop, disconnect, shutdown, even an interruption while waiting for the
 * lock — goes through `finish`, which stores the turn and tells every watcher how it ended.
 */
import type { BaseMessage, HumanMessage } from "@langchain/core/messages"
import type { AIMessage } from "@langchain/core/messages"
import type { BaseChatModel } from "@langchain/core/language_models/chat_models"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type { Tool } from "../ChatAgent.js"
import type { Hooks } from "../ChatAgentHooks.js"
import type { Connection } from "../Connection.js"
import * as FiberId from "effect/FiberId"
import { SystemMessage } from "@langchain/core/messages"
import {
  type ConversationId,
  type Conversation,
  type Service as Store,
  ConversationStore
} from "../ConversationStore.js"
import type * as Protocol from "../Protocol.js"
import type * as TurnLock from "../TurnLock.js"
import * as ContextWindow from "./contextWindow.js"
import { ReplyMerge } from "./replyMerge.js"
import * as Summary from "./summary.js"
import * as Tokens from "./tokens.js"
import * as TurnFinish from "./turnFinish.js"
import * as TurnRecover from "./turnRecover.js"
import * as TurnRun from "./turnRun.js"

/** Everything a turn needs, resolved once per session. @internal */
export interface TurnEnv {
  readonly connection: Connection
  readonly conversation: Conversation | null
  readonly hooks: Hooks
  /** Whether `onConversationComplete` is the default one (which also takes the turn out of the pending table). */
  readonly defaultCompletion: boolean
  readonly model: BaseChatModel
  readonly tools: ReadonlyMap<string, Tool>
  readonly systemPrompt: string | null
  /** The context window of the session: its policy, token counter and last window. */
  readonly context: ContextWindow.State
  /** Whether the history is read by the window (`getPreviousMessages` is the default one). */
  readonly windowed: boolean
  readonly timeout: Duration.Duration | null
  readonly maxToolRounds: number
  readonly toolAttempts: number
  /** Attempts of a model call that failed before its first chunk (429, 5xx, a dropped connection). */
  readonly modelAttempts: number
  /** How often a streaming reply is checkpointed; `null`: never. */
  readonly checkpointInterval: Duration.Duration | null
  /** The bound on how long a reply's text is held to be sent as one delta; `0`: a delta per chunk. */
  readonly deltaWindowMs: number
  /** How long the end of a turn retries while the store is unreachable. */
  readonly saveWindow: Duration.Duration
  /** How many turns of the conversation may wait (running one included) before `busy`. */
  readonly maxQueued: number
  readonly store: Store
  readonly lock: TurnLock.Service
  /** Sends an event of the turn to every client watching the conversation. */
  readonly emit: (event: Protocol.ServerEvent) => Effect.Effect<void>
  /** Sends an event to every client watching another conversation (recovery). */
  readonly publishTo: (conversationId: ConversationId, event: Protocol.ServerEvent) => Effect.Effect<void>
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

/** A user message accepted (durable when the session has a conversation), waiting for its turn. @internal */
export interface Accepted {
  readonly turnId: string
  readonly human: HumanMessage
  readonly input: TurnInput
}

/** What a turn has produced so far; `finish` and checkpoints read it. @internal */
export interface TurnState {
  /** `turn_start` and the human `message_start` were sent. */
  started: boolean
  aiId: string
  /** The reply of the current model call so far. */
  reply: ReplyMerge
  /** The reply's `message_start` was sent. */
  aiStarted: boolean
  final: AIMessage | null
  toolsOutput: Array<BaseMessage>
  usage: Protocol.Usage
  /** Bumped by every chunk and tool output: a checkpoint is written when it moved. */
  version: number
  /** The last failure of a model call, kept to say why when a timeout ends the retries. */
  lastFailure: unknown
}

const uuid = (): string => globalThis.crypto.randomUUID()

/** @internal */
export const newState = (): TurnState => ({
  started: false,
  aiId: `run-${uuid()}`,
  reply: new ReplyMerge(),
  aiStarted: false,
  final: null,
  toolsOutput: [],
  usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
  version: 0,
  lastFailure: undefined
})

/** The window of the history for this turn: read newest first only as far as the budget goes. */
const windowOf = (
  env: TurnEnv,
  conversation: Conversation | null,
  budget: number
): Effect.Effect<ContextWindow.Window, unknown> => {
  if (conversation === null) return Effect.sync(() => ContextWindow.fromMemory(env.context, env.memory, budget))
  if (!env.windowed) {
    // the app's own history (an overridden getPreviousMessages), cut to the budget
    return env.hooks.getPreviousMessages(env.connection, conversation).pipe(
      Effect.map((entries) => ContextWindow.fromEntries(env.context, env.store, entries, budget)),
      Effect.provideService(ConversationStore, env.store)
    )
  }
  return ContextWindow.load(env.context, env.store, conversation.id, env.connection.user?.id ?? null, budget)
}

/**
 * What the model is sent: the system prompt (with the summary when the history is cut), the
 * window, the new message. Fails with `ContextTooLarge` when the new message does not fit, and
 * with `HistoryUnavailable` when the store cannot be read.
 */
const prepare = (
  env: TurnEnv,
  accepted: Accepted
): Effect.Effect<TurnRun.Prompt, ContextWindow.ContextTooLarge | TurnRun.HistoryUnavailable> =>
  Effect.gen(function* () {
    const room = yield* ContextWindow.room(env.context, accepted.human)
    const conversation = env.conversation
    const counter = env.context.counter
    const summarizer = env.context.policy.summarize
    let summary: string | null = null
    if (summarizer !== null && conversation !== null) {
      const latest = yield* Effect.either(env.store.get(conversation.id))
      const stored = Either.isRight(latest)
        ? Summary.parse(latest.right.metadata, Summary.keyOf(conversation, env.connection.user?.id ?? null))
        : null
      summary = stored?.text ?? null
    }
    const summaryTokens = summary === null ? 0 : Tokens.perMessage + counter.text(summary)
    const fitsSummary = summaryTokens <= room
    const history = yield* Effect.either(windowOf(env, conversation, fitsSummary ? room - summaryTokens : room))
    if (Either.isLeft(history)) {
      yield* Effect.logError("could not load the history", history.left)
      return yield* new TurnRun.HistoryUnavailable()
    }
    const window = history.right
    const withSummary = summary !== null && fitsSummary && window.cut
    const system = withSummary ? Summary.withSummary(env.systemPrompt, summary!) : env.systemPrompt
    return {
      messages: [
        ...(system !== null && system.length > 0 ? [new SystemMessage(system)] : []),
        ...window.messages,
        accepted.human
      ],
      context: { messages: window.messages.length, firstSeq: window.firstSeq, cut: window.cut, summary: withSummary }
    }
  })

/** After a turn whose window was cut: the summary is brought up to date in the background. */
const summarizeLater = (env: TurnEnv, prompt: TurnRun.Prompt | null): Effect.Effect<void> => {
  const summarizer = env.context.policy.summarize
  const conversation = env.conversation
  const windowStart = prompt?.context.firstSeq
  if (summarizer === null || conversation === null || prompt === null || !prompt.context.cut) return Effect.void
  if (windowStart === null || windowStart === undefined) return Effect.void
  return Effect.asVoid(
    Effect.forkDaemon(
      Summary.update({
        store: env.store,
        conversation,
        userId: env.connection.user?.id ?? null,
        windowStart,
        every: env.context.policy.summarizeEvery,
        summarizer
      })
    )
  )
}

/**
 * Runs one accepted turn. It never fails: every failure becomes events and a stored status.
 *
 * @internal
 */
export const run = (env: TurnEnv, accepted: Accepted): Effect.Effect<void> => {
  const state = newState()
  let finished = false
  const finish = (exit: Exit.Exit<void, TurnRun.TurnFailure>) =>
    Effect.suspend(() => {
      if (finished) return Effect.void
      finished = true
      return TurnFinish.finish(env, accepted, state, exit)
    })
  const underLock = Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      // The window is read while recovery looks for turns dead processes left (one round trip less
      // before the model call); when it found one, the window is read again, so it holds that turn.
      const recovering =
        env.conversation === null ? Effect.succeed(0) : TurnRecover.recoverConversation(env, env.conversation.id)
      const [recovered, early] = yield* Effect.all([recovering, Effect.exit(restore(prepare(env, accepted)))], {
        concurrency: 2
      })
      const prompt =
        recovered > 0 && Exit.isSuccess(early) ? yield* Effect.exit(restore(prepare(env, accepted))) : early
      if (Exit.isFailure(prompt)) return yield* finish(Exit.asVoid(prompt))
      const exit = yield* Effect.exit(restore(TurnRun.body(env, accepted, state, prompt.value)))
      yield* finish(exit)
      yield* summarizeLater(env, prompt.value)
    })
  )
  const locked = env.conversation === null ? underLock : env.lock.withLock(env.conversation.id)(underLock)
  // interrupted while waiting for the lock (a stop, a disconnect or a shutdown while queued): the
  // message is stored as `aborted` all the same. The body is interruptible even when the turn's
  // fiber starts uninterruptible (the session forks it so, so that an interruption that comes before
  // the turn's first step still ends here and stores the message)
  return Effect.uninterruptible(
    Effect.interruptible(locked).pipe(
      Effect.exit,
      Effect.flatMap((exit) => finish(Exit.isSuccess(exit) ? Exit.void : (exit as Exit.Exit<void, never>)))
    )
  ).pipe(Effect.withSpan("ChatAgent.turn"))
}

/**
 * Ends a queued turn without running it (stopped before its turn, or its session closed): stored
 * as `aborted`, with events to every watcher.
 *
 * @internal
 */
export const cancel = (env: TurnEnv, accepted: Accepted): Effect.Effect<void> =>
  TurnFinish.finish(env, accepted, newState(), Exit.interrupt(FiberId.none)).pipe(Effect.uninterruptible)
