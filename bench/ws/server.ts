/**
 * The server side of the event-path benchmark, one system per child process so that its CPU and
 * memory are measured alone. Every system streams the same reply: `DELTAS` deltas `w0 `, `w1 `, ...
 * (instant, or one every `PACE_MS` when paced).
 *
 * - `convo-ws` / `convo-sse`: a chat agent on `ChatSocket` / `HttpChat` (Node HTTP server via
 *   `@effect/platform-node`), every turn stored in SQLite (`SqlConversationStore` on a temporary
 *   file), `@convo/testing`'s `ScriptedChatModel` streaming through LangChain's `BaseChatModel.stream`.
 * - `aisdk-ws` / `aisdk-sse`: the Vercel AI SDK: `streamText` on `MockLanguageModelV4` from
 *   `ai/test` (the same deltas through `simulateReadableStream`). SSE: `toUIMessageStreamResponse()`
 *   piped to `node:http`. WebSocket: `ws` speaking the protocol of the SDK's `WebSocketChatTransport`
 *   (a `send` request in; `start`, one `chunk` frame per UI message chunk with its sequence, `end`
 *   out), the UI message stream from `toUIMessageStream()`. No storage (the SDK has none).
 * - `langchain-ws`: LangChain's `model.stream()` of the same scripted model piped to raw `ws`.
 * - `convo-ws-w0` / `convo-sse-w0`: the same with `deltaWindow: 0` (no coalescing: a delta per chunk).
 * - `raw-ws` / `raw-sse`: the floor: `ws` / `node:http` answering each message with the deltas.
 * - `bare`: `@effect/platform`'s upgrade and `Socket.runRaw` with nothing else (memory breakdown).
 *
 * argv: `<mode> <conversations> <paceMs>`. Sends `{ port }` to the parent when
 * listening; answers `{ type: "memory" }` with `process.memoryUsage()` after a full GC, `{ type: "rss" }`
 * with it at once, and
 * `{ type: "cpu" }` with `process.cpuUsage()`.
 */
import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
import * as HttpChat from "@convo/adapter-http/HttpChat"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as Routes from "@convo/core/Routes"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as Databases from "@convo/testing/Databases"
import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { HumanMessage } from "@langchain/core/messages"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { simulateReadableStream, streamText } from "ai"
import { MockLanguageModelV4 } from "ai/test"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import { Readable } from "node:stream"
import * as v8 from "node:v8"
import { WebSocketServer } from "ws"

const DELTAS = 200
const deltaTexts = Array.from({ length: DELTAS }, (_, i) => `w${i} `)

const mode = process.argv[2]
const conversations = Number(process.argv[3] ?? "0")
const paceMs = Number(process.argv[4] ?? "0")

const ready = (port: number) => process.send?.({ port })

process.on("message", (message: { type?: string }) => {
  if (message?.type === "cpu") {
    process.send?.({ cpu: process.cpuUsage() })
    return
  }
  if (message?.type === "rss") {
    // under load: no GC (a full GC of a busy server each second would be measured as its own cost)
    process.send?.({ memory: process.memoryUsage() })
    return
  }
  if (message?.type !== "memory") return
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  setTimeout(() => {
    gc?.()
    process.send?.({ memory: process.memoryUsage() })
  }, 200)
})
process.on("disconnect", () => process.exit(0))
// `BENCH_MEMORY_LOG=1`: where the memory is, each second, on stderr (heap, external, array buffers, V8 spaces)
if (process.env["BENCH_MEMORY_LOG"] !== undefined) {
  const mb = (bytes: number) => Math.round(bytes / 2 ** 20)
  setInterval(() => {
    const usage = process.memoryUsage()
    const spaces = v8
      .getHeapSpaceStatistics()
      .map((space) => `${space.space_name.replace("_space", "")} ${mb(space.space_used_size)}/${mb(space.space_size)}`)
      .join(", ")
    console.error(
      `${mode} memory MB: rss ${mb(usage.rss)}, heap ${mb(usage.heapUsed)}/${mb(usage.heapTotal)}, external ${mb(usage.external)}, array buffers ${mb(usage.arrayBuffers)}; ${spaces}`
    )
  }, 1000).unref()
  // `kill -USR2 <pid>`: a heap snapshot in the working directory
  process.on("SIGUSR2", () => console.error(`heap snapshot: ${v8.writeHeapSnapshot()}`))
}
// exit normally on SIGTERM, so that `--cpu-prof` writes its profile
process.on("SIGTERM", () => process.exit(0))

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

