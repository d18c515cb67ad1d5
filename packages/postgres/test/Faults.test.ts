/**
 * The fault suite of durable turns: real server processes (`faults/chatServer.ts`), a fake model
 * in a process of its own (`faults/modelServer.ts`, driven by the real `ChatOpenAI`), real `ws`
 * clients, on SQLite and PostgreSQL, and the database read directly after each fault. After every
 * fault: each acknowledged (`received`) human message is stored exactly once, `seq` is gapless and
 * unique, a turn's rows are contiguous, nothing is left pending, and the next turn works with the
 * earlier messages in its model input.
 */
import * as Databases from "@convo/testing/Databases"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { createRequire } from "node:module"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import Pg from "pg"
import * as PgMigrations from "../src/PgMigrations.js"
import {
  type Client,
  type Proc,
  connect,
  count,
  model,
  modelOn,
  modelRequests,
  ofType,
  sleep,
  start,
  turnEndOf
} from "./faults/support.js"
import { clusterUnavailable, freePort, privateCluster } from "./support/processes.js"

const BetterSqlite = createRequire(import.meta.url)("better-sqlite3") as new (filename: string) => {
  prepare: (sql: string) => {
    all: (...params: Array<unknown>) => Array<Record<string, unknown>>
    run: (...params: Array<unknown>) => { lastInsertRowid: number | bigint }
  }
  close: () => void
}

const pgEnabled = await Databases.pgTestsEnabled()

interface Row {
  readonly seq: number
  readonly turn_id: string
  readonly client_id: string | null
  readonly kind: string
  readonly status: string
  readonly content: string
}

/** A backend: the env a server needs, and direct reads and writes of its database. */
interface Backend {
  readonly name: string
  readonly env: Record<string, string>
  readonly newConversation: () => Promise<number>
  readonly rows: (conversationId: number) => Promise<ReadonlyArray<Row>>
  readonly pending: (conversationId: number) => Promise<number>
}

const sqliteBackend = (): Backend => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "convo-faults-"))
  const file = Path.join(dir, "chat.db")
  const withDb = <A>(f: (db: InstanceType<typeof BetterSqlite>) => A): A => {
    const db = new BetterSqlite(file)
    try {
      return f(db)
    } finally {
      db.close()
    }
  }
  return {
    name: "SQLite",
    env: { CONVO_SQLITE: file },
    newConversation: async () =>
      withDb((db) =>
        Number(db.prepare("INSERT INTO convo_conversation (user_id) VALUES (NULL)").run().lastInsertRowid)
      ),
    rows: async (id) =>
      withDb(
        (db) =>
          db
            .prepare(
              "SELECT seq, turn_id, client_id, kind, status, content FROM convo_message WHERE conversation_id = ? ORDER BY seq"
            )
            .all(id) as unknown as ReadonlyArray<Row>
      ),
    pending: async (id) =>
      withDb((db) =>
        Number(db.prepare("SELECT count(*) AS n FROM convo_pending_turn WHERE conversation_id = ?").all(id)[0]!.n)
      )
  }
}

const pgBackend = (database: string, port?: number): Backend => {
  const server = port === undefined ? Databases.pgServer() : { ...Databases.pgServer(), host: "127.0.0.1", port }
  const query = async <A>(text: string, params: ReadonlyArray<unknown>): Promise<ReadonlyArray<A>> => {
    const client = new Pg.Client({ host: server.host, port: server.port, user: server.user, database })
    await client.connect()
    try {
      return (await client.query(text, [...params])).rows as Array<A>
    } finally {
      await client.end()
    }
  }
  return {
    name: "PostgreSQL",
    env: { CONVO_DATABASE: database, PGHOST: server.host, PGPORT: String(server.port), PGUSER: server.user },
    newConversation: async () =>
      Number(
        (await query<{ id: string }>("INSERT INTO convo_conversation (user_id) VALUES (NULL) RETURNING id", []))[0]!.id
      ),
    rows: (id) =>
      query<Row>(
        "SELECT seq, turn_id, client_id, kind, status, content::text AS content FROM convo_message WHERE conversation_id = $1 ORDER BY seq",
        [id]
      ),
    pending: async (id) =>
      Number(
        (
          await query<{ n: string }>("SELECT count(*) AS n FROM convo_pending_turn WHERE conversation_id = $1", [id])
        )[0]!.n
      )
  }
}

