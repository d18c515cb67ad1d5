/**
 * A convo server process for the fault suite: the WebSocket adapter, the SQL store on SQLite
 * (`CONVO_SQLITE=<file>`) or PostgreSQL (`CONVO_DATABASE`, with `PgTurnLock` and
 * `PgConversationEvents`), the real LangChain `ChatOpenAI` against the model process at
 * `CONVO_MODEL_URL`, recovery at start-up, and `ChatAgent.shutdown` on SIGTERM. Prints
 * `PORT <n> PID <pid>`.
 *
 * Settings: `CONVO_TIMEOUT_MS` (default 1500), `CONVO_CHECKPOINT_MS` (default 100),
 * `CONVO_SAVE_WINDOW_MS` (default 60000), `CONVO_GRACE_MS` (default 300), `CONVO_MAX_QUEUED`
 * (default 8), `CONVO_PUBLISH_TIMEOUT_MS` (PostgreSQL events, default 10000), `PGHOST`, `PGPORT`.
 *
 * Route: `/ws/chat/:conversation_pk/` (anonymous users; conversations without an owner).
 */
import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
import * as ChatSocketNode from "@convo/adapter-ws/ChatSocketNode"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as Routes from "@convo/core/Routes"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqlMigrations from "@convo/core/SqlMigrations"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeContext from "@effect/platform-node/NodeContext"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PgConversationEvents from "../../src/PgConversationEvents.js"
import * as PgMigrations from "../../src/PgMigrations.js"
import * as PgTurnLock from "../../src/PgTurnLock.js"

const env = (name: string, fallback: string): string => process.env[name] ?? fallback
const millis = (name: string, fallback: number) => `${Number(env(name, String(fallback)))} millis` as const

const routes = Routes.make([
  Routes.ws("chat", "/ws/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } })
])
const agent = ChatAgent.make({
  name: "faults",
  model: LlmModels.openAiGpt4oMini,
  timeout: millis("CONVO_TIMEOUT_MS", 1500),
  checkpointInterval: millis("CONVO_CHECKPOINT_MS", 100),
  saveWindow: millis("CONVO_SAVE_WINDOW_MS", 60_000),
  maxQueuedMessages: Number(env("CONVO_MAX_QUEUED", "8"))
})
const mounts: ReadonlyArray<ChatSocket.Mount<(typeof routes.routes)[number]>> = [{ route: "chat", agent }]

const sqlite = process.env["CONVO_SQLITE"]
const Pg = PgClient.layer({
  host: env("PGHOST", "127.0.0.1"),
  port: Number(env("PGPORT", "5432")),
  username: env("PGUSER", "postgres"),
  database: env("CONVO_DATABASE", "test"),
  maxConnections: 4,
  connectTimeout: "2 seconds"
})
const Sql: Layer.Layer<SqlClient.SqlClient, unknown> =
  sqlite !== undefined ? SqliteClient.layer({ filename: sqlite }) : Pg
const Multi: Layer.Layer<never, unknown> =
  sqlite !== undefined
    ? Layer.empty
    : Layer.mergeAll(
        PgTurnLock.layer(),
        PgConversationEvents.layer({
          heartbeat: "200 millis",
          publishTimeout: millis("CONVO_PUBLISH_TIMEOUT_MS", 10_000)
        })
      ).pipe(Layer.provide(Pg))
const migrate = Effect.zipRight(
  SqlMigrations.run(),
  sqlite !== undefined ? Effect.void : PgMigrations.run().pipe(Effect.provide(Pg))
)
const Store = SqlConversationStore.layer().pipe(
  Layer.provideMerge(Layer.effectDiscard(migrate).pipe(Layer.provide(NodeContext.layer))),
  Layer.provide(MessageCodec.layer)
)

const Server = ChatSocketNode.layer(routes, mounts, { host: "127.0.0.1", port: 0 }).pipe(
  Layer.provideMerge(ChatAgent.layerRecovery),
  Layer.provide(ChatAgentHooks.layer({ canAccept: () => Effect.succeed(true) })),
  Layer.provide(LlmModels.layerWith({ openAiApiKey: "sk-fault", openAiBaseUrl: env("CONVO_MODEL_URL", "") })),
  Layer.provide(Multi),
  Layer.provide(Store),
  Layer.provide(Sql)
)

const main = Effect.scoped(
  Effect.gen(function* () {
    const context = yield* Layer.build(Server)
    const address = (yield* Effect.provide(HttpServer.HttpServer, context)).address
    yield* Effect.addFinalizer(() => ChatAgent.shutdown({ grace: millis("CONVO_GRACE_MS", 300) }))
    process.stdout.write(`PORT ${address._tag === "TcpAddress" ? address.port : 0} PID ${process.pid}\n`)
    return yield* Effect.never
  })
)

const fiber = Effect.runFork(main)
fiber.addObserver((exit) => {
  if (exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)) {
    process.stderr.write(`server failed: ${String(exit.cause)}\n`)
    process.exit(1)
  }
  process.exit(0)
})
const stop = () => {
  Effect.runFork(fiber.interruptAsFork(fiber.id()))
  setTimeout(() => process.exit(0), 15_000).unref()
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
