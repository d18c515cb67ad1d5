/**
 * A separate process that appends turns to one conversation of a SQLite file, for the
 * cross-process race test. Usage: `node --import tsx sqliteAppender.ts <file> <conversationId> <turns> <label>`.
 * Prints the seqs of each appended turn as JSON.
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const [filename, conversationId, turns, label] = process.argv.slice(2)

const program = Effect.gen(function* () {
  const store = yield* ConversationStore.ConversationStore
  const results = yield* Effect.forEach(
    Array.from({ length: Number(turns) }, (_, i) => i),
    (i) =>
      store.append({
        conversationId: Number(conversationId),
        userId: label ?? null,
        messages: [
          { value: new HumanMessage(`${label} q${i}`), clientId: `${label}-${i}` },
          { value: new AIMessage(`${label} a${i}`) }
        ]
      }),
    { concurrency: 4 }
  )
  return results.map((result) => result.rows.map((row) => row.seq))
})

const layer = SqlConversationStore.layer().pipe(
  Layer.provide(SqliteClient.layer({ filename: filename! })),
  Layer.provide(MessageCodec.layer)
)

Effect.runPromise(program.pipe(Effect.provide(layer))).then(
  (seqs) => {
    process.stdout.write(JSON.stringify(seqs))
  },
  (error) => {
    process.stderr.write(String(error))
    process.exitCode = 1
  }
)
