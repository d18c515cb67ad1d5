/**
 * The hooks of a chat agent (pyhub's `can_accept`, `get_conversation_pk`, `get_conversation`,
 * `aget_previous_messages`, `on_conversation_complete`), as a service with defaults. An app
 * replaces only the hooks it needs with `layer({ ... })`; the others keep their defaults.
 * Hooks are read when a connection opens, so a layer provided to the connection applies.
 *
 * @since 0.1.0
 */
import type { BaseMessage } from "@langchain/core/messages"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Connection } from "./Connection.js"
import {
  type Conversation,
  type ConversationRef,
  type ConversationStoreError,
  type HistoryEntry,
  type MessageStatus,
  ConversationStore,
  isPublicId
} from "./ConversationStore.js"

/**
 * What a turn hands to `onConversationComplete` besides the messages.
 *
 * @since 0.1.0
 * @category models
 */
export interface TurnContext {
  readonly connection: Connection
  readonly conversation: Conversation
  readonly turnId: string
  /** `complete`, or `aborted` / `error` when the turn was stopped or failed: the hook is called either way. */
  readonly status: MessageStatus
  /** The idempotency key the client sent with its message. */
  readonly clientId: string | null
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Hooks {
  /** Decides whether a connection is accepted. Default: only an authenticated user. */
  readonly canAccept: (connection: Connection) => Effect.Effect<boolean>
  /**
   * The conversation of a connection, by integer id or public id. Default: the route parameter
   * `conversation_pk`, `conversation_id`, `pk` or `id`, the first present; none gives `null` ("no
   * conversation": the chat works, nothing is stored). Digits read as the integer id (a positive
   * integer), any other value as a public id; a value that is neither fails.
   */
  readonly getConversationId: (connection: Connection) => Effect.Effect<ConversationRef | null, InvalidConversationId>
  /** Loads the conversation. Default: by integer id or public id from the store; `null` gives `null`. */
  readonly getConversation: (
    connection: Connection,
    conversationId: ConversationRef | null
  ) => Effect.Effect<Conversation | null, ConversationStoreError, ConversationStore>
  /** The stored history of this conversation for this user, in order (the seed filters on both). */
  readonly getPreviousMessages: (
    connection: Connection,
    conversation: Conversation
  ) => Effect.Effect<ReadonlyArray<HistoryEntry>, ConversationStoreError, ConversationStore>
  /**
   * Called when a turn ends. Default: stores the human message, the tool outputs and the AI
   * message in one transaction, one multi-row INSERT, with the turn's status.
   */
  readonly onConversationComplete: (
    human: BaseMessage,
    ai: BaseMessage | null,
    toolsOutput: ReadonlyArray<BaseMessage>,
    context: TurnContext
  ) => Effect.Effect<void, ConversationStoreError, ConversationStore>
}

/**
 * A route parameter named a conversation but was not a valid id.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidConversationId extends Data.TaggedError("InvalidConversationId")<{ readonly value: string }> {}

/**
 * The partial set of hooks an app provides.
 *
 * @since 0.1.0
 * @category tags
 */
export class ChatAgentHooks extends Context.Tag("@convo/core/ChatAgentHooks")<ChatAgentHooks, Partial<Hooks>>() {}

const conversationParams = ["conversation_pk", "conversation_id", "pk", "id"] as const

/**
 * The default hooks.
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaults: Hooks = {
  canAccept: (connection) => Effect.succeed(connection.user !== null),
  getConversationId: (connection) => {
    for (const name of conversationParams) {
      const value = connection.params[name]
      if (value === undefined) continue
      if (/^[0-9]+$/.test(value)) {
        return /^[1-9][0-9]{0,15}$/.test(value) && Number.isSafeInteger(Number(value))
          ? Effect.succeed(Number(value))
          : Effect.fail(new InvalidConversationId({ value }))
      }
      return isPublicId(value) ? Effect.succeed(value) : Effect.fail(new InvalidConversationId({ value }))
    }
    return Effect.succeed(null)
  },
  getConversation: (_connection, conversationId) =>
    conversationId === null
      ? Effect.succeed(null)
      : Effect.flatMap(ConversationStore, (store) => store.get(conversationId)),
  getPreviousMessages: (connection, conversation) =>
    Effect.flatMap(ConversationStore, (store) =>
      Effect.map(store.history(conversation.id, { userId: connection.user?.id ?? null }), (page) => page.entries)
    ),
  onConversationComplete: (human, ai, toolsOutput, context) =>
    Effect.flatMap(ConversationStore, (store) =>
      store.append({
        conversationId: context.conversation.id,
        userId: context.connection.user?.id ?? null,
        turnId: context.turnId,
        messages: [
          { value: human, status: context.status, clientId: context.clientId },
          ...toolsOutput.map((value) => ({ value, status: context.status })),
          ...(ai === null ? [] : [{ value: ai, status: context.status }])
        ]
      })
    ).pipe(Effect.asVoid)
}

/**
 * Replaces some hooks; the others keep their defaults.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (hooks: Partial<Hooks>): Layer.Layer<ChatAgentHooks> => Layer.succeed(ChatAgentHooks, hooks)

/**
 * The hooks in force: the provided ones over the defaults.
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Hooks> = Effect.map(Effect.serviceOption(ChatAgentHooks), (option) =>
  option._tag === "Some" ? { ...defaults, ...option.value } : defaults
)
