/**
 * `Import` on real databases: a generated django-pyhub-ai database (its two tables as Django
 * creates them, rows as pyhub's encoder wrote them, tool turns in its agent-step shapes) and a
 * LangChain `PostgresChatMessageHistory` table, on SQLite and on PostgreSQL, imported twice: the
 * second run imports nothing; owners, order and the content JSON are kept.
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import * as Import from "@convo/core/Import"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { AIMessage, HumanMessage, mapChatMessagesToStoredMessages, SystemMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Databases from "../src/Databases.js"

const pgEnabled = await Databases.pgTestsEnabled()

const codec = MessageCodec.make()
const py = (value: unknown) => Either.getOrThrow(codec.encodeStringEither(value))

// pyhub's agent rows for a tool turn (XJSONEncoder over LangChain's AgentExecutor output)
const actionsRow =
  '{"actions": [{"_type": "ToolAgentAction", "_value": {"tool": "search", "tool_input": {"query": "\\uc11c\\uc6b8"}, "log": "\\nInvoking: `search`\\n", "type": "AgentActionMessageLog", "message_log": [], "tool_call_id": "call_abc"}}], "messages": [{"_type": "AIMessageChunk", "_value": {"content": "", "additional_kwargs": {}, "response_metadata": {}, "type": "AIMessageChunk", "name": null, "id": "run-1", "example": false, "tool_calls": [{"name": "search", "args": {"query": "\\uc11c\\uc6b8"}, "id": "call_abc", "type": "tool_call"}], "invalid_tool_calls": [], "usage_metadata": null, "tool_call_chunks": []}}]}'
const stepsRow =
  '{"steps": [{"_type": "AgentStep", "_value": {"action": {"tool": "search", "tool_input": {"query": "\\uc11c\\uc6b8"}, "log": "", "type": "AgentAction"}, "observation": "\\ub9d1\\uc74c"}}], "messages": [{"_type": "FunctionMessage", "_value": {"content": "\\ub9d1\\uc74c", "additional_kwargs": {}, "response_metadata": {}, "type": "function", "name": "search", "id": null}}]}'
// SQLite's text column held what json.dumps wrote, NaN included; PostgreSQL's jsonb never could
const nanRow = '{"_type": "DataFrame", "_value": {"price": {"0": 2.5, "1": NaN}}}'

interface PyhubRow {
  readonly conversation: number
  readonly user: number | null
  readonly content: string
}

/** Three conversations: two owners and one ownerless with two users; rows interleaved across conversations. */
const pyhubRows = (withNaN: boolean): ReadonlyArray<PyhubRow> => {
  const rows: Array<PyhubRow> = []
  for (let turn = 0; turn < 30; turn++) {
    for (const [conversation, user] of [
      [1, 7],
      [2, 9],
      [3, turn % 2 === 0 ? 7 : 9]
    ] as const) {
      rows.push({ conversation, user, content: py(new HumanMessage(`c${conversation} t${turn} 질문 1.0`)) })
      if (conversation === 1 && turn === 3) {
        rows.push({ conversation, user, content: actionsRow }, { conversation, user, content: stepsRow })
      }
      if (conversation === 2 && turn === 5 && withNaN) rows.push({ conversation, user, content: nanRow })
      rows.push({ conversation, user, content: py(new AIMessage(`c${conversation} t${turn} answer`)) })
    }
  }
  return [{ conversation: 1, user: 7, content: py(new SystemMessage("You are a barista.")) }, ...rows]
}

const createPyhub = (rows: ReadonlyArray<PyhubRow>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const pg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    const id = pg ? "serial PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
    yield* sql.unsafe(`CREATE TABLE pyhub_ai_conversation (id ${id}, user_id integer NULL)`)
    yield* sql.unsafe(
      `CREATE TABLE pyhub_ai_conversationmessage (id ${id}, conversation_id integer NOT NULL REFERENCES pyhub_ai_conversation (id), user_id integer NULL, content ${pg ? "jsonb" : "text"} NOT NULL)`
    )
    yield* sql`INSERT INTO pyhub_ai_conversation (user_id) VALUES (7), (9), (NULL)`
    for (const row of rows) {
      yield* sql`INSERT INTO pyhub_ai_conversationmessage (conversation_id, user_id, content) VALUES (${row.conversation}, ${row.user}, ${row.content})`
    }
  })

const sessions = ["9b2f4c1e-8d7a-4e3b-a1c2-5f6e7d8c9b0a", "thread-two"]