/** Keep-alive sockets stay open between a client's turns (Node's default closes them after 5 s idle). */
const keepAlive = (server: Http.Server): Http.Server => {
  server.keepAliveTimeout = 120_000
  // no request deadlines: at 1,000 clients a busy server takes long to read a request, and Node's
  // checks (headersTimeout, requestTimeout) would reset the connection
  server.requestTimeout = 0
  server.headersTimeout = 0
  return server
}

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
  const node = NodeHttpServer.layer(() => keepAlive(Http.createServer()), { port: 0, host: "127.0.0.1" })
  Effect.runFork(
    program.pipe(
      Effect.provide(app.pipe(Layer.provideMerge(node))),
      Logger.withMinimumLogLevel(LogLevel.Warning),
      Effect.tapErrorCause((cause) => Effect.logError("bench server failed", cause))
    )
  )
}

const scriptedModel = () =>
  new ScriptedChatModel({
    // the usage the AI SDK's mock model reports (below), not counted from the prompt per call
    defaultReply: ScriptedReply.text(deltaTexts, {
      usage: { inputTokens: 10, outputTokens: DELTAS },
      ...(paceMs > 0 ? { chunkDelay: `${paceMs} millis` } : {})
    })
  })

const aiSdkModel = () =>
  new MockLanguageModelV4({
    doStream: async () => ({
      stream: simulateReadableStream({
        chunks: [
          { type: "stream-start" as const, warnings: [] },
          { type: "text-start" as const, id: "t" },
          ...deltaTexts.map((delta) => ({ type: "text-delta" as const, id: "t", delta })),
          { type: "text-end" as const, id: "t" },
          {
            type: "finish" as const,
            finishReason: { unified: "stop" as const, raw: "stop" },
            usage: {
              inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 },
              outputTokens: { total: DELTAS, text: DELTAS, reasoning: 0 }
            }
          }
        ],
        initialDelayInMs: null,
        chunkDelayInMs: paceMs > 0 ? paceMs : null
      })
    })
  })

const listenNode = (server: Http.Server) =>
  keepAlive(server).listen(0, "127.0.0.1", () => {
    const address = server.address()
    ready(address === null || typeof address === "string" ? 0 : address.port)
  })

const readBody = (request: Http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const parts: Array<Buffer> = []
    request.on("data", (part: Buffer) => parts.push(part))
    request.on("end", () => resolve(Buffer.concat(parts).toString("utf8")))
    request.on("error", reject)
  })

// `convo-*-w0`: no coalescing (a delta per model chunk); else the agent's default window
const convoAgent = ChatAgent.make({
  name: "bench",
  model: LlmModels.openAiGpt4oMini,
  systemPrompt: "Be brief.",
  ...(mode?.endsWith("-w0") === true ? { deltaWindow: 0 } : {})
})
const convoLayers = <A, E, R>(app: Layer.Layer<A, E, R>) =>
  app.pipe(
    Layer.provide(ChatAgentHooks.layer({ canAccept: () => Effect.succeed(true) })),
    Layer.provide(LlmModels.layerFixed(scriptedModel())),
    Layer.provideMerge(SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer))),
    Layer.provideMerge(Databases.sqliteTemp())
  )
// one conversation per connection; the benchmark's clients are anonymous
const createConversations = Effect.flatMap(ConversationStore.ConversationStore, (store) =>
  Effect.repeatN(store.create({ userId: null }), Math.max(0, conversations - 1))
).pipe(Effect.asVoid)

