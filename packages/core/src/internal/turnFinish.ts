/**
 * The end of a turn, whatever ended it: the status, the error the client sees, the turn handed to
 * `onConversationComplete` (retried with backoff while the store is unreachable, clients told
 * `saving`), and the closing events to every watcher. Runs uninterruptibly.
 */
import type { AIMessage } from "@langchain/core/messages"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import { type MessageStatus, ConversationStore, StoreError } from "../ConversationStore.js"
import { tooLargeText } from "./contextWindow.js"
import * as Lifecycle from "./lifecycle.js"
import type { Accepted, TurnEnv, TurnState } from "./turn.js"
import { type TurnFailure, announce, errorText, toAIMessage } from "./turnRun.js"

const isOutage = (error: unknown): boolean => error instanceof StoreError && error.reason === "Unavailable"

/** The error event a failed turn sends, or none. */
const failureEvent = (env: TurnEnv, turnId: string, exit: Exit.Exit<void, TurnFailure>) =>
  Effect.gen(function* () {
    if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return
    const failure = Cause.failureOption(exit.cause)
    const error = failure._tag === "Some" ? failure.value : undefined
    switch (error?._tag) {
      case "ModelTimedOut": {
        const after = Duration.format(error.after)
        return yield* env.emit(
          error.lastFailure === undefined
            ? { type: "error", code: "timeout", message: `The model did not answer within ${after}.`, turnId }
            : {
                type: "error",
                code: "model_error",
                message: `The model call failed: ${errorText(error.lastFailure)} (gave up after ${after})`,
                turnId
              }
        )
      }
      case "ContextTooLarge":
        return yield* env.emit({ type: "error", code: "too_large", message: tooLargeText(error), turnId })
      case "HistoryUnavailable":
        return yield* env.emit({
          type: "error",
          code: "unavailable",
          message: "The history could not be loaded; the message is saved but was not answered.",
          turnId
        })
      case "ModelFailed":
        yield* Effect.logError("model call failed", errorText(error.cause))
        return yield* env.emit({
          type: "error",
          code: "model_error",
          message: `The model call failed: ${errorText(error.cause)}`,
          turnId
        })
      default:
        yield* Effect.logError("turn failed", Cause.pretty(exit.cause))
        return yield* env.emit({
          type: "error",
          code: "model_error",
          message: "The model call failed: internal error",
          turnId
        })
    }
  })

/** Hands the turn to the store, retrying through an outage for up to `saveWindow`. Gives whether it was stored. */
const store = (env: TurnEnv, accepted: Accepted, state: TurnState, status: MessageStatus, ai: AIMessage | null) => {
  const conversation = env.conversation!
  let told = false
  const once = env.hooks
    .onConversationComplete(accepted.human, ai, state.toolsOutput, {
      connection: env.connection,
      conversation,
      turnId: accepted.turnId,
      status,
      clientId: accepted.input.clientId
    })
    .pipe(
      // a hook that stores elsewhere: the turn leaves the pending table all the same
      Effect.zipRight(env.defaultCompletion ? Effect.void : env.store.release(conversation.id, accepted.turnId)),
      Effect.provideService(ConversationStore, env.store)
    )
  const deadline = Date.now() + Duration.toMillis(env.saveWindow)
  return once.pipe(
    Effect.tapError((error) =>
      isOutage(error) && !told
        ? Effect.sync(() => (told = true)).pipe(
            Effect.zipRight(Effect.logWarning("the store is unreachable; retrying the turn's save", error)),
            // told in the background: with the database down, a publish may wait for it too
            Effect.zipRight(
              Effect.forkDaemon(
                env.emit({
                  type: "saving",
                  turnId: accepted.turnId,
                  message: "The database is unreachable; the reply will be saved when it is back."
                })
              )
            )
          )
        : Effect.void
    ),
    Effect.retry({
      while: (error) => isOutage(error) && Date.now() < deadline,
      schedule: Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("2 seconds")), Schedule.jittered)
    }),
    Effect.as(true),
    Effect.catchAllCause((cause) => Effect.logError("could not store the turn", cause).pipe(Effect.as(false)))
  )
}

/** @internal */
export const finish = (
  env: TurnEnv,
  accepted: Accepted,
  state: TurnState,
  exit: Exit.Exit<void, TurnFailure>
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const { human, turnId } = accepted
    const status: MessageStatus = Exit.isSuccess(exit)
      ? "complete"
      : Cause.isInterruptedOnly(exit.cause)
        ? "aborted"
        : "error"
    const ai =
      status === "complete"
        ? state.final
        : state.reply.count > 0
          ? toAIMessage(state.aiId, state.reply.merged(), false)
          : null
    if (!state.started) {
      // stopped or ended before its turn began: watchers still see the whole turn, begun and ended
      yield* announce(env, accepted)
    }
    yield* failureEvent(env, turnId, exit)
    let stored = true
    if (env.conversation === null) {
      env.memory.push(human, ...state.toolsOutput, ...(ai === null ? [] : [ai]))
    } else {
      stored = yield* store(env, accepted, state, status, ai)
      if (!stored) {
        // the human message stays pending: recovery stores it later, with the last checkpoint, as `error`
        Lifecycle.abandonedTurns.set(turnId, "error")
        yield* env.emit({ type: "error", code: "unavailable", message: "The reply could not be saved.", turnId })
      }
    }
    Lifecycle.activeTurns.delete(turnId)
    if (state.aiStarted || ai !== null) {
      yield* env.emit({ type: "message_end", id: state.aiId, status: stored ? status : "error" })
    }
    yield* env.emit({ type: "message_end", id: human.id!, status: stored ? status : "error" })
    yield* env.emit({ type: "turn_end", turnId, status: stored ? status : "error", usage: state.usage })
  })
