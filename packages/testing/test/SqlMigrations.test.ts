import * as ConversationStore from "@convo/core/ConversationStore"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqlMigrations from "@convo/core/SqlMigrations"
import { assert, describe, it } from "@effect/vitest"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { createRequire } from "node:module"
import Pg from "pg"
import * as Databases from "../src/Databases.js"

// better-sqlite3 (the driver under @effect/sql-sqlite-node) runs a multi-statement script as a
// migration tool would; it ships no types, so type the two methods used here.
const BetterSqlite = createRequire(import.meta.url)("better-sqlite3") as new (filename: string) => {
  exec(sql: string): void
  close(): void
}

const build = <A, E>(layer: Layer.Layer<A, E>) => Effect.map(Layer.build(layer), (context) => context)

const sqliteSchema = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  return yield* sql<{
    readonly type: string
    readonly name: string
    readonly sql: string | null
  }>`SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT IN ('convo_migrations', 'sqlite_sequence') ORDER BY type, name`
})

const pgSchema = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const columns = yield* sql`SELECT table_name, column_name, data_type, is_nullable, column_default
    FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'convo_migrations'
    ORDER BY table_name, column_name`
  const indexes = yield* sql`SELECT tablename, indexname, indexdef FROM pg_indexes
    WHERE schemaname = 'public' AND tablename <> 'convo_migrations' ORDER BY indexname`
  const constraints = yield* sql`SELECT c.conrelid::regclass::text AS table_name, c.conname, c.contype::text AS contype,
      pg_get_constraintdef(c.oid) AS definition
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname = 'public' AND c.conrelid::regclass::text <> 'convo_migrations' ORDER BY c.conname`
  const functions = yield* sql`SELECT proname, pg_get_function_identity_arguments(oid) AS arguments, prosrc
    FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY proname`
  return { columns, indexes, constraints, functions }
})

const pgEnabled = await Databases.pgTestsEnabled()

// Two conversations (one with a message) written before public ids existed.
const beforePublicIds = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`INSERT INTO convo_conversation (user_id, last_seq) VALUES ('u', 1)`
  yield* sql`INSERT INTO convo_conversation (user_id, last_seq) VALUES (NULL, 0)`
  yield* sql`INSERT INTO convo_message (conversation_id, seq, turn_id, kind, status, content) VALUES (1, 1, 't', 'human', 'complete', '{"_type": "HumanMessage", "_value": {"content": "hi"}}')`
})

// After 0003: each has its own unguessable public id, the store finds it by it, and a new one can be made.
const afterPublicIds = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly id: number | string; readonly public_id: string }>`
    SELECT id, public_id FROM convo_conversation ORDER BY id`
  assert.strictEqual(rows.length, 2)
  for (const row of rows) assert.match(row.public_id, /^[0-9a-f-]{32,36}$/)
  assert.notStrictEqual(rows[0]!.public_id, rows[1]!.public_id)
  const store = yield* Effect.provide(
    ConversationStore.ConversationStore,
    SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer))
  )
  const first = yield* store.get(rows[0]!.public_id)
  assert.strictEqual(first.id, 1)
  assert.strictEqual(first.userId, "u")
  const history = yield* store.history(first.id)
  assert.strictEqual(history.entries.length, 1)
  const made = yield* store.create({ publicId: "after-upgrade" })
  assert.strictEqual((yield* store.get("after-upgrade")).id, made.id)
  const duplicate = yield* Effect.either(sql`INSERT INTO convo_conversation (public_id) VALUES (${rows[0]!.public_id})`)
  assert.strictEqual(duplicate._tag, "Left", "public ids are unique")
  // a row inserted without one (an admin tool, a raw INSERT) still gets its own
  yield* sql`INSERT INTO convo_conversation (user_id) VALUES ('raw')`
  yield* sql`INSERT INTO convo_conversation (user_id) VALUES ('raw')`
  const raw = yield* sql<{ readonly public_id: string }>`SELECT public_id FROM convo_conversation WHERE user_id = 'raw'`
  assert.strictEqual(raw.length, 2)
  for (const row of raw) assert.match(row.public_id, /^[0-9a-f-]{32,36}$/)
  assert.notStrictEqual(raw[0]!.public_id, raw[1]!.public_id)
})

