/**
 * Live events of a conversation across server processes, on PostgreSQL: core's
 * `ConversationEvents` port over an event table and LISTEN/NOTIFY.
 *
 * - **Publish** writes the event to the `convo_event` table (see `PgMigrations`) and, in the same
 *   statement, NOTIFYs `<process nonce>|conversation_id:id,...` on one channel (`convo_events`):
 *   payloads stay far below NOTIFY's 8,000 bytes whatever the event holds. (Processes of an older
 *   version, whose payload had no nonce, do not understand it: upgrade every process together.) The event id is the row's `bigserial`:
 *   increasing, and unique across conversations. Concurrent publishes of a process are written
 *   together, up to `maxBatch` rows in one INSERT (a group commit), by one writer fiber.
 * - **Local subscribers** of the publishing process get the event at once, without waiting for the
 *   NOTIFY round trip, and skip their own notifications; **other processes** read the rows named by
 *   the notifications, of the conversations they watch only (one query for every pending
 *   conversation; while notifications keep coming, a read waits 8 ms to gather more): a process
 *   reads no event of a conversation it has no watcher of (`rowsRead` counts what it reads). Every delivery goes through one per-conversation hub per process
 *   that delivers each id once, in increasing order.
 * - **Resume** (`subscribe(id, after)`) reads the table: the retained events with a greater id,
 *   then the live ones, never twice.
 * - **A dropped LISTEN connection** is noticed by a heartbeat (each process NOTIFYs itself every
 *   `heartbeat`; three missed beats mean the connection is gone). The listener then reconnects and
 *   catches every watched conversation up from the table by its last delivered id, so nothing is
 *   lost, only late.
 * - **Retention**: events older than `retention` (default 15 minutes) are deleted every
 *   `pruneInterval` by one process at a time. A client that comes back later gets the stored
 *   history page from its session instead; nothing durable lives here.
 * - **A database outage** while publishing: the write is retried for up to `publishTimeout`
 *   (default 10 seconds), which rides out a restart. Past that, the event is still delivered to this
 *   process's subscribers (the sender's own session among them) with a negative id that no client
 *   can resume from, so an error event of the turn still reaches its sender; it is not stored and
 *   other processes do not see it.
 *
 * @since 0.1.0
 */
import * as ConversationEvents from "@convo/core/ConversationEvents"
import type { ConversationId } from "@convo/core/ConversationStore"
import type * as Protocol from "@convo/core/Protocol"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Cause from "effect/Cause"
import type * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { quote, tableNames } from "./internal/names.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Prefix of the table names; must match the one given to `PgMigrations`. Default `"convo_"`. */
  readonly prefix?: string | undefined
  /** The NOTIFY channel. Default `"<prefix>events"`. */
  readonly channel?: string | undefined
  /** How long events are kept for resuming clients. Default 15 minutes. */
  readonly retention?: Duration.DurationInput | undefined
  /** How often old events are pruned; `false` turns pruning off in this process. Default 1 minute. */
  readonly pruneInterval?: Duration.DurationInput | false | undefined
  /** How often the LISTEN connection is checked; three missed beats reconnect it. Default 2 seconds. */
  readonly heartbeat?: Duration.DurationInput | undefined
  /** How long a publish retries while the database is unreachable. Default 10 seconds. */
  readonly publishTimeout?: Duration.DurationInput | undefined
  /** Most events written by one INSERT. Default 100, at most 180 (NOTIFY payloads stay under 8,000 bytes). */
  readonly maxBatch?: number | undefined
}

/**
 * Event rows this process has read from the event table (catching up on notifications and
 * replaying for resuming clients): a process reads only the rows of conversations it watches, so
 * this grows with its watchers' traffic, not with all traffic.
 *
 * @since 0.2.0
 * @category metrics
 */
export const rowsRead: Metric.Metric.Counter<number> = Metric.counter("convo_events_rows_read", {
  description: "event rows read from the event table by PgConversationEvents in this process"
})

interface Hub {
  readonly conversationId: ConversationId
  /** This process's watchers of the conversation, called synchronously with each event. */
  readonly watchers: Set<ConversationEvents.Watcher>
  subscribers: number
  /** The highest id delivered to this hub's subscribers. */
  lastSeen: number
  ready: boolean
  /** Something was published or notified while the hub was starting: catch up once it is ready. */
  dirty: boolean
  init: Deferred.Deferred<void> | undefined
}

