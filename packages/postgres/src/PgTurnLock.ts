/**
 * One turn at a time per conversation across server processes: core's `TurnLock` port on a
 * PostgreSQL advisory lock, `pg_advisory_lock(classId, conversationId)`.
 *
 * - **One lock session per process.** Every lock of the process is a session-level advisory lock
 *   held by one dedicated connection (a one-connection `PgClient` of its own, named
 *   `convo-turn-lock`), whatever the number of turns running. A lock per turn on a connection of
 *   the shared pool would hold one pooled connection per running turn: with as many turns as the
 *   pool has connections, the turns' own queries (history, append, events) would wait forever
 *   for a connection that only a finished turn gives back.
 * - **Waiting**: turns of one conversation in one process queue on an in-process semaphore first
 *   (core's memory lock), so only one of them asks PostgreSQL. That one polls
 *   `pg_try_advisory_lock` with a jittered backoff (2 ms doubling to 100 ms) instead of blocking
 *   in `pg_advisory_lock`: a blocked call would occupy the lock session for every other
 *   conversation. It waits as long as the holder's turn lasts (the agent's model `timeout`
 *   bounds that), and stops waiting when its session closes (the fiber is interrupted). There is
 *   no "busy" answer: core's `TurnLock` port cannot fail, and a turn that may not run must not
 *   vanish silently, so it waits.
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
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The advisory lock class (`pg_locks.classid`). Default `defaultClassId`. */
  readonly classId?: number | undefined
  /** The longest pause between two attempts while another process holds the lock. Default 100 ms. */
  readonly maxPoll?: Duration.DurationInput | undefined
  /** The `application_name` of the lock session. Default `"convo-turn-lock"`. */
  readonly applicationName?: string | undefined
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

/**
 * Builds the lock on the `PgClient` in context: opens its own one-connection client with the
 * same settings, closed with the scope.
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
    const maxPoll = Duration.toMillis(Duration.decode(options.maxPoll ?? "100 millis"))
    const context = yield* Layer.build(
      PgClient.layer({
        ...shared.config,
        maxConnections: 1,
        minConnections: undefined,
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

    // Never interrupted: a try-lock answered after an interruption would leave a lock held.
    const run = (text: string, lockKey: readonly [number, number]) =>
      sql.unsafe<LockRow>(text, lockKey).pipe(
        Effect.map((rows) => rows[0]),
        Effect.uninterruptible
      )

    const attempt = (lockKey: readonly [number, number]) =>
      run(`SELECT pg_try_advisory_lock($1::int4, $2::int4) AS ok, pg_backend_pid() AS pid`, lockKey)

    const acquire = (
      conversationId: ConversationId,
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    ) =>
      Effect.gen(function* () {
        const lockKey = key(conversationId, classId)
        let pause = 2
        let failures = 0
        while (true) {
          const result = yield* Effect.either(attempt(lockKey))
          if (result._tag === "Right" && result.right?.ok === true) return result.right.pid
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
          yield* restore(Effect.sleep(Duration.millis(pause * (0.5 + Math.random()))))
          pause = Math.min(maxPoll, pause * 2)
        }
      })

    const release = (conversationId: ConversationId, pid: number) =>
      run(
        `SELECT pg_advisory_unlock($1::int4, $2::int4) AS ok, pg_backend_pid() AS pid`,
        key(conversationId, classId)
      ).pipe(
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

    const service: TurnLock.Service = {
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
 * The `TurnLock` service on PostgreSQL advisory locks. Needs a `PgClient`; opens one more
 * connection for its lock session.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TurnLock.TurnLock, SqlError, PgClient.PgClient> =>
  Layer.scoped(TurnLock.TurnLock, make(options))