const createLangChain = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const pg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
  yield* sql.unsafe(
    `CREATE TABLE langchain_chat_histories (id ${pg ? "serial PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"}, session_id ${pg ? "varchar(255)" : "TEXT"} NOT NULL, message ${pg ? "jsonb" : "TEXT"} NOT NULL)`
  )
  for (let turn = 0; turn < 20; turn++) {
    for (const session of sessions) {
      const stored = mapChatMessagesToStoredMessages([
        new HumanMessage(`${session} q${turn}`),
        new AIMessage(`${session} a${turn}`)
      ])
      for (const message of stored) {
        yield* sql`INSERT INTO langchain_chat_histories (session_id, message) VALUES (${session}, ${JSON.stringify(message)})`
      }
    }
  }
  yield* sql`INSERT INTO langchain_chat_histories (session_id, message) VALUES (${sessions[1]!}, ${'{"not": "a message"}'})`
})

const storeLayer = SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer))

/** The stored content of every row of a conversation, in seq order, as the database gives it back. */
const storedContents = (conversationId: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const pg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    const rows = yield* sql.unsafe<{ readonly content: string; readonly user_id: string | null }>(
      `SELECT ${pg ? "content::text AS content" : "content"}, user_id FROM convo_message WHERE conversation_id = ${conversationId} ORDER BY seq`
    )
    return rows
  })

const sourceContents = (conversation: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const pg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    return yield* sql.unsafe<{ readonly content: string; readonly user_id: number | null }>(
      `SELECT ${pg ? "content::text AS content" : "content"}, user_id FROM pyhub_ai_conversationmessage WHERE conversation_id = ${conversation} ORDER BY id`
    )
  })

