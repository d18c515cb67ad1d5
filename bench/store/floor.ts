/**
 * The floor: the benchmark's three operations done with the raw drivers (`better-sqlite3`, `pg`)
 * on the same database, the same tables and the same SQL the store runs, doing the same useful
 * work and nothing more.
 *
 * - append: in one transaction, `UPDATE … SET last_seq = last_seq + 2, updated_at = now RETURNING
 *   last_seq`, then one two-row `INSERT` of the turn's content text (the exact text the store
 *   writes, encoded once beforehand: the floor does no encoding), a fresh turn id, kind, status and
 *   token counts. No `RETURNING` on the insert.
 * - loads: the store's `SELECT` (same columns, same `ORDER BY seq` / `ORDER BY seq DESC LIMIT 51`),
 *   then per row `JSON.parse` of the content and a LangChain `HumanMessage` / `AIMessage` built from
 *   the stored `_value` fields, in an entry object with the row's columns (`createdAt` as a `Date`),
 *   the message and the parsed content: what `store.history` returns, minus validation.
 */
import { AIMessage, type BaseMessage, HumanMessage } from "@langchain/core/messages"
import { createRequire } from "node:module"
import Pg from "pg"

/** The part of better-sqlite3's API the floor uses (the package ships no types here). */
export interface SqliteStatement {
  run(...params: ReadonlyArray<unknown>): { readonly changes: number }
  get(...params: ReadonlyArray<unknown>): unknown
  all(...params: ReadonlyArray<unknown>): Array<unknown>
}

/** @see SqliteStatement */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement
  transaction<A extends ReadonlyArray<unknown>, R>(fn: (...args: A) => R): (...args: A) => R
  pragma(source: string, options?: { readonly simple?: boolean }): unknown
  close(): void
}

const require = createRequire(import.meta.url)

/** Opens a SQLite file with better-sqlite3 (the driver `@effect/sql-sqlite-node` uses). */
export const openSqlite = (filename: string): SqliteDatabase => {
  const Database = require("better-sqlite3") as new (filename: string) => SqliteDatabase
  return new Database(filename)
}

/** The two encoded messages of a turn, with what the store derives from them. */
export interface EncodedTurn {
  readonly human: string
  readonly ai: string
  readonly inputTokens: number
  readonly outputTokens: number
}

/** A history entry as the floor builds it (the shape of the store's `DecodedEntry`). */
export interface FloorEntry {
  readonly id: number
  readonly conversationId: number
  readonly seq: number
  readonly turnId: string
  readonly userId: string | null
  readonly clientId: string | null
  readonly kind: string
  readonly status: string
  readonly inputTokens: number | null
  readonly outputTokens: number | null
  readonly createdAt: Date
  readonly value: BaseMessage
  readonly content: unknown
}

/** The floor's operations on one backend. `turns` is the number of stored turns read in full. */
export interface Floor {
  readonly append: (conversationId: number, userId: string, turn: EncodedTurn) => Promise<void> | void
  readonly full: (conversationId: number) => Promise<ReadonlyArray<FloorEntry>> | ReadonlyArray<FloorEntry>
  readonly last: (
    conversationId: number,
    limit: number
  ) => Promise<ReadonlyArray<FloorEntry>> | ReadonlyArray<FloorEntry>
  /** Bulk setup (not timed): appends `turns` turns, `turn(i)` for i = 0.., in batches of 250 turns per INSERT. */
  readonly fill: (
    conversationId: number,
    userId: string,
    turns: number,
    turn: (i: number) => EncodedTurn
  ) => Promise<void> | void
  readonly close: () => Promise<void> | void
}

const fillBatch = 250

