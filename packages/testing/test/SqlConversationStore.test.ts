import * as ConversationStore from "@convo/core/ConversationStore"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Str from "effect/String"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as Databases from "../src/Databases.js"

const codec = MessageCodec.layer

/** A hand-written codec gone wrong: its text is not JSON (PostgreSQL refuses it with 22P02). */
const notJson = Layer.effect(
  MessageCodec.MessageCodec,
  Effect.map(MessageCodec.MessageCodec, (real) => ({
    ...real,
    encodeString: (value: unknown) => Effect.map(real.encodeString(value), (text) => `${text} not json`),
    encodeStringEither: (value: unknown) => Either.map(real.encodeStringEither(value), (text) => `${text} x`)
  }))
).pipe(Layer.provide(codec))
const pgEnabled = await Databases.pgTestsEnabled()

// The two stored strings of the seed's SQL log (shared/fixtures/pyhub-stored-messages.json).
const pyhubHuman =
  '{"_type": "HumanMessage", "_value": {"content": "hello", "additional_kwargs": {}, "response_metadata": {}, "type": "human", "name": null, "id": null, "example": false}}'
const pyhubAi =
  '{"_type": "AIMessage", "_value": {"content": "\\u4f60\\u597d\\uff0c\\u8bf7\\u95ee\\u6211\\u53ef\\u4ee5\\u5e2e\\u4f60\\u70b9\\u4ec0\\u4e48\\u5496\\u5561\\u5417\\uff1f", "additional_kwargs": {}, "response_metadata": {}, "type": "ai", "name": null, "id": "run-7c97e77c-847b-4ec9-a874-03317f4f7712", "example": false, "tool_calls": [], "invalid_tool_calls": [], "usage_metadata": {"input_tokens": 139, "output_tokens": 14, "total_tokens": 153, "input_token_details": {"audio": 0, "cache_read": 0}, "output_token_details": {"audio": 0, "reasoning": 0}}}}'

type Db = Layer.Layer<SqlClient.SqlClient | Databases.TestDatabase, unknown>

/** The store on `db`, with the database's client and `TestDatabase` beside it. */
const open = (db: Db) =>
  Effect.map(
    Layer.build(SqlConversationStore.layer().pipe(Layer.provideMerge(db), Layer.provide(codec))),
    (context) => ({
      store: Context.get(context, ConversationStore.ConversationStore),
      sql: Context.get(context, SqlClient.SqlClient),
      db: Context.get(context, Databases.TestDatabase)
    })
  )

const rawContents = (sql: SqlClient.SqlClient, conversationId: number) =>
  Effect.map(
    sql<{ readonly content: string }>`SELECT ${sql.onDialectOrElse({
      pg: () => sql.literal("content::text AS content"),
      orElse: () => sql.literal("content")
    })} FROM convo_message WHERE conversation_id = ${conversationId} ORDER BY seq`,
    (rows) => rows.map((row) => row.content)
  )

const insertRaw = (sql: SqlClient.SqlClient, conversationId: number, seq: number, content: string) =>
  sql`INSERT INTO convo_message ${sql.insert({
    conversation_id: conversationId,
    seq,
    turn_id: "pyhub",
    user_id: null,
    kind: "unknown",
    status: "complete",
    content
  })}`.pipe(Effect.zipRight(sql`UPDATE convo_conversation SET last_seq = ${seq} WHERE id = ${conversationId}`))

const expectUnavailable = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(effect)
    assert.instanceOf(error, ConversationStore.StoreError)
    const storeError = error as ConversationStore.StoreError
    assert.strictEqual(storeError.reason, "Unavailable")
    assert.strictEqual((storeError.cause as { _tag?: string })._tag, "SqlError")
  })