interface Pending {
  readonly conversationId: ConversationId
  readonly event: Protocol.ServerEvent
  readonly json: string
  readonly done: Deferred.Deferred<number>
}

interface EventRow {
  readonly id: string | number
  readonly conversation_id: string | number
  readonly payload: unknown
}

const wellFormed = (value: string): string =>
  /[\u0000\ud800-\udfff]/.test(value)
    ? (value.replace(/\u0000/g, "\ufffd") as unknown as { toWellFormed: () => string }).toWellFormed()
    : value

/** JSON that jsonb accepts: no NUL characters and no lone surrogates. */
const toJson = (event: Protocol.ServerEvent): string =>
  JSON.stringify(event, (_key, value: unknown) => (typeof value === "string" ? wellFormed(value) : value))

const retrySchedule = Schedule.exponential("20 millis", 2).pipe(
  Schedule.union(Schedule.spaced("500 millis")),
  Schedule.jittered
)

const isEvent = (payload: unknown): payload is Protocol.ServerEvent =>
  typeof payload === "object" && payload !== null && typeof (payload as { type?: unknown }).type === "string"

/**
 * Builds the service on the `PgClient` in context. Its fibers (writer, listener, pruner) live in
 * the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<ConversationEvents.Service, never, PgClient.PgClient | Scope.Scope> =>
  Effect.gen(function* () {
    const pg = yield* PgClient.PgClient
    const serviceScope = yield* Effect.scope
    const sql = pg.withoutTransforms()
    const names = tableNames(options.prefix)
    const table = quote(names.event)
    const channel = options.channel ?? names.channel
    const retention = Duration.decode(options.retention ?? "15 minutes")
    const heartbeat = Duration.decode(options.heartbeat ?? "2 seconds")
    const publishTimeout = Duration.decode(options.publishTimeout ?? "10 seconds")
    const maxBatch = Math.max(1, Math.min(180, Math.floor(options.maxBatch ?? 100)))
    const nonce = globalThis.crypto.randomUUID()

    const hubs = new Map<ConversationId, Hub>()
    /** The highest event id this process has seen, of any conversation. */
    let highestSeen = 0
    /** Ids of events that only reached this process (database unreachable): negative, never resumable. */
    let localOnlyIds = 0

    const deliver = (hub: Hub, published: ConversationEvents.Published) => {
      if (published.id > highestSeen) highestSeen = published.id
      if (published.id < 0) {
        ConversationEvents.deliverTo(hub.watchers, published)
        return
      }
      if (!hub.ready) {
        hub.dirty = true
        return
      }
      if (published.id <= hub.lastSeen) return
      hub.lastSeen = published.id
      ConversationEvents.deliverTo(hub.watchers, published)
    }

    // ---- catching up from the table: conversations named by notifications, or all after a reconnect
    const wanted = new Set<ConversationId>()
    const wake = yield* Queue.dropping<void>(1)
    const want = (conversationId: ConversationId) => {
      wanted.add(conversationId)
      wake.unsafeOffer(undefined)
    }

    const fetchSince = (targets: ReadonlyArray<readonly [ConversationId, number]>) =>
      sql.unsafe<EventRow>(
        `SELECT e.id, e.conversation_id, e.payload FROM ${table} e
         JOIN unnest($1::bigint[], $2::bigint[]) AS w(conversation_id, after)
           ON e.conversation_id = w.conversation_id AND e.id > w.after
         ORDER BY e.id LIMIT 5000`,
        [targets.map(([conversationId]) => conversationId), targets.map(([, after]) => after)]
      )

    const catchUp = Effect.gen(function* () {
      while (wanted.size > 0) {
        const targets: Array<readonly [ConversationId, number]> = []
        for (const conversationId of wanted) {
          const hub = hubs.get(conversationId)
          if (hub !== undefined && hub.ready) targets.push([conversationId, hub.lastSeen])
        }
        wanted.clear()
        if (targets.length === 0) return
        const rows = yield* fetchSince(targets).pipe(
          Effect.tapError(() => Effect.sync(() => targets.forEach(([conversationId]) => wanted.add(conversationId))))
        )
        yield* Metric.incrementBy(rowsRead, rows.length)
        for (const row of rows) {
          const hub = hubs.get(Number(row.conversation_id))
          if (hub === undefined || !isEvent(row.payload)) continue
          deliver(hub, { id: Number(row.id), event: row.payload })
        }
        // a full page: more may follow
        if (rows.length === 5000) targets.forEach(([conversationId]) => wanted.add(conversationId))
      }
    })

    // Under load, notifications come every few milliseconds: waiting a little gathers the
    // conversations of many into one read (a third of PostgreSQL's work per turn on the benchmark
    // with three processes). After a quiet spell, the read goes out at once.
    let lastRead = 0
    const gather = Effect.suspend(() => (Date.now() - lastRead < 50 ? Effect.sleep("8 millis") : Effect.void))
    yield* Queue.take(wake).pipe(
      Effect.zipRight(gather),
      Effect.zipRight(catchUp),
      Effect.ensuring(Effect.sync(() => (lastRead = Date.now()))),
      Effect.catchAllCause((cause) =>
        Effect.logWarning("PgConversationEvents: catching up failed; retrying", Cause.squash(cause)).pipe(
          Effect.zipRight(Effect.sleep("200 millis")),
          Effect.zipRight(Effect.sync(() => wake.unsafeOffer(undefined)))
        )
      ),
      Effect.forever,
      Effect.forkScoped
    )

    // ---- the listener: notifications name new rows; a heartbeat proves the connection alive
    let heardBeat = 0
    let sentBeat = 0
    const onPayload = (payload: string, listening: Deferred.Deferred<void>) => {
      if (payload.startsWith("hb:")) {
        const [, from, beat] = payload.split(":")
        if (from === nonce) {
          heardBeat = Math.max(heardBeat, Number(beat))
          Deferred.unsafeDone(listening, Exit.void)
        }
        return
      }
      // `<nonce>|c:id,...`: this process's own events reach its watchers from the writer, unread
      const bar = payload.indexOf("|")
      if (bar !== -1 && payload.slice(0, bar) === nonce) return
      for (const pair of payload.slice(bar + 1).split(",")) {
        const colon = pair.indexOf(":")
        const conversationId = Number(pair.slice(0, colon))
        const id = Number(pair.slice(colon + 1))
        if (id > highestSeen) highestSeen = id
        const hub = hubs.get(conversationId)
        if (hub === undefined) continue
        if (!hub.ready) hub.dirty = true
        else if (id > hub.lastSeen) want(conversationId)
      }
    }

    const listenOnce = Effect.scoped(
      Effect.gen(function* () {
        const listening = yield* Deferred.make<void>()
        const consumer = yield* pg.listen(channel).pipe(
          Stream.runForEach((payload) => Effect.sync(() => onPayload(payload, listening))),
          Effect.zipRight(Effect.fail("the LISTEN stream ended")),
          Effect.forkScoped
        )
        heardBeat = sentBeat
        const beats = Effect.gen(function* () {
          const beat = ++sentBeat
          if (beat - heardBeat > 3) return yield* Effect.fail("the LISTEN connection missed three heartbeats")
          // (PgClient.notify sends `NOTIFY channel, $1`, which PostgreSQL rejects: NOTIFY takes no parameters)
          yield* sql.unsafe(`SELECT pg_notify($1, $2)`, [channel, `hb:${nonce}:${beat}`]).pipe(Effect.ignore)
        }).pipe(Effect.repeat(Schedule.spaced(heartbeat)))
        const beating = yield* Effect.forkScoped(beats)
        // once our own heartbeat comes back, LISTEN is active: catch up on what went by meanwhile
        yield* Deferred.await(listening).pipe(
          Effect.zipRight(
            Effect.sync(() => {
              for (const hub of hubs.values()) if (hub.ready) want(hub.conversationId)
            })
          ),
          Effect.forkScoped
        )
        // both run until they fail
        return yield* Effect.raceFirst(Fiber.join(consumer), Fiber.join(beating))
      })
    )

    yield* listenOnce.pipe(
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.interrupt
          : Effect.logWarning("PgConversationEvents: the LISTEN connection was lost; reconnecting", Cause.squash(cause))
      ),
      Effect.zipRight(Effect.sleep("100 millis")),
      Effect.forever,
      Effect.forkScoped
    )

    // ---- the writer: every pending publish of this process, in one INSERT + NOTIFY per batch
    const queue = yield* Effect.acquireRelease(Queue.unbounded<Pending>(), Queue.shutdown)
    // `prev`: the conversation's last event id before this statement (its snapshot excludes the new rows)
    const insert = (batch: ReadonlyArray<Pending>) =>
      sql.unsafe<{ readonly id: string | number; readonly prev: string | number | null }>(
        `WITH inserted AS (
           INSERT INTO ${table} (conversation_id, payload)
           SELECT c, p::jsonb FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS t(c, p, n) ORDER BY n
           RETURNING id, conversation_id
         ), notified AS (
           SELECT pg_notify($3, $4 || '|' || string_agg(conversation_id::text || ':' || id::text, ',')) FROM inserted
         )
         SELECT i.id, (SELECT max(e.id) FROM ${table} e WHERE e.conversation_id = i.conversation_id) AS prev
         FROM inserted i, notified ORDER BY i.id`,
        [batch.map((pending) => pending.conversationId), batch.map((pending) => pending.json), channel, nonce]
      )

    const write = (chunk: Chunk.Chunk<Pending>) =>
      Effect.gen(function* () {
        const batch = Array.from(chunk)
        const written = yield* insert(batch).pipe(
          Effect.retry(retrySchedule),
          Effect.timeout(publishTimeout),
          Effect.either
        )
        if (written._tag === "Right" && written.right.length === batch.length) {
          const previous = new Map<ConversationId, number>()
          batch.forEach((pending, i) => {
            const row = written.right[i]!
            const id = Number(row.id)
            const prev = previous.get(pending.conversationId) ?? (row.prev === null ? 0 : Number(row.prev))
            previous.set(pending.conversationId, id)
            const hub = hubs.get(pending.conversationId)
            if (hub !== undefined) {
              // an event of another process came just before and has not arrived here yet: read
              // both from the table, in order, instead of overtaking it
              if (hub.ready && prev > hub.lastSeen) want(pending.conversationId)
              else deliver(hub, { id, event: pending.event })
            }
            Deferred.unsafeDone(pending.done, Exit.succeed(id))
          })
          return
        }
        yield* Effect.logError(
          `PgConversationEvents: could not store ${batch.length} event(s); delivering them in this process only`,
          written._tag === "Left" ? written.left : "row count mismatch"
        )
        for (const pending of batch) {
          const id = --localOnlyIds
          const hub = hubs.get(pending.conversationId)
          if (hub !== undefined) deliver(hub, { id, event: pending.event })
          Deferred.unsafeDone(pending.done, Exit.succeed(id))
        }
      })

    yield* Queue.takeBetween(queue, 1, maxBatch).pipe(Effect.flatMap(write), Effect.forever, Effect.forkScoped)

    // ---- retention
    if (options.pruneInterval !== false) {
      const seconds = Math.max(1, Math.round(Duration.toSeconds(retention)))
      const prune = sql
        .withTransaction(
          Effect.gen(function* () {
            // one process at a time; the others skip this round
            const [lock] = yield* sql.unsafe<{ readonly got: boolean }>(
              `SELECT pg_try_advisory_xact_lock(hashtext($1)) AS got`,
              [`${names.event} prune`]
            )
            if (lock?.got !== true) return
            yield* sql.unsafe(
              `DELETE FROM ${table} WHERE id < COALESCE(
                 (SELECT id FROM ${table} WHERE created_at >= clock_timestamp() - make_interval(secs => $1) ORDER BY id LIMIT 1),
                 (SELECT max(id) + 1 FROM ${table}))`,
              [seconds]
            )
          })
        )
        .pipe(Effect.catchAll((error) => Effect.logWarning("PgConversationEvents: pruning failed", error)))
      yield* prune.pipe(
        Effect.delay(Duration.decode(options.pruneInterval ?? "1 minute")),
        Effect.forever,
        Effect.forkScoped
      )
    }

    // ---- hubs: one per watched conversation in this process
    const initHub = (hub: Hub) =>
      sql
        .unsafe<{
          readonly last: string | number | null
        }>(`SELECT max(id) AS last FROM ${table} WHERE conversation_id = $1`, [hub.conversationId])
        .pipe(
          Effect.retry(retrySchedule),
          Effect.timeout(publishTimeout),
          Effect.match({
            onFailure: (error) => {
              // live from what this process has seen: at worst an event racing this subscribe is missed
              hub.lastSeen = highestSeen
              return Effect.logWarning("PgConversationEvents: could not read a conversation's last event", error)
            },
            onSuccess: ([row]) => {
              hub.lastSeen = row?.last === null || row?.last === undefined ? 0 : Number(row.last)
              return Effect.void
            }
          }),
          Effect.flatten,
          Effect.zipRight(
            Effect.sync(() => {
              hub.ready = true
              if (hub.dirty) want(hub.conversationId)
              hub.dirty = false
            })
          )
        )

    const acquireHub = (conversationId: ConversationId) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          let hub = hubs.get(conversationId)
          if (hub === undefined) {
            hub = {
              conversationId,
              watchers: new Set(),
              subscribers: 0,
              lastSeen: 0,
              ready: false,
              dirty: false,
              init: undefined
            }
            hubs.set(conversationId, hub)
          }
          hub.subscribers++
          return hub
        }),
        (hub) =>
          Effect.suspend(() => {
            hub.subscribers--
            if (hub.subscribers > 0) return Effect.void
            if (hubs.get(conversationId) === hub) hubs.delete(conversationId)
            return Effect.void
          })
      )

    const ready = (hub: Hub): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (hub.ready) return Effect.void
        if (hub.init !== undefined) return Deferred.await(hub.init)
        const init = Deferred.unsafeMake<void>(FiberId.none)
        hub.init = init
        // in a fiber of the service: a subscriber that leaves does not stop the others' wait
        return initHub(hub).pipe(
          Effect.ensuring(Deferred.done(init, Exit.void)),
          Effect.forkIn(serviceScope),
          Effect.zipRight(Deferred.await(init))
        )
      })

    const replay = (conversationId: ConversationId, after: number) =>
      sql
        .unsafe<EventRow>(
          `SELECT id, conversation_id, payload FROM ${table} WHERE conversation_id = $1 AND id > $2 ORDER BY id`,
          [conversationId, after]
        )
        .pipe(
          Effect.retry(retrySchedule),
          Effect.timeout(publishTimeout),
          Effect.tap((rows) => Metric.incrementBy(rowsRead, rows.length)),
          Effect.map((rows) =>
            rows.flatMap((row): Array<ConversationEvents.Published> =>
              isEvent(row.payload) ? [{ id: Number(row.id), event: row.payload }] : []
            )
          ),
          Effect.catchAll((error: SqlError | Cause.TimeoutException) =>
            Effect.logWarning("PgConversationEvents: could not replay missed events", error).pipe(Effect.as([]))
          )
        )

    const watch: ConversationEvents.Service["watch"] = (conversationId, after, watcher) =>
      Effect.gen(function* () {
        const hub = yield* acquireHub(conversationId)
        // what arrives while the hub starts and the missed events are read is held, then given in order
        let held: Array<ConversationEvents.Published> | undefined = []
        // the last id the replay gave: the hub may yet deliver events the replay read from the table
        // before this process heard of them (their notification still on its way), and those are
        // not given twice
        let last = Number.NEGATIVE_INFINITY
        const registered: ConversationEvents.Watcher = (published) => {
          if (held !== undefined) held.push(published)
          else if (published.id < 0 || published.id > last) watcher(published)
        }
        yield* Effect.acquireRelease(
          Effect.sync(() => hub.watchers.add(registered)),
          () => Effect.sync(() => hub.watchers.delete(registered))
        )
        yield* ready(hub)
        // the hub gives each id once, in order, from the moment `registered` was added
        if (after !== undefined) {
          const missed = yield* replay(conversationId, after)
          for (const published of missed) ConversationEvents.deliverTo([watcher], published)
          last = missed.length > 0 ? missed[missed.length - 1]!.id : after
        }
        const kept = held
        held = undefined
        for (const published of kept) {
          if (published.id < 0 || published.id > last) ConversationEvents.deliverTo([watcher], published)
        }
      }).pipe(Effect.withSpan("ConversationEvents.watch"))

    const service: ConversationEvents.Service = {
      publish: (conversationId, event) =>
        Effect.flatMap(Deferred.make<number>(), (done) =>
          Queue.offer(queue, { conversationId, event, json: toJson(event), done }).pipe(
            Effect.zipRight(Deferred.await(done))
          )
        ),
      subscribe: ConversationEvents.subscribeFromWatch(watch),
      watch
    }
    return service
  })

/**
 * The `ConversationEvents` service on PostgreSQL. Needs a `PgClient` and the `convo_event` table
 * (`PgMigrations`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<ConversationEvents.ConversationEvents, never, PgClient.PgClient> =>
  Layer.scoped(ConversationEvents.ConversationEvents, make(options))
