/**
 * One turn at a time per conversation, in the order the turns asked. The default lock is
 * in-process (a first-come-first-served queue per conversation); a layer can replace it with a
 * database lock to serialize turns across processes.
 *
 * The lock also names the process that runs a turn (`owner`, stored with each turn written ahead)
 * and tells whether the owner of a pending turn is still alive (`isAlive`), so that recovery
 * finishes only the turns of processes that died. The in-process lock has one owner per process:
 * a pending turn of any other owner was left by an earlier process (one process per database).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
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
 * An in-process lock per conversation, **first come, first served**: a released lock goes to the
 * turn that has waited longest, never to one that asks after it (a session whose turn just ended
 * and whose next message is already accepted waits behind the others; with a semaphore it would
 * take the lock again at once and the others could wait without bound). Forgotten when no turn
 * holds or awaits it, so memory stays bounded by the number of busy conversations.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (): Service => {
  const locks = new Map<ConversationId, Queue>()
  const service: Service = {
    owner: processOwner,
    isAlive: (owner) => Effect.succeed(owner === processOwner),
    withLock: (conversationId) => (effect) =>
      Effect.uninterruptibleMask((restore) => {
        let queue = locks.get(conversationId)
        if (queue === undefined) {
          queue = { held: false, waiters: [], users: 0 }
          locks.set(conversationId, queue)
        }
        const q = queue
        q.users++
        return restore(take(q)).pipe(
          Effect.zipRight(
            Effect.ensuring(
              restore(effect),
              Effect.sync(() => release(q))
            )
          ),
          Effect.ensuring(
            Effect.sync(() => {
              if (--q.users === 0) locks.delete(conversationId)
            })
          )
        )
      })
  }
  sizes.set(service, () => locks.size)
  return service
}

interface Queue {
  held: boolean
  /** Oldest first. */
  readonly waiters: Array<Waiter>
  /** Turns holding or awaiting the lock. */
  users: number
}

interface Waiter {
  granted: boolean
  readonly done: Deferred.Deferred<void>
}

const take = (queue: Queue): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!queue.held) {
      queue.held = true
      return Effect.void
    }
    const waiter: Waiter = { granted: false, done: Deferred.unsafeMake<void>(FiberId.none) }
    queue.waiters.push(waiter)
    return Effect.onInterrupt(Deferred.await(waiter.done), () =>
      Effect.sync(() => {
        // interrupted while waiting: leave the queue; handed the lock in the same step: pass it on
        if (waiter.granted) release(queue)
        else queue.waiters.splice(queue.waiters.indexOf(waiter), 1)
      })
    )
  })

const release = (queue: Queue): void => {
  const next = queue.waiters.shift()
  if (next === undefined) {
    queue.held = false
    return
  }
  next.granted = true
  Deferred.unsafeDone(next.done, Exit.void)
}

const sizes = new WeakMap<Service, () => number>()

/**
 * How many conversations an in-process lock remembers (those a turn holds or awaits).
 *
 * @internal
 */
export const memorySize = (lock: Service): number => sizes.get(lock)?.() ?? 0

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
