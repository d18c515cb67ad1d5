/**
 * One turn at a time per conversation across server processes: core's `TurnLock` port on a
 * PostgreSQL advisory lock, `pg_advisory_lock(classId, conversationId)`.
 *
 * - **One lock session per process.** Every lock of the process is a session-level advisory lock
 *   held by one dedicated connection (a one-connection `PgClient` of its own, named
 *   `convo-turn-lock`, plus its LISTEN connection), whatever the number of turns running. A lock per turn on a connection of
 *   the shared pool would hold one pooled connection per running turn: with as many turns as the
 *   pool has connections, the turns' own queries (history, append, events) would wait forever
 *   for a connection that only a finished turn gives back.
 * - **Waiting**: turns of one conversation in one process queue in-process first, in the order
 *   they asked (core's memory lock), so only one of them asks PostgreSQL. That one calls
 *   `pg_try_advisory_lock` rather than blocking in `pg_advisory_lock` (a blocked call would hold
 *   up the lock session for every other conversation). A release NOTIFYs `convo_turn_lock` with
 *   the conversation id, which wakes the waiter of that conversation in every process at once; a
 *   jittered backoff (2 ms doubling to 250 ms) retries anyway, in case a notification is lost. It
 *   waits as long as the holder's turn lasts (the agent's model `timeout` bounds that), and stops
 *   waiting when its session closes (the fiber is interrupted). There is no "busy" answer: core's
 *   `TurnLock` port cannot fail, and a turn that may not run must not vanish silently, so it waits.
 * - **Hand-over between processes**: a process whose attempt failed announces that it waits (a
 *   shared advisory lock `(classId + 2, conversation)`, dropped when it gets the lock or stops
 *   waiting). A release that sees another session's announcement makes this process's next turn
 *   of that conversation stand back for `handOver` (20 ms) first, so the waiting process — woken by
 *   the NOTIFY — takes the lock; without it the releasing process, which asks without waiting for
 *   a notification, would win again and again and the other's turns could wait without bound.
 * - **Release** is a finalizer: `pg_advisory_unlock` when the turn ends, fails or is interrupted.
 *   A process that dies (even `kill -9`) closes its lock session, and PostgreSQL drops every
 *   lock the session held at once: the next turn of the conversation, on any process, proceeds.
 * - **The lock session is lost** (a database restart, a network cut): its locks are gone with
 *   it. A turn already running goes on; another process may start a turn of the same
 *   conversation meanwhile. The store still keeps `seq` gapless and client ids unique (a row
 *   lock and a unique key), so the worst case is two turns' events interleaving during the
 *   outage. The pool reconnects on the next lock request.
 * - **Keys**: `objid` is the conversation id's low 32 bits as a signed `int4`: ids 2^32 apart
 *   share a lock (more waiting, never less safety). `classId` keeps convo's locks apart from the
 *   application's; see them with `SELECT * FROM pg_locks WHERE locktype = 'advisory' AND classid = <classId>`.
 *
 * A half-open TCP connection (a peer gone without a reset) is noticed by PostgreSQL only through
 * TCP keepalives: set `tcp_keepalives_idle` (e.g. 30 s) on the server, or the locks of a vanished
 * machine outlive it by the operating system's timeout.
 *
 * @since 0.1.0
 */
import * as TurnLock from "@convo/core/TurnLock"
import type { ConversationId } from "@convo/core/ConversationStore"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The advisory lock class (`pg_locks.classid`). Default `defaultClassId`. */
  readonly classId?: number | undefined
  /**
   * The longest pause between two attempts while another process holds the lock. A release
   * NOTIFYs the waiters, so this only bounds the wait when a notification is lost. Default 250 ms.
   */
  readonly maxPoll?: Duration.DurationInput | undefined
  /** The first pause after a failed attempt; it doubles up to `maxPoll`. Default 2 ms. */
  readonly minPoll?: Duration.DurationInput | undefined
  /** The NOTIFY channel on which releases wake waiting processes. Default `"convo_turn_lock"`. */
  readonly channel?: string | undefined
  /** The `application_name` of the lock session. Default `"convo-turn-lock"`. */
  readonly applicationName?: string | undefined
  /**
   * How long this process's next turn of a conversation stands back after releasing its lock while
   * another process was waiting for it, so that process (woken by the release's NOTIFY) takes it
   * first. Default 20 ms; `0` turns hand-over off (the releasing process usually wins again).
   */
  readonly handOver?: Duration.DurationInput | undefined
}

