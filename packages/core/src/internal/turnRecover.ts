/**
 * Recovery: a turn written ahead whose process died (or whose save this process gave up on) is
 * stored with what its last checkpoint holds, as `interrupted` (or `error`), and every watcher is
 * told. It runs when a session opens, before each turn, and at start-up (`ChatAgent.recover`).
 *
 * Two processes may recover the same turn at once: the store's append removes the pending row and
 * writes the history rows in one transaction, and an append of a turn id already in the history
 * stores nothing, so the turn is stored once.
 */
import type { BaseMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import type { ConversationId, MessageStatus, PendingTurn, Service as Store, StoreError } from "../ConversationStore.js"
import type * as Protocol from "../Protocol.js"
import type * as TurnLock from "../TurnLock.js"
import * as Audience from "./audience.js"
import * as Lifecycle from "./lifecycle.js"

/** What recovery needs. @internal */
export interface RecoverEnv {
  readonly store: Store
  readonly lock: TurnLock.Service
  /** Publishes an event to the conversation's watchers. */
  readonly publishTo: (conversationId: ConversationId, event: Protocol.ServerEvent) => Effect.Effect<void>
}

const idOf = (value: unknown): string | undefined => {
  const id = (value as Partial<BaseMessage> | null)?.id
  return typeof id === "string" ? id : undefined
}

/** The status to store a pending turn with, or `undefined` when its owner still runs it. */
const verdict = (env: RecoverEnv, turn: PendingTurn): Effect.Effect<MessageStatus | undefined> => {
  if (turn.owner === env.lock.owner) {
    if (Lifecycle.activeTurns.has(turn.turnId)) return Effect.succeed(undefined)
    return Effect.succeed(Lifecycle.abandonedTurns.get(turn.turnId) ?? "interrupted")
  }
  return Effect.map(env.lock.isAlive(turn.owner), (alive) => (alive ? undefined : "interrupted"))
}

/** Stores one dead turn; gives whether it was one (stored here, or meanwhile by another process). */
const recoverOne = (env: RecoverEnv, turn: PendingTurn): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    const status = yield* verdict(env, turn)
    if (status === undefined) return false
    const result = yield* env.store.append({
      conversationId: turn.conversationId,
      userId: turn.userId,
      turnId: turn.turnId,
      messages: [
        { value: turn.human, status, clientId: turn.clientId },
        ...turn.draft.map((value) => ({ value, status }))
      ]
    })
    Lifecycle.abandonedTurns.delete(turn.turnId)
    if (result.duplicate) return true
    yield* Effect.logInfo(`recovered turn ${turn.turnId} of conversation ${turn.conversationId} as ${status}`)
    const usage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 }
    // seen by the turn's user (in a conversation without an owner, only by them)
    const publish = (event: Protocol.ServerEvent) =>
      env.publishTo(turn.conversationId, Audience.tagUser(event, turn.userId))
    const reply = turn.draft.length > 0 ? idOf(turn.draft[turn.draft.length - 1]) : undefined
    if (reply !== undefined) yield* publish({ type: "message_end", id: reply, status })
    const human = idOf(turn.human)
    if (human !== undefined) yield* publish({ type: "message_end", id: human, status })
    yield* publish({ type: "turn_end", turnId: turn.turnId, status, usage })
    return true
  }).pipe(
    Effect.catchAll((error) => Effect.as(Effect.logWarning(`could not recover turn ${turn.turnId}`, error), true)),
    Effect.uninterruptible
  )

/**
 * Recovers the dead turns of one conversation. Never fails; gives how many dead turns it found
 * (a reader of the history that raced it reads again when that is more than 0). @internal
 */
export const recoverConversation = (env: RecoverEnv, conversationId: ConversationId): Effect.Effect<number> =>
  env.store.pending(conversationId).pipe(
    Effect.flatMap((turns) => Effect.forEach(turns, (turn) => recoverOne(env, turn))),
    Effect.map((found) => found.filter(Boolean).length),
    Effect.catchAll((error) =>
      Effect.as(Effect.logWarning(`could not look for turns to recover in ${conversationId}`, error), 0)
    )
  )

/** Recovers the dead turns of every conversation; gives how many pending turns it looked at. @internal */
export const recoverAll = (env: RecoverEnv): Effect.Effect<number, StoreError> =>
  env.store.pending().pipe(
    Effect.tap((turns) => Effect.forEach(turns, (turn) => recoverOne(env, turn), { discard: true })),
    Effect.map((turns) => turns.length)
  )
