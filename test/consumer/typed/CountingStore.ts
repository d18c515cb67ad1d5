// A custom store, typed against the installed .d.ts: SQLite's store with a count of every write
// it is asked for. store.test.ts runs the conformance suite of @convo/testing on it.
import * as ConversationStore from "@convo/core/ConversationStore"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqlMigrations from "@convo/core/SqlMigrations"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export interface Counts {
  appends: number
  clears: number
  deletes: number
}

export const makeCounting = (inner: ConversationStore.Service, counts: Counts): ConversationStore.Service =>
  ConversationStore.ConversationStore.of({
    ...inner,
    append: (turn) =>
      Effect.zipRight(
        Effect.sync(() => counts.appends++),
        inner.append(turn)
      ),
    clear: (id, options) =>
      Effect.zipRight(
        Effect.sync(() => counts.clears++),
        inner.clear(id, options)
      ),
    delete: (id) =>
      Effect.zipRight(
        Effect.sync(() => counts.deletes++),
        inner.delete(id)
      )
  })

export const layer = (
  counts: Counts,
  filename = ":memory:"
): Layer.Layer<ConversationStore.ConversationStore, unknown> =>
  Layer.effect(
    ConversationStore.ConversationStore,
    Effect.map(ConversationStore.ConversationStore, (inner) => makeCounting(inner, counts))
  ).pipe(
    Layer.provide(SqlConversationStore.layer()),
    Layer.provide(SqlMigrations.layer()),
    Layer.provide(MessageCodec.layer),
    Layer.provide(SqliteClient.layer({ filename }))
  )
