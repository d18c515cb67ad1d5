/**
 * The `ConversationStore` on SQL: one implementation for PostgreSQL and SQLite through
 * `@effect/sql`. It needs only a `SqlClient` (any driver: `@effect/sql-pg`,
 * `@effect/sql-sqlite-node`, ...) and a `MessageCodec`; the tables come from `SqlMigrations`.
 *
 * - Appending a turn is atomic: the conversation row's `last_seq` is advanced by the number of
 *   messages (a row lock on PostgreSQL, the write lock on SQLite) as one multi-row INSERT writes
 *   them all — for a turn without client ids, or one written ahead, one statement: a call of the
 *   append function of migration 0005 on PostgreSQL, an INSERT on SQLite (triggers advance
 *   `last_seq` and take the turn out of the pending table); one transaction otherwise. Racing
 *   appends, from fibers or from other processes, never duplicate or skip a `seq`.
 * - A message's `clientId` is an idempotency key: repeating a turn whose message carries a
 *   stored client id stores nothing and returns the stored rows with `duplicate: true`.
 * - A stored row whose content does not decode is returned as an `Undecodable` entry; it never
 *   fails the read and is never rewritten.
 * - `SqlError` never leaves the store: it becomes `StoreError` with reason `"Unavailable"` and
 *   the `SqlError` as `cause`. Busy (SQLite) and serialization (PostgreSQL) failures of a write
 *   are retried a few times first.
 *
 * On SQLite, the layer turns on `PRAGMA foreign_keys` for the client's connection (so that
 * deleting a conversation row outside the store also removes its messages); `delete` removes the
 * messages itself either way. Queries run without the client's name transforms.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type {
  AcceptResult,
  AppendResult,
  Conversation,
  ConversationId,
  ConversationPage,
  ConversationRef,
  HistoryPage,
  MessageRow,
  PendingTurn,
  Service
} from "./ConversationStore.js"
import { ConversationNotFound, ConversationStore, StoreError } from "./ConversationStore.js"
import * as SqlBulkAppend from "./internal/sqlBulkAppend.js"
import * as Store from "./internal/store.js"
import * as SqlSchema from "./internal/sqlSchema.js"
import { MessageCodec } from "./MessageCodec.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Prefix of the table names; must match the one given to `SqlMigrations`. Default `"convo_"`. */
  readonly prefix?: string | undefined
}

// pg returns int8 and counts as strings, SQLite numbers; pg returns timestamptz as Date, SQLite ISO text.
const Int = Schema.Union(Schema.Number, Schema.NumberFromString)
const Timestamp = Schema.Union(Schema.DateFromSelf, Schema.Date)

const ConversationRow = Schema.Struct({
  id: Int,
  public_id: Schema.String,
  user_id: Schema.NullOr(Schema.String),
  title: Schema.NullOr(Schema.String),
  metadata: Schema.Unknown,
  created_at: Timestamp,
  updated_at: Timestamp
})

const MessageRowSchema = Schema.Struct({
  id: Int,
  conversation_id: Int,
  seq: Int,
  turn_id: Schema.String,
  user_id: Schema.NullOr(Schema.String),
  client_id: Schema.NullOr(Schema.String),
  kind: Schema.String,
  status: Schema.Literal("complete", "aborted", "error", "interrupted"),
  input_tokens: Schema.NullOr(Int),
  output_tokens: Schema.NullOr(Int),
  created_at: Timestamp
})

// History reads map rows by hand: a Schema union per column costs more than the rest of a load.
// A row that does not fit is a defect (we wrote it), as with the Schema decoders.
const badRow = (field: string, u: unknown): never => {
  throw new Error(`convo_message row: unexpected ${field}: ${String(u)}`)
}
const intOf = (field: string, u: unknown): number => {
  const n = typeof u === "number" ? u : typeof u === "string" && /^-?\d+$/.test(u) ? Number(u) : NaN
  return Number.isSafeInteger(n) ? n : badRow(field, u)
}
const intOrNull = (field: string, u: unknown): number | null => (u === null ? null : intOf(field, u))
const textOrNull = (field: string, u: unknown): string | null =>
  u === null || typeof u === "string" ? u : badRow(field, u)
const statusOf = (u: unknown): MessageRow["status"] =>
  u === "complete" || u === "aborted" || u === "error" || u === "interrupted" ? u : badRow("status", u)
