import * as Databases from "@convo/testing/Databases"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as PgTurnLock from "../src/PgTurnLock.js"
import { database, pool, process, query } from "./support/db.js"

const pg = await Databases.pgTestsEnabled()

/** Advisory locks of convo held right now in the test database. */
const heldLocks = query<{ readonly objid: string }>(
  "SELECT objid::text FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database() AND locktype = 'advisory' AND classid = $1 AND granted",
  [PgTurnLock.defaultClassId]
)

/** The announcements of processes waiting for a conversation's lock (class id + 2, shared). */
const waitingLocks = query<{ readonly objid: string }>(
  "SELECT objid::text FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database() AND locktype = 'advisory' AND classid = $1 AND granted",
  [(PgTurnLock.defaultClassId + 2) | 0]
)

const lockSessions = query<{ readonly pid: number }>(
  "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'convo-turn-lock' AND query NOT LIKE 'LISTEN %'"
)

describe.skipIf(!pg)("PgTurnLock", () => {
  it("keys are the class id and the conversation id's low 32 bits", () => {
    assert.deepStrictEqual(PgTurnLock.key(42), [0x636f6e76, 42])
    assert.deepStrictEqual(PgTurnLock.key(2 ** 32 + 7, 9), [9, 7])
    assert.deepStrictEqual(PgTurnLock.key(2 ** 31, 9), [9, -(2 ** 31)])
  })

  it.scopedLive("turns of one conversation on two processes never overlap", () =>
    Effect.gen(function* () {
      const a = yield* process()
      const b = yield* process()
      const log: Array<string> = []
      const turn = (who: string, i: number) =>
        Effect.gen(function* () {
          log.push(`start ${who}${i}`)
          yield* Effect.sleep("15 millis")
          log.push(`end ${who}${i}`)
        })
      yield* Effect.all(
        [
          ...Array.from({ length: 6 }, (_, i) => a.lock.withLock(1)(turn("a", i))),
          ...Array.from({ length: 6 }, (_, i) => b.lock.withLock(1)(turn("b", i)))
        ],
        { concurrency: "unbounded" }
      )
      assert.strictEqual(log.length, 24)
      for (let i = 0; i < log.length; i += 2) {
        assert.isTrue(log[i]!.startsWith("start "), log.join(", "))
        assert.strictEqual(log[i + 1], log[i]!.replace("start", "end"))
      }
      assert.isTrue(log.some((entry) => entry.includes("a")) && log.some((entry) => entry.includes("b")))
      assert.deepStrictEqual(yield* heldLocks, [])
    }).pipe(Effect.provide(database))
  )

  it.scopedLive("an interrupted turn releases the lock; a waiter that gives up leaves nothing behind", () =>
    Effect.gen(function* () {
      const a = yield* process()
      const b = yield* process()
      const holding = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(
        a.lock.withLock(7)(Deferred.succeed(holding, undefined).pipe(Effect.zipRight(Effect.never)))
      )
      yield* Deferred.await(holding)
      assert.deepStrictEqual(
        (yield* heldLocks).map((lock) => lock.objid),
        ["7"]
      )
      // a waiter on another process gives up (its client left)
      const ran: Array<string> = []
      const waiter = yield* Effect.fork(b.lock.withLock(7)(Effect.sync(() => ran.push("waiter"))))
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(waiter)
      // the holder is interrupted: the next turn runs
      yield* Fiber.interrupt(holder)
      yield* b.lock.withLock(7)(Effect.sync(() => ran.push("next")))
      assert.deepStrictEqual(ran, ["next"])
      assert.deepStrictEqual(yield* heldLocks, [])
      assert.deepStrictEqual(yield* waitingLocks, [])
    }).pipe(Effect.provide(database))
  )

  it.scopedLive("a release on one process wakes the waiter on another (NOTIFY), long before its next poll", () =>
    Effect.gen(function* () {
      const context = yield* pool()
      const a = yield* PgTurnLock.make().pipe(Effect.provide(context))
      // B polls only every minute (at least 30 s with jitter): it can only get the lock within the
      // guard below through the notification
      const b = yield* PgTurnLock.make({ minPoll: "60 seconds", maxPoll: "60 seconds" }).pipe(Effect.provide(context))
      const holding = yield* Deferred.make<void>()
      const finish = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(
        a.withLock(11)(Deferred.succeed(holding, undefined).pipe(Effect.zipRight(Deferred.await(finish))))
      )
      yield* Deferred.await(holding)
      const waiter = yield* Effect.fork(b.withLock(11)(Effect.succeed("b ran")))
      yield* Effect.sleep("300 millis") // B tried once and sleeps
      yield* Deferred.succeed(finish, undefined)
      yield* Fiber.join(holder)
      const ran = yield* Fiber.join(waiter).pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(ran, "b ran")
    }).pipe(Effect.provide(database))
  )

  it.scopedLive("a process that releases a lock another process waits for lets it go first, then takes its turn", () =>
    Effect.gen(function* () {
      const context = yield* pool()
      // a generous hand-over window, so the test does not depend on how fast B hears the release
      const a = yield* PgTurnLock.make({ handOver: "5 seconds" }).pipe(Effect.provide(context))
      const b = yield* PgTurnLock.make().pipe(Effect.provide(context))
      const order: Array<string> = []
      const holding = yield* Deferred.make<void>()
      const finish = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(
        a.withLock(12)(Deferred.succeed(holding, undefined).pipe(Effect.zipRight(Deferred.await(finish))))
      )
      yield* Deferred.await(holding)
      const waiter = yield* Effect.fork(b.withLock(12)(Effect.sync(() => order.push("b"))))
      yield* Effect.sleep("300 millis") // B tried, failed and announced that it waits
      // A's next turn asks the moment A's turn ends
      const next = yield* Effect.fork(a.withLock(12)(Effect.sync(() => order.push("a again"))))
      yield* Effect.yieldNow()
      yield* Deferred.succeed(finish, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(next).pipe(Effect.timeout("20 seconds"))
      yield* Fiber.join(waiter).pipe(Effect.timeout("20 seconds"))
      assert.deepStrictEqual(order, ["b", "a again"])
      // nothing stays behind: neither the turn locks nor the waiters' announcements
      assert.deepStrictEqual(yield* heldLocks, [])
      assert.deepStrictEqual(yield* waitingLocks, [])
    }).pipe(Effect.provide(database))
  )

  it.scopedLive("a lost lock session frees its locks; the process reconnects for its next turn", () =>
    Effect.gen(function* () {
      const a = yield* process()
      const b = yield* process()
      const holding = yield* Deferred.make<void>()
      const finish = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(
        a.lock.withLock(9)(Deferred.succeed(holding, undefined).pipe(Effect.zipRight(Deferred.await(finish))))
      )
      yield* Deferred.await(holding)
      yield* query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'convo-turn-lock' AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 9)"
      )
      // the lock went with the session: B's turn runs while A's is still going
      const ran: Array<string> = []
      yield* b.lock.withLock(9)(Effect.sync(() => ran.push("b")))
      yield* Deferred.succeed(finish, undefined)
      yield* Fiber.join(holder)
      yield* a.lock.withLock(9)(Effect.sync(() => ran.push("a again")))
      assert.deepStrictEqual(ran, ["b", "a again"])
      assert.deepStrictEqual(yield* heldLocks, [])
    }).pipe(Effect.provide(database))
  )

  it.scopedLive("many conversations at once hold one lock connection, and a small pool never starves the turns", () =>
    Effect.gen(function* () {
      const a = yield* process({ maxConnections: 2 })
      const conversations = Array.from({ length: 24 }, (_, i) => 100 + i)
      const sessionsSeen: Array<number> = []
      const results = yield* Effect.forEach(
        conversations,
        (c) =>
          a.lock.withLock(c)(
            Effect.gen(function* () {
              // the turn's own queries use the shared pool of two connections
              for (let i = 0; i < 3; i++) yield* a.sql.unsafe("SELECT pg_sleep(0.005)")
              sessionsSeen.push((yield* lockSessions).length)
              return c
            })
          ),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(results, conversations)
      assert.isTrue(sessionsSeen.every((n) => n === 1))
      assert.deepStrictEqual(yield* heldLocks, [])
    }).pipe(Effect.provide(database))
  )
})