/** The invariants after a fault: gapless unique seq, contiguous turns, each client id once, nothing pending. */
const checkHistory = (backend: Backend, conversationId: number, acknowledged: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    // a message written ahead but never acknowledged (its sender dropped while the write was in
    // flight) is ended by its closing session moments later: nothing may stay pending for long
    for (let waited = 0; waited < 15_000 && (await backend.pending(conversationId)) > 0; waited += 100)
      await new Promise((resolve) => setTimeout(resolve, 100))
    assert.strictEqual(await backend.pending(conversationId), 0, "nothing is left pending")
    const rows = await backend.rows(conversationId)
    assert.deepStrictEqual(
      rows.map((row) => Number(row.seq)),
      rows.map((_, i) => i + 1),
      "seq is gapless and unique"
    )
    const seen = new Set<string>()
    let previous: string | undefined
    for (const row of rows) {
      if (row.turn_id !== previous) {
        assert.isFalse(seen.has(row.turn_id), `the rows of turn ${row.turn_id} are contiguous`)
        seen.add(row.turn_id)
        assert.strictEqual(row.kind, "human", "a turn starts with its human message")
      }
      previous = row.turn_id
      assert.include(["complete", "aborted", "error", "interrupted"], row.status)
    }
    for (const clientId of acknowledged) {
      assert.strictEqual(
        rows.filter((row) => row.client_id === clientId).length,
        1,
        `the acknowledged message ${clientId} is stored exactly once`
      )
    }
    return rows
  })

const acknowledged = (client: Client): ReadonlyArray<string> =>
  ofType(client.events(), "received").flatMap((event) => (event.clientId === undefined ? [] : [event.clientId]))

const textOfRow = (row: Row): string => {
  const parsed = JSON.parse(row.content) as { _value?: { content?: unknown } }
  const content = parsed._value?.content
  return typeof content === "string" ? content : JSON.stringify(content)
}

/** A server on `backend` talking to `modelProc`. */
const server = (backend: Backend, modelProc: Proc, env: Record<string, string> = {}) =>
  start("./chatServer.ts", {
    ...backend.env,
    CONVO_MODEL_URL: `http://127.0.0.1:${modelProc.port}/v1`,
    ...env
  })

/** A next turn works, and its model input holds the earlier human messages. */
const nextTurnWorks = (port: number, conversationId: number, modelProc: Proc, earlier: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const client = yield* connect(port, conversationId)
    const clientId = `next-${Math.random()}`
    yield* client.send({ type: "user_message", text: "and now?", clientId })
    const events = yield* client.until((events) => turnEndOf(events, clientId) !== undefined, "the next turn")
    assert.strictEqual(turnEndOf(events, clientId)!.status, "complete")
    const input = modelRequests(modelProc).at(-1)!
    for (const text of earlier) assert.include(input, text, `the next turn's model input holds "${text}"`)
  })

const backends: Array<[string, Effect.Effect<Backend, never, Scope.Scope>]> = [["SQLite", Effect.sync(sqliteBackend)]]
if (pgEnabled) {
  backends.push([
    "PostgreSQL",
    Effect.gen(function* () {
      const context = yield* Layer.build(Databases.postgresFresh())
      yield* PgMigrations.run().pipe(Effect.provide(context), Effect.orDie)
      const db = (yield* Effect.provide(Databases.TestDatabase, context)).name
      return pgBackend(db)
    }).pipe(Effect.orDie)
  ])
} else {
  console.warn("[convo] skipping the PostgreSQL fault cases: no PostgreSQL server answers")
}