// Shared by both dialects: the behaviour that depends on the real codec and the database.
const common = (db: (options?: Databases.Options) => Db) => {
  it.scopedLive("a turn written ahead whose client id a plain append stored meanwhile is that turn's duplicate", () =>
    Effect.gen(function* () {
      // the append of a turn written ahead is one statement; the unique client id refuses it, and the
      // transaction behind it finds the turn that holds the id
      const { store } = yield* open(db())
      const conversation = yield* store.create({})
      const turn = { conversationId: conversation.id, userId: "u", turnId: "ahead", owner: "me" }
      assert.strictEqual(
        (yield* store.accept({ ...turn, clientId: "c1", value: new HumanMessage("hi") }))._tag,
        "Accepted"
      )
      const plain = yield* store.append({
        conversationId: conversation.id,
        userId: "u",
        messages: [{ value: new HumanMessage("hi"), clientId: "c1" }]
      })
      const late = yield* store.append({
        conversationId: conversation.id,
        userId: "u",
        turnId: "ahead",
        messages: [{ value: new HumanMessage("hi"), clientId: "c1" }, { value: new AIMessage("hello") }]
      })
      assert.isTrue(late.duplicate)
      assert.strictEqual(late.turnId, plain.turnId)
      assert.deepStrictEqual(seqs(late.rows), [1])
      assert.deepStrictEqual(seqs((yield* store.history(conversation.id)).entries), [1])
      // the next turn still gets the next seq
      const next = yield* store.append({
        conversationId: conversation.id,
        userId: "u",
        messages: [{ value: new HumanMessage("again") }]
      })
      assert.deepStrictEqual(seqs(next.rows), [2])
    })
  )

  it.scopedLive("maps SqlError to StoreError Unavailable, keeping the SqlError as its cause", () =>
    Effect.gen(function* () {
      // No migrations: every statement fails.
      const store = Context.get(
        yield* Layer.build(
          SqlConversationStore.layer().pipe(Layer.provide(db({ migrate: false })), Layer.provide(codec))
        ),
        ConversationStore.ConversationStore
      )
      yield* expectUnavailable(store.create({}))
      yield* expectUnavailable(store.get(1))
      yield* expectUnavailable(store.list({ userId: null }))
      yield* expectUnavailable(
        store.append({ conversationId: 1, userId: null, messages: [{ value: new HumanMessage("x") }] })
      )
      yield* expectUnavailable(store.history(1))
      yield* expectUnavailable(store.clear(1))
      yield* expectUnavailable(store.delete(1))
    })
  )

  it.scopedLive("reads the rows pyhub stored, and stores the decoded messages as pyhub wrote them", () =>
    Effect.gen(function* () {
      const { sql, store } = yield* open(db())
      const conversation = yield* store.create({})
      yield* insertRaw(sql, conversation.id, 1, pyhubHuman)
      yield* insertRaw(sql, conversation.id, 2, pyhubAi)
      const page = yield* store.history(conversation.id)
      const [human, ai] = page.entries
      assert.strictEqual(human?._tag, "Decoded")
      assert.strictEqual(ai?._tag, "Decoded")
      if (human?._tag !== "Decoded" || ai?._tag !== "Decoded") return
      assert.instanceOf(human.value, HumanMessage)
      assert.instanceOf(ai.value, AIMessage)
      assert.strictEqual((ai.value as AIMessage).content, "你好，请问我可以帮你点什么咖啡吗？")
      assert.deepStrictEqual(human.content, JSON.parse(pyhubHuman))
      // Appending the decoded messages again fills the columns from them and stores the same JSON.
      const again = yield* store.append({
        conversationId: conversation.id,
        userId: null,
        messages: [{ value: human.value }, { value: ai.value }]
      })
      assert.deepStrictEqual(seqs(again.rows), [3, 4])
      assert.deepStrictEqual(
        again.rows.map((row) => [row.kind, row.inputTokens, row.outputTokens]),
        [
          ["human", null, null],
          ["ai", 139, 14]
        ]
      )
      const stored = yield* rawContents(sql, conversation.id)
      assert.deepStrictEqual(JSON.parse(stored[2]!), JSON.parse(pyhubHuman))
      assert.deepStrictEqual(JSON.parse(stored[3]!), JSON.parse(pyhubAi))
    })
  )

  it.scopedLive("stores plain JSON values (pyhub's tool-output rows) and reads them back as kind data", () =>
    Effect.gen(function* () {
      const { store } = yield* open(db())
      const conversation = yield* store.create({})
      const output = { tool: "search", results: [1, "two", { three: null }] }
      const result = yield* store.append({
        conversationId: conversation.id,
        userId: null,
        messages: [{ value: output }]
      })
      assert.strictEqual(result.rows[0]!.kind, "data")
      const [entry] = (yield* store.history(conversation.id)).entries
      assert.strictEqual(entry?._tag, "Decoded")
      if (entry?._tag === "Decoded") {
        assert.deepStrictEqual(entry.value, output)
        assert.deepStrictEqual(entry.content, output)
      }
    })
  )

  it.scopedLive("ignores the client's name transforms", () =>
    Effect.gen(function* () {
      const { db: database } = yield* open(db())
      const transforms = { transformResultNames: Str.snakeToCamel, transformQueryNames: Str.camelToSnake }
      const server = Databases.pgServer()
      const transformed: Layer.Layer<SqlClient.SqlClient, unknown> =
        database.dialect === "sqlite"
          ? SqliteClient.layer({ filename: database.name, ...transforms })
          : PgClient.layer({
              host: server.host,
              port: server.port,
              username: server.user,
              database: database.name,
              ...transforms
            })
      const store = Context.get(
        yield* Layer.build(SqlConversationStore.layer().pipe(Layer.provide(transformed), Layer.provide(codec))),
        ConversationStore.ConversationStore
      )
      const conversation = yield* store.create({ userId: "u", metadata: { a: 1 } })
      assert.deepStrictEqual((yield* store.get(conversation.id)).metadata, { a: 1 })
      const result = yield* store.append({
        conversationId: conversation.id,
        userId: "u",
        messages: [{ value: new HumanMessage("hi"), clientId: "c" }]
      })
      assert.strictEqual(result.rows[0]!.turnId, result.turnId)
      assert.strictEqual(result.rows[0]!.clientId, "c")
      assert.strictEqual((yield* store.history(conversation.id)).entries[0]!.userId, "u")
    })
  )
}

