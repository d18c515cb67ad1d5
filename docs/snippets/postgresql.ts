// Snippets of docs/guides/postgresql.md. Type-checked in CI; scripts/check-docs.mjs checks that
// each region appears verbatim in the guide. The store on your own pool is tested in
// packages/testing/test/PgPool.test.ts.
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqlMigrations from "@convo/core/SqlMigrations"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type Pg from "pg"

// #region pool-size
// convo's own pool: at most 20 connections per server process (the default is 10)
export const Pg20 = PgClient.layer({
  url: Redacted.make("postgres://postgres@127.0.0.1:5432/convo"),
  maxConnections: 20,
  idleTimeout: Duration.seconds(30),
  connectTimeout: Duration.seconds(5)
})
// #endregion pool-size

// #region own-pool
// your app's pg.Pool (shared with LangChain's PostgresChatMessageHistory, an ORM, ...): convo
// borrows it and never ends it; its size is the pool's `max`
export const storeOnPool = (pool: Pg.Pool) =>
  SqlConversationStore.layer().pipe(
    Layer.provideMerge(SqlMigrations.layer()),
    Layer.provide(MessageCodec.layer),
    Layer.provide(PgClient.layerFromPool({ acquire: Effect.succeed(pool) }))
  )
// #endregion own-pool
