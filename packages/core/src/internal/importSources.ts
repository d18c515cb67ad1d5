/**
 * The sources of `Import`: how django-pyhub-ai's tables and a LangChain history table are read,
 * a page of rows at a time in primary-key order, and grouped into turns (a turn starts at each
 * human message).
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { mapStoredMessagesToChatMessages, type StoredMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { NewMessage } from "../ConversationStore.js"
import * as MessageCodec from "../MessageCodec.js"
import { OpaqueValue } from "../Opaque.js"

/** @internal */
export interface SourceConversation {
  readonly key: string
  readonly publicId: string
  readonly userId: string | null
  readonly metadata: Readonly<Record<string, unknown>>
}

/** @internal */
export interface SourceTurn {
  readonly turnId: string
  readonly userId: string | null
  /** The source key of its first row. */
  readonly firstRow: string
  readonly messages: Array<NewMessage>
}

/** Rows read and the turns they closed; `skipped` are rows that could not be read. @internal */
export interface Page {
  readonly rows: number
  readonly turns: ReadonlyArray<SourceTurn>
  readonly skipped: ReadonlyArray<{ readonly row: string; readonly reason: string }>
}

/** @internal */
export interface Source {
  readonly name: "django-pyhub-ai" | "langchain"
  readonly conversations: Effect.Effect<ReadonlyArray<SourceConversation>, unknown>
  readonly turns: <E>(
    conversation: SourceConversation,
    onPage: (page: Page) => Effect.Effect<void, E>
  ) => Effect.Effect<void, E | unknown>
}

const pageSize = 1000

interface Row {
  readonly key: string
  readonly userId: string | null
  readonly message: NewMessage
  readonly human: boolean
}

/**
 * Reads rows page by page (`read(after)` gives up to `pageSize` rows with keys after `after`) and
 * hands each page's closed turns to `onPage`; the last open turn goes with the last page.
 */
const pagedTurns = <E>(
  turnPrefix: string,
  read: (
    after: number
  ) => Effect.Effect<
    { readonly rows: ReadonlyArray<Row>; readonly last: number | null; readonly skipped: Page["skipped"] },
    unknown
  >,
  onPage: (page: Page) => Effect.Effect<void, E>
): Effect.Effect<void, E | unknown> =>
  Effect.gen(function* () {
    let open: SourceTurn | null = null
    let after = 0
    for (;;) {
      const page = yield* read(after)
      const closed: Array<SourceTurn> = []
      for (const row of page.rows) {
        if (open === null || row.human) {
          if (open !== null) closed.push(open)
          open = { turnId: `${turnPrefix}${row.key}`, userId: row.userId, firstRow: row.key, messages: [] }
        }
        open.messages.push(row.message)
      }
      const done = page.last === null
      if (done && open !== null) closed.push(open)
      yield* onPage({ rows: page.rows.length + page.skipped.length, turns: closed, skipped: page.skipped })
      if (done) return
      after = page.last!
    }
  })

const intKey = (u: unknown): number => {
  const n = typeof u === "number" ? u : Number(u)
  if (!Number.isSafeInteger(n)) throw new Error(`not an integer key: ${String(u)}`)
  return n
}

const textOf = (u: unknown): string => (typeof u === "string" ? u : JSON.stringify(u))

const codecInContext = Effect.map(Effect.serviceOption(MessageCodec.MessageCodec), (codec) =>
  Option.getOrElse(codec, () => MessageCodec.make())
)