switch (mode) {
  case "raw-ws": {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
    wss.on("connection", (ws) => {
      ws.on("message", async (data) => {
        // decode the client frame as a chat server does, then send frames shaped like convo's deltas
        JSON.parse(data.toString())
        const id = `run-${randomUUID()}`
        for (const text of deltaTexts) {
          if (paceMs > 0) await sleep(paceMs)
          ws.send(JSON.stringify({ type: "message_delta", id, text }))
        }
        ws.send(JSON.stringify({ type: "turn_end", status: "complete" }))
      })
    })
    wss.on("listening", () => {
      const address = wss.address()
      ready(address === null || typeof address === "string" ? 0 : address.port)
    })
    break
  }
  case "raw-sse": {
    listenNode(
      Http.createServer(async (request, response) => {
        JSON.parse(await readBody(request))
        response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
        const id = `run-${randomUUID()}`
        let n = 0
        for (const text of deltaTexts) {
          if (paceMs > 0) await sleep(paceMs)
          response.write(
            `id: ${++n}\nevent: message_delta\ndata: ${JSON.stringify({ type: "message_delta", id, text })}\n\n`
          )
        }
        response.end(
          `id: ${++n}\nevent: turn_end\ndata: ${JSON.stringify({ type: "turn_end", status: "complete" })}\n\n`
        )
      })
    )
    break
  }
  case "langchain-ws": {
    const model = scriptedModel()
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
    wss.on("connection", (ws) => {
      ws.on("message", async (data) => {
        const message = JSON.parse(data.toString()) as { text: string }
        const id = `run-${randomUUID()}`
        for await (const chunk of await model.stream([new HumanMessage(message.text)])) {
          const text = typeof chunk.content === "string" ? chunk.content : ""
          if (text.length > 0) ws.send(JSON.stringify({ type: "message_delta", id, text }))
        }
        ws.send(JSON.stringify({ type: "turn_end", status: "complete" }))
      })
    })
    wss.on("listening", () => {
      const address = wss.address()
      ready(address === null || typeof address === "string" ? 0 : address.port)
    })
    break
  }
  case "aisdk-sse": {
    const model = aiSdkModel()
    listenNode(
      Http.createServer(async (request, response) => {
        const body = JSON.parse(await readBody(request)) as { messages: Array<{ role: "user"; content: string }> }
        const result = streamText({ model, messages: body.messages })
        const web = result.toUIMessageStreamResponse()
        response.writeHead(web.status, Object.fromEntries(web.headers))
        Readable.fromWeb(web.body as import("node:stream/web").ReadableStream).pipe(response)
      })
    )
    break
  }
  case "aisdk-ws": {
    const model = aiSdkModel()
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
    wss.on("connection", (ws) => {
      ws.on("message", async (data) => {
        const request = JSON.parse(data.toString()) as {
          type: "send"
          requestId: string
          messages: Array<{ role: "user"; parts: Array<{ type: "text"; text: string }> }>
        }
        if (request.type !== "send") return
        const { requestId } = request
        const result = streamText({
          model,
          messages: request.messages.map((m) => ({ role: m.role, content: m.parts.map((p) => p.text).join("") }))
        })
        ws.send(JSON.stringify({ type: "start", requestId }))
        let sequence = 0
        for await (const chunk of result.toUIMessageStream()) {
          ws.send(JSON.stringify({ type: "chunk", requestId, sequence: sequence++, chunk }))
        }
        ws.send(JSON.stringify({ type: "end", requestId }))
      })
    })
    wss.on("listening", () => {
      const address = wss.address()
      ready(address === null || typeof address === "string" ? 0 : address.port)
    })
    break
  }
  case "bare": {
    const handler = Effect.gen(function* () {
      const socket = yield* HttpServerRequest.upgrade
      yield* socket.runRaw(() => undefined)
      return HttpServerResponse.empty()
    }).pipe(Effect.catchAll(() => Effect.succeed(HttpServerResponse.empty())))
    listen(
      HttpServer.serve(HttpRouter.empty.pipe(HttpRouter.get("/ws/bench/chat/:conversation_pk/", handler))),
      Effect.void
    )
    break
  }
  case "convo-ws":
  case "convo-ws-w0": {
    const routes = Routes.make([Routes.ws("bench-chat", "/ws/bench/chat/:conversation_pk/")])
    listen(convoLayers(ChatSocket.layer(routes, [{ route: "bench-chat", agent: convoAgent }])), createConversations)
    break
  }
  case "convo-sse":
  case "convo-sse-w0": {
    listen(convoLayers(HttpServer.serve(HttpChat.router(convoAgent, { heartbeat: null }))), createConversations)
    break
  }
  default:
    console.error(`usage: server.ts <mode> <conversations> <paceMs>`)
    process.exit(2)
}
