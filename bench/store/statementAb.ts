/**
 * The pg append statement alone, alternated in one process (scratch tool for ANALYSIS.md): convo's
 * CTE sent unnamed (as @effect/sql-pg sends every statement) and as a named prepared statement,
 * LangChain's two autocommitted INSERTs, and the store's append; then EXPLAIN of the statement.
 *
 *   npx tsx bench/store/statementAb.ts
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as Databases from "@convo/testing/Databases"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import Pg from "pg"
import { turn } from "./data.js"
const program = Effect.gen(function* () {
  const store = yield* ConversationStore.ConversationStore
  const codec = yield* MessageCodec.MessageCodec
  const database = yield* Databases.TestDatabase
  const c = yield* store.create({ userId: "u", title: "t" })
  const server = Databases.pgServer()
  const client = new Pg.Client({ host: server.host, port: server.port, user: server.user, database: database.name })
  yield* Effect.promise(() => client.connect())
  const t = turn(3)
  const h = Either.getOrThrow(codec.encodeStringEither(t.human)),
    a = Either.getOrThrow(codec.encodeStringEither(t.ai))
  const text = `WITH bumped AS (UPDATE convo_conversation SET last_seq = last_seq + $1, updated_at = now() WHERE id = $2 RETURNING last_seq) INSERT INTO convo_message (conversation_id, seq, turn_id, user_id, client_id, kind, status, content, input_tokens, output_tokens) SELECT $2, bumped.last_seq - $1 + 1 + v.i, $3, $4, v.client_id, v.kind, v.status, v.content::jsonb, v.input_tokens, v.output_tokens FROM bumped, (VALUES ($5::int, $6::text, $7::text, $8::text, $9::int, $10::int, $11::text), ($12::int, $13::text, $14::text, $15::text, $16::int, $17::int, $18::text)) AS v(i, kind, status, content, input_tokens, output_tokens, client_id) RETURNING id, seq, created_at`
  const params = () => [
    2,
    c.id,
    crypto.randomUUID(),
    "u",
    0,
    "human",
    "complete",
    h,
    null,
    null,
    null,
    1,
    "ai",
    "complete",
    a,
    10,
    20,
    null
  ]
  const times: Record<string, number[]> = { unnamed: [], named: [], lc2: [], store: [] }
  yield* Effect.promise(() =>
    client.query(
      "CREATE TABLE lc (id SERIAL PRIMARY KEY, session_id VARCHAR(255) NOT NULL, message JSONB NOT NULL); CREATE INDEX ON lc (session_id, id)"
    )
  )
  const lcH = JSON.stringify({ type: "human", data: t.human.toDict().data }),
    lcA = JSON.stringify({ type: "ai", data: t.ai.toDict().data })
  for (let k = 0; k < 600; k++) {
    let s = performance.now()
    yield* Effect.promise(() => client.query(text, params()))
    times.unnamed!.push(performance.now() - s)
    s = performance.now()
    yield* Effect.promise(() => client.query({ name: "append", text, values: params() }))
    times.named!.push(performance.now() - s)
    s = performance.now()
    yield* Effect.promise(async () => {
      await client.query("INSERT INTO lc (session_id, message) VALUES ($1, $2)", ["s", lcH])
      await client.query("INSERT INTO lc (session_id, message) VALUES ($1, $2)", ["s", lcA])
    })
    times.lc2!.push(performance.now() - s)
    s = performance.now()
    yield* store.append({ conversationId: c.id, userId: "u", messages: [{ value: t.human }, { value: t.ai }] })
    times.store!.push(performance.now() - s)
  }
  for (const [n, xs] of Object.entries(times)) {
    xs.sort((a, b) => a - b)
    console.log(n.padEnd(10), xs[300]!.toFixed(3), "ms")
  }
  const ex = yield* Effect.promise(() => client.query("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + text, params()))
  const p = ex.rows[0]["QUERY PLAN"][0]
  console.log("planning", p["Planning Time"], "execution", p["Execution Time"])
  yield* Effect.promise(() => client.end())
})
const layer = SqlConversationStore.layer().pipe(
  Layer.provideMerge(Layer.merge(Databases.postgresFresh(), MessageCodec.layer))
)
await Effect.runPromise(Effect.scoped(Effect.provide(program, layer)))
