// A SQLite store from the installed packages, in plain Node: migrate a file, append a turn, read
// it back, and check the stored row is pyhub's tagged JSON.
// Usage: node store.mjs <file>
import { ConversationStore, MessageCodec, SqlConversationStore, SqlMigrations } from "@convo/core"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import { Effect, Layer } from "effect"
import assert from "node:assert/strict"

const filename = process.argv[2] ?? "store.sqlite"
const Store = SqlConversationStore.layer().pipe(
  Layer.provideMerge(SqlMigrations.layer()),
  Layer.provide([MessageCodec.layer, SqliteClient.layer({ filename })])
)

const program = Effect.gen(function* () {
  const store = yield* ConversationStore.ConversationStore
  const conversation = yield* store.create({ userId: "u1", title: "consumer test" })
  const appended = yield* store.append({
    conversationId: conversation.id,
    userId: "u1",
    messages: [
      { value: new HumanMessage("안녕하세요"), clientId: "c-1" },
      {
        value: new AIMessage({
          content: "Bonjour !",
          usage_metadata: { input_tokens: 3, output_tokens: 2, total_tokens: 5 }
        })
      }
    ]
  })
  assert.equal(appended.rows.length, 2)
  const again = yield* store.append({
    conversationId: conversation.id,
    userId: "u1",
    messages: [{ value: new HumanMessage("안녕하세요"), clientId: "c-1" }]
  })
  assert.equal(again.duplicate, true)
  const page = yield* store.history(conversation.id)
  assert.deepEqual(
    page.entries.map((entry) => [entry.seq, entry._tag, entry._tag === "Decoded" ? entry.value.content : entry.raw]),
    [
      [1, "Decoded", "안녕하세요"],
      [2, "Decoded", "Bonjour !"]
    ]
  )
  const [human, ai] = page.entries
  assert.ok(human._tag === "Decoded" && human.value instanceof HumanMessage)
  assert.ok(ai._tag === "Decoded" && ai.value instanceof AIMessage)
  assert.equal(ai.content._type, "AIMessage")
  const missing = yield* Effect.flip(store.get(conversation.id + 1000))
  assert.equal(missing._tag, "ConversationNotFound")
  return conversation.id
})

const id = await Effect.runPromise(program.pipe(Effect.provide(Store)))
// a second process-like run on the same file sees the turn: it is on disk
const count = await Effect.runPromise(
  Effect.flatMap(ConversationStore.ConversationStore, (store) => store.history(id)).pipe(
    Effect.map((page) => page.entries.length),
    Effect.provide(Store)
  )
)
assert.equal(count, 2)
console.log(`store: SQLite at ${filename}: conversation ${id}, 2 messages appended, read back, idempotent repeat`)
