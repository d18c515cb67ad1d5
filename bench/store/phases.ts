/**
 * Where a full load's and an append's time goes, phase by phase, at 1,000 stored turns on one
 * backend (a scratch tool for ANALYSIS.md, not part of the committed results):
 *
 *   npx tsx bench/store/phases.ts --backend=pg|sqlite
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as Databases from "@convo/testing/Databases"
import * as SqlClient from "@effect/sql/SqlClient"
import { mapStoredMessagesToChatMessages } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import Pg from "pg"
import { distinctTurns, turn } from "./data.js"
import { sample, timeSync } from "./measure.js"

const backend = process.argv.find((a) => a.startsWith("--backend="))?.slice(10) ?? "pg"
const size = 1_000
const plan = { warmup: 3, samples: 20 }

const program = Effect.gen(function* () {
  const store = yield* ConversationStore.ConversationStore
  const codec = yield* MessageCodec.MessageCodec
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const database = yield* Databases.TestDatabase
  const c = yield* store.create({ userId: "u", title: "t" })
  for (let i = 0; i < size; i++) {
    const t = turn(i % distinctTurns)
    yield* store.append({ conversationId: c.id, userId: "u", messages: [{ value: t.human }, { value: t.ai }] })
  }
  if (backend === "pg") yield* sql`ANALYZE`
  const cols =
    "id, conversation_id, seq, turn_id, user_id, client_id, kind, status, input_tokens, output_tokens, created_at"
  const content = backend === "pg" ? "content::text AS content" : "content"
  const q = `SELECT ${cols}, ${content} FROM convo_message WHERE conversation_id = ${c.id} ORDER BY seq ASC`
  const show = (name: string, s: { p50: number }) => console.log(`${name.padEnd(70)} ${s.p50.toFixed(2)} ms`)
  show("store.history (full)", yield* sample(plan, () => store.history(c.id)))
  show("sql.unsafe SELECT 12 columns (content::text)", yield* sample(plan, () => sql.unsafe(q)))
  show(
    "sql.unsafe SELECT content only",
    yield* sample(plan, () =>
      sql.unsafe(`SELECT ${content} FROM convo_message WHERE conversation_id = ${c.id} ORDER BY seq`)
    )
  )
  show(
    "sql.unsafe SELECT 11 columns, no content",
    yield* sample(plan, () =>
      sql.unsafe(`SELECT ${cols} FROM convo_message WHERE conversation_id = ${c.id} ORDER BY seq`)
    )
  )
  if (backend === "pg") {
    show(
      "sql.unsafe SELECT content jsonb (parsed by pg)",
      yield* sample(plan, () =>
        sql.unsafe(`SELECT content FROM convo_message WHERE conversation_id = ${c.id} ORDER BY seq`)
      )
    )
    show(
      "sql.unsafe SELECT created_at",
      yield* sample(plan, () =>
        sql.unsafe(`SELECT created_at FROM convo_message WHERE conversation_id = ${c.id} ORDER BY seq`)
      )
    )
    show(
      "sql.unsafe SELECT created_at::text",
      yield* sample(plan, () =>
        sql.unsafe(`SELECT created_at::text FROM convo_message WHERE conversation_id = ${c.id} ORDER BY seq`)
      )
    )
    show(
      "sql.unsafe SELECT id, conversation_id (int8)",
      yield* sample(plan, () =>
        sql.unsafe(`SELECT id, conversation_id FROM convo_message WHERE conversation_id = ${c.id} ORDER BY seq`)
      )
    )
    const server = Databases.pgServer()
    const client = new Pg.Client({ host: server.host, port: server.port, user: server.user, database: database.name })
    yield* Effect.promise(() => client.connect())
    show("raw pg SELECT 12 columns (content::text)", yield* sample(plan, () => Effect.promise(() => client.query(q))))
    show(
      "raw pg SELECT content jsonb",
      yield* sample(plan, () =>
        Effect.promise(() =>
          client.query(`SELECT content FROM convo_message WHERE conversation_id = ${c.id} ORDER BY seq`)
        )
      )
    )
    yield* Effect.promise(() => client.end())
  }
  const rows = yield* sql.unsafe<{ content: string }>(q)
  const texts = rows.map((r) => r.content)
  show(
    "codec.decodeStringEither per row",
    yield* sample(plan, () => timeSync(() => texts.map((t) => codec.decodeStringEither(t))))
  )
  show("JSON.parse per row", yield* sample(plan, () => timeSync(() => texts.map((t) => JSON.parse(t)))))
  const lc = texts.map((t) => {
    const v = JSON.parse(t) as { _type: string; _value: Record<string, unknown> }
    return { type: v._type === "HumanMessage" ? "human" : "ai", data: v._value as any }
  })
  show(
    "mapStoredMessagesToChatMessages (LangChain's decode)",
    yield* sample(plan, () => timeSync(() => mapStoredMessagesToChatMessages(lc)))
  )
  const one = texts[1]!
  const d = codec.decodeStringEither(one)
  if (Either.isLeft(d)) throw d.left
})

const layer = SqlConversationStore.layer().pipe(
  Layer.provideMerge(
    Layer.merge(backend === "pg" ? Databases.postgresFresh() : Databases.sqliteTemp(), MessageCodec.layer)
  )
)
await Effect.runPromise(Effect.scoped(Effect.provide(program, layer)))