describe.each(backends)("durable turns under faults on %s", (_name, makeBackend) => {
  for (const variant of ["timeout", "stop", "disconnect", "SIGTERM"] as const) {
    it.scopedLive(`a model silent mid-stream, ended by ${variant}: the turn ends, stored with what streamed`, () =>
      Effect.gen(function* () {
        const backend = yield* makeBackend
        for (let run = 1; run <= 2; run++) {
          const modelProc = yield* model
          const chat = yield* server(backend, modelProc, { CONVO_TIMEOUT_MS: variant === "timeout" ? "1500" : "60000" })
          const conversationId = yield* Effect.promise(backend.newConversation)
          const sender = yield* connect(chat.port, conversationId)
          const watcher = yield* connect(chat.port, conversationId)
          const clientId = `silent-${run}`
          yield* sender.send({ type: "user_message", text: "slow 40 30", clientId })
          yield* sender.until(count("message_delta", 3), "three deltas")
          modelProc.kill("SIGSTOP")
          yield* sleep(200)
          if (variant === "stop") yield* sender.send({ type: "stop" })
          if (variant === "disconnect") sender.drop()
          if (variant === "SIGTERM") chat.kill("SIGTERM")
          const expected = variant === "timeout" ? "error" : "aborted"
          const seen = yield* watcher.until((events) => turnEndOf(events, clientId) !== undefined, "the turn's end")
          assert.strictEqual(turnEndOf(seen, clientId)!.status, expected)
          if (variant === "timeout") assert.strictEqual(ofType(seen, "error")[0]?.code, "timeout")
          if (variant === "SIGTERM") {
            assert.strictEqual(yield* watcher.waitClosed, 1001, "the socket closes with 1001 after turn_end")
            assert.strictEqual(yield* Effect.promise(() => chat.exited), 0, "the server exits")
          }
          const rows = yield* checkHistory(backend, conversationId, [clientId])
          const [human, ai] = rows
          assert.deepStrictEqual(
            [human?.kind, human?.status, ai?.kind, ai?.status],
            ["human", expected, "ai", expected]
          )
          assert.isTrue(textOfRow(ai!).startsWith("s0 s1 s2"), "the streamed text is stored")
          modelProc.kill("SIGCONT")
          const next = variant === "SIGTERM" ? yield* server(backend, modelProc) : chat
          yield* nextTurnWorks(next.port, conversationId, modelProc, ["slow 40 30"])
        }
      })
    )
  }

  it.scopedLive(
    "the model's connection cut mid-stream, and the model process killed: stored as error with what streamed",
    () =>
      Effect.gen(function* () {
        const backend = yield* makeBackend
        const port = yield* Effect.promise(freePort)
        const first = yield* modelOn(port)
        const chat = yield* server(backend, first)
        const conversationId = yield* Effect.promise(backend.newConversation)
        const client = yield* connect(chat.port, conversationId)
        yield* client.send({ type: "user_message", text: "cut 4", clientId: "cut" })
        const cut = yield* client.until((events) => turnEndOf(events, "cut") !== undefined, "the cut turn's end")
        assert.strictEqual(turnEndOf(cut, "cut")!.status, "error")
        yield* client.send({ type: "user_message", text: "slow 40 30", clientId: "killed" })
        yield* client.until(count("message_delta", 7), "the second reply streaming")
        first.kill("SIGKILL")
        const killed = yield* client.until(
          (events) => turnEndOf(events, "killed") !== undefined,
          "the killed turn's end"
        )
        assert.strictEqual(turnEndOf(killed, "killed")!.status, "error")
        const rows = yield* checkHistory(backend, conversationId, ["cut", "killed"])
        assert.deepStrictEqual(
          rows.map((row) => [row.kind, row.status]),
          [
            ["human", "error"],
            ["ai", "error"],
            ["human", "error"],
            ["ai", "error"]
          ]
        )
        assert.isTrue(textOfRow(rows[1]!).startsWith("c0 c1"), "the cut reply keeps what streamed")
        assert.isTrue(textOfRow(rows[3]!).startsWith("s0 s1 s2"), "the killed reply keeps what streamed")
        const second = yield* modelOn(port)
        yield* nextTurnWorks(chat.port, conversationId, second, ["cut 4", "slow 40 30"])
      })
  )

  it.scopedLive("a model that never sends headers, an HTTP 500 and a 429: errors that say why, stored as error", () =>
    Effect.gen(function* () {
      const backend = yield* makeBackend
      const modelProc = yield* model
      const chat = yield* server(backend, modelProc, { CONVO_TIMEOUT_MS: "2500" })
      const conversationId = yield* Effect.promise(backend.newConversation)
      const client = yield* connect(chat.port, conversationId)
      const cases = [
        ["hang", "timeout", "did not answer"],
        ["status 500", "model_error", "500"],
        ["status 429", "model_error", "429"]
      ] as const
      for (const [text, code, says] of cases) {
        const clientId = `fail-${text}`
        yield* client.send({ type: "user_message", text, clientId })
        const events = yield* client.until(
          (events) => turnEndOf(events, clientId) !== undefined,
          `the end of "${text}"`
        )
        const turnId = turnEndOf(events, clientId)!.turnId
        assert.strictEqual(turnEndOf(events, clientId)!.status, "error")
        const error = ofType(events, "error").find((event) => event.turnId === turnId)!
        assert.strictEqual(error.code, code)
        assert.include(error.message, says)
      }
      const tries = modelRequests(modelProc).filter((request) => request.at(-1) === "status 500").length
      assert.isAbove(tries, 1, "a 500 is retried")
      yield* checkHistory(backend, conversationId, acknowledged(client))
      yield* nextTurnWorks(chat.port, conversationId, modelProc, ["hang", "status 500", "status 429"])
    })
  )

  it.scopedLive(
    "stop 0–40 ms after sending, and a disconnect 0–40 ms after sending: nothing acknowledged is lost",
    () =>
      Effect.gen(function* () {
        const backend = yield* makeBackend
        const modelProc = yield* model
        const chat = yield* server(backend, modelProc)
        const conversationId = yield* Effect.promise(backend.newConversation)
        const watcher = yield* connect(chat.port, conversationId)
        const client = yield* connect(chat.port, conversationId)
        for (let i = 0; i < 10; i++) {
          const clientId = `stop-${i}`
          yield* client.send({ type: "user_message", text: "slow 5 20", clientId })
          yield* sleep(Math.floor(Math.random() * 40))
          yield* client.send({ type: "stop" })
          yield* watcher.until((events) => turnEndOf(events, clientId) !== undefined, `the end of ${clientId}`)
        }
        const acked = [...acknowledged(client)]
        for (let i = 0; i < 8; i++) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const dropping = yield* connect(chat.port, conversationId)
              yield* dropping.send({ type: "user_message", text: "slow 5 20", clientId: `drop-${i}` })
              yield* sleep(Math.floor(Math.random() * 40))
              dropping.drop()
              // only what the sender saw acknowledged was promised
              acked.push(...acknowledged(dropping))
            })
          )
        }
        // every acknowledged message ends (watchers see it) and is stored once; none is stored twice
        yield* watcher.until(
          (events) => acked.every((clientId) => turnEndOf(events, clientId) !== undefined),
          "every acknowledged turn's end"
        )
        assert.isAtLeast(acked.length, 10)
        const rows = yield* checkHistory(backend, conversationId, acked)
        const ids = rows.flatMap((row) => (row.client_id === null ? [] : [row.client_id]))
        assert.strictEqual(new Set(ids).size, ids.length, "no message is stored twice")
        yield* nextTurnWorks(chat.port, conversationId, modelProc, ["slow 5 20"])
      })
  )

  it.scopedLive("stop while queued behind another tab's turn stores the message as aborted, watchers told", () =>
    Effect.gen(function* () {
      const backend = yield* makeBackend
      const modelProc = yield* model
      const chat = yield* server(backend, modelProc)
      const conversationId = yield* Effect.promise(backend.newConversation)
      const a = yield* connect(chat.port, conversationId)
      const b = yield* connect(chat.port, conversationId)
      for (let run = 0; run < 3; run++) {
        yield* a.send({ type: "user_message", text: "slow 10 40", clientId: `long-${run}` })
        yield* a.until(count("message_delta", 1 + run * 10), "the long turn streaming")
        yield* b.send({ type: "user_message", text: `queued ${run}`, clientId: `queued-${run}` })
        yield* b.until(
          (events) => acknowledged({ events: () => events } as Client).includes(`queued-${run}`),
          "received"
        )
        yield* b.send({ type: "stop" })
        const seen = yield* a.until(
          (events) => turnEndOf(events, `queued-${run}`) !== undefined,
          "the queued turn's end"
        )
        assert.strictEqual(turnEndOf(seen, `queued-${run}`)!.status, "aborted")
        const long = yield* a.until((events) => turnEndOf(events, `long-${run}`) !== undefined, "the long turn's end")
        assert.strictEqual(turnEndOf(long, `long-${run}`)!.status, "complete")
      }
      const rows = yield* checkHistory(backend, conversationId, [...acknowledged(a), ...acknowledged(b)])
      for (const row of rows.filter((row) => row.client_id?.startsWith("queued-")))
        assert.strictEqual(row.status, "aborted")
    })
  )

  it.scopedLive("two senders at once, a client id re-sent after a reconnect, and a full queue answered busy", () =>
    Effect.gen(function* () {
      const backend = yield* makeBackend
      const modelProc = yield* model
      const chat = yield* server(backend, modelProc, { CONVO_MAX_QUEUED: "3" })
      const conversationId = yield* Effect.promise(backend.newConversation)
      const a = yield* connect(chat.port, conversationId)
      const b = yield* connect(chat.port, conversationId)
      yield* Effect.all(
        [
          a.send({ type: "user_message", text: "from a", clientId: "a-1" }),
          b.send({ type: "user_message", text: "from b", clientId: "b-1" })
        ],
        { concurrency: 2 }
      )
      yield* a.until(
        (events) => turnEndOf(events, "a-1") !== undefined && turnEndOf(events, "b-1") !== undefined,
        "both turns"
      )
      // re-sent after a reconnect: answered duplicate, stored once
      a.drop()
      const again = yield* connect(chat.port, conversationId)
      yield* again.send({ type: "user_message", text: "from a", clientId: "a-1" })
      const duplicate = yield* again.until((events) => ofType(events, "error").length > 0, "the duplicate answer")
      assert.strictEqual(ofType(duplicate, "error")[0]!.code, "duplicate")
      // the queue bound: a long turn and two queued fill it; the next is busy and not stored
      for (const [i, text] of ["slow 10 40", "q1", "q2", "q3"].entries()) {
        yield* again.send({ type: "user_message", text, clientId: `bound-${i}` })
      }
      const busy = yield* again.until(
        (events) => ofType(events, "error").some((event) => event.code === "busy"),
        "busy"
      )
      assert.strictEqual(ofType(busy, "error").filter((event) => event.code === "busy").length, 1)
      yield* again.until(
        (events) => [0, 1, 2].every((i) => turnEndOf(events, `bound-${i}`) !== undefined),
        "the bounded turns"
      )
      const rows = yield* checkHistory(backend, conversationId, ["a-1", "b-1", "bound-0", "bound-1", "bound-2"])
      assert.isFalse(
        rows.some((row) => row.client_id === "bound-3"),
        "the busy message is not stored"
      )
      // refused for now, not for ever: the same client id goes through once there is room
      yield* again.send({ type: "user_message", text: "q3", clientId: "bound-3" })
      yield* again.until((events) => turnEndOf(events, "bound-3") !== undefined, "the re-sent message's turn")
      yield* checkHistory(backend, conversationId, ["bound-3"])
    })
  )
})

