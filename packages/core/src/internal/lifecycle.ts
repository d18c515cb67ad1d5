/**
 * What this process knows of its own turns and sessions: the turns it accepted and has not
 * finished (recovery must not finish those), the turns whose save it gave up on (recovery stores
 * them later as `error`), and the open sessions a graceful shutdown ends.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type { MessageStatus } from "../ConversationStore.js"

/** Turn ids accepted by this process and not yet finished. @internal */
export const activeTurns = new Set<string>()

/** Turns this process could not save in time (the store was down): the status recovery gives them. @internal */
export const abandonedTurns = new Map<string, MessageStatus>()

/** An open session, as the shutdown sees it. @internal */
export interface LiveSession {
  /** Ends every message the session has queued (stored as `aborted`). */
  readonly cancelQueued: Effect.Effect<void>
  /** The fiber of the running turn, if any. */
  readonly running: () => Fiber.RuntimeFiber<void> | undefined
  /** Tells the session's client the server is going away (after its last event). */
  readonly goAway: Effect.Effect<void>
}

const sessions = new Set<LiveSession>()
let draining = false

/** @internal */
export const isDraining = (): boolean => draining

/** @internal */
export const register = (session: LiveSession): Effect.Effect<void> => Effect.sync(() => void sessions.add(session))

/** @internal */
export const unregister = (session: LiveSession): Effect.Effect<void> =>
  Effect.sync(() => void sessions.delete(session))

/** @internal */
export interface ShutdownOptions {
  /** How long running turns may go on before they are stopped. Default 10 seconds. */
  readonly grace?: Duration.DurationInput | undefined
  /** How long stopped turns have to store themselves. Default 10 seconds. */
  readonly saveDeadline?: Duration.DurationInput | undefined
}

/** @internal */
export const shutdown = (options: ShutdownOptions = {}): Effect.Effect<void> =>
  Effect.gen(function* () {
    draining = true
    const all = () => Array.from(sessions)
    yield* Effect.forEach(all(), (session) => session.cancelQueued, { discard: true, concurrency: "unbounded" })
    const runningFibers = () => all().flatMap((session) => session.running() ?? [])
    const graceMillis = Duration.toMillis(Duration.decode(options.grace ?? "10 seconds"))
    const start = Date.now()
    while (runningFibers().length > 0 && Date.now() - start < graceMillis) {
      yield* Effect.sleep("20 millis")
    }
    const left = runningFibers()
    if (left.length > 0) {
      yield* Effect.logInfo(`shutdown: stopping ${left.length} running turn(s)`)
      yield* Effect.forEach(left, (fiber) => Fiber.interrupt(fiber), { discard: true, concurrency: "unbounded" }).pipe(
        Effect.timeout(Duration.decode(options.saveDeadline ?? "10 seconds")),
        Effect.ignore
      )
    }
    yield* Effect.forEach(all(), (session) => session.goAway, { discard: true })
    // the transports close their connections (1001) and the sessions end: wait for that, briefly
    const closing = Date.now()
    while (sessions.size > 0 && Date.now() - closing < 2_000) yield* Effect.sleep("10 millis")
  }).pipe(Effect.uninterruptible, Effect.withSpan("ChatAgent.shutdown"))
