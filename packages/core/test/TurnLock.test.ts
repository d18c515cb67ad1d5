import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TurnLock from "../src/TurnLock.js"
import type { ConversationId } from "../src/ConversationStore.js"

const c = 1 as ConversationId

describe("TurnLock.makeMemory", () => {
  it.effect("hands the lock to the turns waiting for it in the order they asked", () =>
    Effect.gen(function* () {
      const lock = TurnLock.makeMemory()
      const order: Array<string> = []
      const turn = (name: string) => lock.withLock(c)(Effect.sync(() => order.push(name)))
      const first = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(lock.withLock(c)(Deferred.await(first)))
      yield* Effect.yieldNow()
      const waiting = yield* Effect.forEach(["b", "c", "d"], (name) =>
        Effect.fork(turn(name)).pipe(Effect.zipLeft(Effect.yieldNow()))
      )
      // the holder's session asks again the moment its turn ends: it must not pass the ones waiting
      yield* Deferred.succeed(first, undefined)
      yield* Fiber.join(holder)
      yield* turn("a again")
      yield* Fiber.joinAll(waiting)
      assert.deepStrictEqual(order, ["b", "c", "d", "a again"])
    })
  )

  it.effect(
    "a waiter interrupted before its turn comes leaves the queue; one interrupted as the lock reaches it passes it on",
    () =>
      Effect.gen(function* () {
        const lock = TurnLock.makeMemory()
        const order: Array<string> = []
        const release = yield* Deferred.make<void>()
        const holder = yield* Effect.fork(lock.withLock(c)(Deferred.await(release)))
        yield* Effect.yieldNow()
        const gone = yield* Effect.fork(lock.withLock(c)(Effect.sync(() => order.push("gone"))))
        yield* Effect.yieldNow()
        const next = yield* Effect.fork(lock.withLock(c)(Effect.sync(() => order.push("next"))))
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(gone)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        yield* Fiber.join(next)
        assert.deepStrictEqual(order, ["next"])
        // the same, but the lock is handed over and the waiter interrupted in the same step
        const release2 = yield* Deferred.make<void>()
        const holder2 = yield* Effect.fork(lock.withLock(c)(Deferred.await(release2)))
        yield* Effect.yieldNow()
        const late = yield* Effect.fork(lock.withLock(c)(Effect.never))
        yield* Effect.yieldNow()
        yield* Deferred.succeed(release2, undefined)
        yield* Fiber.interrupt(late)
        yield* Fiber.join(holder2)
        yield* lock.withLock(c)(Effect.sync(() => order.push("after")))
        assert.deepStrictEqual(order, ["next", "after"])
      })
  )

  it.effect("forgets a conversation no turn holds or awaits", () =>
    Effect.gen(function* () {
      const lock = TurnLock.makeMemory()
      yield* Effect.forEach([1, 2, 3], (id) => lock.withLock(id as ConversationId)(Effect.void), { concurrency: 3 })
      assert.strictEqual(TurnLock.memorySize(lock), 0)
    })
  )
})
