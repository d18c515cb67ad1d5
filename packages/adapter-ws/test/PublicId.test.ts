/**
 * Conversations by public id over a socket: a route that takes public ids only (`Routes.publicId`),
 * `reverse` with a public id, the history event naming both ids, turns stored under the
 * conversation, and the same refusals as for integer ids.
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import * as Routes from "@convo/core/Routes"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Client from "./support/client.js"
import { browser, Harness, layer, routes } from "./support/harness.js"

describe("ChatSocket: conversations by public id", () => {
  it.scopedLive("a public id in the route opens the conversation, its turns are stored under it", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const store = yield* ConversationStore.ConversationStore
      const thread = yield* store.create({ userId: "alice", publicId: "thread-7f3a/오늘" })
      const path = yield* Routes.reverse(routes, "thread-chat", { conversation_id: thread.publicId })
      assert.strictEqual(path, `/ws/threads/${encodeURIComponent("thread-7f3a/오늘")}/`)

      const alice = yield* Client.connect(harness.url(path), browser(harness.origin, "alice"))
      const [history] = yield* alice.until((events) => events.some((event) => event.type === "history"))
      assert.deepStrictEqual(history, {
        type: "history",
        conversationId: thread.id,
        publicId: thread.publicId,
        messages: [],
        hasMore: false,
        initial: true
      })
      harness.model.enqueue(ScriptedReply.text(["hello by public id"]))
      yield* alice.send({ type: "user_message", text: "hi" })
      yield* alice.until((events) => events.some((event) => event.type === "turn_end"))
      const stored = yield* store.history(thread.id)
      assert.deepStrictEqual(
        stored.entries.map((entry) => entry.kind),
        ["human", "ai"]
      )

      // the integer route still opens it, and its history names the public id too
      const byInteger = yield* Client.connect(
        harness.url(Routes.reverseUnsafe(routes, "example-chat", { conversation_pk: thread.id })),
        browser(harness.origin, "alice")
      )
      const events = yield* byInteger.until((events) => events.some((event) => event.type === "history"))
      const page = events.find((event) => event.type === "history")!
      assert.strictEqual(page.type === "history" ? page.publicId : undefined, thread.publicId)
      assert.strictEqual(page.type === "history" ? page.messages.length : 0, 2)

      // another user is refused; an unknown public id is not found; digits do not match the route
      const bob = yield* Client.refusal(harness.url(path), browser(harness.origin, "bob"))
      assert.strictEqual(bob.status, 403)
      const missing = yield* Client.refusal(
        harness.url("/ws/threads/no-such-thread/"),
        browser(harness.origin, "alice")
      )
      assert.strictEqual(missing.status, 404)
      assert.strictEqual((missing.body as { error: { code: string } }).error.code, "not_found")
      const digits = yield* Client.refusal(harness.url(`/ws/threads/${thread.id}/`), browser(harness.origin, "alice"))
      assert.strictEqual(digits.status, 404)
      const refused = yield* Effect.either(Routes.reverse(routes, "thread-chat", { conversation_id: "12" }))
      assert.strictEqual(refused._tag, "Left")
    }).pipe(Effect.provide(layer()))
  )
})
