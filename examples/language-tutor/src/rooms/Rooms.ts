/**
 * The chat rooms: the seed's `LLMChatRoom`, a row of the app's own table `example_chat_room`
 * with a language, a situation and a level, and a one-to-one link to a convo conversation.
 *
 * The conversation is created by a before-create hook (`createConversation`), in the transaction
 * that inserts the room — convo's `ConversationStore.create` runs on the same `SqlClient`, so
 * either both rows are written or neither. The conversation is owned by the room's owner, so its
 * chat socket opens for that user only.
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Int, unavailable } from "../lib/Sql.js"
import { Unavailable } from "../lib/HttpErrors.js"
import * as Lifecycle from "./Lifecycle.js"

/** A room as stored. */
export interface Room {
  readonly id: number
  readonly language: string
  readonly situation: string
  readonly level: string
  readonly ownerId: number | null
  readonly conversationId: number
  readonly createdAt: number
}

/**
 * A room about to be created. `conversationId` is filled in by the before-create hook. The id is
 * always the database's: a URL never creates a room, so nobody can pick (or squat) an id.
 */
export interface RoomDraft {
  readonly language: string
  readonly situation: string
  readonly level: string
  readonly ownerId: number | null
  readonly conversationId: number | null
}

/** The seed's room: Chinese, ordering coffee at Starbucks, beginner. */
export const defaults = { language: "중국어", situation: "스타벅스에서 커피를 주문하는 상황", level: "초급" } as const

/** The levels offered by the room form. */
export const levels = ["초급", "중급", "고급"] as const

/** What is wrong with a room's settings, if anything. */
export const settingsProblem = (settings: {
  readonly language: string
  readonly situation: string
  readonly level: string
}): string | undefined => {
  if (settings.language.length === 0 || [...settings.language].length > 40) return "A language has 1 to 40 characters."
  if (settings.situation.length === 0 || [...settings.situation].length > 200) {
    return "A situation has 1 to 200 characters."
  }
  if (!(levels as ReadonlyArray<string>).includes(settings.level)) return `A level is one of ${levels.join(", ")}.`
  return undefined
}

// #region before-create
/**
 * The before-create hook of a room (the seed's `on_before_create`): a new conversation, owned by
 * the room's owner.
 */
export const createConversation: Lifecycle.BeforeCreate<
  RoomDraft,
  ConversationStore.StoreError,
  ConversationStore.ConversationStore
> = (draft) =>
  Effect.gen(function* () {
    const store = yield* ConversationStore.ConversationStore
    const conversation = yield* store.create({
      userId: draft.ownerId === null ? null : String(draft.ownerId),
      title: `${draft.language} · ${draft.situation} · ${draft.level}`
    })
    return { ...draft, conversationId: conversation.id }
  })

/** The room's hooks, declared once like django-lifecycle's `@hook(BEFORE_CREATE)`. */
export const roomHooks = Lifecycle.hooks({ beforeCreate: [createConversation] })
// #endregion

const RoomRow = Schema.Struct({
  id: Int,
  language: Schema.String,
  situation: Schema.String,
  level: Schema.String,
  owner_id: Schema.NullOr(Int),
  conversation_id: Int,
  created_at: Int
})

const toRoom = (row: typeof RoomRow.Type): Room => ({
  id: row.id,
  language: row.language,
  situation: row.situation,
  level: row.level,
  ownerId: row.owner_id,
  conversationId: row.conversation_id,
  createdAt: row.created_at
})

const storeUnavailable = (error: ConversationStore.StoreError) =>
  new Unavailable({ message: "The conversation store is unavailable. Try again.", cause: error })

/** The rooms repository. */
export class Rooms extends Effect.Service<Rooms>()("@convo/example-language-tutor/Rooms", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const store = yield* ConversationStore.ConversationStore

    const findBy = (column: "id" | "conversation_id") =>
      SqlSchema.findOne({
        Request: Schema.Number,
        Result: RoomRow,
        execute: (value) => sql`SELECT * FROM example_chat_room WHERE ${sql(column)} = ${value}`
      })
    const findById = findBy("id")
    const findByConversation = findBy("conversation_id")
    const all = SqlSchema.findAll({
      Request: Schema.Void,
      Result: RoomRow,
      execute: () => sql`SELECT * FROM example_chat_room ORDER BY id`
    })
    const ofOwner = SqlSchema.findAll({
      Request: Schema.Number,
      Result: RoomRow,
      execute: (ownerId) => sql`SELECT * FROM example_chat_room WHERE owner_id = ${ownerId} ORDER BY id`
    })

    const insert = (draft: RoomDraft, conversationId: number) =>
      Effect.gen(function* () {
        const row = {
          language: draft.language,
          situation: draft.situation,
          level: draft.level,
          owner_id: draft.ownerId,
          conversation_id: conversationId,
          created_at: Date.now()
        }
        const [inserted] = yield* sql`INSERT INTO example_chat_room ${sql.insert(row)} RETURNING *`
        return toRoom(yield* Schema.decodeUnknown(RoomRow)(inserted).pipe(Effect.orDie))
      })

    // #region create
    /** Creates a room: the before-create hooks, then the INSERT, in one transaction. */
    const create = Effect.fn("Rooms.create")(function* (draft: RoomDraft) {
      return yield* sql
        .withTransaction(
          Effect.gen(function* () {
            const ready = yield* Lifecycle.beforeCreate(roomHooks, draft)
            if (ready.conversationId === null) {
              // the seed's "'NoneType' object has no attribute 'pk'": a room without its hook
              return yield* Effect.dieMessage("a room needs a conversation: did its before-create hook run?")
            }
            return yield* insert(ready, ready.conversationId)
          })
        )
        .pipe(
          Effect.provideService(ConversationStore.ConversationStore, store),
          Effect.catchTag("StoreError", (error) => Effect.fail(storeUnavailable(error))),
          unavailable("Rooms.create")
        )
    })
    // #endregion

    const byId = Effect.fn("Rooms.byId")(function* (id: number) {
      const row = yield* findById(id).pipe(Effect.catchTag("ParseError", Effect.die), unavailable("Rooms.byId"))
      return Option.map(row, toRoom)
    })

    /** The room of a conversation (the agent's prompt context comes from it). */
    const byConversation = Effect.fn("Rooms.byConversation")(function* (conversationId: number) {
      const row = yield* findByConversation(conversationId).pipe(
        Effect.catchTag("ParseError", Effect.die),
        unavailable("Rooms.byConversation")
      )
      return Option.map(row, toRoom)
    })

    const list = Effect.fn("Rooms.list")(function* () {
      const rows = yield* all(undefined).pipe(Effect.catchTag("ParseError", Effect.die), unavailable("Rooms.list"))
      return rows.map(toRoom)
    })

    const listOfOwner = Effect.fn("Rooms.listOfOwner")(function* (ownerId: number) {
      const rows = yield* ofOwner(ownerId).pipe(
        Effect.catchTag("ParseError", Effect.die),
        unavailable("Rooms.listOfOwner")
      )
      return rows.map(toRoom)
    })

    return { create, byId, byConversation, list, listOfOwner } as const
  })
}) {}
