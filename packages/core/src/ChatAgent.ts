/**
 * A chat agent: django-pyhub-ai's `AgentChatConsumer`, minus the transport. Declared once with
 * its settings (model, temperature, max tokens, timeout, system prompt template and its context,
 * first user message, tools) and bound to any transport: `connect` turns a connection into a
 * session that takes client messages and gives a stream of server events, and persists every turn.
 *
 * Every setting is a value or a function of the connection (pyhub's `get_*` / `aget_*`
 * overrides). Hooks (`canAccept`, `getConversationId`, `getConversation`, `getPreviousMessages`,
 * `onConversationComplete`) are layers: see `ChatAgentHooks`.
 *
 * @since 0.1.0
 */
import type { BaseMessage } from "@langchain/core/messages"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as ChatAgentHooks from "./ChatAgentHooks.js"
import type { Connection } from "./Connection.js"
import * as ConversationEvents from "./ConversationEvents.js"
import {
  type Conversation,
  ConversationStore as ConversationStoreTag,
  type ConversationStoreError,
  type StoreError
} from "./ConversationStore.js"
import type { ConversationStore } from "./ConversationStore.js"
import * as Lifecycle from "./internal/lifecycle.js"
import * as session from "./internal/session.js"
import * as TurnRecover from "./internal/turnRecover.js"
import * as TurnLock from "./TurnLock.js"
import type * as LlmModels from "./LlmModels.js"
import type * as Protocol from "./Protocol.js"

/**
 * A value, or a function of the connection giving the value (directly or as an Effect).
 *
 * @since 0.1.0
 * @category models
 */
export type Setting<A> = A | ((connection: Connection) => A | Effect.Effect<A>)

/**
 * A tool the model may call: any LangChain tool (`tool(...)`, `DynamicStructuredTool`,
 * `StructuredTool` subclasses). Typed structurally, so tools built with either Zod or JSON schema fit.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tool {
  readonly name: string
  readonly description: string
  readonly invoke: (input: any, config?: any) => Promise<unknown>
}

/**
 * Input limits. A message over a limit is answered with an error event and nothing is stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  /** Maximum characters of a user message. Default 32,000. */
  readonly maxTextLength: number
  /** Maximum images in one message. Default 4. */
  readonly maxImages: number
  /** Maximum decoded bytes of one image. Default 5 MiB. */
  readonly maxImageBytes: number
  /**
   * Accepted image media types. Default png, jpeg, gif, webp. An image's decoded bytes must start
   * with its type's signature (known for png, jpeg, gif, webp, bmp, tiff, avif, heic; any other
   * type is refused as `invalid_image`).
   */
  readonly imageTypes: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category defaults
 */
export const defaultLimits: Limits = {
  maxTextLength: 32_000,
  maxImages: 4,
  maxImageBytes: 5 * 1024 * 1024,
  imageTypes: ["image/png", "image/jpeg", "image/gif", "image/webp"]
}

/**
 * What a summarizer is given: the summary so far (`null` for the first) and the messages that
 * fell out of the context window since, oldest first.
 *
 * @since 0.3.0
 * @category models
 */
export interface SummaryInput {
  readonly previous: string | null
  readonly messages: ReadonlyArray<BaseMessage>
}

/**
 * Writes a running summary: a chat model (asked with a built-in prompt; any object with LangChain's
 * `invoke`, e.g. a cheaper model than the agent's) or a function giving the new summary.
 *
 * @since 0.3.0
 * @category models
 */
export type Summarizer =
  | { readonly invoke: (messages: Array<BaseMessage>) => Promise<{ readonly content: unknown }> }
  | ((input: SummaryInput) => string | Promise<string> | Effect.Effect<string>)

/**
 * What of the history each turn sends to the model. The newest whole turns that fit are sent
 * (a turn's human message never without its reply, a tool call never without its result); older
 * ones are left out, and read from the store only as far as needed.
 *
 * @since 0.3.0
 * @category models
 */
export interface ContextPolicy {
  /**
   * Tokens of the model input: system prompt, tool definitions, the summary, the history and the
   * new message. Default: the model spec's `contextWindow` minus the reply's tokens (`maxTokens`
   * when set, else the spec's `maxOutputTokens`). A new message that does not fit with the system
   * prompt and tools alone is refused (`too_large`) before anything is stored or sent.
   */
  readonly maxTokens?: number | undefined
  /** At most this many history messages (still whole turns). Default: no limit but tokens. */
  readonly maxMessages?: number | undefined
  /**
   * Keeps a running summary of what fell out of the window, sent first (after the system prompt)
   * while the history is cut. Written after a turn, in the background (never delaying a reply),
   * into the conversation's metadata (`convo:summary`). Off by default.
   */
  readonly summarize?: Summarizer | undefined
  /** The summary is updated at most once per this many turns cut from the window. Default 10. */
  readonly summarizeEvery?: number | undefined
}

