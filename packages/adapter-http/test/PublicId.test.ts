/**
 * Conversations by public id over HTTP: `HttpChat`'s routes (POST a message, GET the history,
 * DELETE the messages) and the AI SDK's chat `id`, with the same access rules as integer ids.
 */
import * as ChatAgent from "@convo/core/ChatAgent"
import * as LlmModels from "@convo/core/LlmModels"
import * as Routes from "@convo/core/Routes"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as AiSdkChat from "../src/AiSdkChat.js"
import * as HttpChat from "../src/HttpChat.js"
import { chatOf, textOf } from "./aiSdkClient.js"
import * as Support from "./support.js"

const agent = ChatAgent.make({ name: "http-public-id", model: LlmModels.openAiGpt4oMini })
const table = Routes.make([...HttpChat.routes({ base: "/api" })])

describe("HTTP: conversations by public id", () => {
  it.scopedLive("HttpChat posts, reads and clears a conversation named by its public id", () =>
    Effect.gen(function* () {
      const env = yield* Support.makeEnv([ScriptedReply.text("answered by public id")])
      const { base } = yield* Support.serve(HttpChat.router(agent, { routes: table, heartbeat: null })).pipe(
        Effect.provide(env.context)
      )
      const thread = yield* env.store.create({ userId: "alice" })
      const path = (name: "convo-messages" | "convo-history", id: string) =>
        Effect.runSync(Routes.reverse(table, name, { conversation_pk: id }))
      const posted = yield* Support.postJson(
        `${base}${path("convo-messages", thread.publicId)}`,
        { type: "user_message", text: "hi" },
        "alice"
      )
      assert.strictEqual(posted.status, 200)
      assert.strictEqual((yield* env.store.history(thread.id)).entries.length, 2)

      const history = yield* Support.request(`${base}${path("convo-history", thread.publicId)}`, {
        headers: Support.cookie("alice")
      })
      const page = Schema.decodeUnknownSync(HttpChat.HistoryResponse)(JSON.parse(history.text))
      assert.strictEqual(page.conversationId, thread.id)
      assert.strictEqual(page.publicId, thread.publicId)
      assert.deepStrictEqual(
        page.messages.map((m) => m.text),
        ["hi", "answered by public id"]
      )

      const other = yield* Support.request(`${base}${path("convo-history", thread.publicId)}`, {
        headers: Support.cookie("bob")
      })
      assert.strictEqual(other.status, 403)
      const missing = yield* Support.request(`${base}${path("convo-history", "no-such-thread")}`, {
        headers: Support.cookie("alice")
      })
      assert.strictEqual(missing.status, 404)
      const cleared = yield* Support.request(`${base}${path("convo-messages", thread.publicId)}`, {
        method: "DELETE",
        headers: Support.cookie("alice")
      })
      assert.strictEqual(cleared.status, 204)
      assert.strictEqual((yield* env.store.history(thread.id)).entries.length, 0)
    })
  )

  it.scopedLive("the AI SDK's chat id may be the public id", () =>
    Effect.gen(function* () {
      const env = yield* Support.makeEnv([ScriptedReply.text("Hello, thread.")])
      const app = AiSdkChat.router(agent, { routes: AiSdkChat.table({ base: "/api" }), heartbeat: null })
      const served = yield* Support.serve(app).pipe(Effect.provide(env.context))
      const thread = yield* env.store.create({ userId: "alice", publicId: "chat-5b1e0c" })
      const chat = chatOf(served.base, thread.publicId, "alice")
      yield* Effect.promise(() => chat.sendMessage({ text: "Hi" }))
      assert.strictEqual(chat.status, "ready", String(chat.error))
      assert.strictEqual(textOf(chat.messages[1]), "Hello, thread.")
      const stored = yield* env.store.history(thread.id)
      assert.deepStrictEqual(
        stored.entries.map((entry) => entry.kind),
        ["human", "ai"]
      )
      const messages = yield* Support.request(`${served.base}/api/chat/${thread.publicId}/messages`, {
        headers: Support.cookie("alice")
      })
      assert.strictEqual(messages.status, 200)
      assert.strictEqual((JSON.parse(messages.text) as ReadonlyArray<unknown>).length, 2)
    })
  )
})
