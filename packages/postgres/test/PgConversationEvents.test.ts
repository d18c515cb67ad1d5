import type * as ConversationEvents from "@convo/core/ConversationEvents"
import type * as Protocol from "@convo/core/Protocol"
import * as Databases from "@convo/testing/Databases"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Stream from "effect/Stream"
import * as PgConversationEvents from "../src/PgConversationEvents.js"
import * as PgMigrations from "../src/PgMigrations.js"
import { database, process, query } from "./support/db.js"

const pg = await Databases.pgTestsEnabled()

const delta = (text: string): Protocol.ServerEvent => ({ type: "message_delta", id: "run-1", text })

/** Collects a subscription in the background. */
const collect = (stream: Stream.Stream<ConversationEvents.Published>) =>
  Effect.gen(function* () {
    const got: Array<ConversationEvents.Published> = []
    yield* Stream.runForEach(stream, (published) => Effect.sync(() => got.push(published))).pipe(Effect.forkScoped)
    return got
  })

/** Waits for a condition (a guard against hangs, not a timing assertion). */
const until = (check: () => boolean, what: string, attempts = 1_000): Effect.Effect<void, string> =>
  check()
    ? Effect.void
    : attempts <= 0
      ? Effect.fail(`never happened: ${what}`)
      : Effect.zipRight(
          Effect.sleep("10 millis"),
          Effect.suspend(() => until(check, what, attempts - 1))
        )

const texts = (got: ReadonlyArray<ConversationEvents.Published>) =>
  got.map((published) => (published.event.type === "message_delta" ? published.event.text : published.event.type))

const isIncreasing = (ids: ReadonlyArray<number>) => ids.every((id, i) => i === 0 || id > ids[i - 1]!)

