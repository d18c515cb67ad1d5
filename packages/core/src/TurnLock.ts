/**
 * One turn at a time per conversation. The default lock is in-process (a semaphore per
 * conversation); a layer can replace it with a database lock to serialize turns across processes.
 *
 * The lock also names the process that runs a turn (`owner`, stored with each turn written ahead)
 * and tells whether the owner of a pending turn is still alive (`isAlive`), so that recovery
 * finishes only the turns of processes that died. The in-process lock has one owner per process:
 * a pending turn of any other owner was left by an earlier process (one process per database).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ConversationId } from "./ConversationStore.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Runs `effect` while holding the conversation's turn lock; waits for the lock if another turn holds it. */
  readonly withLock: (
    conversationId: ConversationId
  ) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** This process, as stored with the turns it writes ahead. */
  readonly owner: string
  /** Whether the process that wrote a pending turn is still running. */
  readonly isAlive: (owner: string) => Effect.Effect<boolean>
}

/**
 * The owner of every in-process lock of this process.
 *
 * @since 0.2.0
 * @category constructors
 */
export const processOwner: string = `process:${globalThis.crypto.randomUUID()}`

/**
 * @since 0.1.0
 * @category tags
 */
export class TurnLock extends Context.Tag("@convo/core/TurnLock")<TurnLock, Service>() {}

/**
 * An in-process lock: a semaphore per conversation, released and forgotten when no turn holds
 * or awaits it, so memory stays bounded by the number of busy conversations.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (): Service => {
  const locks = new Map<ConversationId, { readonly semaphore: Effect.Semaphore; users: number }>()
  return {
    owner: processOwner,
    isAlive: (owner) => Effect.succeed(owner === processOwner),
    withLock: (conversationId) => (effect) =>
      Effect.suspend(() => {
        let entry = locks.get(conversationId)
        if (entry === undefined) {
          entry = { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }
          locks.set(conversationId, entry)
        }
        const held = entry
        held.users++
        return held.semaphore
          .withPermits(1)(effect)
          .pipe(
            Effect.ensuring(
              Effect.sync(() => {
                held.users--
                if (held.users === 0) locks.delete(conversationId)
              })
            )
          )
      })
  }
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<TurnLock> = Layer.sync(TurnLock, makeMemory)

const processLock = makeMemory()

/**
 * The lock in use: the `TurnLock` service when one is provided, else one shared in-process lock.
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Service> = Effect.map(Effect.serviceOption(TurnLock), (option) =>
  option._tag === "Some" ? option.value : processLock
)
