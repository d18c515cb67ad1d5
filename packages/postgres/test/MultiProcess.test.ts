/**
 * Several real server processes (adapter-ws + SQL store + PgTurnLock + PgConversationEvents) on one
 * PostgreSQL database, driven by real `ws` clients on loopback: live watching across processes,
 * concurrent senders, resuming on another process, and faults (kill -9 mid-turn, a model that
 * never answers, a flood, a database restart on a private throwaway cluster).
 */
import type * as Protocol from "@convo/core/Protocol"
import * as Databases from "@convo/testing/Databases"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as PgMigrations from "../src/PgMigrations.js"
import * as PgTurnLock from "../src/PgTurnLock.js"
import {
  type Client,
  type Server,
  clusterUnavailable,
  connect,
  privateCluster,
  startServer,
  TestError
} from "./support/processes.js"

const pg = await Databases.pgTestsEnabled()
const noCluster = clusterUnavailable()
if (noCluster !== undefined) {
  if (process.env.CI === "true") throw new Error(`CI=true requires a private PostgreSQL cluster: ${noCluster}`)
  console.warn(`[convo] skipping the database-restart test: ${noCluster}`)
}

const serverEnv = (database: string, port?: number): Record<string, string> => ({
  CONVO_DATABASE: database,
  CONVO_POOL: "4",
  CONVO_HEARTBEAT_MS: "200",
  CONVO_MODEL_TIMEOUT_MS: "4000",
  CONVO_REPLY_WORDS: "3",
  // these tests queue more turns than the default bound; the bound has its own test
  CONVO_MAX_QUEUED: "1000",
  ...(port === undefined ? {} : { PGPORT: String(port), PGHOST: "127.0.0.1" })
})

type Db = Context.Context<SqlClient.SqlClient | Databases.TestDatabase>

/** A migrated database of its own (core's tables and convo_event). */
const freshDatabase = (server?: Databases.PgServer) =>
  Layer.build(Databases.postgresFresh(server === undefined ? {} : { server })).pipe(
    Effect.tap((context) => PgMigrations.run().pipe(Effect.provide(context)))
  )

const sqlOn =
  (db: Db) =>
  <A extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<A>(text, params)).pipe(Effect.provide(db), Effect.orDie)

const newConversation = (db: Db) =>
  Effect.map(
    sqlOn(db)<{ readonly id: string }>("INSERT INTO convo_conversation (user_id) VALUES (NULL) RETURNING id"),
    (rows) => Number(rows[0]!.id)
  )

interface StoredRow {
  readonly seq: number
  readonly turn_id: string
  readonly client_id: string | null
  readonly kind: string
  readonly status: string
}

const stored = (db: Db, conversationId: number) =>
  sqlOn(db)<StoredRow>(
    "SELECT seq, turn_id, client_id, kind, status FROM convo_message WHERE conversation_id = $1 ORDER BY seq",
    [conversationId]
  )

/** seq is 1..n with no gap, and the rows of each turn are consecutive (no interleaving). */
const assertConsistent = (rows: ReadonlyArray<StoredRow>) => {
  assert.deepStrictEqual(
    rows.map((row) => row.seq),
    rows.map((_, i) => i + 1)
  )
  const seen = new Set<string>()
  rows.forEach((row, i) => {
    if (i > 0 && rows[i - 1]!.turn_id === row.turn_id) return
    assert.isFalse(seen.has(row.turn_id), `turn ${row.turn_id} is split`)
    seen.add(row.turn_id)
  })
}

const ofType = <T extends Protocol.ServerEvent["type"]>(events: ReadonlyArray<Protocol.ServerEvent>, type: T) =>
  events.filter((event): event is Protocol.ServerEventOf<T> => event.type === type)

const count = (type: Protocol.ServerEvent["type"], n: number) => (events: ReadonlyArray<Protocol.ServerEvent>) =>
  ofType(events, type).length >= n

const eventIds = (events: ReadonlyArray<Protocol.ServerEvent>): Array<number> =>
  events.flatMap((event) => ("eventId" in event && typeof event.eventId === "number" ? [event.eventId] : []))

const deltaText = (events: ReadonlyArray<Protocol.ServerEvent>) =>
  ofType(events, "message_delta")
    .map((event) => event.text)
    .join("")

/** turn_start and turn_end strictly alternate, each end closing the turn that started. */
const assertTurnsDoNotInterleave = (events: ReadonlyArray<Protocol.ServerEvent>) => {
  let open: string | undefined
  for (const event of events) {
    if (event.type === "turn_start") {
      assert.isUndefined(open, `turn ${event.turnId} started inside turn ${open}`)
      open = event.turnId
    } else if (event.type === "turn_end") {
      assert.strictEqual(event.turnId, open)
      open = undefined
    }
  }
}