describe("durable turns under kill -9 on SQLite", () => {
  it.scopedLive(
    "kill -9 at random moments of a burst of turns, 20 times: every acknowledged message stored once, recovered",
    () =>
      Effect.gen(function* () {
        const backend = sqliteBackend()
        const modelProc = yield* model
        let conversationId = 0
        const acked: Array<string> = []
        const texts: Array<string> = []
        for (let i = 0; i < 20; i++) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const chat = yield* server(backend, modelProc, { CONVO_CHECKPOINT_MS: "50" })
              if (conversationId === 0) conversationId = yield* Effect.promise(backend.newConversation)
              const client = yield* connect(chat.port, conversationId)
              for (let j = 0; j < 3; j++) {
                const text = `slow 8 15 burst ${i}.${j}`
                texts.push(text)
                yield* client.send({ type: "user_message", text, clientId: `burst-${i}-${j}` })
              }
              yield* sleep(Math.floor(Math.random() * 300))
              chat.kill("SIGKILL")
              yield* Effect.promise(() => chat.exited)
              acked.push(...acknowledged(client))
            })
          )
        }
        // a new process recovers what the dead ones left, at start-up
        const chat = yield* server(backend, modelProc)
        const watcher = yield* connect(chat.port, conversationId)
        yield* sleep(500)
        const rows = yield* checkHistory(backend, conversationId, acked)
        assert.isAbove(acked.length, 0)
        assert.isTrue(
          rows.some((row) => row.status === "interrupted"),
          "some turns were cut by the kill and recovered as interrupted"
        )
        void watcher
        yield* nextTurnWorks(
          chat.port,
          conversationId,
          modelProc,
          texts.filter((text) => rows.some((row) => row.kind === "human" && textOfRow(row) === text))
        )
      }),
    240_000
  )
})

