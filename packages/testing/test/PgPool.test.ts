// The store on the app's own pg.Pool (docs/guides/postgresql.md, "Bring your own pool"): it migrates,
// stores and reads through that pool, stays within its size, and leaves it open when released.
import * as ConversationStore from "@convo/core/ConversationStore"
import { assert, describe, it } from "@effect/vitest"
import { HumanMessage } from "@langchain/core/messages"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import Pg from "pg"
import { storeOnPool } from "../../../docs/snippets/postgresql.js"
import * as Databases from "../src/Databases.js"

const pgEnabled = await Databases.pgTestsEnabled()

describe.runIf(pgEnabled)("the store on your own pg.Pool", () => {
  it.live(
    "migrates, appends and reads through the pool, within its max, and never ends it",
    () =>
      Effect.gen(function* () {
        // a fresh database, unmigrated: the store's layer runs the migrations through the app's pool
        const database = yield* Effect.map(Layer.build(Databases.postgresFresh({ migrate: false })), (context) =>
          Context.get(context, Databases.TestDatabase)
        )
        const server = Databases.pgServer()
        const pool = new Pg.Pool({
          host: server.host,
          port: server.port,
          user: server.user,
          database: database.name,
          max: 3,
          ...(server.password === undefined ? {} : { password: server.password })
        })
        pool.on("error", () => {})
        yield* Effect.addFinalizer(() => Effect.promise(() => pool.end()))

        const stored = yield* Effect.scoped(
          Effect.gen(function* () {
            const store = yield* Effect.map(Layer.build(storeOnPool(pool)), (context) =>
              Context.get(context, ConversationStore.ConversationStore)
            )
            const conversation = yield* store.create({ userId: "u1" })
            // more concurrent appends than connections: they queue on the pool
            yield* Effect.forEach(
              Array.from({ length: 12 }, (_, i) => i),
              (i) =>
                store.append({
                  conversationId: conversation.id,
                  userId: "u1",
                  messages: [{ value: new HumanMessage(`message ${i}`) }]
                }),
              { concurrency: "unbounded" }
            )
            assert.isAtMost(pool.totalCount, 3)
            return (yield* store.history(conversation.id)).entries.map((entry) => entry.seq)
          })
        )
        assert.deepStrictEqual(
          stored,
          Array.from({ length: 12 }, (_, i) => i + 1)
        )
        // released: the pool is still the app's, open and usable
        assert.isFalse(pool.ending)
        const rows = yield* Effect.promise(() => pool.query("SELECT count(*)::int AS n FROM convo_message"))
        assert.strictEqual(rows.rows[0].n, 12)
      }).pipe(Effect.scoped),
    60_000
  )
})