const seqs = (rows: ReadonlyArray<{ readonly seq: number }>) => rows.map((row) => row.seq)

describe("SqlConversationStore on SQLite", () => {
  common(Databases.sqliteTemp)

  it.scopedLive("stores content as the text Python's json.dumps writes, NaN included", () =>
    Effect.gen(function* () {
      const { sql, store } = yield* open(Databases.sqliteTemp())
      const conversation = yield* store.create({})
      yield* store.append({
        conversationId: conversation.id,
        userId: null,
        messages: [{ value: new HumanMessage("안녕") }, { value: { score: Number.NaN } }]
      })
      const [human, data] = yield* rawContents(sql, conversation.id)
      assert.strictEqual(JSON.parse(human!)._value.content, "안녕")
      assert.include(human!, "\\uc548\\ub155")
      assert.strictEqual(data, '{"score": NaN}')
      const [, entry] = (yield* store.history(conversation.id)).entries
      assert.strictEqual(entry?._tag, "Decoded")
      if (entry?._tag === "Decoded") assert.isTrue(Number.isNaN((entry.value as { score: number }).score))
    })
  )

  it.scopedLive("turns on foreign keys, so deleting a conversation row outside the store removes its messages", () =>
    Effect.gen(function* () {
      const { sql, store } = yield* open(Databases.sqliteTemp())
      const conversation = yield* store.create({})
      yield* store.append({
        conversationId: conversation.id,
        userId: null,
        messages: [{ value: new HumanMessage("x") }]
      })
      yield* sql`DELETE FROM convo_conversation WHERE id = ${conversation.id}`
      const [row] = yield* sql<{ readonly n: number }>`SELECT count(*) AS n FROM convo_message`
      assert.strictEqual(row!.n, 0)
    })
  )

  it.scopedLive(
    "appends from three processes on one file never duplicate or skip a seq",
    () =>
      Effect.gen(function* () {
        const { db: database, store } = yield* open(Databases.sqliteTemp())
        const conversation = yield* store.create({})
        const turns = 30
        const script = fileURLToPath(new URL("./support/sqliteAppender.ts", import.meta.url))
        const child = (label: string) =>
          Effect.async<ReadonlyArray<ReadonlyArray<number>>, Error>((resume) => {
            const process_ = execFile(
              process.execPath,
              ["--import", "tsx", script, database.name, String(conversation.id), String(turns), label],
              { timeout: 60_000 },
              (error, stdout, stderr) =>
                resume(
                  error === null
                    ? Effect.succeed(JSON.parse(stdout) as ReadonlyArray<ReadonlyArray<number>>)
                    : Effect.fail(new Error(`${label} failed: ${error.message}\n${stderr}`))
                )
            )
            return Effect.sync(() => process_.kill())
          })
        const here = Effect.forEach(
          Array.from({ length: turns }, (_, i) => i),
          (i) =>
            Effect.map(
              store.append({
                conversationId: conversation.id,
                userId: "parent",
                messages: [{ value: new HumanMessage(`q${i}`) }, { value: new AIMessage(`a${i}`) }]
              }),
              (result) => seqs(result.rows)
            ),
          { concurrency: 4 }
        )
        const [first, second, local] = yield* Effect.all([child("one"), child("two"), here], {
          concurrency: "unbounded"
        })
        const all = [...first, ...second, ...local]
        assert.strictEqual(all.length, turns * 3)
        for (const turn of all) assert.deepStrictEqual(turn, [turn[0]!, turn[0]! + 1])
        assert.deepStrictEqual(
          all.flat().sort((a, b) => a - b),
          Array.from({ length: turns * 6 }, (_, i) => i + 1)
        )
        const page = yield* store.history(conversation.id)
        assert.deepStrictEqual(
          seqs(page.entries),
          Array.from({ length: turns * 6 }, (_, i) => i + 1)
        )
        assert.deepStrictEqual((yield* store.history(conversation.id, { userId: "one" })).entries.length, turns * 2)
      }),
    120_000
  )
})

