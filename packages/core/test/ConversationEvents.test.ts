import * as ConversationEvents from "@convo/core/ConversationEvents"
import type * as Protocol from "@convo/core/Protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"

const delta = (text: string): Protocol.ServerEvent => ({ type: "message_delta", id: "run-1", text })
const texts = (got: ReadonlyArray<ConversationEvents.Published>) =>
  got.map((published) => (published.event.type === "message_delta" ? published.event.text : published.event.type))

describe("ConversationEvents (in memory)", () => {
  it.scoped("watchers get each event synchronously, in order, once; a throwing watcher stops no other", () =>
    Effect.gen(function* () {
      const hub = ConversationEvents.makeMemory()
      const a: Array<ConversationEvents.Published> = []
      const b: Array<ConversationEvents.Published> = []
      yield* hub.watch(1, undefined, (published) => void a.push(published))
      yield* hub.watch(1, undefined, () => {
        throw new Error("a broken watcher")
      })
      yield* hub.watch(1, undefined, (published) => void b.push(published))
      const other: Array<ConversationEvents.Published> = []
      yield* hub.watch(2, undefined, (published) => void other.push(published))
      for (let i = 0; i < 5; i++) {
        yield* hub.publish(1, delta(`w${i}`))
        // delivered within the publish itself
        assert.strictEqual(a.length, i + 1)
      }
      assert.deepStrictEqual(texts(a), ["w0", "w1", "w2", "w3", "w4"])
      assert.deepStrictEqual(texts(b), texts(a))
      assert.deepStrictEqual(
        a.map((published) => published.id),
        [1, 2, 3, 4, 5]
      )
      assert.strictEqual(other.length, 0)
    })
  )

  it.scoped("a watch after an id gets the retained rest first, then the live events, never twice", () =>
    Effect.gen(function* () {
      const hub = ConversationEvents.makeMemory()
      for (let i = 0; i < 4; i++) yield* hub.publish(7, delta(`e${i}`))
      const got: Array<ConversationEvents.Published> = []
      yield* hub.watch(7, 2, (published) => void got.push(published))
      yield* hub.publish(7, delta("e4"))
      assert.deepStrictEqual(texts(got), ["e2", "e3", "e4"])
      assert.deepStrictEqual(
        got.map((published) => published.id),
        [3, 4, 5]
      )
    })
  )

  it.effect("a watch ends with its scope; subscribe gives the same feed as a stream", () =>
    Effect.gen(function* () {
      const hub = ConversationEvents.makeMemory()
      const scope = yield* Scope.make()
      const got: Array<ConversationEvents.Published> = []
      yield* hub.watch(3, undefined, (published) => void got.push(published)).pipe(Scope.extend(scope))
      yield* hub.publish(3, delta("seen"))
      yield* Scope.close(scope, Exit.void)
      yield* hub.publish(3, delta("after the scope"))
      assert.deepStrictEqual(texts(got), ["seen"])
      const streamed = yield* Effect.scoped(
        Effect.gen(function* () {
          const stream = yield* hub.subscribe(3, 0)
          yield* hub.publish(3, delta("live"))
          return yield* Stream.runCollect(Stream.take(stream, 3))
        })
      )
      assert.deepStrictEqual(texts(Chunk.toReadonlyArray(streamed)), ["seen", "after the scope", "live"])
    })
  )
})