describe("SqlMigrations", () => {
  it("toSql gives the same statements for a prefix, without the migrator's table", () => {
    const pg = SqlMigrations.toSql("pg", { prefix: "chat_" })
    const sqlite = SqlMigrations.toSql("sqlite")
    assert.include(pg, "CREATE TABLE chat_conversation")
    assert.include(pg, "CREATE TABLE chat_message")
    assert.include(pg, "jsonb")
    assert.notInclude(pg, "convo_")
    assert.include(sqlite, "CREATE TABLE convo_conversation")
    assert.include(sqlite, "AUTOINCREMENT")
    assert.notInclude(sqlite, "jsonb")
    assert.notInclude(pg + sqlite, "migrations")
    assert.strictEqual(SqlMigrations.migrationsTable(), "convo_migrations")
    assert.strictEqual(SqlMigrations.migrationsTable({ prefix: "chat_" }), "chat_migrations")
    // An unusual prefix is quoted, so it cannot break the statements.
    assert.include(SqlMigrations.toSql("pg", { prefix: 'My "App" ' }), '"My ""App"" conversation"')
  })

  it.scoped("SQLite: run records itself in convo_migrations and is idempotent", () =>
    Effect.gen(function* () {
      const context = yield* build(Databases.sqliteTemp({ migrate: false }))
      const first = yield* SqlMigrations.run().pipe(Effect.provide(context))
      assert.deepStrictEqual(first, [
        [1, "convo_init"],
        [2, "convo_durable_turns"],
        [3, "convo_public_id"],
        [4, "convo_sqlite_seq_trigger"],
        [5, "convo_turn_writes"]
      ])
      const second = yield* SqlMigrations.run().pipe(Effect.provide(context))
      assert.deepStrictEqual(second, [])
      const sql = yield* Effect.provide(SqlClient.SqlClient, context)
      const rows = yield* sql<{
        readonly migration_id: number
        readonly name: string
      }>`SELECT migration_id, name FROM convo_migrations`
      assert.deepStrictEqual(rows, [
        { migration_id: 1, name: "convo_init" },
        { migration_id: 2, name: "convo_durable_turns" },
        { migration_id: 3, name: "convo_public_id" },
        { migration_id: 4, name: "convo_sqlite_seq_trigger" },
        { migration_id: 5, name: "convo_turn_writes" }
      ])
    })
  )

  it.scoped("SQLite: a database of the first schema keeps its rows through the durable-turns migration", () =>
    Effect.gen(function* () {
      const context = yield* build(Databases.sqliteTemp({ migrate: false }))
      const first = Migrator.fromRecord({ "0001_convo_init": SqlMigrations.migrations()["0001_convo_init"]! })
      yield* Migrator.make({})({ loader: first, table: SqlMigrations.migrationsTable() }).pipe(Effect.provide(context))
      const sql = yield* Effect.provide(SqlClient.SqlClient, context)
      yield* sql`INSERT INTO convo_conversation (user_id, last_seq) VALUES ('u', 1)`
      yield* sql`INSERT INTO convo_message (conversation_id, seq, turn_id, kind, status, content) VALUES (1, 1, 't', 'human', 'aborted', '{"_type": "HumanMessage", "_value": {"content": "hi"}}')`
      assert.deepStrictEqual(yield* SqlMigrations.run().pipe(Effect.provide(context)), [
        [2, "convo_durable_turns"],
        [3, "convo_public_id"],
        [4, "convo_sqlite_seq_trigger"],
        [5, "convo_turn_writes"]
      ])
      const rows = yield* sql<{ readonly seq: number; readonly status: string }>`SELECT seq, status FROM convo_message`
      assert.deepStrictEqual(rows, [{ seq: 1, status: "aborted" }])
      yield* sql`INSERT INTO convo_message (conversation_id, seq, turn_id, kind, status, content) VALUES (1, 2, 't2', 'human', 'interrupted', '{}')`
      const failed = yield* Effect.either(
        sql`INSERT INTO convo_message (conversation_id, seq, turn_id, kind, status, content) VALUES (1, 3, 't3', 'human', 'bogus', '{}')`
      )
      assert.strictEqual(failed._tag, "Left", "the status CHECK survives the table rebuild")
    })
  )

  it.scoped("SQLite: conversations of the durable-turns schema get unique public ids; the store reads them", () =>
    Effect.gen(function* () {
      const context = yield* build(Databases.sqliteTemp({ migrate: false }))
      const upTo2 = Migrator.fromRecord({
        "0001_convo_init": SqlMigrations.migrations()["0001_convo_init"]!,
        "0002_convo_durable_turns": SqlMigrations.migrations()["0002_convo_durable_turns"]!
      })
      yield* Migrator.make({})({ loader: upTo2, table: SqlMigrations.migrationsTable() }).pipe(Effect.provide(context))
      yield* Effect.provide(beforePublicIds, context)
      assert.deepStrictEqual(yield* SqlMigrations.run().pipe(Effect.provide(context)), [
        [3, "convo_public_id"],
        [4, "convo_sqlite_seq_trigger"],
        [5, "convo_turn_writes"]
      ])
      yield* Effect.provide(afterPublicIds, context)
    })
  )

  it.scoped("SQLite: last_seq follows the inserted messages; a turn's message that skips a seq is refused", () =>
    Effect.gen(function* () {
      const context = yield* build(Databases.sqliteTemp())
      const sql = yield* Effect.provide(SqlClient.SqlClient, context)
      yield* sql`INSERT INTO convo_conversation (user_id) VALUES ('u')`
      const insert = (seq: number, turnId: string) =>
        sql`INSERT INTO convo_message (conversation_id, seq, turn_id, kind, status, content) VALUES (1, ${seq}, ${turnId}, 'human', 'complete', '{}')`
      const lastSeq = sql<{ readonly last_seq: number }>`SELECT last_seq FROM convo_conversation WHERE id = 1`
      yield* insert(1, "t1")
      yield* insert(2, "t1")
      assert.deepStrictEqual(yield* lastSeq, [{ last_seq: 2 }])
      // a row of a stored turn may not leave a gap ...
      const skipped = yield* Effect.either(insert(4, "t1"))
      assert.strictEqual(skipped._tag, "Left")
      assert.include(String(Either.isLeft(skipped) ? skipped.left.cause : ""), "may not skip")
      // ... a row of a new turn (another tool's) may, and last_seq moves up to it
      yield* insert(10, "by-hand")
      assert.deepStrictEqual(yield* lastSeq, [{ last_seq: 10 }])
      // a writer that advanced last_seq itself first (the older way) leaves it where it put it
      yield* sql`UPDATE convo_conversation SET last_seq = 12 WHERE id = 1`
      yield* insert(11, "t2")
      yield* insert(12, "t2")
      assert.deepStrictEqual(yield* lastSeq, [{ last_seq: 12 }])
      const seqs = yield* sql<{ readonly seq: number }>`SELECT seq FROM convo_message ORDER BY seq`
      assert.deepStrictEqual(
        seqs.map((r) => r.seq),
        [1, 2, 10, 11, 12]
      )
    })
  )

  it.scoped("SQLite: a message entering the history takes its turn out of the pending table", () =>
    Effect.gen(function* () {
      const context = yield* build(Databases.sqliteTemp())
      const sql = yield* Effect.provide(SqlClient.SqlClient, context)
      yield* sql`INSERT INTO convo_conversation (user_id) VALUES ('u')`
      for (const turnId of ["t1", "t2"]) {
        yield* sql`INSERT INTO convo_pending_turn (conversation_id, turn_id, owner, content) VALUES (1, ${turnId}, 'o', '{}')`
      }
      yield* sql`INSERT INTO convo_message (conversation_id, seq, turn_id, kind, status, content) VALUES (1, 1, 't1', 'human', 'complete', '{}')`
      const pending = yield* sql<{ readonly turn_id: string }>`SELECT turn_id FROM convo_pending_turn ORDER BY id`
      assert.deepStrictEqual(
        pending.map((row) => row.turn_id),
        ["t2"]
      )
    })
  )

  it.scoped("SQLite: toSql runs cleanly on a fresh database and gives the migrator's tables", () =>
    Effect.gen(function* () {
      const migrated = yield* build(Databases.sqliteTemp())
      const plain = yield* build(Databases.sqliteTemp({ migrate: false }))
      const file = (yield* Effect.provide(Databases.TestDatabase, plain)).name
      const db = new BetterSqlite(file)
      try {
        db.exec(SqlMigrations.toSql("sqlite"))
      } finally {
        db.close()
      }
      const expected = yield* Effect.provide(sqliteSchema, migrated)
      const actual = yield* Effect.provide(sqliteSchema, plain)
      assert.isAbove(expected.length, 3)
      assert.deepStrictEqual(actual, expected)
    })
  )

  describe.skipIf(!pgEnabled)("PostgreSQL", () => {
    it.scoped("run records itself under its prefix and is idempotent", () =>
      Effect.gen(function* () {
        const context = yield* build(Databases.postgresFresh({ migrate: false }))
        assert.deepStrictEqual(yield* SqlMigrations.run({ prefix: "chat_" }).pipe(Effect.provide(context)), [
          [1, "convo_init"],
          [2, "convo_durable_turns"],
          [3, "convo_public_id"],
          [4, "convo_sqlite_seq_trigger"],
          [5, "convo_turn_writes"]
        ])
        assert.deepStrictEqual(yield* SqlMigrations.run({ prefix: "chat_" }).pipe(Effect.provide(context)), [])
        const sql = yield* Effect.provide(SqlClient.SqlClient, context)
        const tables = yield* sql<{ readonly table_name: string }>`SELECT table_name FROM information_schema.tables
          WHERE table_schema = 'public' ORDER BY table_name`
        assert.deepStrictEqual(
          tables.map((t) => t.table_name),
          ["chat_conversation", "chat_message", "chat_migrations", "chat_pending_turn"]
        )
        const functions = yield* sql<{ readonly proname: string }>`SELECT proname FROM pg_proc
          WHERE pronamespace = 'public'::regnamespace ORDER BY proname`
        assert.deepStrictEqual(
          functions.map((f) => f.proname),
          ["chat_accept_turn", "chat_append_turn"]
        )
      })
    )

    it.scoped("conversations of the durable-turns schema get unique public ids; the store reads them", () =>
      Effect.gen(function* () {
        const context = yield* build(Databases.postgresFresh({ migrate: false }))
        const upTo2 = Migrator.fromRecord({
          "0001_convo_init": SqlMigrations.migrations()["0001_convo_init"]!,
          "0002_convo_durable_turns": SqlMigrations.migrations()["0002_convo_durable_turns"]!
        })
        yield* Migrator.make({})({ loader: upTo2, table: SqlMigrations.migrationsTable() }).pipe(
          Effect.provide(context)
        )
        yield* Effect.provide(beforePublicIds, context)
        assert.deepStrictEqual(yield* SqlMigrations.run().pipe(Effect.provide(context)), [
          [3, "convo_public_id"],
          [4, "convo_sqlite_seq_trigger"],
          [5, "convo_turn_writes"]
        ])
        yield* Effect.provide(afterPublicIds, context)
      })
    )

    it.scoped(
      "a database of the seq-trigger schema upgrades: a turn written ahead before the write functions is stored after",
      () =>
        Effect.gen(function* () {
          const context = yield* build(Databases.postgresFresh({ migrate: false }))
          const upTo4 = Migrator.fromRecord(
            Object.fromEntries(Object.entries(SqlMigrations.migrations()).filter(([key]) => key < "0005"))
          )
          yield* Migrator.make({})({ loader: upTo4, table: SqlMigrations.migrationsTable() }).pipe(
            Effect.provide(context)
          )
          const storeLayer = SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer))
          const before = yield* Effect.provide(ConversationStore.ConversationStore, storeLayer).pipe(
            Effect.provide(context)
          )
          const conversation = yield* before.create({ userId: "u" })
          // on the old schema the store's own writes need the functions: rows and a pending turn by hand
          const sql = yield* Effect.provide(SqlClient.SqlClient, context)
          yield* sql`UPDATE convo_conversation SET last_seq = 1 WHERE id = ${conversation.id}`
          yield* sql`INSERT INTO convo_message (conversation_id, seq, turn_id, kind, status, content) VALUES (${conversation.id}, 1, 'old', 'human', 'complete', '{"_type": "HumanMessage", "_value": {"content": "hi"}}')`
          yield* sql`INSERT INTO convo_pending_turn (conversation_id, turn_id, user_id, client_id, owner, content) VALUES (${conversation.id}, 'ahead', 'u', 'c-ahead', 'gone', '{"_type": "HumanMessage", "_value": {"content": "still there?"}}')`
          assert.deepStrictEqual(yield* SqlMigrations.run().pipe(Effect.provide(context)), [[5, "convo_turn_writes"]])
          const store = yield* Effect.provide(ConversationStore.ConversationStore, storeLayer).pipe(
            Effect.provide(context)
          )
          const [waiting] = yield* store.pending(conversation.id)
          assert.strictEqual(waiting?.turnId, "ahead")
          const stored = yield* store.append({
            conversationId: conversation.id,
            userId: "u",
            turnId: "ahead",
            messages: [{ value: waiting!.human, clientId: "c-ahead" }, { value: new AIMessage("yes") }]
          })
          assert.deepStrictEqual(
            stored.rows.map((row) => [row.seq, row.turnId, row.clientId]),
            [
              [2, "ahead", "c-ahead"],
              [3, "ahead", null]
            ]
          )
          assert.deepStrictEqual(yield* store.pending(conversation.id), [])
          const accepted = yield* store.accept({
            conversationId: conversation.id,
            userId: "u",
            turnId: "next",
            clientId: "c-next",
            value: new HumanMessage("and now?"),
            owner: "me"
          })
          assert.strictEqual(accepted._tag, "Accepted")
          const again = yield* store.accept({
            conversationId: conversation.id,
            userId: "u",
            turnId: "again",
            clientId: "c-ahead",
            value: new HumanMessage("still there?"),
            owner: "me"
          })
          assert.deepStrictEqual(again, { _tag: "Duplicate", turnId: "ahead" })
          const history = yield* store.history(conversation.id)
          assert.deepStrictEqual(
            history.entries.map((entry) => [entry.seq, entry._tag]),
            [
              [1, "Decoded"],
              [2, "Decoded"],
              [3, "Decoded"]
            ]
          )
        })
    )

    it.scoped("toSql runs cleanly on a fresh database and gives the migrator's tables", () =>
      Effect.gen(function* () {
        const migrated = yield* build(Databases.postgresFresh())
        const plain = yield* build(Databases.postgresFresh({ migrate: false }))
        const name = (yield* Effect.provide(Databases.TestDatabase, plain)).name
        const server = Databases.pgServer()
        yield* Effect.promise(async () => {
          const client = new Pg.Client({ host: server.host, port: server.port, user: server.user, database: name })
          await client.connect()
          try {
            await client.query(SqlMigrations.toSql("pg"))
          } finally {
            await client.end()
          }
        })
        const expected = yield* Effect.provide(pgSchema, migrated)
        const actual = yield* Effect.provide(pgSchema, plain)
        assert.isAbove(expected.columns.length, 10)
        assert.isAbove(expected.constraints.length, 3)
        assert.strictEqual(expected.functions.length, 2)
        assert.deepStrictEqual(actual, expected)
      })
    )
  })
})