describe.skipIf(!pg)("PgConversationEvents", () => {
  it.scopedLive("events published on one process reach subscribers on every process, in order, once", () =>
    Effect.gen(function* () {
      const a = yield* process()
      const b = yield* process()
      const onA = yield* collect(yield* a.events.subscribe(1))
      const onB = yield* collect(yield* b.events.subscribe(1))
      const other = yield* collect(yield* b.events.subscribe(2))
      const ids: Array<number> = []
      for (const [i, publisher] of [a, b, a, a, b].entries()) {
        ids.push(yield* publisher.events.publish(1, delta(`w${i}`)))
      }
      yield* b.events.publish(2, delta("elsewhere"))
      yield* until(() => onA.length >= 5 && onB.length >= 5 && other.length >= 1, "every event delivered")
      yield* Effect.sleep("300 millis") // nothing more may come
      assert.isTrue(isIncreasing(ids))
      for (const got of [onA, onB]) {
        assert.deepStrictEqual(texts(got), ["w0", "w1", "w2", "w3", "w4"])
        assert.deepStrictEqual(
          got.map((published) => published.id),
          ids
        )
      }
      assert.deepStrictEqual(texts(other), ["elsewhere"])
    }).pipe(Effect.provide(database))
  )

  it.scopedLive("a process reads only the events of conversations it watches: none of the others'", () =>
    Effect.gen(function* () {
      const watcher = yield* process()
      const publisher = yield* process()
      const readBefore = (yield* Metric.value(PgConversationEvents.rowsRead)).count
      const got: Array<ConversationEvents.Published> = []
      yield* watcher.events.watch(60, undefined, (published) => void got.push(published))
      // the publisher watches nothing; the watcher watches conversation 60 only
      for (let i = 0; i < 100; i++) {
        yield* publisher.events.publish(61, delta(`other${i}`))
        if (i % 20 === 0) yield* publisher.events.publish(60, delta(`mine${i}`))
      }
      yield* until(() => got.length >= 5, "the watched conversation's events")
      yield* Effect.sleep("300 millis") // every notification has been handled
      assert.deepStrictEqual(texts(got), ["mine0", "mine20", "mine40", "mine60", "mine80"])
      // 105 events were published and notified to both processes; the event rows read are the 5 watched
      const read = (yield* Metric.value(PgConversationEvents.rowsRead)).count - readBefore
      assert.strictEqual(read, 5)
      const [stored] = yield* query<{ readonly n: string }>(
        `SELECT count(*) AS n FROM convo_event WHERE conversation_id = 61`
      )
      assert.strictEqual(Number(stored!.n), 100)
    }).pipe(Effect.provide(database))
  )

  it.scopedLive("a subscriber resuming after an id gets the retained rest, then the live events, never twice", () =>
    Effect.gen(function* () {
      const a = yield* process()
      const b = yield* process()
      const ids: Array<number> = []
      for (let i = 0; i < 6; i++) ids.push(yield* a.events.publish(10, delta(`e${i}`)))
      // B has never watched conversation 10; it resumes after the second event
      const resumed = yield* collect(yield* b.events.subscribe(10, ids[1]!))
      const fresh = yield* collect(yield* b.events.subscribe(10))
      for (let i = 6; i < 9; i++) ids.push(yield* a.events.publish(10, delta(`e${i}`)))
      yield* until(() => resumed.length >= 7 && fresh.length >= 3, "replay and live")
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(texts(resumed), ["e2", "e3", "e4", "e5", "e6", "e7", "e8"])
      assert.deepStrictEqual(
        resumed.map((published) => published.id),
        ids.slice(2)
      )
      // without `after`, live only
      assert.deepStrictEqual(texts(fresh), ["e6", "e7", "e8"])
    }).pipe(Effect.provide(database))
  )

  it.scopedLive(
    "a resume replays an event this process has not heard of yet, and the live stream does not give it again",
    () =>
      Effect.gen(function* () {
        const a = yield* process()
        const b = yield* process()
        // B watches conversation 30 already (its hub is up), and has every event so far
        const watcher = yield* collect(yield* b.events.subscribe(30))
        const first = yield* a.events.publish(30, delta("e0"))
        yield* until(() => watcher.length >= 1, "e0 on B")
        // an event another process stored whose notification has not reached B yet
        yield* query(`INSERT INTO convo_event (conversation_id, payload) VALUES (30, $1::jsonb)`, [
          JSON.stringify(delta("e1"))
        ])
        // a client resumes on B after e0: the replay reads e1 from the table
        const resumed = yield* collect(yield* b.events.subscribe(30, first))
        yield* until(() => resumed.length >= 1, "the replay")
        // then the notification of a later event makes B's hub catch up, e1 included
        yield* a.events.publish(30, delta("e2"))
        yield* until(() => resumed.length >= 2 && watcher.length >= 3, "e2 on B")
        yield* Effect.sleep("300 millis")
        assert.deepStrictEqual(texts(resumed), ["e1", "e2"])
        assert.deepStrictEqual(texts(watcher), ["e0", "e1", "e2"])
      }).pipe(Effect.provide(database))
  )

  it.scopedLive(
    "a large event crosses processes (NOTIFY carries only ids), and NUL or lone surrogates do not break a publish",
    () =>
      Effect.gen(function* () {
        const a = yield* process()
        const b = yield* process()
        const onB = yield* collect(yield* b.events.subscribe(20))
        const big = "가".repeat(20_000)
        yield* a.events.publish(20, delta(big))
        const id = yield* a.events.publish(20, delta("nul\u0000 and \ud800 lone"))
        yield* until(() => onB.length >= 2, "both events")
        assert.strictEqual(texts(onB)[0], big)
        assert.strictEqual(texts(onB)[1], "nul\ufffd and \ufffd lone")
        assert.isAbove(id, 0)
      }).pipe(Effect.provide(database))
  )

  it.scopedLive("concurrent publishes of many conversations share batches; each conversation stays in order", () =>
    Effect.gen(function* () {
      const a = yield* process({ events: { maxBatch: 7 } })
      const b = yield* process()
      const conversations = Array.from({ length: 12 }, (_, i) => 100 + i)
      const watched = yield* Effect.forEach(conversations, (c) => Effect.flatMap(b.events.subscribe(c), collect))
      yield* Effect.forEach(
        conversations,
        (c) =>
          Effect.forEach(
            Array.from({ length: 15 }, (_, i) => i),
            (i) => a.events.publish(c, delta(`${c}:${i}`)),
            { discard: true }
          ),
        { concurrency: "unbounded", discard: true }
      )
      yield* until(() => watched.every((got) => got.length >= 15), "all deliveries")
      for (const [k, got] of watched.entries()) {
        const c = conversations[k]!
        assert.deepStrictEqual(
          texts(got),
          Array.from({ length: 15 }, (_, i) => `${c}:${i}`)
        )
        assert.isTrue(isIncreasing(got.map((published) => published.id)))
        // the table holds the same order
        const rows = yield* query<{ readonly payload: { readonly text: string } }>(
          "SELECT payload FROM convo_event WHERE conversation_id = $1 ORDER BY id",
          [c]
        )
        assert.deepStrictEqual(
          rows.map((row) => row.payload.text),
          texts(got)
        )
      }
    }).pipe(Effect.provide(database))
  )

  it.scopedLive("a dropped LISTEN connection reconnects and catches up from the table, in order, once", () =>
    Effect.gen(function* () {
      const a = yield* process()
      const b = yield* process()
      const onA = yield* collect(yield* a.events.subscribe(30))
      yield* b.events.publish(30, delta("before"))
      yield* until(() => onA.length === 1, "the first event")
      // cut every LISTEN connection of the database (A's and B's); B keeps publishing meanwhile
      const killed = yield* query<{ readonly pid: number }>(
        "SELECT pg_terminate_backend(pid) AS ok, pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
      )
      assert.isAtLeast(killed.length, 2)
      for (let i = 0; i < 5; i++) yield* b.events.publish(30, delta(`during${i}`))
      yield* until(() => onA.length >= 6, "catch-up after the reconnect")
      yield* b.events.publish(30, delta("after"))
      yield* until(() => onA.length >= 7, "live again")
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(texts(onA), ["before", "during0", "during1", "during2", "during3", "during4", "after"])
      assert.isTrue(isIncreasing(onA.map((published) => published.id)))
      // a new LISTEN connection is there again
      const listening = yield* query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'"
      )
      assert.isAtLeast(listening.length, 2)
    }).pipe(Effect.provide(database))
  )

  it.scopedLive(
    "when the table cannot be written, a publish still reaches this process's subscribers, with a negative id",
    () =>
      Effect.gen(function* () {
        const a = yield* process({ events: { prefix: "missing_", publishTimeout: "300 millis" } })
        const got = yield* collect(yield* a.events.subscribe(40))
        const first = yield* a.events.publish(40, delta("not stored"))
        const second = yield* a.events.publish(40, delta("nor this"))
        yield* until(() => got.length >= 2, "local delivery")
        assert.deepStrictEqual([first, second], [-1, -2])
        assert.deepStrictEqual(texts(got), ["not stored", "nor this"])
      }).pipe(Effect.provide(database))
  )

  it.scopedLive("events older than the retention are pruned by one process", () =>
    Effect.gen(function* () {
      yield* query(
        "INSERT INTO convo_event (conversation_id, payload, created_at) SELECT 50, '{\"type\":\"pong\"}', now() - interval '2 hours' FROM generate_series(1, 30)"
      )
      const a = yield* process({ events: { retention: "1 hour", pruneInterval: "100 millis" } })
      yield* process({ events: { retention: "1 hour", pruneInterval: "100 millis" } })
      const kept = yield* a.events.publish(50, delta("recent"))
      yield* until(() => false, "", 40).pipe(Effect.ignore) // a few prune rounds
      const rows = yield* query<{ readonly id: string }>("SELECT id FROM convo_event WHERE conversation_id = 50")
      assert.deepStrictEqual(
        rows.map((row) => Number(row.id)),
        [kept]
      )
    }).pipe(Effect.provide(database))
  )

  it("the migrations export as plain SQL with their own prefix", () => {
    const ddl = PgMigrations.toSql({ prefix: "chat_" })
    assert.include(ddl, "CREATE TABLE chat_event (")
    assert.include(ddl, "CREATE INDEX chat_event_conversation_idx ON chat_event (conversation_id, id);")
    assert.strictEqual(PgMigrations.migrationsTable({ prefix: "chat_" }), "chat_pg_migrations")
  })
})