/** The rows and parameters of a bulk INSERT of turns `from` .. `to - 1` (seq 2i + 1, 2i + 2). */
const fillRows = (
  conversationId: number,
  userId: string,
  from: number,
  to: number,
  turn: (i: number) => EncodedTurn,
  placeholder: (n: number) => string
) => {
  const values: Array<string> = []
  const params: Array<unknown> = []
  for (let i = from; i < to; i++) {
    const t = turn(i)
    const turnId = `fill-${conversationId}-${i}`
    const rows: ReadonlyArray<ReadonlyArray<unknown>> = [
      [conversationId, 2 * i + 1, turnId, userId, "human", t.human, null, null],
      [conversationId, 2 * i + 2, turnId, userId, "ai", t.ai, t.inputTokens, t.outputTokens]
    ]
    for (const row of rows) {
      const at = row.map((value) => {
        params.push(value)
        return placeholder(params.length)
      })
      values.push(`(${at[0]}, ${at[1]}, ${at[2]}, ${at[3]}, NULL, ${at[4]}, 'complete', ${at[5]}, ${at[6]}, ${at[7]})`)
    }
  }
  return {
    text: `INSERT INTO convo_message (conversation_id, seq, turn_id, user_id, client_id, kind, status, content, input_tokens, output_tokens) VALUES ${values.join(", ")}`,
    params
  }
}

const columns =
  "id, conversation_id, seq, turn_id, user_id, client_id, kind, status, input_tokens, output_tokens, created_at"

interface Row {
  readonly id: number | string
  readonly conversation_id: number | string
  readonly seq: number
  readonly turn_id: string
  readonly user_id: string | null
  readonly client_id: string | null
  readonly kind: string
  readonly status: string
  readonly input_tokens: number | null
  readonly output_tokens: number | null
  readonly created_at: string | Date
  readonly content: string
}

interface StoredMessage {
  readonly _type: string
  readonly _value: Record<string, any>
}

/** The LangChain message of a stored `{"_type", "_value"}`, from its fields. */
export const message = (stored: StoredMessage): BaseMessage => {
  const v = stored._value
  const base = {
    content: v.content,
    additional_kwargs: v.additional_kwargs ?? {},
    response_metadata: v.response_metadata ?? {},
    ...(v.name == null ? {} : { name: v.name }),
    ...(v.id == null ? {} : { id: v.id })
  }
  switch (stored._type) {
    case "HumanMessage":
      return new HumanMessage(base)
    case "AIMessage":
      // `as any`: LangChain's field types infer `usage_metadata` as `undefined` under this compiler.
      return new AIMessage({
        ...base,
        tool_calls: v.tool_calls ?? [],
        invalid_tool_calls: v.invalid_tool_calls ?? [],
        ...(v.usage_metadata == null ? {} : { usage_metadata: v.usage_metadata })
      } as any)
    default:
      throw new Error(`the floor reads only HumanMessage and AIMessage, not ${stored._type}`)
  }
}

const entry = (row: Row): FloorEntry => {
  const content = JSON.parse(row.content) as StoredMessage
  return {
    id: Number(row.id),
    conversationId: Number(row.conversation_id),
    seq: row.seq,
    turnId: row.turn_id,
    userId: row.user_id,
    clientId: row.client_id,
    kind: row.kind,
    status: row.status,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(row.created_at),
    value: message(content),
    content
  }
}

const sqliteNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

/**
 * The floor on SQLite: prepared statements on its own better-sqlite3 connection to the store's file
 * (WAL, as the store's connection left it; better-sqlite3's default `synchronous`, as the store's).
 */
