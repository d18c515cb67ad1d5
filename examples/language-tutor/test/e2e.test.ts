/**
 * The app end to end, as a new user runs it: the real server on port 0 with a fresh database, a
 * browser-like HTTP client and a real `ws` WebSocket — once on SQLite (the embedded default) and
 * once on PostgreSQL (skipped with a message when no server answers, unless CI=true).
 */
import * as Databases from "@convo/testing/Databases"
import { describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { newUserFlow } from "./support/Flow.js"
import * as TestApp from "./support/TestApp.js"

/** A row whose content is valid JSON but not a message: the history still loads and the admin shows it. */
const insertUndecodable = (env: Record<string, string>) => async (conversationId: number) => {
  await TestApp.withDatabase(
    env,
    (sql) =>
      sql`INSERT INTO convo_message (conversation_id, seq, turn_id, kind, status, content)
          VALUES (${conversationId}, 1000, 'hand-written', 'human', 'complete', ${JSON.stringify({ _type: "HumanMessage", _value: "not a message" })})`
  )
}

const freshSqliteFile = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "convo-tutor-"))),
  (directory) => Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true }))
).pipe(Effect.map((directory) => NodePath.join(directory, "nested", "convo.sqlite")))

describe("language tutor on SQLite", () => {
  it.scopedLive("a new user signs up, chats with the tutor, comes back to the history; others are kept out", () =>
    Effect.gen(function* () {
      const file = yield* freshSqliteFile
      const env = { DATABASE_URL: `sqlite:${file}` }
      const app = yield* TestApp.start(env)
      yield* Effect.promise(() => newUserFlow(app.baseUrl, { insertUndecodable: insertUndecodable(env) }))
    })
  )
})

const pg = await Databases.pgTestsEnabled()

describe.skipIf(!pg)("language tutor on PostgreSQL", () => {
  it.scopedLive("the same flow on a fresh PostgreSQL database", () =>
    Effect.gen(function* () {
      const context = yield* Layer.build(Databases.postgresFresh({ migrate: false }))
      const database = Context.get(context, Databases.TestDatabase)
      const server = Databases.pgServer()
      const credentials =
        server.password === undefined ? server.user : `${server.user}:${encodeURIComponent(server.password)}`
      const env = { DATABASE_URL: `postgres://${credentials}@${server.host}:${server.port}/${database.name}` }
      const app = yield* TestApp.start(env)
      yield* Effect.promise(() => newUserFlow(app.baseUrl, { insertUndecodable: insertUndecodable(env) }))
    })
  )
})