/**
 * How a chat agent is declared.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** A name for logs and spans. */
  readonly name?: string | undefined
  /** The model spec (S6), e.g. `LlmModels.openAiGpt4o`. */
  readonly model: Setting<LlmModels.ModelSpec>
  readonly temperature?: Setting<number> | undefined
  /** Clamped to the model spec's maximum output tokens, with a warning. */
  readonly maxTokens?: Setting<number> | undefined
  /**
   * Time allowed for one model call (its retries included); past it, the request is aborted and
   * the turn ends with a `timeout` error (or `model_error` naming the last failure, when an
   * attempt failed) and is stored as `error`.
   */
  readonly timeout?: Setting<Duration.DurationInput> | undefined
  /** The system prompt template (S7): `{언어}`-style placeholders filled from `promptContext`. */
  readonly systemPrompt?: Setting<string> | undefined
  /** The values of the placeholders. */
  readonly promptContext?: Setting<Readonly<Record<string, unknown>>> | undefined
  /** Sent as the user's first message when the history is empty, so the agent speaks first (S8). */
  readonly firstUserMessage?: Setting<string> | undefined
  /** LangChain tools the model may call (S15). */
  readonly tools?: Setting<ReadonlyArray<Tool>> | undefined
  /** Input limits; defaults in `defaultLimits`. */
  readonly limits?: Partial<Limits> | undefined
  /** What of the history each turn sends to the model; see `ContextPolicy`. */
  readonly context?: Setting<ContextPolicy> | undefined
  /** Messages sent to the client on connect and per `load_history` page. Default 50. */
  readonly historyPageSize?: number | undefined
  /** Model calls allowed in one turn when tools are called. Default 8. */
  readonly maxToolRounds?: number | undefined
  /** Attempts for a tool that throws before its error becomes the tool's result. Default 2. */
  readonly toolAttempts?: number | undefined
  /**
   * Attempts of a model call that fails before its first chunk with a rate limit (429), a server
   * error (5xx) or a lost connection, with exponential backoff, all within `timeout`. Default 3.
   */
  readonly modelAttempts?: number | undefined
  /**
   * How often a streaming reply is written to the store while it streams, so a crash (kill -9,
   * OOM) loses at most this much of it. `null`: never. Default 1 second.
   */
  readonly checkpointInterval?: Duration.DurationInput | null | undefined
  /**
   * Delta coalescing: the reply's text that arrives while the event loop is busy is sent as one
   * `message_delta` (one event id, one stored event, one frame per watcher), cut when the loop would
   * otherwise wait and never held longer than this after its first text. A model whose chunks come
   * one per network read or timer still gets a delta per chunk, with no added latency. At most 20 ms
   * (a larger value counts as 20 ms); `0`: one delta per chunk. Default 10 ms.
   */
  readonly deltaWindow?: Duration.DurationInput | undefined
  /**
   * How long the end of a turn retries while the store is unreachable (clients get `saving`).
   * Past it the reply is stored later, from its last checkpoint, as `error`. Default 60 seconds.
   */
  readonly saveWindow?: Duration.DurationInput | undefined
  /**
   * Turns of one conversation that may wait, the running one included (across processes on a shared
   * database); a message past it gets a `busy` error and is not stored. Default 8.
   */
  readonly maxQueuedMessages?: number | undefined
}

/**
 * A declared chat agent.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatAgent {
  readonly _tag: "ChatAgent"
  readonly name: string
  readonly options: Options
  readonly limits: Limits
}

/**
 * Declares a chat agent.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import * as ChatAgent from "@convo/core/ChatAgent"
 * import * as LlmModels from "@convo/core/LlmModels"
 *
 * export const tutor = ChatAgent.make({
 *   model: LlmModels.openAiGpt4o,
 *   temperature: 1,
 *   systemPrompt: "You are a language tutor. Let's talk in {언어}.",
 *   promptContext: { 언어: "중국어" },
 *   firstUserMessage: "첫 문장으로 대화를 시작해주세요."
 * })
 */
