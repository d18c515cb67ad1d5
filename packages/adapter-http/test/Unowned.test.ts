/**
 * Clearing a conversation without an owner over HTTP removes only the caller's messages: each
 * user sees only their own messages there, so one user's DELETE must not remove another's.
 */
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as LlmModels from "@convo/core/LlmModels"
import * as Routes from "@convo/core/Routes"
import { assert, describe, it } from "@effect/vitest"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as HttpChat from "../src/HttpChat.js"
import * as Support from "./support.js"

const agent = ChatAgent.make({ name: "http-unowned", model: LlmModels.openAiGpt4oMini })
const table = Routes.make([...HttpChat.routes({ base: "/api" })])

describe("HttpChat: a conversation without an owner", () => {
  it.scopedLive("DELETE clears only the caller's messages, in both directions", () =>
    Effect.gen(function* () {
      const env = yield* Support.makeEnv()
      const { base } = yield* Support.serve(HttpChat.router(agent, { routes: table, heartbeat: null })).pipe(
        Effect.provide(env.context),
        Effect.provide(ChatAgentHooks.layer({}))
      )
      const shared = yield* env.store.create({ userId: null })
      for (const user of ["alice", "bob"]) {
        yield* env.store.append({
          conversationId: shared.id,
          userId: user,
          messages: [
            { value: new HumanMessage({ content: `${user} asks` }) },
            { value: new AIMessage({ content: `${user} is answered` }) }
          ]
        })
      }
      const url = `${base}/api/conversations/${shared.id}`
      const historyOf = (user: string) =>
        Effect.map(Support.request(`${url}/history`, { headers: Support.cookie(user) }), (response) =>
          Schema.decodeUnknownSync(HttpChat.HistoryResponse)(JSON.parse(response.text)).messages.map((m) => m.text)
        )
      const clear = (user: string) =>
        Support.request(`${url}/messages`, { method: "DELETE", headers: Support.cookie(user) })

      assert.strictEqual((yield* clear("bob")).status, 204)
      assert.deepStrictEqual(yield* historyOf("bob"), [])
      assert.deepStrictEqual(yield* historyOf("alice"), ["alice asks", "alice is answered"])
      assert.strictEqual((yield* clear("alice")).status, 204)
      assert.deepStrictEqual(yield* historyOf("alice"), [])
      assert.strictEqual((yield* env.store.history(shared.id)).entries.length, 0)

      // an owned conversation is cleared whole by its owner
      const owned = yield* env.store.create({ userId: "alice" })
      yield* env.store.append({
        conversationId: owned.id,
        userId: "alice",
        messages: [{ value: new HumanMessage({ content: "mine" }) }]
      })
      const ownedClear = yield* Support.request(`${base}/api/conversations/${owned.id}/messages`, {
        method: "DELETE",
        headers: Support.cookie("alice")
      })
      assert.strictEqual(ownedClear.status, 204)
      assert.strictEqual((yield* env.store.history(owned.id)).entries.length, 0)
    })
  )
})
