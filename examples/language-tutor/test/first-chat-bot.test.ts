/**
 * Tutorial #01's app: the tutor on a socket with the chat page, no accounts, nothing saved.
 */
import { LABEL as offlineLabel } from "@convo/core/OfflineModel"
import * as HttpServer from "@effect/platform/HttpServer"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as FirstChatBot from "../src/tutorial/FirstChatBot.js"
import { Browser, wsUrlOf } from "./support/Browser.js"

describe("tutorial #01: first chat bot", () => {
  it.scopedLive(
    "the page connects to the reversed socket URL; the tutor speaks first and answers; nothing is stored",
    () =>
      Effect.gen(function* () {
        // no OPENAI_API_KEY whatever the environment: the offline model answers
        const context = yield* Layer.build(
          FirstChatBot.layer(0).pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map()))))
        )
        const address = Context.get(context, HttpServer.HttpServer).address
        assert.strictEqual(address._tag, "TcpAddress")
        const browser = new Browser(`http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`)

        const page = yield* Effect.promise(() => browser.get("/example/chat/language-tutor/"))
        assert.strictEqual(page.status, 200)
        const wsUrl = wsUrlOf(page.body)
        assert.strictEqual(wsUrl, "/ws/example/chat/language-tutor/")

        const socket = browser.socket(wsUrl)
        yield* Effect.promise(() => socket.turnEnded(1))
        assert.deepStrictEqual(socket.ofType("history")[0], {
          type: "history",
          conversationId: null,
          publicId: null,
          messages: [],
          hasMore: false,
          initial: true
        })
        assert.include(socket.aiText(1), offlineLabel)
        assert.include(socket.aiText(1), "스타벅스에서 커피를 주문하는 상황")
        socket.send({ type: "user_message", text: "你好" })
        yield* Effect.promise(() => socket.turnEnded(2))
        assert.include(socket.aiText(2), "你好")
        yield* Effect.promise(() => socket.close())

        // no conversation: a new connection starts over (tutorial #02 saves the history)
        const again = browser.socket(wsUrl)
        yield* Effect.promise(() => again.turnEnded(1))
        assert.deepStrictEqual(again.ofType("history")[0]?.messages, [])
        yield* Effect.promise(() => again.close())
      })
  )
})