export const make = (options: Options): ChatAgent => ({
  _tag: "ChatAgent",
  name: options.name ?? "chat-agent",
  options,
  limits: { ...defaultLimits, ...options.limits }
})

/**
 * Why a connection was refused: no user where one is required (`Unauthenticated`), a user who may
 * not open this conversation (`Forbidden`), an unknown conversation (`NotFound`), or the store
 * failed (`Unavailable`). Adapters map each reason to a close code or an HTTP status.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionRejected extends Schema.TaggedError<ConnectionRejected>(
  "@convo/core/ChatAgent/ConnectionRejected"
)("ConnectionRejected", {
  reason: Schema.Literal("Unauthenticated", "Forbidden", "NotFound", "Unavailable"),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isConnectionRejected = (u: unknown): u is ConnectionRejected => u instanceof ConnectionRejected

/**
 * An open session of one connection with an agent. It lives as long as its scope: closing the
 * scope (a disconnect) interrupts a running turn, which is then stored as `aborted`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly connection: Connection
  /** The conversation, or `null` when the connection has none (the chat works; nothing is stored). */
  readonly conversation: Conversation | null
  /**
   * Server events, in order: the history page first. Ends when the session closes. Read either
   * this or `attach`, once.
   */
  readonly events: Stream.Stream<Protocol.ServerEvent>
  /**
   * Attaches the transport's writer instead of reading `events`: it gets the events kept so far,
   * then each event synchronously as it is produced — no queue, fiber or stream step per event.
   * Events a live event of the conversation became are shared: every session of the process that
   * sees it gets the same object, so `Protocol.encodeServerEvent` serialises it once for all.
   */
  readonly attach: (writer: SessionWriter) => Effect.Effect<void>
  /** Takes one decoded client message. User messages run as turns one after another. */
  readonly send: (message: Protocol.ClientMessage) => Effect.Effect<void>
  /** Takes one raw text frame: decodes it, answering a bad frame with an error event. */
  readonly receive: (frame: string) => Effect.Effect<void>
  /** Waits until no turn is running or queued. */
  readonly idle: Effect.Effect<void>
  /**
   * Completes when a graceful shutdown (`ChatAgent.shutdown`) has ended the session's turns and
   * `events` has ended after their last event: a transport then closes the connection (WebSocket 1001).
   */
  readonly goingAway: Effect.Effect<void>
}

/**
 * A transport's writer of a session's events (`Session.attach`).
 *
 * @since 0.2.0
 * @category models
 */
export interface SessionWriter {
  /** One event, in order, called synchronously by whatever produced it: it must not block or throw. */
  readonly onEvent: (event: Protocol.ServerEvent) => void
  /**
   * Called once after the last event: the session closed, or a graceful shutdown ended its turns
   * (then `goingAway` completes too).
   */
  readonly onEnd?: (() => void) | undefined
}

/**
 * What a session needs from its environment.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = ConversationStore | LlmModels.ChatModelFactory

/**
 * How a session opens (`connect`).
 *
 * @since 0.3.0
 * @category models
 */
export interface ConnectOptions {
  /**
   * `false`: no history page is read or sent — for a transport that answers one message and shows
   * the history some other way (`HttpChat`'s `POST`, which opens a session per message). The
   * session then reads only whether the history is empty, and only when the agent has a first
   * user message. Default `true`: the newest page is the session's first event.
   */
  readonly history?: boolean | undefined
}

/**
 * Opens a session: resolves the user's access (`canAccept`), the conversation id and the
 * conversation, checks ownership (a conversation with an owner opens only for its owner; fail
 * closed), sends the history and, when it is empty and a first user message is set, runs the first
 * turn.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect: (
  agent: ChatAgent,
  connection: Connection,
  options?: ConnectOptions
) => Effect.Effect<Session, ConnectionRejected, Requirements | Scope.Scope> = Effect.fn("ChatAgent.connect")(function* (
  agent: ChatAgent,
  connection: Connection,
  options?: ConnectOptions
) {
  return yield* session.open(agent, connection, options?.history ?? true)
})

/**
 * Runs the access checks of a connection without opening a session (no model, no history, no
 * first turn): `canAccept`, the conversation id, the conversation and ownership. Gives the
 * conversation (`null`: the connection has none). For transports' one-shot requests such as
 * reading history or clearing.
 *
 * @since 0.1.0
 * @category access
 */
export const authorize: (
  agent: ChatAgent,
  connection: Connection
) => Effect.Effect<Conversation | null, ConnectionRejected, ConversationStore> = Effect.fn("ChatAgent.authorize")(
  function* (_agent: ChatAgent, connection: Connection) {
    const { conversation } = yield* session.authorize(connection)
    return conversation
  }
)

