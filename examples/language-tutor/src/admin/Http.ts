/**
 * The admin pages (S24), for staff: the rooms, the conversations, and the messages of one
 * conversation as convo stored them — decoded, with their kind, status and token usage; a row
 * whose content does not decode is listed as such, with its raw text. A conversation can be
 * cleared (`ConversationStore.clear`, the seed's `conversation.clear()`): a POST with the CSRF token.
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import * as SqlMigrations from "@convo/core/SqlMigrations"
import * as TaggedJson from "@convo/core/TaggedJson"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Users } from "../accounts/Users.js"
import { requireStaff, Visit } from "../accounts/Visit.js"
import { html } from "../lib/Html.js"
import { NotFound, Unavailable } from "../lib/HttpErrors.js"
import * as Forms from "../lib/Forms.js"
import { Int, unavailable } from "../lib/Sql.js"
import * as Layout from "../Layout.js"
import * as Page from "../Page.js"
import { idParam, params, pattern, url } from "../Routes.js"
import { Rooms } from "../rooms/Rooms.js"

const conversationTable = `${SqlMigrations.defaultPrefix}conversation`
const messageTable = `${SqlMigrations.defaultPrefix}message`

// The port lists conversations per owner; the admin wants all of them, so it reads convo's table.
const ConversationSummary = Schema.Struct({
  id: Int,
  user_id: Schema.NullOr(Schema.String),
  title: Schema.NullOr(Schema.String),
  messages: Int,
  username: Schema.NullOr(Schema.String)
})

const listConversations = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  return yield* SqlSchema.findAll({
    Request: Schema.Void,
    Result: ConversationSummary,
    execute: () => sql`
      SELECT c.id, c.user_id, c.title, u.username,
             (SELECT COUNT(*) FROM ${sql(messageTable)} m WHERE m.conversation_id = c.id) AS messages
      FROM ${sql(conversationTable)} c
      LEFT JOIN example_user u ON CAST(u.id AS TEXT) = c.user_id
      ORDER BY c.id`
  })(undefined).pipe(Effect.catchTag("ParseError", Effect.die), unavailable("admin: list conversations"))
})

const storeFailure = (error: ConversationStore.ConversationStoreError) =>
  error._tag === "ConversationNotFound"
    ? new NotFound({ message: `There is no conversation ${error.conversationId}.` })
    : new Unavailable({ message: "The conversation store is unavailable. Try again.", cause: error })

const index = Page.handle(
  Effect.gen(function* () {
    yield* requireStaff
    const rooms = yield* (yield* Rooms).list()
    const conversations = yield* listConversations
    return yield* Layout.render({
      title: "Admin",
      body: html` <h2>Rooms</h2>
        ${
          rooms.length === 0
            ? html`<p>No rooms yet.</p>`
            : html`<table>
                <tr>
                  <th>Room</th>
                  <th>언어</th>
                  <th>상황</th>
                  <th>레벨</th>
                  <th>Owner</th>
                  <th>Conversation</th>
                </tr>
                ${rooms.map(
                  (room) =>
                    html`<tr>
                      <td><a href="${url("example-room", { room_pk: room.id })}">${room.id}</a></td>
                      <td>${room.language}</td>
                      <td>${room.situation}</td>
                      <td>${room.level}</td>
                      <td>${room.ownerId ?? "—"}</td>
                      <td>
                        <a href="${url("admin-conversation", { conversation_pk: room.conversationId })}"
                          >${room.conversationId}</a
                        >
                      </td>
                    </tr>`
                )}
              </table>`
        }
        <h2>Conversations</h2>
        ${
          conversations.length === 0
            ? html`<p>No conversations yet.</p>`
            : html`<table>
                <tr>
                  <th>Conversation</th>
                  <th>Owner</th>
                  <th>Title</th>
                  <th>Messages</th>
                </tr>
                ${conversations.map(
                  (c) =>
                    html`<tr>
                      <td><a href="${url("admin-conversation", { conversation_pk: c.id })}">${c.id}</a></td>
                      <td>${c.username ?? c.user_id ?? "—"}</td>
                      <td>${c.title ?? ""}</td>
                      <td>${c.messages}</td>
                    </tr>`
                )}
              </table>`
        }`
    })
  })
)

const textOf = (value: unknown): string => {
  const content = (value as { content?: unknown } | null)?.content
  if (typeof content === "string") return content
  return JSON.stringify(content ?? value, (_key, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))
}

/** The stored `_type`, or `JSON` for plain JSON content (pyhub stored tool outputs that way). */
const typeOf = (content: unknown): string => (TaggedJson.isTaggedJson(content) ? content._type : "JSON")