export const sqliteFloor = (filename: string): Floor => {
  const db = openSqlite(filename)
  // As the store sets on its connection (it made no measurable difference).
  db.pragma("foreign_keys = ON")
  const bump = db.prepare(
    `UPDATE convo_conversation SET last_seq = last_seq + ?, updated_at = ${sqliteNow} WHERE id = ? RETURNING last_seq`
  )
  const insert = db.prepare(
    `INSERT INTO convo_message (conversation_id, seq, turn_id, user_id, client_id, kind, status, content, input_tokens, output_tokens) VALUES (?, ?, ?, ?, NULL, 'human', 'complete', ?, NULL, NULL), (?, ?, ?, ?, NULL, 'ai', 'complete', ?, ?, ?)`
  )
  const full = db.prepare(`SELECT ${columns}, content FROM convo_message WHERE conversation_id = ? ORDER BY seq ASC`)
  const last = db.prepare(
    `SELECT ${columns}, content FROM convo_message WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?`
  )
  const append = db.transaction((conversationId: number, userId: string, turn: EncodedTurn) => {
    const { last_seq } = bump.get(2, conversationId) as { last_seq: number }
    const turnId = globalThis.crypto.randomUUID()
    insert.run(
      ...[conversationId, last_seq - 1, turnId, userId, turn.human],
      ...[conversationId, last_seq, turnId, userId, turn.ai, turn.inputTokens, turn.outputTokens]
    )
  })
  return {
    append,
    full: (conversationId) => (full.all(conversationId) as Array<Row>).map(entry),
    last: (conversationId, limit) => {
      const rows = last.all(conversationId, limit + 1) as Array<Row>
      return rows.slice(0, limit).reverse().map(entry)
    },
    fill: (conversationId, userId, turns, turn) => {
      db.transaction(() => {
        for (let from = 0; from < turns; from += fillBatch) {
          const { params, text } = fillRows(
            conversationId,
            userId,
            from,
            Math.min(turns, from + fillBatch),
            turn,
            () => "?"
          )
          db.prepare(text).run(...params)
        }
        db.prepare("UPDATE convo_conversation SET last_seq = ? WHERE id = ?").run(2 * turns, conversationId)
      })()
    },
    close: () => db.close()
  }
}

/** The floor on PostgreSQL: one `pg.Client` on the store's database. */
export const pgFloor = async (config: Pg.ClientConfig): Promise<Floor> => {
  const client = new Pg.Client(config)
  // The benchmark drops its database when it ends; a connection still open then is not an error.
  client.on("error", () => {})
  await client.connect()
  const select = `SELECT ${columns}, content::text AS content FROM convo_message WHERE conversation_id = $1`
  return {
    append: async (conversationId, userId, turn) => {
      await client.query("BEGIN")
      try {
        const bumped = await client.query<{ last_seq: number }>(
          "UPDATE convo_conversation SET last_seq = last_seq + $1, updated_at = now() WHERE id = $2 RETURNING last_seq",
          [2, conversationId]
        )
        const seq = bumped.rows[0]!.last_seq
        const turnId = globalThis.crypto.randomUUID()
        await client.query(
          "INSERT INTO convo_message (conversation_id, seq, turn_id, user_id, client_id, kind, status, content, input_tokens, output_tokens) VALUES ($1, $2, $3, $4, NULL, 'human', 'complete', $5, NULL, NULL), ($1, $6, $3, $4, NULL, 'ai', 'complete', $7, $8, $9)",
          [conversationId, seq - 1, turnId, userId, turn.human, seq, turn.ai, turn.inputTokens, turn.outputTokens]
        )
        await client.query("COMMIT")
      } catch (error) {
        await client.query("ROLLBACK")
        throw error
      }
    },
    full: async (conversationId) =>
      (await client.query<Row>(`${select} ORDER BY seq ASC`, [conversationId])).rows.map(entry),
    last: async (conversationId, limit) => {
      const rows = (await client.query<Row>(`${select} ORDER BY seq DESC LIMIT $2`, [conversationId, limit + 1])).rows
      return rows.slice(0, limit).reverse().map(entry)
    },
    fill: async (conversationId, userId, turns, turn) => {
      await client.query("BEGIN")
      for (let from = 0; from < turns; from += fillBatch) {
        const { params, text } = fillRows(
          conversationId,
          userId,
          from,
          Math.min(turns, from + fillBatch),
          turn,
          (n) => `$${n}`
        )
        await client.query(text, params)
      }
      await client.query("UPDATE convo_conversation SET last_seq = $1 WHERE id = $2", [2 * turns, conversationId])
      await client.query("COMMIT")
    },
    close: () => client.end()
  }
}
