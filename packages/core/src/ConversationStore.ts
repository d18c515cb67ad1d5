/**
 * The storage port: conversations and their messages. Implementations: `layerMemory` here, and
 * `SqlConversationStore.layer` (PostgreSQL and SQLite through `@effect/sql`). Any other
 * implementation is proven by passing the conformance suite in `@convo/testing`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as internalMemory from "./internal/memoryStore.js"
import * as internalStore from "./internal/store.js"
import type { Json } from "./MessageCodec.js"
import { MessageCodec } from "./MessageCodec.js"

/**
 * A conversation id. Integer row ids, kept as numbers (safe up to 2^53).
 *
 * @since 0.1.0
 * @category models
 */
export type ConversationId = number

/**
 * A conversation's public id: what apps, URLs and clients use. Chosen by the caller (an app's own
 * thread id, LangChain's `sessionId`, the AI SDK's chat `id`) or generated (a UUIDv7: unguessable,
 * 74 random bits, sortable by creation time). Unique; 1 to 255 characters, no control characters,
 * not only digits (so a route value reads either as an integer id or as a public id, never both).
 *
 * @since 0.2.0
 * @category models
 */
export type PublicId = string

/**
 * How a conversation is named at the edges: its integer id or its public id.
 *
 * @since 0.2.0
 * @category models
 */
export type ConversationRef = ConversationId | PublicId

/**
 * A conversation ("chat room" in the seed). `userId` is the owner; `null` means nobody owns it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Conversation {
  /** The internal key: messages, locks and events use it. */
  readonly id: ConversationId
  /** The public id (see `PublicId`). */
  readonly publicId: PublicId
  readonly userId: string | null
  readonly title: string | null
  readonly metadata: Readonly<Record<string, unknown>>
  readonly createdAt: Date
  readonly updatedAt: Date
}

/**
 * How a stored message ended: a completed turn, a turn stopped by the user, a disconnect or a
 * shutdown (`aborted`), a turn that failed (the model errored or timed out, or the reply could not
 * be saved in time: `error`), or a turn whose process died (`interrupted`, stored by recovery with
 * what was checkpointed).
 *
 * @since 0.1.0
 * @category models
 */
export type MessageStatus = "complete" | "aborted" | "error" | "interrupted"

/**
 * What a stored message is, derived from its content when it is appended.
 *
 * @since 0.1.0
 * @category models
 */
export type MessageKind = "human" | "ai" | "system" | "tool" | "function" | "data" | "unknown"

/**
 * A message row as stored, without its decoded content.
 *
 * @since 0.1.0
 * @category models
 */
export interface MessageRow {
  readonly id: number
  readonly conversationId: ConversationId
  /** Position in the conversation: 1, 2, 3, ... never reused, never skipped by an append. */
  readonly seq: number
  /** Groups the human, tool and AI messages written by one turn. */
  readonly turnId: string
  readonly userId: string | null
  /** The idempotency key the client sent with its message, if any. */
  readonly clientId: string | null
  readonly kind: MessageKind
  readonly status: MessageStatus
  readonly inputTokens: number | null
  readonly outputTokens: number | null
  readonly createdAt: Date
}

/**
 * A history entry whose content decoded: `value` is a LangChain message, `Uint8Array`, a table,
 * an agent step record, plain JSON, or an opaque value of an unregistered `_type` (see
 * `MessageCodec`). `content` is the stored JSON: a tagged envelope `{"_type", "_value"}`, or plain
 * JSON (pyhub stored tool outputs as plain objects holding tagged values).
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodedEntry extends MessageRow {
  readonly _tag: "Decoded"
  readonly value: unknown
  readonly content: Json
}

/**
 * A history entry whose stored content could not be decoded. History still loads; the row is
 * kept as it is, with its raw text and the reason.
 *
 * @since 0.1.0
 * @category models
 */
export interface UndecodableEntry extends MessageRow {
  readonly _tag: "Undecodable"
  readonly raw: string
  readonly reason: string
}

/**
 * @since 0.1.0
 * @category models
 */
export type HistoryEntry = DecodedEntry | UndecodableEntry

/**
 * One message to append as part of a turn.
 *
 * @since 0.1.0
 * @category models
 */
export interface NewMessage {
  /** The value to store: a LangChain message or any value the codec can encode. */
  readonly value: unknown
  readonly status?: MessageStatus | undefined
  /** Idempotency key. Appending a turn whose message carries an already-stored client id stores nothing. */
  readonly clientId?: string | null | undefined
  /**
   * The stored JSON text to write as it is instead of encoding `value` (an import keeps its
   * source's content exactly); `value` still gives the row's kind and token counts. It must be JSON
   * as Python's `json.loads` reads it.
   *
   * @since 0.2.0
   */
  readonly content?: string | undefined
}

/**
 * The messages of one turn, appended atomically.
 *
 * @since 0.1.0
 * @category models
 */
