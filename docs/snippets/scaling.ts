// Snippet of docs/guides/scaling.md. Type-checked in CI; scripts/check-docs.mjs checks it appears verbatim.
import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
import * as ChatSocketNode from "@convo/adapter-ws/ChatSocketNode"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as Routes from "@convo/core/Routes"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqlMigrations from "@convo/core/SqlMigrations"
import { PgConversationEvents, PgMigrations, PgTurnLock } from "@convo/postgres"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

// #region setup
const routes = Routes.make([
  Routes.ws("chat", "/ws/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } })
])
const mounts: ReadonlyArray<ChatSocket.Mount<(typeof routes.routes)[number]>> = [
  { route: "chat", agent: ChatAgent.make({ model: LlmModels.openAiGpt4oMini, timeout: "60 seconds" }) }
]

const Pg = PgClient.layer({ url: Redacted.make(process.env.DATABASE_URL!), maxConnections: 10 })

const Scale = Layer.mergeAll(
  PgTurnLock.layer(), //             TurnLock: one turn at a time per conversation, across processes
  PgConversationEvents.layer(), //   ConversationEvents: live events and resume, across processes
  SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer))
).pipe(
  // migrations at start; with many processes, better one deploy step before they start
  Layer.provideMerge(Layer.mergeAll(SqlMigrations.layer(), PgMigrations.layer())),
  Layer.provideMerge(Pg)
)

export const server = ChatSocketNode.layer(routes, mounts, { port: 8000 }).pipe(
  Layer.provide(LlmModels.layer),
  Layer.provide(Scale)
)
// #endregion setup