const dateOf = (u: unknown): Date => {
  const date =
    u instanceof Date ? u : typeof u === "string" || typeof u === "number" ? new Date(u) : badRow("created_at", u)
  return Number.isNaN(date.getTime()) ? badRow("created_at", u) : date
}
// The rows of a turn share one created_at: on SQLite (ISO text) the last text's time is kept, and
// each row still gets a Date of its own.
const historyRow = (conversationId: ConversationId) => {
  let lastText: unknown
  let lastTime = 0
  const createdAt = (u: unknown): Date => {
    if (typeof u !== "string") return dateOf(u)
    if (u !== lastText) {
      lastTime = dateOf(u).getTime()
      lastText = u
    }
    return new Date(lastTime)
  }
  // The row as an array in `historyColumns`' order: a driver builds an array per row for less than
  // an object of eleven named fields (better-sqlite3's raw mode, pg's array row mode).
  return (r: ReadonlyArray<unknown>): { readonly row: MessageRow; readonly raw: string } => {
    const kind = r[5]
    const content = r[10]
    return {
      row: {
        id: intOf("id", r[0]),
        conversationId,
        seq: intOf("seq", r[1]),
        turnId: typeof r[2] === "string" ? r[2] : badRow("turn_id", r[2]),
        userId: textOrNull("user_id", r[3]),
        clientId: textOrNull("client_id", r[4]),
        kind: typeof kind === "string" && kinds.has(kind) ? (kind as MessageRow["kind"]) : "unknown",
        status: statusOf(r[6]),
        inputTokens: intOrNull("input_tokens", r[7]),
        outputTokens: intOrNull("output_tokens", r[8]),
        createdAt: createdAt(r[9])
      },
      raw: typeof content === "string" ? content : badRow("content", content)
    }
  }
}
const TurnIdRow = Schema.Struct({ turn_id: Schema.String })

const decodeConversations = Schema.decodeUnknown(Schema.Array(ConversationRow))
const decodeMessages = Schema.decodeUnknown(Schema.Array(MessageRowSchema))
const decodeTurnIds = Schema.decodeUnknown(Schema.Array(TurnIdRow))

const kinds: ReadonlySet<string> = new Set(["human", "ai", "system", "tool", "function", "data", "unknown"])

const toConversation = (row: typeof ConversationRow.Type): Conversation => ({
  id: row.id,
  publicId: row.public_id,
  userId: row.user_id,
  title: row.title,
  metadata: Store.parseMetadata(row.metadata),
  createdAt: row.created_at,
  updatedAt: row.updated_at
})

const toMessageRow = (row: typeof MessageRowSchema.Type): MessageRow => ({
  id: row.id,
  conversationId: row.conversation_id,
  seq: row.seq,
  turnId: row.turn_id,
  userId: row.user_id,
  clientId: row.client_id,
  kind: kinds.has(row.kind) ? (row.kind as MessageRow["kind"]) : "unknown",
  status: row.status,
  inputTokens: row.input_tokens,
  outputTokens: row.output_tokens,
  createdAt: row.created_at
})

/** The stored turn already holds one of the turn's client ids: roll back and report it. */
class DuplicateTurn extends Data.TaggedError("DuplicateTurn")<{ readonly turnId: string }> {}

// SQLite: the database is locked by another connection; PostgreSQL: serialization failure, deadlock.
const retryableCodes: ReadonlySet<string> = new Set([
  "SQLITE_BUSY",
  "SQLITE_BUSY_SNAPSHOT",
  "SQLITE_BUSY_RECOVERY",
  "SQLITE_LOCKED",
  "40001",
  "40P01"
])

const isRetryable = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null || (error as { _tag?: unknown })._tag !== "SqlError") return false
  const cause = (error as SqlError).cause
  const code = typeof cause === "object" && cause !== null ? (cause as { code?: unknown }).code : undefined
  return typeof code === "string" && retryableCodes.has(code)
}

const retrySchedule = Schedule.exponential("5 millis").pipe(
  Schedule.union(Schedule.spaced("200 millis")),
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(30))
)

// A message's fields as the append statements of both dialects take them, in their placeholders' order.
const pushFields = (params: Array<unknown>, message: Store.EncodedMessage): void => {
  params.push(
    message.kind,
    message.status,
    message.content,
    message.inputTokens,
    message.outputTokens,
    message.clientId
  )
}