/**
 * `0x636f6e76`, "conv" in ASCII.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultClassId: number = 0x636f6e76

/**
 * The `(classid, objid)` pair of a conversation's lock.
 *
 * @since 0.1.0
 * @category keys
 */
export const key = (conversationId: ConversationId, classId: number = defaultClassId): readonly [number, number] => [
  classId | 0,
  conversationId | 0
]

interface LockRow {
  readonly ok: boolean
  readonly pid: number
}

interface AttemptRow extends LockRow {
  /** Whether this session now announces that it waits (a shared lock on `waitingClass`). */
  readonly waiting: boolean
}

interface ReleaseRow extends LockRow {
  /** Whether another session announced that it waits for the lock just released. */
  readonly contended: boolean
}

/**
 * Builds the lock on the `PgClient` in context: opens its own one-connection client with the
 * same settings (and a LISTEN connection for wake-ups), closed with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<TurnLock.Service, SqlError, PgClient.PgClient | Scope.Scope> =>
  Effect.gen(function* () {
    const shared = yield* PgClient.PgClient
    const classId = options.classId ?? defaultClassId
    const maxPoll = Duration.toMillis(Duration.decode(options.maxPoll ?? "250 millis"))
    const minPoll = Math.min(maxPoll, Duration.toMillis(Duration.decode(options.minPoll ?? "2 millis")))
    const channel = options.channel ?? "convo_turn_lock"
    const handOver = Duration.toMillis(Duration.decode(options.handOver ?? "20 millis"))
    // A process whose attempt failed holds a shared lock (waitingClass, conversation) until it gets
    // the lock or stops waiting: a release sees whether any other session waits.
    const waitingClass = (classId + 2) | 0
    const context = yield* Layer.build(
      PgClient.layer({
        ...shared.config,
        maxConnections: 1,
        minConnections: undefined,
        // lock queries are never interrupted: an unreachable host must fail them, not hang them
        connectTimeout: shared.config.connectTimeout ?? Duration.seconds(5),
        // session locks live as long as the connection: never close it for being idle
        idleTimeout: Duration.days(24),
        connectionTTL: undefined,
        applicationName: options.applicationName ?? "convo-turn-lock",
        transformQueryNames: undefined,
        transformResultNames: undefined
      })
    )
    const sql = Context.get(context, PgClient.PgClient)
    const local = TurnLock.makeMemory()

    // releases in any process wake this process's waiter of that conversation
    const waiters = new Map<ConversationId, Deferred.Deferred<void>>()
    // a release NOTIFYs this process too: sent and never heard back means the LISTEN connection is gone
    let lastSent = 0
    let lastHeard = 0
    const listening = Effect.scoped(
      Effect.raceFirst(
        sql.listen(channel).pipe(
          Stream.runForEach((payload) =>
            Effect.sync(() => {
              lastHeard = Date.now()
              const waiter = waiters.get(Number(payload))
              if (waiter !== undefined) Deferred.unsafeDone(waiter, Exit.void)
            })
          ),
          Effect.zipRight(Effect.fail("the LISTEN stream ended"))
        ),
        Effect.sleep("1 second").pipe(
          Effect.zipRight(
            Effect.suspend(() =>
              lastSent > lastHeard && Date.now() - lastSent > 2_000
                ? Effect.fail("the LISTEN connection went silent")
                : Effect.void
            )
          ),
          Effect.forever
        )
      )
    )
    yield* listening.pipe(
      Effect.catchAll((error) =>
        Effect.logDebug("PgTurnLock: the LISTEN connection was lost; reconnecting (polling meanwhile)", error).pipe(
          Effect.zipRight(Effect.sync(() => (lastHeard = lastSent = 0)))
        )
      ),
      Effect.zipRight(Effect.sleep("200 millis")),
      Effect.forever,
      Effect.forkScoped
    )

    // Never interrupted: a try-lock answered after an interruption would leave a lock held.
    const run = (text: string, params: ReadonlyArray<unknown>) =>
      sql.unsafe<LockRow>(text, params).pipe(
        Effect.map((rows) => rows[0]),
        Effect.uninterruptible
      )

    // One round trip: the attempt, and the announcement — made on the first failure, dropped on
    // success (CASE evaluates only the branch it takes; OFFSET 0 keeps the attempt from being
    // inlined and evaluated twice).
    const attempt = (
      lockKey: readonly [number, number],
      waiting: boolean
    ): Effect.Effect<AttemptRow | undefined, SqlError> =>
      sql
        .unsafe<AttemptRow>(
          `SELECT t.ok, pg_backend_pid() AS pid, CASE ` +
            `WHEN t.ok THEN CASE WHEN $4 THEN NOT pg_advisory_unlock_shared($3::int4, $2::int4) ELSE false END ` +
            `WHEN $4 THEN true ELSE pg_try_advisory_lock_shared($3::int4, $2::int4) END AS waiting ` +
            `FROM (SELECT pg_try_advisory_lock($1::int4, $2::int4) AS ok OFFSET 0) t`,
          [...lockKey, waitingClass, waiting]
        )
        .pipe(
          Effect.map((rows) => rows[0]),
          Effect.uninterruptible
        )

    // a waiter that stops waiting withdraws its announcement (a lost session took it already)
    const withdraw = (lockKey: readonly [number, number]) =>
      run(`SELECT pg_advisory_unlock_shared($1::int4, $2::int4) AS ok, pg_backend_pid() AS pid`, [
        waitingClass,
        lockKey[1]
      ]).pipe(Effect.catchAll(() => Effect.void))

    // conversations whose lock this process released while another process waited for it: its next
    // turn of them stands back until then (ms since the epoch)
    const standBack = new Map<ConversationId, number>()

    const acquire = (
      conversationId: ConversationId,
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    ) =>
      Effect.gen(function* () {
        const lockKey = key(conversationId, classId)
        const until = standBack.get(conversationId)
        if (until !== undefined) {
          standBack.delete(conversationId)
          const wait = until - Date.now()
          if (wait > 0) yield* restore(Effect.sleep(Duration.millis(wait)))
        }
        let pause = minPoll
        let failures = 0
        let waiting = false
        while (true) {
          // registered before the attempt, so a release right after it is not missed
          const wake = Deferred.unsafeMake<void>(FiberId.none)
          waiters.set(conversationId, wake)
          const result: Either.Either<AttemptRow | undefined, SqlError> = yield* Effect.either(
            attempt(lockKey, waiting)
          )
          if (result._tag === "Right") waiting = result.right?.waiting === true
          if (result._tag === "Right" && result.right?.ok === true) {
            waiters.delete(conversationId)
            return result.right.pid
          }
          if (result._tag === "Left") {
            failures++
            if (failures === 1 || failures % 50 === 0) {
              yield* Effect.logWarning(
                `PgTurnLock: cannot reach PostgreSQL for the lock of conversation ${conversationId}; retrying`,
                result.left
              )
            }
          }
          // interruptible only here, while no lock is held
          yield* restore(
            Effect.raceFirst(Deferred.await(wake), Effect.sleep(Duration.millis(pause * (0.5 + Math.random()))))
          ).pipe(
            Effect.ensuring(Effect.sync(() => waiters.get(conversationId) === wake && waiters.delete(conversationId))),
            Effect.onInterrupt(() => (waiting ? withdraw(lockKey) : Effect.void))
          )
          pause = Math.min(maxPoll, pause * 2)
        }
      })

    const release = (conversationId: ConversationId, pid: number) =>
      Effect.sync(() => (lastSent = Date.now())).pipe(
        Effect.zipRight(
          sql
            .unsafe<ReleaseRow>(
              `SELECT pg_advisory_unlock($1::int4, $2::int4) AS ok, pg_backend_pid() AS pid, pg_notify($3, $4) AS woke, ` +
                // another session announces that it waits iff it holds the shared lock, so the exclusive
                // one is refused (the lock manager's own lookup, not a copy of pg_locks per turn)
                `CASE WHEN pg_try_advisory_lock($5::int4, $2::int4) THEN NOT pg_advisory_unlock($5::int4, $2::int4) ELSE true END AS contended`,
              [...key(conversationId, classId), channel, String(conversationId), waitingClass]
            )
            .pipe(
              Effect.map((rows) => rows[0]),
              Effect.uninterruptible
            )
            .pipe(
              Effect.tap((row) =>
                Effect.sync(() => {
                  if (row?.contended !== true || handOver <= 0) return
                  const now = Date.now()
                  if (standBack.size >= 1_000)
                    for (const [id, until] of standBack) if (until <= now) standBack.delete(id)
                  standBack.set(conversationId, now + handOver)
                })
              ),
              Effect.flatMap((row) =>
                row?.ok === true || row?.pid !== pid
                  ? Effect.void // released, or the session that held it is gone, and the lock with it
                  : Effect.logWarning(`PgTurnLock: the lock of conversation ${conversationId} was not held at release`)
              ),
              // the lock session is unreachable: it is gone, and its locks with it
              Effect.catchAll((error) =>
                Effect.logDebug(`PgTurnLock: releasing the lock of conversation ${conversationId} failed`, error)
              )
            )
        )
      )

    // This process's owner lock: held on the lock session for the life of the process (and taken
    // again after a reconnect), so another process can tell that a pending turn's owner is alive.
    const ownerClass = (classId + 1) | 0
    const ownerKey = 1 + Math.floor(Math.random() * 0x7ffffffe)
    const owner = `pg:${ownerClass}:${ownerKey}`
    const holdOwnerLock = run(
      `SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND classid = ($1::int4)::oid AND objid = ($2::int4)::oid AND objsubid = 2) THEN true ELSE pg_try_advisory_lock($1::int4, $2::int4) END AS ok, pg_backend_pid() AS pid`,
      [ownerClass, ownerKey]
    )
    yield* holdOwnerLock
    yield* holdOwnerLock.pipe(
      Effect.flatMap((row) =>
        row?.ok === true ? Effect.void : Effect.logWarning(`PgTurnLock: the owner lock ${owner} is held elsewhere`)
      ),
      Effect.catchAll((error) => Effect.logDebug("PgTurnLock: cannot renew the owner lock", error)),
      Effect.delay("1 second"),
      Effect.forever,
      Effect.forkScoped
    )
    // an owner seen alive is taken as alive for a moment: every turn looks at the conversation's
    // pending turns, and asking the lock session each time would queue behind the turn locks
    const seenAlive = new Map<string, number>()
    const isAlive = (other: string): Effect.Effect<boolean> => {
      if (other === owner) return Effect.succeed(true)
      const until = seenAlive.get(other)
      if (until !== undefined && until > Date.now()) return Effect.succeed(true)
      if (seenAlive.size > 1_000) seenAlive.clear()
      const parsed = /^pg:(-?\d+):(\d+)$/.exec(other)
      // an owner that never held a PostgreSQL owner lock (an in-process lock) cannot be asked: it is
      // taken for gone, as a deployment that moved to this lock has no such process left
      if (parsed === null) return Effect.succeed(false)
      return sql
        .unsafe<{ readonly alive: boolean }>(
          `SELECT CASE WHEN pg_try_advisory_lock($1::int4, $2::int4) THEN NOT pg_advisory_unlock($1::int4, $2::int4) ELSE true END AS alive`,
          [Number(parsed[1]), Number(parsed[2])]
        )
        .pipe(
          Effect.map((rows) => rows[0]?.alive !== false),
          Effect.tap((alive) => Effect.sync(() => alive && seenAlive.set(other, Date.now() + 2_000))),
          Effect.uninterruptible,
          // unreachable: assume alive, so a live process's turn is never finished under it
          Effect.catchAll(() => Effect.succeed(true))
        )
    }

    const service: TurnLock.Service = {
      owner,
      isAlive,
      withLock: (conversationId) => (effect) =>
        local.withLock(conversationId)(
          Effect.uninterruptibleMask((restore) =>
            Effect.flatMap(acquire(conversationId, restore), (pid) =>
              restore(effect).pipe(Effect.ensuring(release(conversationId, pid)))
            )
          ).pipe(Effect.withSpan("TurnLock.withLock", { attributes: { conversationId } }))
        )
    }
    return service
  })

/**
 * The `TurnLock` service on PostgreSQL advisory locks. Needs a `PgClient`; opens two more
 * connections: the lock session and its LISTEN connection.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TurnLock.TurnLock, SqlError, PgClient.PgClient> =>
  Layer.scoped(TurnLock.TurnLock, make(options))