describe.skipIf(!pgEnabled)("SqlConversationStore on PostgreSQL", () => {
  common(Databases.postgresFresh)

  it.scopedLive("rejects a value jsonb cannot hold with StoreError Encode, writing nothing", () =>
    Effect.gen(function* () {
      const { store } = yield* open(Databases.postgresFresh())
      const conversation = yield* store.create({})
      for (const value of [{ score: Number.NaN }, { score: Number.POSITIVE_INFINITY }, { text: "nul \u0000 here" }]) {
        const error = yield* Effect.flip(
          store.append({
            conversationId: conversation.id,
            userId: null,
            messages: [{ value: new HumanMessage("kept out") }, { value }]
          })
        )
        assert.instanceOf(error, ConversationStore.StoreError)
        assert.strictEqual((error as ConversationStore.StoreError).reason, "Encode")
        assert.include((error as ConversationStore.StoreError).detail, "message 2 of 2")
      }
      assert.deepStrictEqual((yield* store.history(conversation.id)).entries, [])
      const next = yield* store.append({
        conversationId: conversation.id,
        userId: null,
        messages: [{ value: { text: "a backslash-u0000 in text: \\u0000" } }]
      })
      assert.deepStrictEqual(seqs(next.rows), [1])
    })
  )

  it.scopedLive(
    "text that is not JSON fails accept and a written-ahead append with StoreError Encode, writing nothing",
    () =>
      Effect.gen(function* () {
        // both go through the write functions of migration 0005: PostgreSQL refuses the text inside them
        const db = yield* Layer.build(Databases.postgresFresh())
        const storeWith = (codecLayer: Layer.Layer<MessageCodec.MessageCodec>) =>
          Effect.map(
            Layer.build(
              SqlConversationStore.layer().pipe(Layer.provide(codecLayer), Layer.provide(Layer.succeedContext(db)))
            ),
            (context) => Context.get(context, ConversationStore.ConversationStore)
          )
        const good = yield* storeWith(codec)
        const bad = yield* storeWith(notJson)
        const conversation = yield* good.create({})
        const turn = { conversationId: conversation.id, userId: null, owner: "me" }
        const refused = yield* Effect.flip(bad.accept({ ...turn, turnId: "t0", value: new HumanMessage("hi") }))
        assert.instanceOf(refused, ConversationStore.StoreError)
        assert.strictEqual((refused as ConversationStore.StoreError).reason, "Encode")
        assert.deepStrictEqual(yield* good.pending(conversation.id), [])
        assert.strictEqual(
          (yield* good.accept({ ...turn, turnId: "t1", value: new HumanMessage("hi") }))._tag,
          "Accepted"
        )
        const failed = yield* Effect.flip(
          bad.append({
            conversationId: conversation.id,
            userId: null,
            turnId: "t1",
            messages: [{ value: new HumanMessage("hi") }, { value: new AIMessage("hello") }]
          })
        )
        assert.instanceOf(failed, ConversationStore.StoreError)
        assert.strictEqual((failed as ConversationStore.StoreError).reason, "Encode")
        // nothing written: the turn still waits, the history is empty, and its seqs are still free
        assert.deepStrictEqual(
          (yield* good.pending(conversation.id)).map((p) => p.turnId),
          ["t1"]
        )
        assert.deepStrictEqual((yield* good.history(conversation.id)).entries, [])
        const stored = yield* good.append({
          conversationId: conversation.id,
          userId: null,
          turnId: "t1",
          messages: [{ value: new HumanMessage("hi") }, { value: new AIMessage("hello") }]
        })
        assert.deepStrictEqual(seqs(stored.rows), [1, 2])
      })
  )

  it.scopedLive("a codec that writes text which is not JSON fails with StoreError Encode, not Unavailable", () =>
    Effect.gen(function* () {
      // a hand-written codec gone wrong: its text is refused by PostgreSQL (22P02), and no retry helps
      const context = yield* Layer.build(
        SqlConversationStore.layer().pipe(Layer.provideMerge(Databases.postgresFresh()), Layer.provide(notJson))
      )
      const store = Context.get(context, ConversationStore.ConversationStore)
      const conversation = yield* store.create({})
      const error = yield* Effect.flip(
        store.append({ conversationId: conversation.id, userId: null, messages: [{ value: new HumanMessage("hi") }] })
      )
      assert.instanceOf(error, ConversationStore.StoreError)
      assert.strictEqual((error as ConversationStore.StoreError).reason, "Encode")
      assert.deepStrictEqual((yield* store.history(conversation.id)).entries, [])
    })
  )
})
