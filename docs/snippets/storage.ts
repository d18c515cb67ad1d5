// Snippets of docs/guides/storage.md, sql-logging.md and custom-store.md. Type-checked in CI;
// scripts/check-docs.mjs checks that each region appears verbatim in the guides. The custom store
// below passes the conformance suite (packages/testing/test/CustomStoreDoc.test.ts).
import * as ConversationStore from "@convo/core/ConversationStore"
import * as Import from "@convo/core/Import"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqlLog from "@convo/core/SqlLog"
import * as SqlMigrations from "@convo/core/SqlMigrations"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

// #region sqlite
// the embedded default: one file, one process
const Sqlite = SqliteClient.layer({ filename: "data/convo.sqlite" })

export const SqliteStore = SqlConversationStore.layer().pipe(
  Layer.provideMerge(SqlMigrations.layer()),
  Layer.provide(MessageCodec.layer),
  Layer.provide(Sqlite)
)
// #endregion sqlite

// #region postgres
// past one machine: the same store code on PostgreSQL (jsonb content, timestamptz)
const Pg = PgClient.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:5432/convo") })

export const PgStore = SqlConversationStore.layer({ prefix: "convo_" }).pipe(
  Layer.provideMerge(SqlMigrations.layer({ prefix: "convo_" })),
  Layer.provide(MessageCodec.layer),
  Layer.provide(Pg)
)
// #endregion postgres

// #region export-sql
// for teams with their own migration tool: the same schema as plain SQL
export const ddl: string = SqlMigrations.toSql("pg", { prefix: "convo_" })
// #endregion export-sql

// #region sql-log
// prints every statement with its parameters and duration when DEBUG=1, coloured by outcome
export const Logged = SqliteStore.pipe(Layer.provide(SqlLog.layerConfig()))

// or always on, into your own sink, without colours
export const Captured = SqliteStore.pipe(
  Layer.provide(
    SqlLog.layer({ enabled: true, colors: false, slowMs: 50, sink: (line) => process.stderr.write(line + "\n") })
  )
)
// #endregion sql-log

// #region custom-store
// A custom store: here a decorator that keeps an audit trail of every write of another store.
// Anything that implements ConversationStore.Service is a store.
export const makeAudited = (inner: ConversationStore.Service, audit: (line: string) => void) =>
  ConversationStore.ConversationStore.of({
    ...inner,
    append: (turn) =>
      Effect.tap(inner.append(turn), (result) =>
        audit(`append ${turn.conversationId}: ${result.rows.length} rows${result.duplicate ? " (duplicate)" : ""}`)
      ),
    clear: (id, options) => Effect.tap(inner.clear(id, options), () => audit(`clear ${id}`)),
    delete: (id) => Effect.tap(inner.delete(id), () => audit(`delete ${id}`))
  })

export const AuditedStore = (audit: (line: string) => void) =>
  Layer.effect(
    ConversationStore.ConversationStore,
    Effect.map(ConversationStore.makeMemory, (inner) => makeAudited(inner, audit))
  ).pipe(Layer.provide(MessageCodec.layer))
// #endregion custom-store

// #region pyhub-mode
// a database shared with a Django deployment of django-pyhub-ai: every row convo writes is one
// pyhub's XJSONDecoder reads (tool turns in pyhub's agent-step shapes)
export const SharedWithDjango = SqlConversationStore.layer().pipe(
  Layer.provideMerge(SqlMigrations.layer()),
  Layer.provide(MessageCodec.layerPyhub),
  Layer.provide(Pg)
)
// #endregion pyhub-mode

// #region public-ids
// an app's own thread id as the conversation's public id; the integer stays the internal key
export const openThread = (threadId: string, userId: string) =>
  Effect.gen(function* () {
    const store = yield* ConversationStore.ConversationStore
    return yield* store.get(threadId).pipe(
      Effect.catchTag("ConversationNotFound", () => store.create({ publicId: threadId, userId })),
      // two first requests at once: the second finds the public id taken and reads the first's
      Effect.catchIf(
        (error) => error._tag === "StoreError" && error.reason === "Conflict",
        () => store.get(threadId)
      )
    )
  })
// routes take it as well: Routes.ws("chat", "/ws/chat/:conversation_id/", { params: { conversation_id: Routes.publicId } })
// #endregion public-ids

// #region import
// copy django-pyhub-ai's tables (here on SQLite) into convo's (here on PostgreSQL); run it again
// and nothing is imported twice
export const importPyhub = Import.fromPyhub({
  onProgress: (p) => console.log(`${p.conversations}/${p.of} conversations`)
}).pipe(
  Effect.tap((summary) => console.log(`${summary.imported} messages imported, ${summary.skipped.length} skipped`)),
  Effect.provide(SqliteClient.layer({ filename: "pyhub/db.sqlite3" })),
  Effect.provide(PgStore)
)
// #endregion import
