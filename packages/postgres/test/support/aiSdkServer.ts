/**
 * One server process for the AI SDK resume test: `AiSdkChat` (`disconnect: "detach"`) on
 * 127.0.0.1, port 0, with the SQL store, `PgTurnLock` and `PgConversationEvents` on one PostgreSQL
 * database, a `session`-cookie authenticator and a model that answers `slow <n> <ms>` with n words,
 * one every ms (anything else: "ok"). Prints `PORT <n> PID <pid>` once it listens.
 *
 * Environment: `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `CONVO_DATABASE` (required).
 */
import * as AiSdkChat from "@convo/adapter-http/AiSdkChat"
import * as Authenticator from "@convo/core/Authenticator"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager"
import { BaseChatModel } from "@langchain/core/language_models/chat_models"
import type { BaseMessage } from "@langchain/core/messages"
import type { ChatGenerationChunk, ChatResult } from "@langchain/core/outputs"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createServer } from "node:http"
import * as PgConversationEvents from "../../src/PgConversationEvents.js"
import * as PgTurnLock from "../../src/PgTurnLock.js"

const env = (name: string, fallback: string): string => process.env[name] ?? fallback
const database = process.env["CONVO_DATABASE"]
if (database === undefined) throw new Error("CONVO_DATABASE is required")

class SlowModel extends BaseChatModel {
  override _llmType(): string {
    return "slow"
  }
  override async _generate(): Promise<ChatResult> {
    throw new Error("streaming only")
  }
  override async *_streamResponseChunks(
    messages: Array<BaseMessage>,
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun
  ): AsyncGenerator<ChatGenerationChunk> {
    const last = messages.at(-1)
    const text = typeof last?.content === "string" ? last.content : ""
    const slow = /^slow (\d+) (\d+)$/.exec(text)
    const reply =
      slow === null
        ? ScriptedReply.text("ok")
        : ScriptedReply.text(
            Array.from({ length: Number(slow[1]) }, (_, i) => `s${i} `),
            { chunkDelay: `${Number(slow[2])} millis` }
          )
    yield* new ScriptedChatModel({ defaultReply: reply })._streamResponseChunks(messages, options, runManager)
  }
}

const Pg = PgClient.layer({
  host: env("PGHOST", "127.0.0.1"),
  port: Number(env("PGPORT", "5432")),
  username: env("PGUSER", "postgres"),
  database,
  maxConnections: 4,
  applicationName: `convo-ai-sdk-${process.pid}`,
  ...(process.env["PGPASSWORD"] === undefined ? {} : { password: Redacted.make(process.env["PGPASSWORD"]) })
})

const agent = ChatAgent.make({ name: "ai-sdk-resume", model: LlmModels.openAiGpt4oMini })
const app = AiSdkChat.router(agent, { routes: AiSdkChat.table({ base: "/api" }), disconnect: "detach" })

const Server = HttpServer.serve(app).pipe(
  Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })),
  Layer.provide(
    Authenticator.layer((request) =>
      Effect.succeed(request.cookies["session"] ? { id: request.cookies["session"] } : null)
    )
  ),
  Layer.provide(LlmModels.layerFixed(new SlowModel({}))),
  Layer.provide(
    Layer.mergeAll(PgTurnLock.layer(), PgConversationEvents.layer({ heartbeat: "200 millis" })).pipe(Layer.provide(Pg))
  ),
  Layer.provide(SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer))),
  Layer.provide(Pg)
)

const main = Effect.gen(function* () {
  const address = (yield* HttpServer.HttpServer).address
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
process.on("SIGINT", stop)
