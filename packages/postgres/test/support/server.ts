/**
 * One convo server process for the multi-process tests and the scale benchmark: the WebSocket
 * adapter on 127.0.0.1 (port 0 unless `CONVO_PORT`), the SQL store, `PgTurnLock` and
 * `PgConversationEvents` on one PostgreSQL database, and a scripted model. Prints `PORT <n>` once
 * it listens, and `ROWS_READ <n>` (event rows read from the table so far) on SIGUSR2.
 *
 * Environment: `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `CONVO_DATABASE` (required),
 * `CONVO_POOL` (connections, default 4), `CONVO_HEARTBEAT_MS` (default 200), `CONVO_MODEL_TIMEOUT_MS`
 * (default 3000), `CONVO_REPLY_WORDS` (words of the default reply, default 5), `CONVO_MAX_BATCH`
 * (events per INSERT, default 100), `CONVO_MAX_QUEUED` (the agent's queue bound, default 8), `CONVO_IN_PROCESS=1` (core's in-process lock and events instead,
 * for comparison on one process).
 *
 * The model answers by the user's text: `slow <n> <ms>` streams n words, one every ms; `hang`
 * never answers (the agent's timeout ends the turn); anything else gets the default reply at once.
 *
 * Route: `/ws/chat/:conversation_pk/` (anonymous users; conversations without an owner).
 */
import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
import * as ChatSocketNode from "@convo/adapter-ws/ChatSocketNode"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as ConversationEvents from "@convo/core/ConversationEvents"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as Routes from "@convo/core/Routes"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as TurnLock from "@convo/core/TurnLock"
import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import * as HttpServer from "@effect/platform/HttpServer"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager"
import { BaseChatModel } from "@langchain/core/language_models/chat_models"
import type { BaseMessage } from "@langchain/core/messages"
import type { ChatGenerationChunk, ChatResult } from "@langchain/core/outputs"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as PgConversationEvents from "../../src/PgConversationEvents.js"
import * as PgTurnLock from "../../src/PgTurnLock.js"

const env = (name: string, fallback: string): string => process.env[name] ?? fallback
const database = process.env["CONVO_DATABASE"]
if (database === undefined) throw new Error("CONVO_DATABASE is required")

const replyWords = Number(env("CONVO_REPLY_WORDS", "5"))
const defaultReply = ScriptedReply.text(Array.from({ length: replyWords }, (_, i) => `w${i} `))

const textOf = (message: BaseMessage | undefined): string =>
  message === undefined ? "" : typeof message.content === "string" ? message.content : JSON.stringify(message.content)

/** Picks a scripted reply by the last user message. */
class TextDrivenModel extends BaseChatModel {
  override _llmType(): string {
    return "text-driven"
  }
  override async _generate(): Promise<ChatResult> {
    throw new Error("streaming only")
  }
  override async *_streamResponseChunks(
    messages: Array<BaseMessage>,
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun
  ): AsyncGenerator<ChatGenerationChunk> {
    const text = textOf(messages.at(-1))
    const slow = /^slow (\d+) (\d+)$/.exec(text)
    const reply =
      slow !== null
        ? ScriptedReply.text(
            Array.from({ length: Number(slow[1]) }, (_, i) => `s${i} `),
            { chunkDelay: `${Number(slow[2])} millis` }
          )
        : text === "hang"
          ? ScriptedReply.text(["never"], { firstByteDelay: "10 minutes" })
          : defaultReply
    yield* new ScriptedChatModel({ defaultReply: reply })._streamResponseChunks(messages, options, runManager)
  }
}

const routes = Routes.make([
  Routes.ws("chat", "/ws/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } })
])
const agent = ChatAgent.make({
  name: "scale",
  model: LlmModels.openAiGpt4oMini,
  timeout: `${Number(env("CONVO_MODEL_TIMEOUT_MS", "3000"))} millis`,
  maxQueuedMessages: Number(env("CONVO_MAX_QUEUED", "8"))
})
const mounts: ReadonlyArray<ChatSocket.Mount<(typeof routes.routes)[number]>> = [{ route: "chat", agent }]

const Pg = PgClient.layer({
  host: env("PGHOST", "127.0.0.1"),
  port: Number(env("PGPORT", "5432")),
  username: env("PGUSER", "postgres"),
  database,
  maxConnections: Number(env("CONVO_POOL", "4")),
  applicationName: `convo-server-${process.pid}`,
  ...(process.env["PGPASSWORD"] === undefined ? {} : { password: Redacted.make(process.env["PGPASSWORD"]) })
})

/** The cross-process layers; `CONVO_IN_PROCESS=1` swaps in core's in-process ones (for comparison). */
const OnPostgres = Layer.mergeAll(
  PgTurnLock.layer({ handOver: `${Number(env("CONVO_LOCK_HAND_OVER_MS", "20"))} millis` }),
  PgConversationEvents.layer({
    heartbeat: `${Number(env("CONVO_HEARTBEAT_MS", "200"))} millis`,
    maxBatch: Number(env("CONVO_MAX_BATCH", "100"))
  })
).pipe(Layer.provide(Pg))
const InProcess = Layer.merge(TurnLock.layerMemory, ConversationEvents.layerMemory())

const Server = ChatSocketNode.layer(routes, mounts, { host: "127.0.0.1", port: Number(env("CONVO_PORT", "0")) }).pipe(
  Layer.provide(ChatAgentHooks.layer({ canAccept: () => Effect.succeed(true) })),
  Layer.provide(LlmModels.layerFixed(new TextDrivenModel({}))),
  Layer.provide(process.env["CONVO_IN_PROCESS"] === "1" ? InProcess : OnPostgres),
  Layer.provide(SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer))),
  Layer.provide(Pg)
)

const main = Effect.gen(function* () {
  const server = yield* HttpServer.HttpServer
  const address = server.address
  process.stdout.write(`PORT ${address._tag === "TcpAddress" ? address.port : 0} PID ${process.pid}\n`)
  return yield* Effect.never
}).pipe(Effect.provide(Server))

const fiber = Effect.runFork(main)
fiber.addObserver((exit) => {
  if (exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)) {
    process.stderr.write(`server failed: ${String(exit.cause)}\n`)
    process.exit(1)
  }
})
const stop = () => {
  Effect.runFork(fiber.interruptAsFork(fiber.id()))
  setTimeout(() => process.exit(0), 2_000).unref()
}
process.on("SIGTERM", stop)
// the scale benchmark reads how many event rows this process has read from the table
process.on("SIGUSR2", () => {
  const read = Effect.runSync(Metric.value(PgConversationEvents.rowsRead)).count
  process.stdout.write(`ROWS_READ ${read}\n`)
})
process.on("SIGINT", stop)
