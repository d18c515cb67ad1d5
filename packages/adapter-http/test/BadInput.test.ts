/**
 * Hostile bodies on the real HTTP transport: a deeply nested value is a 400 with the usual error
 * body (not a 500 with an empty one), and no refusal echoes more than a short piece of the input.
 */
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as LlmModels from "@convo/core/LlmModels"
import * as Routes from "@convo/core/Routes"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as HttpChat from "../src/HttpChat.js"
import * as Support from "./support.js"

const agent = ChatAgent.make({ name: "http-bad-input", model: LlmModels.openAiGpt4o })
const table = Routes.make([...HttpChat.routes({ base: "/api" })])

const start = Effect.gen(function* () {
  const env = yield* Support.makeEnv()
  const { base } = yield* Support.serve(HttpChat.router(agent, { routes: table, heartbeat: null })).pipe(
    Effect.provide(env.context),
    Effect.provide(ChatAgentHooks.layer({}))
  )
  const conversation = yield* env.store.create({ userId: "alice" })
  return `${base}/api/conversations/${conversation.id}/messages`
})

const errorOf = (text: string) => Schema.decodeUnknownSync(HttpChat.ErrorBody)(JSON.parse(text)).error

const nested = (depth: number, leaf: string): string => "[".repeat(depth) + leaf + "]".repeat(depth)

describe("HttpChat: hostile bodies", () => {
  it.scopedLive("a body nested 5,000 levels deep inside a known field is a 400 with the error body", () =>
    Effect.gen(function* () {
      const url = yield* start
      for (const body of [
        `{"type":"user_message","text":${nested(5000, '"x"')}}`,
        `{"user_text":"hi","images__base64":${nested(5000, "null")}}`
      ]) {
        const response = yield* Support.postJson(url, body, "alice")
        assert.strictEqual(response.status, 400, response.text.slice(0, 200))
        const error = errorOf(response.text)
        assert.strictEqual(error.code, "bad_request")
        assert.include(error.message, "nest deeper than 32 levels")
      }
    })
  )

  it.scopedLive("a refusal quotes at most a short piece of the body; a fake image is invalid_image", () =>
    Effect.gen(function* () {
      const url = yield* start
      const big = "t".repeat(900 * 1024)
      const unknown = yield* Support.postJson(url, { type: big }, "alice")
      assert.strictEqual(unknown.status, 400)
      assert.isBelow(unknown.text.length, 1024)
      const image = yield* Support.postJson(
        url,
        { type: "user_message", text: "look", images: [`data:IMAGE/PNG;base64,${"A".repeat(600 * 1024)}`] },
        "alice"
      )
      assert.strictEqual(image.status, 400)
      assert.strictEqual(errorOf(image.text).code, "invalid_image")
      assert.isBelow(image.text.length, 1024)
    })
  )
})