/**
 * A page of the connection's history, as a `history` event, after the access checks. Without
 * `before`, the newest page.
 *
 * @since 0.1.0
 * @category access
 */
export const history: (
  agent: ChatAgent,
  connection: Connection,
  query?: { readonly before?: number | undefined; readonly limit?: number | undefined }
) => Effect.Effect<Protocol.ServerEventOf<"history">, ConnectionRejected | ConversationStoreError, ConversationStore> =
  Effect.fn("ChatAgent.history")(function* (
    agent: ChatAgent,
    connection: Connection,
    query?: { readonly before?: number | undefined; readonly limit?: number | undefined }
  ) {
    const { conversation } = yield* session.authorize(connection)
    return yield* session.historyPage(connection, conversation, {
      before: query?.before,
      limit: query?.limit ?? agent.options.historyPageSize ?? 50
    })
  })

/**
 * Clears the connection's conversation (S4) after the access checks. Refused (`NotFound`) for a
 * connection without a conversation. In a conversation without an owner, where each user sees only
 * their own messages, only the connection's user's messages are removed.
 *
 * @since 0.1.0
 * @category access
 */
export const clear: (
  agent: ChatAgent,
  connection: Connection
) => Effect.Effect<void, ConnectionRejected | ConversationStoreError, ConversationStore> = Effect.fn("ChatAgent.clear")(
  function* (agent: ChatAgent, connection: Connection) {
    const conversation = yield* authorize(agent, connection)
    if (conversation === null) {
      return yield* new ConnectionRejected({ reason: "NotFound", detail: "this connection has no conversation" })
    }
    const store = yield* ConversationStoreTag
    yield* store.clear(
      conversation.id,
      conversation.userId === null ? { userId: connection.user?.id ?? null } : undefined
    )
  }
)

/**
 * Recovers the turns that processes which died left behind (a human message written ahead, no
 * end stored): each is stored with its last checkpoint as `interrupted`, and the conversation's
 * watchers are told (`turn_end`). Turns whose process still runs are left alone (the turn lock
 * tells: `TurnLock.isAlive`). Run it at start-up (`layerRecovery`); sessions also recover their
 * conversation when they open and before each turn. Gives how many pending turns it looked at.
 *
 * @since 0.2.0
 * @category durability
 */
export const recover: Effect.Effect<number, StoreError, ConversationStore> = Effect.gen(function* () {
  const store = yield* ConversationStoreTag
  const lock = yield* TurnLock.current
  const bus = yield* ConversationEvents.current
  return yield* TurnRecover.recoverAll({
    store,
    lock,
    publishTo: (conversationId, event) => Effect.asVoid(bus.publish(conversationId, event))
  })
}).pipe(Effect.withSpan("ChatAgent.recover"))

/**
 * Runs `recover` when the layer is built, in the background (start-up is not delayed; a failure
 * is logged).
 *
 * @since 0.2.0
 * @category durability
 */
export const layerRecovery: Layer.Layer<never, never, ConversationStore> = Layer.scopedDiscard(
  recover.pipe(
    Effect.tap((count) => (count > 0 ? Effect.logInfo(`recovery: looked at ${count} pending turn(s)`) : Effect.void)),
    Effect.catchAll((error) => Effect.logWarning("recovery at start-up failed", error)),
    Effect.forkScoped
  )
)

/**
 * A graceful shutdown of every chat session of this process, for a server's SIGTERM: new
 * connections and messages are refused (`unavailable`), queued messages are stored as `aborted`,
 * running turns get `grace` to finish and are then stopped (stored as `aborted`), every client
 * gets its turn's `turn_end`, and then each session's `goingAway` completes, which the transports
 * answer by closing (WebSocket close code 1001). Run it before the server closes.
 *
 * @since 0.2.0
 * @category durability
 */
export const shutdown = (options?: {
  /** How long running turns may go on before they are stopped. Default 10 seconds. */
  readonly grace?: Duration.DurationInput | undefined
  /** How long stopped turns have to store themselves. Default 10 seconds. */
  readonly saveDeadline?: Duration.DurationInput | undefined
}): Effect.Effect<void> => Lifecycle.shutdown(options)

/**
 * Re-exported for convenience: the hooks service and its layer.
 *
 * @since 0.1.0
 * @category hooks
 */
export type { ChatAgentHooks }