export interface NewTurn {
  readonly conversationId: ConversationId
  readonly userId: string | null
  /** Generated when absent. */
  readonly turnId?: string | undefined
  readonly messages: ReadonlyArray<NewMessage>
}

/**
 * What an append did: the stored rows, and whether they were already there (an idempotent repeat).
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendResult {
  readonly turnId: string
  readonly rows: ReadonlyArray<MessageRow>
  readonly duplicate: boolean
}

/**
 * A user message written ahead of its turn: durable as soon as `accept` returns, outside the
 * history (no `seq`) until its turn is appended.
 *
 * @since 0.2.0
 * @category models
 */
export interface NewPendingTurn {
  readonly conversationId: ConversationId
  readonly userId: string | null
  readonly turnId: string
  /** Idempotency key: a client id already stored or pending answers `Duplicate`. */
  readonly clientId?: string | null | undefined
  /** The human message (a LangChain message or any value the codec can encode). */
  readonly value: unknown
  /** The process that runs the turn (`TurnLock.owner`); recovery asks whether it is alive. */
  readonly owner: string
  /** Answer `Busy` when the conversation already has this many pending turns. */
  readonly maxPending?: number | undefined
}

/**
 * What `accept` did.
 *
 * @since 0.2.0
 * @category models
 */
export type AcceptResult =
  | { readonly _tag: "Accepted"; readonly turnId: string; readonly acceptedAt: Date }
  | { readonly _tag: "Duplicate"; readonly turnId: string }
  | { readonly _tag: "Busy"; readonly pending: number }

/**
 * A turn written ahead and not yet appended: queued, running, or left behind by a process that died.
 *
 * @since 0.2.0
 * @category models
 */
export interface PendingTurn {
  readonly conversationId: ConversationId
  readonly turnId: string
  readonly userId: string | null
  readonly clientId: string | null
  readonly owner: string
  readonly acceptedAt: Date
  /** When the last checkpoint was written, if any. */
  readonly checkpointedAt: Date | null
  /** The human message, decoded. */
  readonly human: unknown
  /** What the turn produced up to its last checkpoint (tool calls, tool results, the reply so far), decoded. */
  readonly draft: ReadonlyArray<unknown>
}

/**
 * A history read. Without `after`, returns the newest `limit` messages older than `before`
 * (all when no limit); with `after`, the oldest `limit` messages newer than `after`. Entries are
 * always in `seq` order. `userId: undefined` reads every user's messages; a string or `null`
 * filters on that user, as the seed's history query does.
 *
 * @since 0.1.0
 * @category models
 */
