/**
 * `ConversationStore.bulkAppend` on SQL: many turns in one transaction. Per conversation (in the
 * order the turns name them) the conversation row is locked once, the turn ids and client ids the
 * batch carries are looked up in a few `IN` queries, `last_seq` is advanced once, and the rows go
 * in with multi-row INSERTs of up to `insertChunk` rows — so an import costs a handful of
 * statements per conversation, not a transaction per turn. Each turn keeps its own `turn_id` and
 * its rows stay contiguous; a turn already stored (by turn id or client id, in the database or
 * earlier in the batch) stores nothing and is reported as a duplicate, as `append` reports it.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { AppendResult, ConversationId, MessageRow, NewTurn } from "../ConversationStore.js"
import { ConversationNotFound, StoreError } from "../ConversationStore.js"
import type * as MessageCodec from "../MessageCodec.js"
import type { TableNames } from "./sqlSchema.js"
import * as Store from "./store.js"

/** Rows per INSERT and values per `IN` list (10 parameters a row stays far below SQLite's and PostgreSQL's limits). */
const insertChunk = 500

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const intOf = (u: unknown): number => {
  const n = typeof u === "number" ? u : typeof u === "string" && /^-?\d+$/.test(u) ? Number(u) : NaN
  if (!Number.isSafeInteger(n)) throw new Error(`convo_message row: unexpected integer: ${String(u)}`)
  return n
}
const dateOf = (u: unknown): Date => (u instanceof Date ? u : new Date(String(u)))
const textOrNull = (u: unknown): string | null => (typeof u === "string" ? u : null)

const codeOf = (error: unknown): unknown => {
  const cause = (error as { cause?: unknown }).cause
  return typeof cause === "object" && cause !== null ? (cause as { code?: unknown }).code : undefined
}

// Busy / serialization failures, and a unique key a concurrent writer took first (the retry sees its rows and reports duplicates).
const retryable: ReadonlySet<string> = new Set([
  "SQLITE_BUSY",
  "SQLITE_BUSY_SNAPSHOT",
  "SQLITE_LOCKED",
  "SQLITE_CONSTRAINT_UNIQUE",
  "40001",
  "40P01",
  "23505"
])
const isRetryable = (error: unknown): boolean =>
  (error as { _tag?: unknown })._tag === "SqlError" && retryable.has(String(codeOf(error)))

const retrySchedule = Schedule.exponential("5 millis").pipe(
  Schedule.union(Schedule.spaced("200 millis")),
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(30))
)

interface Item {
  readonly index: number
  readonly turn: Store.PreparedTurn
  readonly writtenAhead: boolean
}

/** @internal */
export interface BulkEnv {
  readonly sql: SqlClient.SqlClient
  readonly codec: MessageCodec.Service
  readonly names: TableNames
  readonly isPg: boolean
}

