/**
 * One turn, from a user message that is already durable (`turnAccept`) to its stored end: wait for
 * the conversation's lock, recover turns that dead processes left, read the history, run the model
 * (`turnRun`), and finish (`turnFinish`). From the moment the message was accepted, every exit —
 * success, failure, timeout, stop, disconnect, shutdown, even an interruption while waiting for the
 * lock — goes through `finish`, which stores the turn and tells every watcher how it ended.
 */
import type { BaseMessage, HumanMessage } from "@langchain/core/messages"
import type { AIMessage, AIMessageChunk } from "@langchain/core/messages"
import type { BaseChatModel } from "@langchain/core/language_models/chat_models"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type { Tool } from "../ChatAgent.js"
import type { Hooks } from "../ChatAgentHooks.js"
import type { Connection } from "../Connection.js"
import * as FiberId from "effect/FiberId"
import {
  type ConversationId,
  type Conversation,
  type HistoryEntry,
  type Service as Store,
  ConversationStore
} from "../ConversationStore.js"
import type * as Protocol from "../Protocol.js"
import type * as TurnLock from "../TurnLock.js"
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
  readonly timeout: Duration.Duration | null
  readonly maxToolRounds: number
  readonly toolAttempts: number
  /** Attempts of a model call that failed before its first chunk (429, 5xx, a dropped connection). */
  readonly modelAttempts: number
  /** How often a streaming reply is checkpointed; `null`: never. */
  readonly checkpointInterval: Duration.Duration | null
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
  /** The reply's chunks so far, merged once when the reply ends (merging per chunk allocates a message per chunk). */
  chunks: Array<AIMessageChunk>
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
  chunks: [],
  aiStarted: false,
  final: null,
  toolsOutput: [],
  usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
  version: 0,
  lastFailure: undefined
})

const historyOf = (env: TurnEnv): Effect.Effect<Either.Either<ReadonlyArray<HistoryEntry> | null, unknown>> =>
  env.conversation === null
    ? Effect.succeed(Either.right(null))
    : Effect.either(env.hooks.getPreviousMessages(env.connection, env.conversation)).pipe(
        Effect.provideService(ConversationStore, env.store)
      )

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
      if (env.conversation !== null) {
        yield* TurnRecover.recoverConversation(env, env.conversation.id)
      }
      const history = yield* restore(historyOf(env))
      if (Either.isLeft(history)) {
        yield* Effect.logError("could not load the history", history.left)
        return yield* finish(Exit.fail(new TurnRun.HistoryUnavailable()))
      }
      const exit = yield* Effect.exit(restore(TurnRun.body(env, accepted, state, history.right)))
      yield* finish(exit)
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