export interface HistoryQuery {
  readonly userId?: string | null | undefined
  readonly before?: number | undefined
  readonly after?: number | undefined
  readonly limit?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface HistoryPage {
  readonly entries: ReadonlyArray<HistoryEntry>
  /** True when more messages exist in the direction read (older without `after`, newer with it). */
  readonly hasMore: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface NewConversation {
  /** The public id to give it; generated when absent. A public id already taken fails with reason `Conflict`. */
  readonly publicId?: PublicId | undefined
  readonly userId?: string | null | undefined
  readonly title?: string | null | undefined
  readonly metadata?: Readonly<Record<string, unknown>> | undefined
}

/**
 * Conversations of one owner, newest first; `before` is the id cursor from the previous page.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListQuery {
  readonly userId: string | null
  readonly before?: ConversationId | undefined
  readonly limit?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ConversationPage {
  readonly conversations: ReadonlyArray<Conversation>
  readonly hasMore: boolean
}

/**
 * The conversation does not exist (or was deleted).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConversationNotFound extends Schema.TaggedError<ConversationNotFound>(
  "@convo/core/ConversationStore/ConversationNotFound"
)("ConversationNotFound", {
  conversationId: Schema.Union(Schema.Number, Schema.String)
}) {
  override get message(): string {
    return `conversation ${typeof this.conversationId === "string" ? JSON.stringify(this.conversationId) : this.conversationId} not found`
  }
}

/**
 * The store could not do what was asked: the database is unreachable or failed (`Unavailable`),
 * the input was rejected (`InvalidInput`), a value could not be encoded (`Encode`), or a public id
 * is already taken (`Conflict`).
 * Driver errors such as `SqlError` are mapped to this and kept as `cause`.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>("@convo/core/ConversationStore/StoreError")(
  "StoreError",
  {
    reason: Schema.Literal("Unavailable", "InvalidInput", "Encode", "Conflict"),
    operation: Schema.String,
    detail: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  override get message(): string {
    return `${this.operation}: ${this.reason}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export type ConversationStoreError = ConversationNotFound | StoreError

/**
 * @since 0.1.0
 * @category guards
 */
export const isConversationStoreError = (u: unknown): u is ConversationStoreError =>
  u instanceof ConversationNotFound || u instanceof StoreError

/**
 * Whether a value is a valid public id (see `PublicId`).
 *
 * @since 0.2.0
 * @category guards
 */
export const isPublicId = (u: unknown): u is PublicId => internalStore.isPublicId(u)

/**
 * A fresh public id, as `create` generates one: a UUIDv7 from `crypto.getRandomValues`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makePublicId = (): PublicId => internalStore.newPublicId()

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly create: (input: NewConversation) => Effect.Effect<Conversation, StoreError>
  /** By integer id or by public id (a string): one indexed lookup either way. */
  readonly get: (id: ConversationRef) => Effect.Effect<Conversation, ConversationStoreError>
  readonly list: (query: ListQuery) => Effect.Effect<ConversationPage, StoreError>
  /**
   * Appends the messages of one turn in one transaction with one multi-row INSERT. When the turn's
   * `turnId` was written ahead (`accept`), its pending row is removed in the same transaction; when
   * the `turnId` is already in the history, nothing is stored (`duplicate: true`).
   */
  readonly append: (turn: NewTurn) => Effect.Effect<AppendResult, ConversationStoreError>
  /**
   * Appends many turns in one transaction, in order, each as `append` would (its own `turnId`,
   * contiguous gapless `seq`, a turn whose `turnId` or a client id is already stored stores nothing
   * and comes back with `duplicate: true`). All or nothing: a turn that fails (an unknown
   * conversation, a value that does not encode) stores none of them. For imports: give each turn a
   * `turnId` derived from its source and a re-run stores nothing twice.
   */
  readonly bulkAppend: (
    turns: ReadonlyArray<NewTurn>
  ) => Effect.Effect<ReadonlyArray<AppendResult>, ConversationStoreError>
  /** Writes a user message ahead of its turn: durable when this succeeds, in the history only once its turn is appended. */
  readonly accept: (turn: NewPendingTurn) => Effect.Effect<AcceptResult, ConversationStoreError>
  /**
   * Saves what a pending turn produced so far (replacing the previous checkpoint). Gives `false`
   * when the turn is no longer pending (appended or recovered meanwhile).
   */
  readonly checkpoint: (
    conversationId: ConversationId,
    turnId: string,
    draft: ReadonlyArray<unknown>
  ) => Effect.Effect<boolean, ConversationStoreError>
  /** Drops a pending turn without storing it (for an `onConversationComplete` that stores turns elsewhere). */
  readonly release: (conversationId: ConversationId, turnId: string) => Effect.Effect<void, StoreError>
  /** The pending turns of one conversation, or of every conversation, oldest first. */
  readonly pending: (conversationId?: ConversationId) => Effect.Effect<ReadonlyArray<PendingTurn>, StoreError>
  readonly history: (id: ConversationId, query?: HistoryQuery) => Effect.Effect<HistoryPage, ConversationStoreError>
  /**
   * Removes every message of the conversation and nothing else (S4). `seq` is never reused. With
   * `userId` (a string or `null`), removes only that user's messages, as `HistoryQuery` filters them.
   */
  readonly clear: (
    id: ConversationId,
    options?: { readonly userId?: string | null | undefined }
  ) => Effect.Effect<void, ConversationStoreError>
  /** Deletes the conversation and, by cascade, its messages. */
  readonly delete: (id: ConversationId) => Effect.Effect<void, ConversationStoreError>
  /**
   * Sets keys of the conversation's metadata, keeping the others (a shallow merge, atomic with
   * respect to other merges); a key set to `undefined` is removed. Optional: chat agents write their
   * running summaries with it (`ChatAgent.ContextPolicy.summarize`), and a store without it keeps none.
   *
   * @since 0.3.0
   */
  readonly updateMetadata?: (
    id: ConversationId,
    patch: Readonly<Record<string, unknown>>
  ) => Effect.Effect<Conversation, ConversationStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ConversationStore extends Context.Tag("@convo/core/ConversationStore")<ConversationStore, Service>() {}

/**
 * An in-memory store, for tests and demos. It behaves like the SQL store: content is kept as
 * encoded JSON text (so a value that decodes badly reads back as an `Undecodable` entry), `seq`
 * is gapless per conversation and never reused after `clear`, client ids are idempotency keys,
 * and each turn is written in one step. Nothing survives the process.
 *
 * @example
 * ```ts
 * import * as ConversationStore from "@convo/core/ConversationStore"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function* () {
 *   const store = yield* ConversationStore.makeMemory
 *   const conversation = yield* store.create({ title: "demo" })
 *   return yield* store.history(conversation.id)
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service, never, MessageCodec> = Effect.map(
  MessageCodec,
  (codec) => internalMemory.make(codec).service
)

/**
 * The in-memory store as a layer; it needs a `MessageCodec` (`MessageCodec.layer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<ConversationStore, never, MessageCodec> = Layer.effect(
  ConversationStore,
  makeMemory
)
