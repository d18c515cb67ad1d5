import * as ConversationStore from "@convo/core/ConversationStore"
import * as MemoryStore from "@convo/core/internal/memoryStore"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Databases from "../src/Databases.js"
import { storeConformance, type Options } from "../src/StoreConformance.js"

const codec = MessageCodec.layer

class MemoryBackdoor extends Context.Tag("test/MemoryBackdoor")<MemoryBackdoor, MemoryStore.MemoryStore>() {}

const memoryWithBackdoor = Layer.effectContext(
  Effect.map(MessageCodec.MessageCodec, (service) => {
    const memory = MemoryStore.make(service)
    return Context.make(ConversationStore.ConversationStore, memory.service).pipe(Context.add(MemoryBackdoor, memory))
  })
).pipe(Layer.provide(codec))

storeConformance("ConversationStore.layerMemory", ConversationStore.layerMemory.pipe(Layer.provide(codec)))

storeConformance("memory store (with raw rows)", memoryWithBackdoor, {
  insertRawContent: (conversationId, raw) =>
    Effect.flatMap(MemoryBackdoor, (memory) => memory.insertRaw(conversationId, raw))
})

type SqlContext = SqlClient.SqlClient | Databases.TestDatabase

const sqlHooks: Options<SqlContext> = {
  insertRawContent: (conversationId, raw) =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const db = yield* Databases.TestDatabase
      yield* sql.withTransaction(
        Effect.gen(function* () {
          const [row] = yield* sql<{
            readonly last_seq: number
          }>`UPDATE ${sql(`${db.prefix}conversation`)} SET last_seq = last_seq + 1 WHERE id = ${conversationId} RETURNING last_seq`
          yield* sql`INSERT INTO ${sql(`${db.prefix}message`)} ${sql.insert({
            conversation_id: conversationId,
            seq: Number(row!.last_seq),
            turn_id: "raw",
            user_id: null,
            client_id: null,
            kind: "human",
            status: "complete",
            content: raw
          })}`
        })
      )
    }),
  countMessages: (conversationId) =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const db = yield* Databases.TestDatabase
      const [row] = yield* sql<{
        readonly n: number | string
      }>`SELECT count(*) AS n FROM ${sql(`${db.prefix}message`)} WHERE conversation_id = ${conversationId}`
      return Number(row!.n)
    }),
  secondConnection: Layer.unwrapEffect(
    Effect.map(Databases.TestDatabase, (db) =>
      SqlConversationStore.layer({ prefix: db.prefix }).pipe(Layer.provide(db.connect()), Layer.provide(codec))
    )
  )
}

storeConformance(
  "SqlConversationStore on SQLite (temp file)",
  SqlConversationStore.layer().pipe(Layer.provideMerge(Databases.sqliteTemp()), Layer.provide(codec)),
  sqlHooks
)

const pg = await Databases.pgTestsEnabled()
if (pg) {
  storeConformance(
    "SqlConversationStore on PostgreSQL (own database, prefix chat_)",
    SqlConversationStore.layer({ prefix: "chat_" }).pipe(
      Layer.provideMerge(Databases.postgresFresh({ prefix: "chat_" })),
      Layer.provide(codec)
    ),
    // jsonb holds only valid JSON, and prints it back in its own spelling.
    {
      ...sqlHooks,
      corruptContents: ['{"_type": "HumanMessage", "_value": 42}', '{"_type": "HumanMessage", "_value": "text"}']
    }
  )
}
