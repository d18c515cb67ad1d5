/**
 * The server side of the WebSocket benchmark, run in a child process so that its memory is
 * measured alone.
 *
 * - `convo`: a chat agent mounted with `ChatSocket.layer` on a Node HTTP server (what
 *   `ChatSocketNode.layer` does), with an in-memory store, against an instant
 *   scripted model that streams `DELTAS` deltas per reply.
 * - `raw`: the `ws` package directly, answering each message with the same `DELTAS` frames (the
 *   floor).
 * - `bare`: `@effect/platform`'s upgrade and `Socket.runRaw` with nothing else (no session, no
 *   writer): what the platform costs per connection, for the memory breakdown.
 *
 * Fork with `--import tsx --expose-gc` and argv `convo|raw|bare <conversations>`. Sends `{ port }`
 * to the parent when listening; answers `{ type: "memory" }` with `process.memoryUsage()` after a
 * full GC.
 */
import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as Routes from "@convo/core/Routes"
import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import { WebSocketServer } from "ws"

const DELTAS = 50
const deltaTexts = Array.from({ length: DELTAS }, (_, i) => `w${i} `)

const mode = process.argv[2]
const conversations = Number(process.argv[3] ?? "0")

const ready = (port: number) => process.send?.({ port })

process.on("message", (message: { type?: string }) => {
  if (message?.type !== "memory") return
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  setTimeout(() => {
    gc?.()
    process.send?.({ memory: process.memoryUsage() })
  }, 200)
})
process.on("disconnect", () => process.exit(0))
// exit normally on SIGTERM, so that `--cpu-prof` writes its profile
process.on("SIGTERM", () => process.exit(0))

/** Serves `app` on a Node HTTP server on 127.0.0.1, port 0; runs `setup` first, then reports the port. */
const listen = <ROut, E, E2>(
  app: Layer.Layer<ROut, E, HttpServer.HttpServer>,
  setup: Effect.Effect<void, E2, ROut>
): void => {
  const program = Effect.gen(function* () {
    yield* setup
    const server = yield* HttpServer.HttpServer
    ready(server.address._tag === "TcpAddress" ? server.address.port : 0)
    return yield* Effect.never
  })
  const node = NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" })
  Effect.runFork(
    program.pipe(
      Effect.provide(app.pipe(Layer.provideMerge(node))),
      Logger.withMinimumLogLevel(LogLevel.Warning),
      Effect.tapErrorCause((cause) => Effect.logError("bench server failed", cause))
    )
  )
}

if (mode === "raw") {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
  wss.on("connection", (ws) => {
    ws.on("message", (data) => {
      // decode the client frame as the chat server does, then send 50 frames shaped like its deltas
      JSON.parse(data.toString())
      const id = `run-${randomUUID()}`
      for (const text of deltaTexts) ws.send(JSON.stringify({ type: "message_delta", id, text }))
    })
  })
  wss.on("listening", () => {
    const address = wss.address()
    ready(address === null || typeof address === "string" ? 0 : address.port)
  })
} else if (mode === "bare") {
  const handler = Effect.gen(function* () {
    const socket = yield* HttpServerRequest.upgrade
    yield* socket.runRaw(() => undefined)
    return HttpServerResponse.empty()
  }).pipe(Effect.catchAll(() => Effect.succeed(HttpServerResponse.empty())))
  listen(
    HttpServer.serve(HttpRouter.empty.pipe(HttpRouter.get("/ws/bench/chat/:conversation_pk/", handler))),
    Effect.void
  )
} else if (mode === "convo") {
  const routes = Routes.make([Routes.ws("bench-chat", "/ws/bench/chat/:conversation_pk/")])
  const agent = ChatAgent.make({ name: "bench", model: LlmModels.openAiGpt4oMini, systemPrompt: "Be brief." })
  const model = new ScriptedChatModel({ defaultReply: ScriptedReply.text(deltaTexts) })
  const Store = ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer))
  // one conversation per connection; the benchmark's clients are anonymous
  const setup = Effect.flatMap(ConversationStore.ConversationStore, (store) =>
    Effect.repeatN(store.create({ userId: null }), Math.max(0, conversations - 1))
  ).pipe(Effect.asVoid)
  listen(
    ChatSocket.layer(routes, [{ route: "bench-chat", agent }]).pipe(
      Layer.provide(ChatAgentHooks.layer({ canAccept: () => Effect.succeed(true) })),
      Layer.provide(LlmModels.layerFixed(model)),
      Layer.provideMerge(Store)
    ),
    setup
  )
} else {
  console.error(`usage: server.ts convo|raw|bare <conversations>`)
  process.exit(2)
}