const noCluster = clusterUnavailable()
if (noCluster !== undefined) {
  if (process.env.CI === "true") throw new Error(`CI=true requires a private PostgreSQL cluster: ${noCluster}`)
  console.warn(`[convo] skipping the database-outage fault cases: ${noCluster}`)
}

describe.skipIf(noCluster !== undefined || !pgEnabled)(
  "durable turns when PostgreSQL goes away (private cluster)",
  () => {
    for (const [name, downMillis, windowMillis] of [
      ["shorter than the save window", 1_500, 30_000],
      ["longer than the save window", 5_000, 1_000]
    ] as const) {
      it.scopedLive(
        `the database stopped at a turn's end, ${name}: the message is stored once`,
        () =>
          Effect.gen(function* () {
            const cluster = yield* privateCluster
            const backend = pgBackend("postgres", cluster.port)
            const modelProc = yield* model
            const chat = yield* server(backend, modelProc, {
              CONVO_SAVE_WINDOW_MS: String(windowMillis),
              // past it, events reach this process's clients without the database: the turn can end
              CONVO_PUBLISH_TIMEOUT_MS: String(windowMillis < downMillis ? 1_000 : 10_000),
              CONVO_TIMEOUT_MS: "60000",
              CONVO_CHECKPOINT_MS: "50"
            })
            const conversationId = yield* Effect.promise(backend.newConversation)
            const client = yield* connect(chat.port, conversationId)
            yield* client.send({ type: "user_message", text: "slow 3 400", clientId: "outage" })
            yield* client.until(count("message_delta", 3), "the last delta")
            cluster.stop()
            yield* sleep(downMillis)
            cluster.start()
            const events = yield* client.until((events) => turnEndOf(events, "outage") !== undefined, "the turn's end")
            const status = turnEndOf(events, "outage")!.status
            if (windowMillis < downMillis) {
              assert.strictEqual(status, "error", "past the window the turn ends as error")
              assert.isTrue(ofType(events, "saving").length > 0, "the client was told the save is retried")
              // the next touch of the conversation stores it from its checkpoint
              yield* connect(chat.port, conversationId)
            }
            yield* Effect.gen(function* () {
              const rows = yield* Effect.promise(() => backend.rows(conversationId))
              if (rows.length === 0 || (yield* Effect.promise(() => backend.pending(conversationId))) > 0) {
                return yield* Effect.fail("not yet")
              }
            }).pipe(Effect.retry({ times: 50, schedule: Schedule.spaced("200 millis") }), Effect.orDie)
            const rows = yield* checkHistory(backend, conversationId, ["outage"])
            assert.strictEqual(rows[0]!.status, windowMillis < downMillis ? "error" : "complete")
            assert.isTrue(textOfRow(rows[1]!).startsWith("s0 s1"), "the reply is stored, from its checkpoint at worst")
            yield* nextTurnWorks(chat.port, conversationId, modelProc, ["slow 3 400"])
          }),
        120_000
      )
    }
  }
)