/** @internal */
export const make =
  (env: BulkEnv) =>
  (turns: ReadonlyArray<NewTurn>): Effect.Effect<ReadonlyArray<AppendResult>, ConversationNotFound | StoreError> =>
    Effect.gen(function* () {
      const { isPg, names, sql } = env
      const prepared = yield* Store.prepareTurns(env.codec, turns)
      if (isPg) {
        for (const [t, turn] of prepared.entries()) {
          const refusal = Store.jsonbRefusal(
            "bulkAppend",
            turn.messages,
            (i) => `turn ${t + 1} of ${prepared.length}, message ${i + 1}`
          )
          if (refusal !== undefined) return yield* refusal
        }
      }
      const byConversation = new Map<ConversationId, Array<Item>>()
      prepared.forEach((turn, index) => {
        const items = byConversation.get(turn.conversationId) ?? []
        items.push({ index, turn, writtenAhead: turns[index]!.turnId !== undefined })
        byConversation.set(turn.conversationId, items)
      })
      const conversations = sql(names.conversation)
      const messages = sql(names.message)
      const pendingTurns = sql(names.pendingTurn)
      const now = isPg ? sql.literal("now()") : sql.literal("strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
      const columns = sql.literal(
        "id, conversation_id, seq, turn_id, user_id, client_id, kind, status, input_tokens, output_tokens, created_at"
      )

      const storedRows = (conversationId: ConversationId, turnIds: ReadonlyArray<string>) =>
        Effect.map(
          Effect.forEach(
            chunks(turnIds, insertChunk),
            (some) =>
              sql`SELECT ${columns} FROM ${messages} WHERE conversation_id = ${conversationId} AND ${sql.in("turn_id", some)} ORDER BY seq`
          ),
          (found) =>
            found.flat().map((r): MessageRow => ({
              id: intOf(r.id),
              conversationId,
              seq: intOf(r.seq),
              turnId: String(r.turn_id),
              userId: textOrNull(r.user_id),
              clientId: textOrNull(r.client_id),
              kind: r.kind as MessageRow["kind"],
              status: r.status as MessageRow["status"],
              inputTokens: r.input_tokens === null ? null : intOf(r.input_tokens),
              outputTokens: r.output_tokens === null ? null : intOf(r.output_tokens),
              createdAt: dateOf(r.created_at)
            }))
        )

      const one = (conversationId: ConversationId, items: ReadonlyArray<Item>, results: Array<AppendResult>) =>
        Effect.gen(function* () {
          // Takes the row lock (pg) / write lock (SQLite) that serializes appends to this conversation.
          const [locked] =
            yield* sql`UPDATE ${conversations} SET updated_at = ${now} WHERE id = ${conversationId} RETURNING last_seq`
          if (locked === undefined) return yield* new ConversationNotFound({ conversationId })
          let lastSeq = intOf(locked.last_seq)
          const aheadIds = items.filter((item) => item.writtenAhead).map((item) => item.turn.turnId)
          const clientIds = items.flatMap((item) => item.turn.clientIds)
          const wasPending = new Set<string>()
          const storedTurns = new Set<string>()
          const storedClients = new Map<string, string>()
          for (const some of chunks(aheadIds, insertChunk)) {
            const gone =
              yield* sql`DELETE FROM ${pendingTurns} WHERE conversation_id = ${conversationId} AND ${sql.in("turn_id", some)} RETURNING turn_id`
            for (const row of gone) wasPending.add(String(row.turn_id))
            const stored =
              yield* sql`SELECT DISTINCT turn_id FROM ${messages} WHERE conversation_id = ${conversationId} AND ${sql.in("turn_id", some)}`
            for (const row of stored) storedTurns.add(String(row.turn_id))
          }
          for (const some of chunks(clientIds, insertChunk)) {
            const stored =
              yield* sql`SELECT client_id, turn_id FROM ${messages} WHERE conversation_id = ${conversationId} AND ${sql.in("client_id", some)}`
            for (const row of stored) storedClients.set(String(row.client_id), String(row.turn_id))
          }
          const batchTurns = new Map<string, number>()
          const batchClients = new Map<string, number>()
          const duplicateOfStored = new Map<number, string>()
          const rows: Array<Record<string, unknown>> = []
          const firstSeq = new Map<number, number>()
          for (const item of items) {
            const { turn } = item
            const sameTurn = item.writtenAhead && !wasPending.has(turn.turnId) ? batchTurns.get(turn.turnId) : undefined
            if (sameTurn !== undefined) {
              results[item.index] = { ...results[sameTurn]!, duplicate: true }
              continue
            }
            if (item.writtenAhead && !wasPending.has(turn.turnId) && storedTurns.has(turn.turnId)) {
              duplicateOfStored.set(item.index, turn.turnId)
              continue
            }
            const storedClient = turn.clientIds.map((id) => storedClients.get(id)).find((id) => id !== undefined)
            if (storedClient !== undefined) {
              duplicateOfStored.set(item.index, storedClient)
              continue
            }
            const batchClient = turn.clientIds.map((id) => batchClients.get(id)).find((id) => id !== undefined)
            if (batchClient !== undefined) {
              results[item.index] = { ...results[batchClient]!, duplicate: true }
              continue
            }
            firstSeq.set(item.index, lastSeq + 1)
            turn.messages.forEach((message, i) =>
              rows.push({
                conversation_id: conversationId,
                seq: lastSeq + 1 + i,
                turn_id: turn.turnId,
                user_id: turn.userId,
                client_id: message.clientId,
                kind: message.kind,
                status: message.status,
                content: message.content,
                input_tokens: message.inputTokens,
                output_tokens: message.outputTokens
              })
            )
            lastSeq += turn.messages.length
            batchTurns.set(turn.turnId, item.index)
            for (const id of turn.clientIds) batchClients.set(id, item.index)
            // placeholder rows, completed with ids and times after the INSERT
            results[item.index] = { turnId: turn.turnId, rows: [], duplicate: false }
          }
          if (rows.length > 0) {
            yield* sql`UPDATE ${conversations} SET last_seq = ${lastSeq} WHERE id = ${conversationId}`
            const inserted = new Map<number, { readonly id: number; readonly createdAt: Date }>()
            for (const some of chunks(rows, insertChunk)) {
              const back = yield* sql`INSERT INTO ${messages} ${sql.insert(some)} RETURNING id, seq, created_at`
              for (const row of back)
                inserted.set(intOf(row.seq), { id: intOf(row.id), createdAt: dateOf(row.created_at) })
            }
            for (const item of items) {
              const first = firstSeq.get(item.index)
              if (first === undefined) continue
              const { turn } = item
              results[item.index] = {
                turnId: turn.turnId,
                duplicate: false,
                rows: turn.messages.map((message, i): MessageRow => {
                  const row = inserted.get(first + i)!
                  return {
                    id: row.id,
                    conversationId,
                    seq: first + i,
                    turnId: turn.turnId,
                    userId: turn.userId,
                    clientId: message.clientId,
                    kind: message.kind,
                    status: message.status,
                    inputTokens: message.inputTokens,
                    outputTokens: message.outputTokens,
                    createdAt: row.createdAt
                  }
                })
              }
            }
            // duplicates of turns earlier in the batch take the completed rows
            for (const item of items) {
              const result = results[item.index]
              if (result?.duplicate === true && !duplicateOfStored.has(item.index)) {
                const original = batchTurns.get(result.turnId)
                if (original !== undefined) results[item.index] = { ...results[original]!, duplicate: true }
              }
            }
          }
          if (duplicateOfStored.size > 0) {
            const found = yield* storedRows(conversationId, Array.from(new Set(duplicateOfStored.values())))
            for (const [index, turnId] of duplicateOfStored) {
              results[index] = { turnId, rows: found.filter((row) => row.turnId === turnId), duplicate: true }
            }
          }
        })

      if (prepared.length === 0) return []
      const write = Effect.gen(function* () {
        const results: Array<AppendResult> = new Array(prepared.length)
        for (const [conversationId, items] of byConversation) yield* one(conversationId, items, results)
        return results
      })
      return yield* sql.withTransaction(write).pipe(
        Effect.retry({ while: isRetryable, schedule: retrySchedule }),
        Effect.mapError((error) =>
          error._tag === "SqlError"
            ? new StoreError({
                reason: "Unavailable",
                operation: "bulkAppend",
                detail: (error as SqlError).message,
                cause: error
              })
            : error
        )
      )
    }).pipe(Effect.withSpan("ConversationStore.bulkAppend"))