const tokensOf = (entry: ConversationStore.HistoryEntry): string =>
  entry.inputTokens === null && entry.outputTokens === null
    ? ""
    : `${entry.inputTokens ?? "?"} / ${entry.outputTokens ?? "?"}`

const entryRow = (entry: ConversationStore.HistoryEntry) =>
  html`<tr>
    <td>${entry.seq}</td>
    <td>${entry.kind}</td>
    <td>${entry.status}</td>
    <td>${entry.userId ?? "—"}</td>
    <td>${tokensOf(entry)}</td>
    ${
      entry._tag === "Decoded"
        ? html`<td>${typeOf(entry.content)}</td>
            <td class="content">${textOf(entry.value)}</td>`
        : html`<td class="undecodable">undecodable</td>
            <td class="content undecodable">${`${entry.reason}\n${entry.raw}`}</td>`
    }
  </tr>`

const conversationPage = Page.handle(
  Effect.gen(function* () {
    yield* requireStaff
    const id = yield* idParam((yield* params("admin-conversation")).conversation_pk)
    const store = yield* ConversationStore.ConversationStore
    const conversation = yield* store.get(id).pipe(Effect.mapError(storeFailure))
    const history = yield* store.history(id).pipe(Effect.mapError(storeFailure))
    const owner =
      conversation.userId === null || !/^[0-9]+$/.test(conversation.userId)
        ? Option.none()
        : yield* (yield* Users).byId(Number(conversation.userId))
    const ownerName = Option.match(owner, {
      onNone: () => conversation.userId ?? "—",
      onSome: (user) => `${user.username} (${user.id})`
    })
    return yield* Layout.render({
      title: `Conversation ${conversation.id}`,
      body: html` <p>
          Owner: ${ownerName} · ${conversation.title ?? ""} · created ${conversation.createdAt.toISOString()}
        </p>
        <form method="post" action="${url("admin-conversation-clear", { conversation_pk: conversation.id })}">
          ${yield* Layout.csrfField}
          <button class="danger" type="submit">Clear: delete every message of this conversation</button>
        </form>
        <h2>Messages (${history.entries.length})</h2>
        ${
          history.entries.length === 0
            ? html`<p>No messages.</p>`
            : html`<table>
                <tr>
                  <th>seq</th>
                  <th>kind</th>
                  <th>status</th>
                  <th>user</th>
                  <th>tokens in / out</th>
                  <th>type</th>
                  <th>content</th>
                </tr>
                ${history.entries.map(entryRow)}
              </table>`
        }
        <p><a href="${url("admin")}">Back to the admin</a></p>`
    })
  })
)

const clear = Page.handle(
  Effect.gen(function* () {
    yield* requireStaff
    const visit = yield* Visit
    const form = yield* Forms.read
    yield* visit.checkCsrf(form)
    const id = yield* idParam((yield* params("admin-conversation-clear")).conversation_pk)
    // #region clear
    const store = yield* ConversationStore.ConversationStore
    yield* store.clear(id).pipe(Effect.mapError(storeFailure)) // the seed's conversation.clear()
    // #endregion
    return HttpServerResponse.redirect(url("admin-conversation", { conversation_pk: id }), { status: 303 })
  })
)

/** The admin routes. */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get(pattern("admin"), index),
  HttpRouter.get(pattern("admin-conversation"), conversationPage),
  HttpRouter.post(pattern("admin-conversation-clear"), clear)
)