// Effect.fn captures a stack trace (a new Error) on every call, a measurable part of an append's CPU;
// the store's spans carry their names and attributes without one.
const span =
  (name: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withSpan(effect, name, { captureStackTrace: false })

// A write is retried on a busy or serialization failure: the first retry right away, the rest on the
// schedule, whose driver (which Effect.retry builds on every run, failing or not) only a failure builds.
const retrying = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.catchIf(effect, isRetryable, () => Effect.retry(effect, { while: isRetryable, schedule: retrySchedule }))

// PostgreSQL refuses a content text that is not JSON with invalid_text_representation (22P02): the
// codec wrote something no retry will fix, so it is an Encode failure, not an unreachable store.
const unavailable =
  (operation: string) =>
  (cause: SqlError): StoreError =>
    new StoreError({
      reason: (cause.cause as { code?: unknown } | undefined)?.code === "22P02" ? "Encode" : "Unavailable",
      operation,
      detail: cause.message,
      cause
    })

/** What a one-statement append returns per row (`created_at`: epoch ms on PostgreSQL, ISO text on SQLite). */
type AppendedRow = { readonly id: string | number; readonly seq: number; readonly created_at: number | string }

// The rows of an append: everything but the id and the time is what was just written.
const appended = (
  prepared: Store.PreparedTurn,
  conversationId: ConversationId,
  first: number,
  inserted: ReadonlyArray<{ readonly [column: string]: unknown }>
): AppendResult => {
  const bySeq = new Map(inserted.map((row) => [intOf("seq", row.seq), row]))
  return {
    turnId: prepared.turnId,
    rows: prepared.messages.map((message, i): MessageRow => {
      const row = bySeq.get(first + i) ?? badRow("seq", first + i)
      return {
        id: intOf("id", row.id),
        conversationId,
        seq: first + i,
        turnId: prepared.turnId,
        userId: prepared.userId,
        clientId: message.clientId,
        kind: message.kind,
        status: message.status,
        inputTokens: message.inputTokens,
        outputTokens: message.outputTokens,
        createdAt: dateOf(row.created_at)
      }
    }),
    duplicate: false
  }
}

/**
 * Builds the store on the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Service, never, SqlClient.SqlClient | MessageCodec> =>
  Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const codec = yield* MessageCodec
    const names = SqlSchema.tableNames(options?.prefix)
    const conversations = sql(names.conversation)
    const messages = sql(names.message)
    const pendingTurns = sql(names.pendingTurn)

    yield* sql.onDialectOrElse({
      sqlite: () => sql`PRAGMA foreign_keys = ON`.pipe(Effect.ignore),
      orElse: () => Effect.void
    })

    const now = sql.onDialectOrElse({
      pg: () => sql.literal("now()"),
      orElse: () => sql.literal(SqlSchema.sqliteNow)
    })
    const isPg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    const conversationColumns = sql.literal("id, public_id, user_id, title, metadata, created_at, updated_at")
    const messageColumns = sql.literal(
      "id, conversation_id, seq, turn_id, user_id, client_id, kind, status, input_tokens, output_tokens, created_at"
    )
    // History reads: the conversation id is known, and pg's text-to-Date parse of a timestamptz costs
    // more per row than the rest of the row's columns; milliseconds since the epoch (what a Date
    // holds) come as a float8, which pg reads with parseFloat. historyRow reads them by position.
    const historyColumns = sql.literal(
      `id, seq, turn_id, user_id, client_id, kind, status, input_tokens, output_tokens, ${
        isPg
          ? "floor(extract(epoch FROM created_at) * 1000)::float8 AS created_at, content::text AS content"
          : "created_at, content"
      }`
    )

    // Rows we wrote ourselves that do not decode are a defect, not a typed error.
    const rows =
      <A>(decode: (u: unknown) => Effect.Effect<A, unknown>) =>
      (statement: Effect.Effect<ReadonlyArray<unknown>, SqlError>) =>
        Effect.flatMap(statement, (result) => Effect.orDie(decode(result)))

    const exists = (id: ConversationId) =>
      Effect.map(sql`SELECT id FROM ${conversations} WHERE id = ${id}`, (result) => result.length > 0)

    const create = Effect.fnUntraced(function* (input: Parameters<Service["create"]>[0]) {
      const valid = yield* Store.validateNewConversation(input)
      // ON CONFLICT: a public id already taken inserts nothing (and is no failed statement).
      const [row] = yield* sql`INSERT INTO ${conversations} ${sql.insert({
        public_id: valid.publicId,
        user_id: valid.userId,
        title: valid.title,
        metadata: valid.metadataJson
      })} ON CONFLICT (public_id) DO NOTHING RETURNING ${conversationColumns}`.pipe(
        rows(decodeConversations),
        retrying,
        Effect.mapError(unavailable("create"))
      )
      if (row === undefined) return yield* Store.publicIdTaken(valid.publicId)
      return toConversation(row)
    }, span("ConversationStore.create"))

    const get = Effect.fnUntraced(function* (ref: ConversationRef) {
      const id = yield* Store.checkRef("get", ref)
      const key = typeof id === "number" ? sql`id = ${id}` : sql`public_id = ${id}`
      const [row] = yield* sql`SELECT ${conversationColumns} FROM ${conversations} WHERE ${key}`.pipe(
        rows(decodeConversations),
        Effect.mapError(unavailable("get"))
      )
      if (row === undefined) return yield* new ConversationNotFound({ conversationId: id })
      return toConversation(row)
    }, span("ConversationStore.get"))

    const list = Effect.fnUntraced(function* (query: Parameters<Service["list"]>[0]) {
      const valid = yield* Store.validateListQuery(query)
      const filters = [
        valid.userId === null ? sql`user_id IS NULL` : sql`user_id = ${valid.userId}`,
        ...(valid.before === undefined ? [] : [sql`id < ${valid.before}`])
      ]
      const limit = valid.limit === undefined ? sql.literal("") : sql`LIMIT ${valid.limit + 1}`
      const found = yield* sql`SELECT ${conversationColumns} FROM ${conversations} WHERE ${sql.and(
        filters
      )} ORDER BY id DESC ${limit}`.pipe(rows(decodeConversations), Effect.mapError(unavailable("list")))
      const hasMore = valid.limit !== undefined && found.length > valid.limit
      const page: ConversationPage = {
        conversations: (hasMore ? found.slice(0, valid.limit) : found).map(toConversation),
        hasMore
      }
      return page
    }, span("ConversationStore.list"))

    const q = SqlSchema.quoteIdentifier
    // PostgreSQL's write functions (migration 0005), called with the arguments in their order
    // (a message's fields as parameters of their own: `pg` would escape each element of an array
    // parameter; the time as milliseconds, as history reads it: cheaper for pg to read than a timestamptz)
    const appendCalls: Array<string> = []
    const appendCall = (count: number): string => {
      const field = (at: number, type: string) =>
        `ARRAY[${Array.from({ length: count }, (_, i) => `$${5 + i * 6 + at}`).join(", ")}]::${type}[]`
      return (appendCalls[count] ??=
        `SELECT id, seq, floor(extract(epoch FROM created_at) * 1000)::float8 AS created_at FROM ${q(names.appendFunction)}($1, $2, $3, $4, ${[
          field(0, "text"),
          field(1, "text"),
          field(2, "text"),
          field(3, "int"),
          field(4, "int"),
          field(5, "text")
        ].join(", ")})`)
    }
    const acceptCall = `SELECT ${q(names.acceptFunction)}($1, $2, $3, $4, $5, $6::jsonb, $7) AS created_at`
    // SQLite's accept, as text built once (a statement template is compiled again on every call); in
    // the order of the placeholders: the row, the conversation, the turn id, the client id, the queue.
    // Two lookups, one per unique index: with an OR, SQLite reads every message of the conversation.
    const sqliteAcceptWith = (clientCheck: string) =>
      `INSERT INTO ${q(names.pendingTurn)} (conversation_id, turn_id, user_id, client_id, owner, content) SELECT ?, ?, ?, ?, ?, ? ` +
      `WHERE EXISTS (SELECT 1 FROM ${q(names.conversation)} WHERE id = ?) ` +
      `AND NOT EXISTS (SELECT 1 FROM ${q(names.message)} WHERE conversation_id = ? AND turn_id = ?)${clientCheck} ` +
      `AND (SELECT count(*) FROM ${q(names.pendingTurn)} WHERE conversation_id = ?) < ? ON CONFLICT DO NOTHING RETURNING created_at`
    const sqliteAccept = {
      withoutClientId: sqliteAcceptWith(""),
      withClientId: sqliteAcceptWith(
        ` AND NOT EXISTS (SELECT 1 FROM ${q(names.message)} WHERE conversation_id = ? AND client_id = ?)`
      )
    }

    const storedTurn = (conversationId: ConversationId, turnId: string) =>
      sql`SELECT ${messageColumns} FROM ${messages} WHERE conversation_id = ${conversationId} AND turn_id = ${turnId} ORDER BY seq`.pipe(
        rows(decodeMessages),
        Effect.map((found): AppendResult => ({ turnId, rows: found.map(toMessageRow), duplicate: true }))
      )

    const findClientIds = (conversationId: ConversationId, clientIds: ReadonlyArray<string>) =>
      sql`SELECT turn_id FROM ${messages} WHERE conversation_id = ${conversationId} AND ${sql.in(
        "client_id",
        clientIds
      )} ORDER BY seq LIMIT 1`.pipe(
        rows(decodeTurnIds),
        Effect.map((found) => found[0]?.turn_id)
      )

    const append = Effect.fnUntraced(function* (turn: Parameters<Service["append"]>[0]) {
      const prepared = yield* Store.prepareTurn(codec, turn)
      const refusal = isPg
        ? Store.jsonbRefusal("append", prepared.messages, (i) => `message ${i + 1} of ${prepared.messages.length}`)
        : undefined
      if (refusal !== undefined) return yield* refusal
      const { clientIds, conversationId } = prepared
      const count = prepared.messages.length
      // On SQLite a trigger advances last_seq as the rows go in (migration 0004): the UPDATE only
      // takes the write lock and reads it.
      const bump = isPg ? count : 0
      const write = Effect.gen(function* () {
        // Takes the row lock (pg) / write lock (SQLite) that serializes appends to this conversation.
        const [bumpedRow] =
          yield* sql`UPDATE ${conversations} SET last_seq = last_seq + ${bump}, updated_at = ${now} WHERE id = ${conversationId} RETURNING last_seq`
        if (bumpedRow === undefined) return yield* new ConversationNotFound({ conversationId })
        const bumped = { last_seq: intOf("last_seq", bumpedRow.last_seq) + count - bump }
        let wasPending = false
        if (turn.turnId !== undefined) {
          // a turn written ahead leaves the pending table as it enters the history; a turn already
          // in the history (appended, or recovered by another process) is a repeat
          const deleted =
            yield* sql`DELETE FROM ${pendingTurns} WHERE conversation_id = ${conversationId} AND turn_id = ${prepared.turnId} RETURNING id`
          wasPending = deleted.length > 0
          if (!wasPending) {
            const stored =
              yield* sql`SELECT 1 AS found FROM ${messages} WHERE conversation_id = ${conversationId} AND turn_id = ${prepared.turnId} LIMIT 1`
            if (stored.length > 0) return yield* new DuplicateTurn({ turnId: prepared.turnId })
          }
        }
        // A pending turn's client id was new when it was accepted, and no other turn can be accepted
        // with it meanwhile; a plain append that stored it since trips the unique index (below).
        if (clientIds.length > 0 && !wasPending) {
          const turnId = yield* findClientIds(conversationId, clientIds)
          if (turnId !== undefined) return yield* new DuplicateTurn({ turnId })
        }
        const first = bumped.last_seq - count + 1
        const inserted = yield* sql`INSERT INTO ${messages} ${sql.insert(
          prepared.messages.map((message, i) => ({
            conversation_id: conversationId,
            seq: first + i,
            turn_id: prepared.turnId,
            user_id: prepared.userId,
            client_id: message.clientId,
            kind: message.kind,
            status: message.status,
            content: message.content,
            input_tokens: message.inputTokens,
            output_tokens: message.outputTokens
          }))
        )} RETURNING id, seq, created_at`
        return appended(prepared, conversationId, first, inserted)
      })
      const writtenAhead = turn.turnId !== undefined
      // PostgreSQL: one call of the append function (migration 0005: its statements are planned once
      // per connection), its own transaction, one round trip, for the two common cases — a turn
      // without client ids and without a turn id, and a turn written ahead (its pending row is deleted
      // in the same call, and only when it was there are the rows written). The function's UPDATE
      // takes the conversation's row lock, so racing appends still serialize. Anything else (a turn
      // id not pending, a client id already stored) falls through to the transaction below.
      // SQLite: the same two cases are one INSERT, atomic on its own: the seqs are read from the
      // conversation row in the same statement (SQLite runs the SELECT to its end before the first row
      // goes in, as it does for any INSERT ... SELECT into a table with row triggers), the triggers of
      // migration 0004 advance last_seq and refuse a row of the turn that skips a seq, and the trigger
      // of migration 0005 takes a turn written ahead out of the pending table; such a turn is written
      // only when it is pending, as on PostgreSQL.
      if (writtenAhead || clientIds.length === 0) {
        let statement: Effect.Effect<ReadonlyArray<AppendedRow>, SqlError>
        if (isPg) {
          const params: Array<unknown> = [conversationId, prepared.turnId, prepared.userId, writtenAhead]
          for (const message of prepared.messages) pushFields(params, message)
          statement = sql.unsafe<AppendedRow>(appendCall(count), params)
        } else {
          // in the order of the placeholders: the SELECT list's, the VALUES', the WHERE's
          const params: Array<unknown> = [prepared.turnId, prepared.userId]
          const values = prepared.messages.map((message, i) => {
            params.push(i + 1)
            pushFields(params, message)
            return "(?, ?, ?, ?, ?, ?, ?)"
          })
          params.push(conversationId)
          if (writtenAhead) params.push(prepared.turnId)
          const onlyIfPending = writtenAhead
            ? ` AND EXISTS (SELECT 1 FROM ${q(names.pendingTurn)} WHERE conversation_id = c.id AND turn_id = ?)`
            : ""
          statement = sql.unsafe<AppendedRow>(
            `INSERT INTO ${q(names.message)} (conversation_id, seq, turn_id, user_id, client_id, kind, status, content, input_tokens, output_tokens) ` +
              `SELECT c.id, c.last_seq + v.column1, ?, ?, v.column7, v.column2, v.column3, v.column4, v.column5, v.column6 ` +
              `FROM (VALUES ${values.join(", ")}) AS v, ${q(names.conversation)} AS c WHERE c.id = ?${onlyIfPending} ORDER BY v.column1 ` +
              `RETURNING id, seq, created_at`,
            params
          )
        }
        const inserted = yield* statement.pipe(
          retrying,
          // a client id stored meanwhile: the transaction below sorts it out
          Effect.catchIf(
            (error) =>
              writtenAhead &&
              (error.cause as { code?: unknown } | undefined)?.code === (isPg ? "23505" : "SQLITE_CONSTRAINT_UNIQUE"),
            () => Effect.succeed([])
          ),
          Effect.mapError(unavailable("append"))
        )
        if (inserted.length > 0) {
          const first = Math.min(...inserted.map((row) => intOf("seq", row.seq)))
          return appended(prepared, conversationId, first, inserted)
        }
        if (!writtenAhead) return yield* new ConversationNotFound({ conversationId })
      }
      return yield* sql.withTransaction(write).pipe(
        retrying,
        Effect.catchTags({
          DuplicateTurn: (duplicate) => storedTurn(conversationId, duplicate.turnId),
          // The unique constraint on (conversation_id, client_id) is the backstop: a violation means
          // another writer stored the client id first, which is a duplicate, not an error.
          SqlError: (error) =>
            clientIds.length === 0
              ? Effect.fail(error)
              : Effect.flatMap(findClientIds(conversationId, clientIds), (turnId) =>
                  turnId === undefined ? Effect.fail(error) : storedTurn(conversationId, turnId)
                )
        }),
        Effect.mapError((error) => (error._tag === "SqlError" ? unavailable("append")(error) : error))
      )
    }, span("ConversationStore.append"))

    const accept = Effect.fnUntraced(function* (turn: Parameters<Service["accept"]>[0]) {
      const prepared = yield* Store.preparePending(codec, turn)
      if (isPg) {
        const problem = Store.jsonbProblem(prepared.content)
        if (problem !== undefined) {
          return yield* new StoreError({ reason: "Encode", operation: "accept", detail: problem })
        }
      }
      const { clientId, conversationId, turnId } = prepared
      // one statement: written only if the conversation exists, the turn and client ids are new and
      // the queue has room (on PostgreSQL the accept function of migration 0005, planned once per connection)
      // the pending row's fields lead both dialects' parameters
      const row = [conversationId, turnId, prepared.userId, clientId, prepared.owner, prepared.content]
      const inserted = yield* (
        isPg
          ? sql.unsafe<{ created_at: unknown }>(acceptCall, [...row, prepared.maxPending])
          : sql.unsafe<{ created_at: unknown }>(
              clientId === null ? sqliteAccept.withoutClientId : sqliteAccept.withClientId,
              [
                ...row,
                conversationId,
                conversationId,
                turnId,
                // the client id's lookup, only in the statement that has it
                ...(clientId === null ? [] : [conversationId, clientId]),
                conversationId,
                prepared.maxPending
              ]
            )
      ).pipe(retrying, Effect.mapError(unavailable("accept")))
      const acceptedAt = inserted[0]?.created_at
      if (acceptedAt !== undefined && acceptedAt !== null) {
        const accepted: AcceptResult = { _tag: "Accepted", turnId, acceptedAt: dateOf(acceptedAt) }
        return accepted
      }
      // not written: say why (rare, so a second look is fine)
      const why = yield* Effect.gen(function* () {
        if (!(yield* exists(conversationId))) return yield* new ConversationNotFound({ conversationId })
        const byClient =
          clientId === null
            ? []
            : yield* sql`SELECT turn_id FROM ${pendingTurns} WHERE conversation_id = ${conversationId} AND client_id = ${clientId}
UNION ALL SELECT turn_id FROM ${messages} WHERE conversation_id = ${conversationId} AND client_id = ${clientId}`
        if (byClient.length > 0) {
          return { _tag: "Duplicate", turnId: String(byClient[0]!.turn_id) } satisfies AcceptResult
        }
        const [count] = yield* sql`SELECT count(*) AS n FROM ${pendingTurns} WHERE conversation_id = ${conversationId}`
        const waiting = intOf("count", count?.n ?? 0)
        if (waiting >= prepared.maxPending) return { _tag: "Busy", pending: waiting } satisfies AcceptResult
        return { _tag: "Duplicate", turnId } satisfies AcceptResult
      }).pipe(Effect.mapError((error) => (error._tag === "SqlError" ? unavailable("accept")(error) : error)))
      const result: AcceptResult = why
      return result
    }, span("ConversationStore.accept"))

    const checkpoint = Effect.fnUntraced(function* (
      conversationId: ConversationId,
      turnId: string,
      draft: ReadonlyArray<unknown>
    ) {
      yield* Store.checkId("checkpoint", conversationId)
      const encoded = yield* Store.encodeDraft(codec, draft)
      const updated =
        yield* sql`UPDATE ${pendingTurns} SET draft = ${encoded}, checkpointed_at = ${now} WHERE conversation_id = ${conversationId} AND turn_id = ${turnId} RETURNING id`.pipe(
          retrying,
          Effect.mapError(unavailable("checkpoint"))
        )
      return updated.length > 0
    }, span("ConversationStore.checkpoint"))

    const release = Effect.fnUntraced(function* (conversationId: ConversationId, turnId: string) {
      yield* Store.checkId("release", conversationId)
      yield* sql`DELETE FROM ${pendingTurns} WHERE conversation_id = ${conversationId} AND turn_id = ${turnId}`.pipe(
        retrying,
        Effect.mapError(unavailable("release"))
      )
    }, span("ConversationStore.release"))

    const pending = Effect.fnUntraced(function* (conversationId?: ConversationId) {
      if (conversationId !== undefined) yield* Store.checkId("pending", conversationId)
      const where = conversationId === undefined ? sql.literal("") : sql`WHERE conversation_id = ${conversationId}`
      const pendingContent = isPg ? sql.literal("content::text AS content") : sql.literal("content")
      const found =
        yield* sql`SELECT conversation_id, turn_id, user_id, client_id, owner, ${pendingContent}, draft, checkpointed_at, created_at FROM ${pendingTurns} ${where} ORDER BY id`.pipe(
          Effect.mapError(unavailable("pending"))
        )
      return found.map((r): PendingTurn => {
        const decoded = Store.decodePending(
          codec,
          typeof r.content === "string" ? r.content : badRow("content", r.content),
          textOrNull("draft", r.draft)
        )
        return {
          conversationId: intOf("conversation_id", r.conversation_id),
          turnId: typeof r.turn_id === "string" ? r.turn_id : badRow("turn_id", r.turn_id),
          userId: textOrNull("user_id", r.user_id),
          clientId: textOrNull("client_id", r.client_id),
          owner: typeof r.owner === "string" ? r.owner : badRow("owner", r.owner),
          acceptedAt: dateOf(r.created_at),
          checkpointedAt: r.checkpointed_at === null ? null : dateOf(r.checkpointed_at),
          human: decoded.human,
          draft: decoded.draft
        }
      })
    }, span("ConversationStore.pending"))

    const history = Effect.fnUntraced(function* (id: ConversationId, query?: Parameters<Service["history"]>[1]) {
      yield* Store.checkId("history", id)
      const valid = yield* Store.validateHistoryQuery(query)
      const filters = [
        sql`conversation_id = ${id}`,
        ...(valid.userId === undefined
          ? []
          : [valid.userId === null ? sql`user_id IS NULL` : sql`user_id = ${valid.userId}`]),
        ...(valid.before === undefined ? [] : [sql`seq < ${valid.before}`]),
        ...(valid.after === undefined ? [] : [sql`seq > ${valid.after}`])
      ]
      // Without `after` and with a limit, read the newest rows first and turn them around.
      const newestFirst = valid.after === undefined && valid.limit !== undefined
      const order = sql.literal(newestFirst ? "ORDER BY seq DESC" : "ORDER BY seq ASC")
      const limit = valid.limit === undefined ? sql.literal("") : sql`LIMIT ${valid.limit + 1}`
      const found = yield* sql`SELECT ${historyColumns} FROM ${messages} WHERE ${sql.and(
        filters
      )} ${order} ${limit}`.values.pipe(Effect.mapError(unavailable("history")))
      if (found.length === 0 && !(yield* exists(id).pipe(Effect.mapError(unavailable("history"))))) {
        return yield* new ConversationNotFound({ conversationId: id })
      }
      const hasMore = valid.limit !== undefined && found.length > valid.limit
      const kept = hasMore ? found.slice(0, valid.limit) : found
      const page = newestFirst ? [...kept].reverse() : kept
      const entries = yield* Store.decodeEntriesWith(codec, page, historyRow(id))
      const result: HistoryPage = { entries, hasMore }
      return result
    }, span("ConversationStore.history"))

    const clear = Effect.fnUntraced(function* (id: ConversationId, options?: Parameters<Service["clear"]>[1]) {
      const userId = options?.userId
      yield* Store.checkId("clear", id)
      yield* sql
        .withTransaction(
          Effect.gen(function* () {
            // Locks the conversation row like an append does, so a clear never interleaves with one.
            const touched = yield* sql`UPDATE ${conversations} SET updated_at = ${now} WHERE id = ${id} RETURNING id`
            if (touched.length === 0) return yield* new ConversationNotFound({ conversationId: id })
            yield* userId === undefined
              ? sql`DELETE FROM ${messages} WHERE conversation_id = ${id}`
              : userId === null
                ? sql`DELETE FROM ${messages} WHERE conversation_id = ${id} AND user_id IS NULL`
                : sql`DELETE FROM ${messages} WHERE conversation_id = ${id} AND user_id = ${userId}`
          })
        )
        .pipe(
          retrying,
          Effect.mapError((error) => (error._tag === "SqlError" ? unavailable("clear")(error) : error))
        )
    }, span("ConversationStore.clear"))

    const remove = Effect.fnUntraced(function* (id: ConversationId) {
      yield* Store.checkId("delete", id)
      yield* sql
        .withTransaction(
          Effect.gen(function* () {
            const deleted = yield* sql`DELETE FROM ${conversations} WHERE id = ${id} RETURNING id`
            if (deleted.length === 0) return yield* new ConversationNotFound({ conversationId: id })
            // The foreign key cascades on PostgreSQL (and on SQLite with foreign_keys on); this
            // statement makes the result the same on a SQLite connection without it.
            yield* sql`DELETE FROM ${messages} WHERE conversation_id = ${id}`
          })
        )
        .pipe(
          retrying,
          Effect.mapError((error) => (error._tag === "SqlError" ? unavailable("delete")(error) : error))
        )
    }, span("ConversationStore.delete"))

    const updateMetadata = Effect.fnUntraced(function* (id: ConversationId, patch: Readonly<Record<string, unknown>>) {
      yield* Store.checkId("updateMetadata", id)
      const forUpdate = sql.literal(isPg ? "FOR UPDATE" : "")
      return yield* sql
        .withTransaction(
          Effect.gen(function* () {
            const [row] =
              yield* sql`SELECT ${conversationColumns} FROM ${conversations} WHERE id = ${id} ${forUpdate}`.pipe(
                rows(decodeConversations)
              )
            if (row === undefined) return yield* new ConversationNotFound({ conversationId: id })
            const merged = yield* Store.mergeMetadata("updateMetadata", toConversation(row).metadata, patch)
            const [updated] =
              yield* sql`UPDATE ${conversations} SET metadata = ${merged.metadataJson}, updated_at = ${now} WHERE id = ${id} RETURNING ${conversationColumns}`.pipe(
                rows(decodeConversations)
              )
            return toConversation(updated!)
          })
        )
        .pipe(
          retrying,
          Effect.mapError((error) => (error._tag === "SqlError" ? unavailable("updateMetadata")(error) : error))
        )
    }, span("ConversationStore.updateMetadata"))

    const service: Service = {
      create,
      get,
      list,
      append,
      bulkAppend: SqlBulkAppend.make({ sql, codec, names, isPg }),
      accept,
      checkpoint,
      release,
      pending,
      history,
      clear,
      delete: remove,
      updateMetadata
    }
    return service
  })

/**
 * The SQL store as a layer. Needs a `SqlClient` (PostgreSQL or SQLite) whose database has the
 * tables of `SqlMigrations` with the same prefix, and a `MessageCodec`.
 *
 * @example
 * ```ts
 * import * as SqlConversationStore from "@convo/core/SqlConversationStore"
 *
 * const StoreLive = SqlConversationStore.layer({ prefix: "convo_" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<ConversationStore, never, SqlClient.SqlClient | MessageCodec> =>
  Layer.effect(ConversationStore, make(options))
