/**
 * The app's own tables, created by `@effect/sql`'s Migrator beside convo's: convo records its
 * migrations in `convo_migrations`, the app in `example_migrations`, so neither ever sees the
 * other's. The app's migrations run after convo's, because a room references a conversation.
 *
 * Times are stored as epoch milliseconds (`bigint` / `INTEGER`) so the same queries compare them
 * on PostgreSQL and SQLite; flags are integers 0/1 (SQLite cannot bind booleans).
 */
import * as SqlMigrations from "@convo/core/SqlMigrations"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** Where the app records its migrations. */
export const migrationsTable = "example_migrations"

const ddl = (statements: { readonly pg: ReadonlyArray<string>; readonly sqlite: ReadonlyArray<string> }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const list = sql.onDialectOrElse({ pg: () => statements.pg, orElse: () => statements.sqlite })
    for (const statement of list) yield* sql.unsafe(statement)
  })

const conversationTable = `${SqlMigrations.defaultPrefix}conversation`

// #region room-table
/** The seed's `LLMChatRoom`: a language, a situation, a level, and one conversation of its own. */
const chatRoomTable = (id: string) => `CREATE TABLE example_chat_room (
  id ${id},
  language text NOT NULL,
  situation text NOT NULL,
  level text NOT NULL,
  owner_id bigint NULL REFERENCES example_user (id) ON DELETE SET NULL,
  conversation_id bigint NOT NULL UNIQUE REFERENCES ${conversationTable} (id) ON DELETE CASCADE,
  created_at bigint NOT NULL
)`
// #endregion

const firstStaffClaimed = `INSERT INTO example_setting (key, value)
  SELECT 'first_staff', username FROM example_user ORDER BY id LIMIT 1`

/** The app's migrations, in order. */
export const migrations = {
  "0001_accounts": ddl({
    pg: [
      `CREATE TABLE example_user (
  id bigserial PRIMARY KEY,
  username text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  is_staff integer NOT NULL DEFAULT 0,
  created_at bigint NOT NULL
)`,
      `CREATE TABLE example_session (
  id_hash text PRIMARY KEY,
  user_id bigint NULL REFERENCES example_user (id) ON DELETE CASCADE,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
)`,
      `CREATE INDEX example_session_expires_idx ON example_session (expires_at)`,
      `CREATE TABLE example_setting (key text PRIMARY KEY, value text NOT NULL)`
    ],
    sqlite: [
      `CREATE TABLE example_user (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  is_staff INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
)`,
      `CREATE TABLE example_session (
  id_hash TEXT PRIMARY KEY,
  user_id INTEGER NULL REFERENCES example_user (id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
)`,
      `CREATE INDEX example_session_expires_idx ON example_session (expires_at)`,
      `CREATE TABLE example_setting (key TEXT PRIMARY KEY, value TEXT NOT NULL)`
    ]
  }),
  "0002_rooms": ddl({
    pg: [chatRoomTable("bigserial PRIMARY KEY")],
    sqlite: [chatRoomTable("INTEGER PRIMARY KEY AUTOINCREMENT")]
  }),
  // the first user's staff place is a row that one sign-up claims (see accounts/Users.ts); a
  // database that has users already has given it away
  "0003_first_staff": ddl({
    pg: [firstStaffClaimed],
    sqlite: [firstStaffClaimed]
  })
}

// #region migrate
/** Applies convo's migrations (table `convo_migrations`), then the app's (table `example_migrations`). */
export const run = Effect.gen(function* () {
  yield* SqlMigrations.run()
  yield* Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: migrationsTable })
})
// #endregion