const pyhubCase = (withNaN: boolean) =>
  Effect.gen(function* () {
    yield* createPyhub(pyhubRows(withNaN))
    const store = yield* ConversationStore.ConversationStore
    const progress: Array<Import.Progress> = []
    const first = yield* Import.fromPyhub({ batchSize: 7, onProgress: (p) => progress.push(p) })
    const total = pyhubRows(withNaN).length
    assert.deepStrictEqual(
      progress.map((p) => [p.conversations, p.of]),
      [
        [1, 3],
        [2, 3],
        [3, 3]
      ]
    )
    assert.deepStrictEqual(
      { ...first, skipped: first.skipped.length },
      {
        source: "django-pyhub-ai",
        conversations: 3,
        created: 3,
        messages: total,
        imported: total,
        alreadyImported: 0,
        skipped: 0
      }
    )

    // owners kept, public ids derived, order and content exact (the text as the source gives it back)
    for (const [pk, owner] of [
      [1, "7"],
      [2, "9"],
      [3, null]
    ] as const) {
      const conversation = yield* store.get(`pyhub-${pk}`)
      assert.strictEqual(conversation.userId, owner)
      assert.deepStrictEqual(conversation.metadata, { importedFrom: "django-pyhub-ai", pyhubConversationId: pk })
      const source = yield* sourceContents(pk)
      const stored = yield* storedContents(conversation.id)
      assert.deepStrictEqual(
        stored.map((row) => row.content),
        source.map((row) => row.content)
      )
      assert.deepStrictEqual(
        stored.map((row) => row.user_id),
        source.map((row) => (row.user_id === null ? null : String(row.user_id)))
      )
    }
    // turns: each starts at a human message; the system row before the first one is its own
    const first1 = yield* store.get("pyhub-1")
    const history = yield* store.history(first1.id)
    assert.strictEqual(history.entries.length, 63)
    assert.isTrue(history.entries.every((entry) => entry._tag === "Decoded"))
    const turnIds = [...new Set(history.entries.map((entry) => entry.turnId))]
    assert.strictEqual(turnIds.length, 31)
    const toolTurn = history.entries.filter((entry) => entry.turnId === history.entries[7]!.turnId)
    assert.deepStrictEqual(
      toolTurn.map((entry) => entry.kind),
      ["human", "data", "data", "ai"]
    )
    // the ownerless conversation keeps each message's own user
    const third = yield* store.get("pyhub-3")
    assert.deepStrictEqual((yield* store.history(third.id, { userId: "9" })).entries.length, 30)

    // the second run imports nothing
    const second = yield* Import.fromPyhub({ batchSize: 7 })
    assert.deepStrictEqual(
      { created: second.created, imported: second.imported, alreadyImported: second.alreadyImported },
      { created: 0, imported: 0, alreadyImported: total }
    )
    assert.strictEqual((yield* store.history(first1.id)).entries.length, 63)

    // rows added to the source since are imported from where it stopped, in order
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO pyhub_ai_conversationmessage (conversation_id, user_id, content) VALUES (1, 7, ${py(new HumanMessage("later"))}), (1, 7, ${py(new AIMessage("later answer"))})`
    const third3 = yield* Import.fromPyhub()
    assert.strictEqual(third3.imported, 2)
    const last = (yield* store.history(first1.id, { limit: 2 })).entries
    assert.deepStrictEqual(
      last.map((entry) => (entry._tag === "Decoded" ? (entry.value as HumanMessage).content : null)),
      ["later", "later answer"]
    )
  })

const langChainCase = Effect.gen(function* () {
  yield* createLangChain
  const store = yield* ConversationStore.ConversationStore
  const first = yield* Import.fromLangChain({ userId: (session) => (session === "thread-two" ? "bob" : null) })
  assert.deepStrictEqual(
    { created: first.created, messages: first.messages, imported: first.imported },
    { created: 2, messages: 81, imported: 80 }
  )
  assert.deepStrictEqual(
    first.skipped.map((s) => [s.conversation, s.reason.startsWith("not a LangChain stored message")]),
    [["thread-two", true]]
  )
  for (const session of sessions) {
    const conversation = yield* store.get(session)
    assert.strictEqual(conversation.userId, session === "thread-two" ? "bob" : null)
    const page = yield* store.history(conversation.id)
    assert.deepStrictEqual(
      page.entries.map((entry) => (entry._tag === "Decoded" ? (entry.value as HumanMessage).content : null)),
      Array.from({ length: 20 }, (_, turn) => [`${session} q${turn}`, `${session} a${turn}`]).flat()
    )
    assert.deepStrictEqual(
      page.entries.slice(0, 2).map((entry) => entry.kind),
      ["human", "ai"]
    )
    assert.strictEqual(new Set(page.entries.map((entry) => entry.turnId)).size, 20)
  }
  const second = yield* Import.fromLangChain({ userId: (session) => (session === "thread-two" ? "bob" : null) })
  assert.deepStrictEqual(
    { created: second.created, imported: second.imported, alreadyImported: second.alreadyImported },
    { created: 0, imported: 0, alreadyImported: 80 }
  )
})

describe("Import", () => {
  it.scoped("SQLite: a pyhub database imports with owners, order and content exact, once", () =>
    pyhubCase(true).pipe(Effect.provide(storeLayer.pipe(Layer.provideMerge(Databases.sqliteTemp()))))
  )

  it.scoped("SQLite: a LangChain history table imports by session, once", () =>
    langChainCase.pipe(Effect.provide(storeLayer.pipe(Layer.provideMerge(Databases.sqliteTemp()))))
  )

  describe.skipIf(!pgEnabled)("PostgreSQL", () => {
    it.scoped("a pyhub database imports with owners, order and content exact, once", () =>
      pyhubCase(false).pipe(Effect.provide(storeLayer.pipe(Layer.provideMerge(Databases.postgresFresh()))))
    )

    it.scoped("a LangChain history table imports by session, once", () =>
      langChainCase.pipe(Effect.provide(storeLayer.pipe(Layer.provideMerge(Databases.postgresFresh()))))
    )

    it.scoped("from SQLite into PostgreSQL, a row jsonb cannot hold is skipped and named, the rest imported", () =>
      Effect.gen(function* () {
        const sqlite = yield* Layer.build(Databases.sqliteTemp())
        yield* createPyhub(pyhubRows(true)).pipe(Effect.provide(sqlite))
        const summary = yield* Import.fromPyhub().pipe(Effect.provide(sqlite))
        assert.strictEqual(summary.skipped.length, 1)
        assert.include(summary.skipped[0]!.reason, "NaN")
        assert.strictEqual(summary.skipped[0]!.conversation, "pyhub-2")
        // the skipped turn is the human message, the NaN row and the answer of conversation 2's turn 5
        assert.strictEqual(summary.imported, pyhubRows(true).length - 3)
        const again = yield* Import.fromPyhub().pipe(Effect.provide(sqlite))
        assert.strictEqual(again.imported, 0)
        assert.strictEqual(again.skipped.length, 1)
      }).pipe(Effect.provide(storeLayer.pipe(Layer.provideMerge(Databases.postgresFresh()))))
    )
  })
})
