/**
 * The room pages (S23): the index (your rooms and a form for a new one, posted to
 * `/example/chat/new/`), and `/example/chat/:room_pk/`, which needs a logged-in user and renders
 * convo's chat page connected to the room's conversation, at the socket URL reversed from the
 * route table. Rooms get their ids from the database when the form creates them; a room id that
 * does not exist, or is another user's, is the same 404 for everyone.
 */
import * as ChatPage from "@convo/adapter-http/ChatPage"
import * as Routes from "@convo/core/Routes"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { requireUser, Visit } from "../accounts/Visit.js"
import { html } from "../lib/Html.js"
import { NotFound } from "../lib/HttpErrors.js"
import * as Forms from "../lib/Forms.js"
import * as Layout from "../Layout.js"
import * as Page from "../Page.js"
import { idParam, params, pattern, routes, url } from "../Routes.js"
import { defaults, levels, type Room, Rooms, settingsProblem } from "./Rooms.js"

const describe = (room: Room) => `${room.language} · ${room.situation} · ${room.level}`

const roomForm = (options: {
  readonly values?: { readonly language: string; readonly situation: string; readonly level: string }
  readonly problem?: string
}) =>
  Effect.gen(function* () {
    const values = options.values ?? defaults
    return html` <h2>A new room</h2>
      ${options.problem === undefined ? null : html`<p class="error">${options.problem}</p>`}
      <form method="post" action="${url("room-new")}">
        ${yield* Layout.csrfField}
        <label for="language">언어 (language)</label>
        <input type="text" id="language" name="language" list="languages" value="${values.language}" required />
        <datalist id="languages">
          <option value="중국어"></option>
          <option value="영어"></option>
          <option value="일본어"></option>
          <option value="스페인어"></option>
          <option value="프랑스어"></option>
        </datalist>
        <label for="situation">상황 (situation)</label>
        <input type="text" id="situation" name="situation" value="${values.situation}" required />
        <label for="level">레벨 (level)</label>
        <select id="level" name="level">
          ${levels.map((level) => html`<option value="${level}" ${level === values.level ? html` selected` : null}>${level}</option>`)}
        </select>
        <p><button type="submit">Create the room</button></p>
      </form>`
  })

const indexPage = (options: { readonly status?: number; readonly form?: Parameters<typeof roomForm>[0] } = {}) =>
  Effect.gen(function* () {
    const visit = yield* Visit
    const user = visit.user
    if (user === null) {
      return yield* Layout.render({
        title: "Language tutor",
        body: html` <p>
            Practise a language with an AI tutor in a role-play: ordering coffee in Chinese, checking in at a hotel in
            Japanese, anything. Every conversation is saved, so it is there when you come back.
          </p>
          <p><a href="${url("signup")}">Sign up</a> or <a href="${url("login")}">log in</a> to start.</p>`
      })
    }
    const rooms = yield* (yield* Rooms).listOfOwner(user.id)
    return yield* Layout.render({
      title: "Your rooms",
      status: options.status ?? 200,
      body: html` ${
        rooms.length === 0
          ? html`<p>No rooms yet: create one below (the tutorial's room is the one the form starts with).</p>`
          : html`<ul>
              ${rooms.map((room) => html`<li><a href="${url("example-room", { room_pk: room.id })}">Room ${room.id}</a>: ${describe(room)}</li>`)}
            </ul>`
      }
      ${yield* roomForm(options.form ?? {})}`
    })
  })

const index = Page.handle(indexPage())

const createRoom = Page.handle(
  Effect.gen(function* () {
    const user = yield* requireUser
    const visit = yield* Visit
    const form = yield* Forms.read
    yield* visit.checkCsrf(form)
    const values = {
      language: Forms.field(form, "language"),
      situation: Forms.field(form, "situation"),
      level: Forms.field(form, "level")
    }
    const problem = settingsProblem(values)
    if (problem !== undefined) return yield* indexPage({ status: 400, form: { values, problem } })
    const room = yield* (yield* Rooms).create({ ...values, ownerId: user.id, conversationId: null })
    return HttpServerResponse.redirect(url("example-room", { room_pk: room.id }), { status: 303 })
  })
)

// #region room-page
/** `/example/chat/:room_pk/`: the seed's `language_tutor_chat` view. */
const roomPage = Page.handle(
  Effect.gen(function* () {
    const user = yield* requireUser // @login_required
    const roomPk = yield* idParam((yield* params("example-room")).room_pk)
    const found = yield* (yield* Rooms).byId(roomPk)
    // another user's room is as unknown as a room that does not exist: the answer tells nothing
    if (Option.isNone(found) || found.value.ownerId !== user.id) {
      return yield* new NotFound({ message: "There is no such room." })
    }
    const room = found.value
    const wsUrl = yield* Routes.reverse(routes, "example-chat", { conversation_pk: room.conversationId }).pipe(
      Effect.orDie
    )
    return ChatPage.response({ wsUrl, title: `Room ${room.id}: ${describe(room)}`, lang: "ko" })
  })
)
// #endregion

/** The room routes. */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get(pattern("home"), index),
  HttpRouter.post(pattern("room-new"), createRoom),
  HttpRouter.get(pattern("example-room"), roomPage)
)