const isIncreasing = (ids: ReadonlyArray<number>) => ids.every((id, i) => i === 0 || id > ids[i - 1]!)

const slowWords = (n: number) => Array.from({ length: n }, (_, i) => `s${i} `).join("")

describe.skipIf(!pg)("many server processes on one PostgreSQL", () => {
  const scope = Effect.runSync(Scope.make())
  let db: Db
  let servers: ReadonlyArray<Server> = []

  beforeAll(async () => {
    await Effect.runPromise(
      Effect.gen(function* () {
        db = yield* freshDatabase()
        const name = Databases.TestDatabase
        const database = (yield* Effect.provide(name, db)).name
        servers = yield* Effect.all(
          [0, 1, 2].map(() => startServer(serverEnv(database))),
          { concurrency: "unbounded" }
        )
      }).pipe(Scope.extend(scope))
    )
  }, 60_000)
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 30_000)

  const url = (i: number, conversationId: number) => servers[i]!.url(conversationId)

  it.scopedLive("one conversation watched from two processes: both see the turn live, with the same event ids", () =>
    Effect.gen(function* () {
      const c = yield* newConversation(db)
      const alice = yield* connect(url(0, c))
      const bob = yield* connect(url(1, c))
      yield* alice.send({ type: "user_message", text: "slow 6 40", clientId: "watch-1" })
      // bob sees the deltas while the turn is still running
      const midway = yield* bob.until(count("message_delta", 2), "deltas on the other process")
      assert.strictEqual(ofType(midway, "turn_end").length, 0)
      yield* bob.until(count("turn_end", 1), "the turn's end on the other process")
      yield* alice.until(count("turn_end", 1), "the turn's end")
      const turnOf = (client: Client) => client.events().filter((event) => event.type !== "history")
      assert.deepStrictEqual(eventIds(turnOf(bob)), eventIds(turnOf(alice)))
      assert.isTrue(isIncreasing(eventIds(turnOf(bob))))
      assert.strictEqual(deltaText(bob.events()), slowWords(6))
      assert.strictEqual(ofType(bob.events(), "turn_end")[0]!.status, "complete")
    })
  )

  it.scopedLive("concurrent senders on three processes: turns serialize, seq stays gapless, every message once", () =>
    Effect.gen(function* () {
      const c = yield* newConversation(db)
      const clients = yield* Effect.forEach([0, 1, 2], (i) => connect(url(i, c)))
      yield* Effect.forEach(
        clients,
        (client, i) =>
          Effect.forEach([0, 1, 2, 3], (j) =>
            client.send({ type: "user_message", text: `hello ${i}.${j}`, clientId: `k${i}-${j}` })
          ),
        { concurrency: "unbounded" }
      )
      for (const client of clients) yield* client.until(count("turn_end", 12), "all twelve turns")
      for (const client of clients) {
        assertTurnsDoNotInterleave(client.events())
        assert.isTrue(isIncreasing(eventIds(client.events())))
      }
      // every process saw the same events
      assert.deepStrictEqual(eventIds(clients[1]!.events()), eventIds(clients[0]!.events()))
      assert.deepStrictEqual(eventIds(clients[2]!.events()), eventIds(clients[0]!.events()))
      const rows = yield* stored(db, c)
      assertConsistent(rows)
      assert.strictEqual(rows.length, 24)
      assert.deepStrictEqual(
        rows.flatMap((row) => (row.client_id === null ? [] : [row.client_id])).sort(),
        [0, 1, 2].flatMap((i) => [0, 1, 2, 3].map((j) => `k${i}-${j}`)).sort()
      )
      assert.isTrue(rows.every((row) => row.status === "complete"))
    })
  )

  it.scopedLive("a client dropped from one process resumes on another: what it missed, then the live rest, once", () =>
    Effect.gen(function* () {
      const c = yield* newConversation(db)
      const sender = yield* connect(url(1, c))
      const first = yield* connect(url(0, c))
      yield* sender.send({ type: "user_message", text: "slow 14 60", clientId: "resume-1" })
      const seen = yield* first.until(count("message_delta", 3), "the first deltas")
      first.drop()
      const lastEventId = Math.max(...eventIds(seen))
      yield* Effect.sleep("300 millis") // deltas go by while it is away
      const second = yield* connect(url(2, c))
      yield* second.send({ type: "resume", lastEventId })
      yield* second.until(count("turn_end", 1), "the turn's end after resuming")
      const resumed = second.events().filter((event) => event.type !== "history")
      const ids = eventIds(resumed)
      assert.strictEqual(new Set(ids).size, ids.length, "an event came twice")
      assert.isTrue(ids.every((id) => id > lastEventId))
      // what it saw before and after the drop is the whole reply, nothing twice
      const byId = [...resumed].sort(
        (a, b) => ((a as { eventId?: number }).eventId ?? 0) - ((b as { eventId?: number }).eventId ?? 0)
      )
      assert.strictEqual(deltaText(seen) + deltaText(byId), slowWords(14))
      // and exactly the events the sender's process gave after that id
      yield* sender.until(count("turn_end", 1), "the turn's end on the sender")
      const sent = eventIds(sender.events()).filter((id) => id > lastEventId)
      assert.deepStrictEqual(
        [...ids].sort((a, b) => a - b),
        sent
      )
    })
  )

  it.scopedLive("kill -9 of a process mid-turn: the lock dies with it, the next turn runs on another process", () =>
    Effect.gen(function* () {
      const database = (yield* Effect.provide(Databases.TestDatabase, db)).name
      const victim = yield* startServer(serverEnv(database))
      const c = yield* newConversation(db)
      const watcher = yield* connect(url(0, c))
      const doomed = yield* connect(victim.url(c))
      yield* doomed.send({ type: "user_message", text: "slow 20 100", clientId: "doomed" })
      yield* watcher.until(count("message_delta", 3), "the doomed turn streaming")
      victim.kill("SIGKILL")
      yield* Effect.promise(() => victim.exited)
      // the watcher saw the turn begin; another process recovers it (stored as interrupted, watchers
      // told) before its own next turn runs
      const next = yield* connect(url(1, c))
      yield* next.send({ type: "user_message", text: "after the crash", clientId: "after" })
      const events = yield* next.until(
        (events) => ofType(events, "turn_end").some((end) => end.status === "complete"),
        "the next turn"
      )
      const doomedTurn = ofType(watcher.events(), "turn_start")[0]!.turnId
      assert.deepStrictEqual(
        ofType(events, "turn_end").map((end) => [end.turnId === doomedTurn, end.status]),
        [
          [true, "interrupted"],
          [false, "complete"]
        ]
      )
      yield* watcher.until(count("turn_end", 2), "the recovery and the next turn on the watcher")
      const rows = yield* stored(db, c)
      assertConsistent(rows)
      // the killed turn is stored once, with what was checkpointed, as interrupted
      const doomedRows = rows.filter((row) => row.turn_id === doomedTurn)
      assert.strictEqual(doomedRows[0]?.client_id, "doomed")
      assert.deepStrictEqual(doomedRows.map((row) => [row.kind, row.status]).slice(0, 1), [["human", "interrupted"]])
      for (const row of doomedRows) assert.strictEqual(row.status, "interrupted")
      const after = rows.filter((row) => row.turn_id === rows.find((r) => r.client_id === "after")?.turn_id)
      assert.deepStrictEqual(
        after.map((row) => [row.kind, row.status]),
        [
          ["human", "complete"],
          ["ai", "complete"]
        ]
      )
      // the dead process's lock is gone; the live one releases its own just after the turn is stored
      const locks = yield* sqlOn(db)(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2",
        [PgTurnLock.defaultClassId, c]
      ).pipe(
        Effect.filterOrFail((rows) => rows.length === 0),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }),
        Effect.orElseSucceed(() => ["still held after 5 s"])
      )
      assert.deepStrictEqual(locks, [])
    })
  )

  it.scopedLive(
    "a model that never answers: the turn ends with a timeout error, is stored as error, and the next one works",
    () =>
      Effect.gen(function* () {
        const c = yield* newConversation(db)
        const sender = yield* connect(url(2, c))
        const watcher = yield* connect(url(0, c))
        yield* sender.send({ type: "user_message", text: "hang", clientId: "hang-1" })
        const events = yield* sender.until(count("turn_end", 1), "the timed-out turn")
        assert.strictEqual(ofType(events, "error")[0]!.code, "timeout")
        assert.strictEqual(ofType(events, "turn_end")[0]!.status, "error")
        yield* watcher.until(count("turn_end", 1), "the timeout seen from another process")
        assert.strictEqual(ofType(watcher.events(), "error")[0]!.code, "timeout")
        yield* sender.send({ type: "user_message", text: "are you there?", clientId: "hang-2" })
        yield* sender.until(count("turn_end", 2), "the next turn")
        assert.strictEqual(ofType(sender.events(), "turn_end")[1]!.status, "complete")
        const rows = yield* stored(db, c)
        assertConsistent(rows)
        assert.deepStrictEqual(
          rows.map((row) => [row.client_id, row.kind, row.status]),
          [
            ["hang-1", "human", "error"],
            ["hang-2", "human", "complete"],
            [null, "ai", "complete"]
          ]
        )
      })
  )

  it.scopedLive(
    "a flood of messages on one conversation from two processes: serialized, gapless, nothing lost or twice; the server keeps answering",
    () =>
      Effect.gen(function* () {
        const c = yield* newConversation(db)
        const other = yield* newConversation(db)
        const f0 = yield* connect(url(0, c))
        const f1 = yield* connect(url(1, c))
        const bystander = yield* connect(url(0, other))
        const n = 25
        for (let i = 0; i < n; i++) {
          yield* f0.send({ type: "user_message", text: `flood a${i}`, clientId: `a${i}` })
          yield* f1.send({ type: "user_message", text: `flood b${i}`, clientId: `b${i}` })
        }
        // five of f0's messages again, from the other process
        for (let i = 0; i < 5; i++) yield* f1.send({ type: "user_message", text: `again a${i}`, clientId: `a${i}` })
        // meanwhile the same server answers another conversation and pings
        yield* bystander.send({ type: "ping", id: "p1" })
        yield* bystander.send({ type: "user_message", text: "unrelated", clientId: "x" })
        yield* bystander.until((events) => count("turn_end", 1)(events) && count("pong", 1)(events), "the bystander")
        yield* f0.until(count("turn_end", 2 * n), "every flooded turn")
        yield* f1.until(count("turn_end", 2 * n), "every flooded turn on the other process")
        const duplicates = () =>
          [...f0.events(), ...f1.events()].filter((event) => event.type === "error" && event.code === "duplicate")
            .length
        yield* f1.until(() => duplicates() === 5, "five duplicates refused")
        for (const client of [f0, f1]) assertTurnsDoNotInterleave(client.events())
        const rows = yield* stored(db, c)
        assertConsistent(rows)
        assert.strictEqual(rows.length, 4 * n)
        const clientIds = rows.flatMap((row) => (row.client_id === null ? [] : [row.client_id]))
        assert.strictEqual(new Set(clientIds).size, 2 * n)
        assert.strictEqual(clientIds.length, 2 * n)
        // each sender's own messages keep their order
        for (const prefix of ["a", "b"]) {
          const mine = clientIds.filter((id) => id.startsWith(prefix)).map((id) => Number(id.slice(1)))
          assert.deepStrictEqual(
            mine,
            mine.map((_, i) => i)
          )
        }
      })
  )

  describe.skipIf(noCluster !== undefined)("on a private PostgreSQL cluster", () => {
    it.scopedLive(
      "a database restart during a turn: the turn is stored or reported, other processes catch up, the next turn works",
      () =>
        Effect.gen(function* () {
          const cluster = yield* privateCluster
          const pdb = yield* freshDatabase({
            host: "127.0.0.1",
            port: cluster.port,
            user: "postgres",
            password: undefined
          })
          const database = (yield* Effect.provide(Databases.TestDatabase, pdb)).name
          const [r0, r1] = yield* Effect.all(
            [startServer(serverEnv(database, cluster.port)), startServer(serverEnv(database, cluster.port))],
            { concurrency: "unbounded" }
          )
          const c = yield* newConversation(pdb)
          const sender = yield* connect(r0!.url(c))
          const watcher = yield* connect(r1!.url(c))
          yield* sender.send({ type: "user_message", text: "slow 10 100", clientId: "during-restart" })
          yield* sender.until(count("message_delta", 2), "the turn streaming")
          yield* Effect.try({
            try: () => cluster.restart(),
            catch: (error) => new TestError({ message: String(error) })
          })
          const events = yield* sender.until(count("turn_end", 1), "the turn's end after the restart")
          const end = ofType(events, "turn_end")[0]!
          const rows = yield* stored(pdb, c)
          if (end.status === "complete") {
            assert.deepStrictEqual(
              rows.map((row) => [row.client_id, row.kind, row.status]),
              [
                ["during-restart", "human", "complete"],
                [null, "ai", "complete"]
              ]
            )
          } else {
            // not stored, or not complete: then the sender was told
            assert.isAbove(ofType(events, "error").length, 0)
          }
          // the other process reconnected its LISTEN and caught up from the table
          yield* watcher.until(count("turn_end", 1), "the turn's end on the other process")
          yield* sender.send({ type: "user_message", text: "and now?", clientId: "after-restart" })
          const later = yield* sender.until(count("turn_end", 2), "a turn after the restart")
          assert.strictEqual(ofType(later, "turn_end")[1]!.status, "complete")
          yield* watcher.until(count("turn_end", 2), "the next turn on the other process")
          assertConsistent(yield* stored(pdb, c))
        }),
      90_000
    )
  })
})
