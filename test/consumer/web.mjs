// The HTTP adapter on the runtime's own server (Bun.serve, Deno.serve), no Node binding: the
// router becomes a web-standard Request → Response handler (@effect/platform's
// HttpApp.toWebHandlerLayer). Checks a turn as server-sent events and the history read back.
// scripts/consumer-test.mjs runs it with Bun and with Deno, on the in-memory store (SQLite is
// checked on Node, by store.mjs and the quick start).
import { HttpChat } from "@convo/adapter-http"
import { ChatAgent, ChatAgentHooks, ConversationStore, LlmModels, MessageCodec, Routes } from "@convo/core"
import { HttpApp } from "@effect/platform"
import { Effect, Layer } from "effect"

const check = (condition, what) => {
  if (!condition) throw new Error(`web: failed: ${what}`)
}

const agent = ChatAgent.make({ model: LlmModels.offline, systemPrompt: "You are a language tutor." })
const routes = Routes.make(HttpChat.routes({ base: "/api" }))
const first = Layer.effectDiscard(Effect.flatMap(ConversationStore.ConversationStore, (s) => s.create({})))
const { handler, dispose } = HttpApp.toWebHandlerLayer(
  HttpChat.router(agent, { routes }),
  Layer.mergeAll(ChatAgentHooks.layer({ canAccept: () => Effect.succeed(true) }), LlmModels.layerOfflineFallback).pipe(
    Layer.provideMerge(first),
    Layer.provideMerge(ConversationStore.layerMemory),
    Layer.provide(MessageCodec.layer)
  )
)

const runtime = typeof Bun !== "undefined" ? "bun" : typeof Deno !== "undefined" ? "deno" : "node"
const { url, stop } =
  runtime === "bun"
    ? (() => {
        const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: handler })
        return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) }
      })()
    : runtime === "deno"
      ? (() => {
          const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, handler)
          return { url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() }
        })()
      : (() => {
          throw new Error("web.mjs runs on Bun or Deno (Node has @effect/platform-node)")
        })()

const post = await fetch(`${url}/api/conversations/1/messages`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ type: "user_message", text: "hello over http" })
})
check(post.status === 200, `POST answered ${post.status}: ${await post.clone().text()}`)
check((post.headers.get("content-type") ?? "").includes("text/event-stream"), "POST answers text/event-stream")
const sse = await post.text()
check(/event: turn_end\ndata: {[^\n]*"status":"complete"/.test(sse), `the SSE stream ends the turn: ${sse.slice(-300)}`)
const history = await (await fetch(`${url}/api/conversations/1/history`)).json()
check(JSON.stringify(history).includes("hello over http"), `the history holds the turn: ${JSON.stringify(history)}`)
await stop()
await dispose()
console.log(
  `web on ${runtime}: HttpChat on ${runtime === "bun" ? "Bun.serve" : "Deno.serve"}: an SSE turn and its history — ok`
)
