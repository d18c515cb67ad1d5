/**
 * The full-history SELECT alone on PostgreSQL, alternated in one process (scratch tool for
 * ANALYSIS.md): LangChain's one-`jsonb` row against convo's row in several shapes, raw `pg`.
 *
 *   npx tsx bench/store/selectAb.ts
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as Databases from "@convo/testing/Databases"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import Pg from "pg"
import { distinctTurns, turn } from "./data.js"

const size = 1_000
const program = Effect.gen(function* () {
  const store = yield* ConversationStore.ConversationStore
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const database = yield* Databases.TestDatabase
  const c = yield* store.create({ userId: "u", title: "t" })
  yield* sql`CREATE TABLE lc (id SERIAL PRIMARY KEY, session_id VARCHAR(255) NOT NULL, message JSONB NOT NULL)`
  yield* sql`CREATE INDEX lc_session ON lc (session_id, id)`
  for (let i = 0; i < size; i++) {
    const t = turn(i % distinctTurns)
    yield* store.append({ conversationId: c.id, userId: "u", messages: [{ value: t.human }, { value: t.ai }] })
    for (const m of [t.human, t.ai]) {
      const s = m.toDict()
      yield* sql`INSERT INTO lc (session_id, message) VALUES ('s', ${JSON.stringify(s)}::jsonb)`
    }
  }
  yield* sql`ANALYZE`
  const server = Databases.pgServer()
  const client = new Pg.Client({ host: server.host, port: server.port, user: server.user, database: database.name })
  yield* Effect.promise(() => client.connect())
  const where = `FROM convo_message WHERE conversation_id = ${c.id} ORDER BY seq`
  const shapes: Record<string, string> = {
    "lc SELECT message (jsonb)": "SELECT message FROM lc WHERE session_id = 's' ORDER BY id",
    "convo content (jsonb)": `SELECT content ${where}`,
    "convo content::text": `SELECT content::text AS content ${where}`,
    "convo history columns": `SELECT id, seq, turn_id, user_id, client_id, kind, status, input_tokens, output_tokens, floor(extract(epoch FROM created_at) * 1000)::float8 AS created_at, content::text AS content ${where}`,
    "convo 4 columns": `SELECT id, seq, kind, content::text AS content ${where}`
  }
  const times: Record<string, Array<number>> = {}
  for (let k = 0; k < 40; k++) {
    for (const [name, q] of Object.entries(shapes)) {
      const t = performance.now()
      yield* Effect.promise(() => client.query(q))
      ;(times[name] ??= []).push(performance.now() - t)
    }
  }
  for (const [name, xs] of Object.entries(times)) {
    xs.sort((a, b) => a - b)
    console.log(`${name.padEnd(30)} ${xs[20]!.toFixed(2)} ms`)
  }
  const sizes =
    yield* sql`SELECT avg(pg_column_size(content))::int AS convo, (SELECT avg(pg_column_size(message))::int FROM lc) AS lc, avg(length(content::text))::int AS convo_text, (SELECT avg(length(message::text))::int FROM lc) AS lc_text FROM convo_message`
  console.log(sizes)
  yield* Effect.promise(() => client.end())
})

const layer = SqlConversationStore.layer().pipe(
  Layer.provideMerge(Layer.merge(Databases.postgresFresh(), MessageCodec.layer))
)
await Effect.runPromise(Effect.scoped(Effect.provide(program, layer)))