/** django-pyhub-ai's `Conversation` and `ConversationMessage` tables. @internal */
export const pyhub = (tablePrefix: string, publicIdPrefix: string) =>
  Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const codec = yield* codecInContext
    const conversationTable = sql(`${tablePrefix}conversation`)
    const messageTable = sql(`${tablePrefix}conversationmessage`)
    const content = sql.onDialectOrElse({
      pg: () => sql.literal("content::text AS content"),
      orElse: () => sql.literal("content")
    })
    const source: Source = {
      name: "django-pyhub-ai",
      conversations: Effect.map(
        sql`SELECT id, user_id FROM ${conversationTable} ORDER BY id`,
        (rows): ReadonlyArray<SourceConversation> =>
          rows.map((row) => ({
            key: String(row.id),
            publicId: `${publicIdPrefix}${String(row.id)}`,
            userId: row.user_id === null ? null : String(row.user_id),
            metadata: { importedFrom: "django-pyhub-ai", pyhubConversationId: intKey(row.id) }
          }))
      ),
      turns: (conversation, onPage) =>
        pagedTurns(
          "pyhub-",
          (after) =>
            Effect.map(
              sql`SELECT id, user_id, ${content} FROM ${messageTable} WHERE conversation_id = ${intKey(conversation.key)} AND id > ${after} ORDER BY id LIMIT ${pageSize}`,
              (found) => {
                const rows = found.map((row): Row => {
                  const raw = textOf(row.content)
                  const decoded = codec.decodeStringEither(raw)
                  // a row the codec cannot read is kept as it is (and reads back as an undecodable entry)
                  const value = Either.isRight(decoded)
                    ? decoded.right
                    : new OpaqueValue({ _type: "undecodable", _value: null })
                  return {
                    key: String(row.id),
                    userId: row.user_id === null ? null : String(row.user_id),
                    message: { value, content: raw },
                    human: MessageCodec.kindOf(value) === "human"
                  }
                })
                return {
                  rows,
                  last: found.length < pageSize ? null : intKey(found[found.length - 1]!.id),
                  skipped: []
                }
              }
            ),
          onPage
        )
    }
    return source
  })

/** A LangChain `PostgresChatMessageHistory` table: `id`, `session_id`, `message`. @internal */
export const langChain = (
  table: string,
  publicIdOf: (sessionId: string) => string,
  userIdOf: (sessionId: string) => string | null
) =>
  Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const history = sql(table)
    const session = sql.onDialectOrElse({
      pg: () => sql.literal("session_id::text AS session_id"),
      orElse: () => sql.literal("CAST(session_id AS TEXT) AS session_id")
    })
    const message = sql.onDialectOrElse({
      pg: () => sql.literal("message::text AS message"),
      orElse: () => sql.literal("message")
    })
    const source: Source = {
      name: "langchain",
      conversations: Effect.map(
        sql`SELECT ${session}, MIN(id) AS first FROM ${history} GROUP BY session_id ORDER BY MIN(id)`,
        (rows): ReadonlyArray<SourceConversation> =>
          rows.map((row) => {
            const sessionId = String(row.session_id)
            return {
              key: sessionId,
              publicId: publicIdOf(sessionId),
              userId: userIdOf(sessionId),
              metadata: { importedFrom: "langchain", sessionId }
            }
          })
      ),
      turns: (conversation, onPage) =>
        pagedTurns(
          "langchain-",
          (after) =>
            Effect.map(
              sql`SELECT id, ${message} FROM ${history} WHERE session_id = ${conversation.key} AND id > ${after} ORDER BY id LIMIT ${pageSize}`,
              (found) => {
                const rows: Array<Row> = []
                const skipped: Array<{ row: string; reason: string }> = []
                for (const row of found) {
                  const key = String(row.id)
                  try {
                    const stored = JSON.parse(textOf(row.message)) as StoredMessage
                    const [value] = mapStoredMessagesToChatMessages([stored])
                    if (value === undefined) throw new Error("no message")
                    rows.push({
                      key,
                      userId: conversation.userId,
                      message: { value },
                      human: value.getType() === "human"
                    })
                  } catch (error) {
                    skipped.push({
                      row: key,
                      reason: `not a LangChain stored message: ${error instanceof Error ? error.message : String(error)}`
                    })
                  }
                }
                return {
                  rows,
                  last: found.length < pageSize ? null : intKey(found[found.length - 1]!.id),
                  skipped
                }
              }
            ),
          onPage
        )
    }
    return source
  })
