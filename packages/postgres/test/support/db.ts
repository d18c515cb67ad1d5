/**
 * A fresh PostgreSQL database for a test file (core's tables and convo_event), and "processes":
 * each an independent client pool with its own events hub and turn lock, as a separate server
 * process would have.
 */
import * as ConversationEvents from "@convo/core/ConversationEvents"
import * as TurnLock from "@convo/core/TurnLock"
import * as Databases from "@convo/testing/Databases"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as PgConversationEvents from "../../src/PgConversationEvents.js"
import * as PgMigrations from "../../src/PgMigrations.js"
import * as PgTurnLock from "../../src/PgTurnLock.js"

/** A migrated database of its own (dropped afterwards), with an admin client on it. */
export const database = Databases.postgresFresh().pipe(
  Layer.tap((context) => PgMigrations.run().pipe(Effect.provide(context)))
)

/** A client pool of its own on the test database. */
export const pool = (maxConnections = 4) =>
  Effect.gen(function* () {
    const db = yield* Databases.TestDatabase
    const server = Databases.pgServer()
    return yield* Layer.build(
      PgClient.layer({
        host: server.host,
        port: server.port,
        username: server.user,
        database: db.name,
        maxConnections,
        ...(server.password === undefined ? {} : { password: Redacted.make(server.password) })
      })
    )
  })

export interface Process {
  readonly events: ConversationEvents.Service
  readonly lock: TurnLock.Service
  readonly sql: SqlClient.SqlClient
}

/** One simulated server process: its own pool, events hub and turn lock. */
export const process = (
  options: { readonly events?: PgConversationEvents.Options; readonly maxConnections?: number } = {}
) =>
  Effect.gen(function* () {
    const context = yield* pool(options.maxConnections)
    const events = yield* PgConversationEvents.make({ heartbeat: "100 millis", ...options.events }).pipe(
      Effect.provide(context)
    )
    const lock = yield* PgTurnLock.make().pipe(Effect.provide(context))
    const result: Process = { events, lock, sql: Context.get(context, SqlClient.SqlClient) }
    return result
  })

/** Rows of a query on the test database's admin client. */
export const query = <A extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<A>(text, params))
