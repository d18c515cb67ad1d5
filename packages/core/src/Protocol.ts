/**
 * The wire protocol between a chat client and a chat agent: JSON text frames over WebSocket, and
 * the same events as server-sent events over HTTP. One Schema, used by the server, the tests and
 * the browser client.
 *
 * Client → server: `ping`, `user_message` (text, images, client id), `stop`, `load_history`
 * (cursor), and pyhub's legacy `{"user_text", "images__base64"}` form.
 *
 * Server → client: `pong`, `history`, `received` (a user message is stored and will run),
 * `saving` (the turn's end is waiting for the database), `turn_start`, `message_start` / `message_delta` /
 * `message_end` (stable ids; a delta carries only new text), `tool_call`, `tool_result`, `usage`
 * (numbers), `turn_end`, and `error` (a code and a message safe to show).
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as InputBounds from "./internal/inputBounds.js"

// ---------------------------------------------------------------------------
// client → server
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category client
 */
export const Ping = Schema.Struct({
  type: Schema.Literal("ping"),
  id: Schema.optional(Schema.String)
})

/**
 * A user message. `images` are data URLs (`data:image/png;base64,...`). `clientId` is an
 * idempotency key: re-sending the same id (after a reconnect) never runs a turn twice.
 *
 * @since 0.1.0
 * @category client
 */
export const UserMessage = Schema.Struct({
  type: Schema.Literal("user_message"),
  text: Schema.String,
  images: Schema.optional(Schema.Array(Schema.String)),
  clientId: Schema.optional(Schema.String)
})

/**
 * Stops the running turn; what the model produced so far is stored with status `aborted`.
 *
 * @since 0.1.0
 * @category client
 */
export const Stop = Schema.Struct({
  type: Schema.Literal("stop")
})

/**
 * Asks for older history: the messages before `before` (a `seq`), newest `limit` of them.
 *
 * @since 0.1.0
 * @category client
 */
export const LoadHistory = Schema.Struct({
  type: Schema.Literal("load_history"),
  before: Schema.Number.pipe(Schema.int(), Schema.positive()),
  limit: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 500)))
})

/**
 * Resumes a live stream after a reconnect: the server sends the conversation's events after
 * `lastEventId` (the `eventId` of the last event the client received), then the live rest.
 *
 * @since 0.1.0
 * @category client
 */
export const Resume = Schema.Struct({
  type: Schema.Literal("resume"),
  lastEventId: Schema.Number.pipe(Schema.int(), Schema.nonNegative())
})

/**
 * django-pyhub-ai's input frame: `images__base64` holds data URLs joined by `||`.
 *
 * @since 0.1.0
 * @category client
 */
export const PyhubUserMessage = Schema.Struct({
  user_text: Schema.String,
  images__base64: Schema.optional(Schema.NullOr(Schema.String))
})

/**
 * @since 0.1.0
 * @category client
 */
export const ClientMessage = Schema.Union(Ping, UserMessage, Stop, LoadHistory, Resume)

/**
 * @since 0.1.0
 * @category client
 */
export type ClientMessage = typeof ClientMessage.Type

/**
 * @since 0.1.0
 * @category client
 */
export type UserMessage = typeof UserMessage.Type

const fromPyhub = (input: typeof PyhubUserMessage.Type): UserMessage => {
  const images = (input.images__base64 ?? "").split("||").filter((part) => part.trim().length > 0)
  return images.length > 0
    ? { type: "user_message", text: input.user_text, images }
    : { type: "user_message", text: input.user_text }
}

/**
 * Why a client frame was refused.
 *
 * @since 0.1.0
 * @category errors
 */
export class FrameError extends Schema.TaggedError<FrameError>("@convo/core/Protocol/FrameError")("FrameError", {
  reason: Schema.Literal("MalformedJson", "UnknownType", "InvalidFields", "TooDeep"),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

const knownTypes = new Set(["ping", "user_message", "stop", "load_history", "resume"])
const decodeClient = Schema.decodeUnknownEither(ClientMessage, { onExcessProperty: "ignore" })
const decodePyhub = Schema.decodeUnknownEither(PyhubUserMessage)

/**
 * Decodes one client frame (already parsed JSON). Accepts the protocol's messages and pyhub's
 * `{"user_text", "images__base64"}` frame. A value nested deeper than 32 levels is refused
 * (`TooDeep`) before it reaches the decoder, and an error's detail quotes at most 64 characters of
 * the input (500 characters in all), so every refusal is cheap to build, format and send.
 *
 * @since 0.1.0
 * @category client
 */
export const decodeClientMessage = (input: unknown): Either.Either<ClientMessage, FrameError> => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return Either.left(new FrameError({ reason: "InvalidFields", detail: "a frame must be a JSON object" }))
  }
  if (InputBounds.depthExceeds(input, InputBounds.maxDepth)) {
    return Either.left(
      new FrameError({ reason: "TooDeep", detail: `a frame may not nest deeper than ${InputBounds.maxDepth} levels` })
    )
  }
  const type = (input as { readonly type?: unknown }).type
  if (type === undefined && "user_text" in input) {
    return Either.mapBoth(decodePyhub(input), {
      onLeft: (error) => new FrameError({ reason: "InvalidFields", detail: formatIssue(error) }),
      onRight: fromPyhub
    })
  }
  if (typeof type !== "string" || !knownTypes.has(type)) {
    return Either.left(
      new FrameError({ reason: "UnknownType", detail: `unknown message type ${InputBounds.quote(type)}` })
    )
  }
  return Either.mapLeft(
    decodeClient(input),
    (error) => new FrameError({ reason: "InvalidFields", detail: formatIssue(error) })
  )
}

/**
 * Parses and decodes one client text frame.
 *
 * @since 0.1.0
 * @category client
 */
export const decodeClientFrame = (text: string): Either.Either<ClientMessage, FrameError> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return Either.left(new FrameError({ reason: "MalformedJson", detail: "the frame is not valid JSON" }))
  }
  return decodeClientMessage(parsed)
}

const formatIssue = (error: ParseResult.ParseError): string =>
  InputBounds.truncate(
    ParseResult.ArrayFormatter.formatErrorSync(error)
      .map((issue) => {
        const message = InputBounds.truncate(issue.message, InputBounds.maxEcho * 2)
        return issue.path.length > 0
          ? `${InputBounds.truncate(issue.path.join("."), InputBounds.maxEcho)}: ${message}`
          : message
      })
      .join("; "),
    InputBounds.maxDetail
  )

// ---------------------------------------------------------------------------
// server → client
// ---------------------------------------------------------------------------

/**
 * Who wrote a message, as the client shows it.
 *
 * @since 0.1.0
 * @category server
 */
export const Role = Schema.Literal("human", "ai", "system", "tool", "function", "data", "unknown")

/**
 * @since 0.1.0
 * @category server
 */
export const Status = Schema.Literal("complete", "aborted", "error", "interrupted")

/**
 * Token usage of one model call or one turn (S14).
 *
 * @since 0.1.0
 * @category server
 */
export const Usage = Schema.Struct({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  totalTokens: Schema.Number
})

/**
 * @since 0.1.0
 * @category server
 */
export type Usage = typeof Usage.Type

/**
 * What of the stored history one model call was given (on `usage`). `messages`: how many stored
 * messages were sent; `firstSeq`: the `seq` of the oldest of them (`null` when none); `cut`: older
 * messages exist that were not sent (a client shows where the window starts); `summary`: a
 * summary of those was sent in their place.
 *
 * @since 0.3.0
 * @category server
 */
export const ContextInfo = Schema.Struct({
  messages: Schema.Number,
  firstSeq: Schema.NullOr(Schema.Number),
  cut: Schema.Boolean,
  summary: Schema.Boolean
})

/**
 * @since 0.3.0
 * @category server
 */
export type ContextInfo = typeof ContextInfo.Type

/**
 * A tool call as the client sees it.
 *
 * @since 0.1.0
 * @category server
 */
export const ToolCall = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  args: Schema.Unknown
})

/**
 * A stored message as the client shows it. `id` is the stable message id (the row's `seq`
 * for stored messages); `undecodable` is set for a stored row the server could not read.
 *
 * @since 0.1.0
 * @category server
 */
export const HistoryMessage = Schema.Struct({
  id: Schema.String,
  seq: Schema.Number,
  turnId: Schema.String,
  role: Role,
  text: Schema.String,
  images: Schema.optional(Schema.Array(Schema.String)),
  status: Status,
  usage: Schema.optional(Usage),
  toolCalls: Schema.optional(Schema.Array(ToolCall)),
  toolCallId: Schema.optional(Schema.String),
  /** The idempotency key the client sent with this (human) message. */
  clientId: Schema.optional(Schema.String),
  undecodable: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category server
 */
export type HistoryMessage = typeof HistoryMessage.Type

/**
 * Error codes, each safe to show.
 *
 * @since 0.1.0
 * @category server
 */
export const ErrorCode = Schema.Literal(
  "bad_frame",
  "too_large",
  "empty_message",
  "invalid_image",
  "not_multimodal",
  "model_error",
  "timeout",
  "busy",
  "duplicate",
  "forbidden",
  "not_found",
  "unavailable",
  "internal"
)

/**
 * @since 0.1.0
 * @category server
 */
export type ErrorCode = typeof ErrorCode.Type

/**
 * The events of a turn carry `eventId` when they come from a conversation's live stream: a
 * reconnecting client sends the last one it saw (`resume`) to get what it missed.
 */
const live = { eventId: Schema.optional(Schema.Number) }

/**
 * @since 0.1.0
 * @category server
 */
export const ServerEvent = Schema.Union(
  Schema.Struct({ type: Schema.Literal("pong"), id: Schema.optional(Schema.String) }),
  Schema.Struct({
    type: Schema.Literal("history"),
    conversationId: Schema.NullOr(Schema.Number),
    /** The conversation's public id (`null` without a conversation). */
    publicId: Schema.optional(Schema.NullOr(Schema.String)),
    messages: Schema.Array(HistoryMessage),
    hasMore: Schema.Boolean,
    /** true for the page sent on connect; false for a page asked with `load_history`. */
    initial: Schema.Boolean
  }),
  Schema.Struct({
    type: Schema.Literal("received"),
    ...live,
    turnId: Schema.String,
    /** The human message's id (its `message_start` carries the same). */
    id: Schema.String,
    clientId: Schema.optional(Schema.String)
  }),
  Schema.Struct({
    type: Schema.Literal("saving"),
    ...live,
    turnId: Schema.String,
    /** Why the save is retried, safe to show. */
    message: Schema.String
  }),
  Schema.Struct({ type: Schema.Literal("turn_start"), ...live, turnId: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("message_start"),
    ...live,
    turnId: Schema.String,
    id: Schema.String,
    role: Role,
    /** The whole text for a human message; empty for an AI message, whose text follows in deltas. */
    text: Schema.String,
    images: Schema.optional(Schema.Array(Schema.String)),
    clientId: Schema.optional(Schema.String)
  }),
  Schema.Struct({ type: Schema.Literal("message_delta"), ...live, id: Schema.String, text: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("message_end"),
    ...live,
    id: Schema.String,
    status: Status,
    seq: Schema.optional(Schema.Number)
  }),
  Schema.Struct({
    type: Schema.Literal("tool_call"),
    ...live,
    turnId: Schema.String,
    messageId: Schema.String,
    call: ToolCall
  }),
  Schema.Struct({
    type: Schema.Literal("tool_result"),
    ...live,
    turnId: Schema.String,
    toolCallId: Schema.String,
    name: Schema.String,
    content: Schema.String,
    isError: Schema.Boolean
  }),
  Schema.Struct({
    type: Schema.Literal("usage"),
    ...live,
    turnId: Schema.String,
    messageId: Schema.String,
    usage: Usage,
    /** What of the stored history the model call was given. */
    context: Schema.optional(ContextInfo)
  }),
  Schema.Struct({
    type: Schema.Literal("turn_end"),
    ...live,
    turnId: Schema.String,
    status: Status,
    usage: Usage
  }),
  Schema.Struct({
    type: Schema.Literal("error"),
    ...live,
    code: ErrorCode,
    message: Schema.String,
    turnId: Schema.optional(Schema.String)
  })
)

/**
 * @since 0.1.0
 * @category server
 */
export type ServerEvent = typeof ServerEvent.Type

/**
 * The server event of one `type`.
 *
 * @since 0.1.0
 * @category server
 */
export type ServerEventOf<T extends ServerEvent["type"]> = Extract<ServerEvent, { readonly type: T }>

/**
 * Decodes a server event (for clients and tests).
 *
 * @since 0.1.0
 * @category server
 */
export const decodeServerEvent = Schema.decodeUnknownEither(ServerEvent)

const encoded = new WeakMap<ServerEvent, string>()

/**
 * A server event as its JSON text frame. Remembered per event object (events are never mutated
 * once emitted), so an event that every watcher of a conversation gets is serialised once.
 *
 * @since 0.2.0
 * @category server
 */
export const encodeServerEvent = (event: ServerEvent): string => {
  let json = encoded.get(event)
  if (json === undefined) {
    json = JSON.stringify(event)
    encoded.set(event, json)
  }
  return json
}

/**
 * Builds an error event.
 *
 * @since 0.1.0
 * @category server
 */
export const errorEvent = (code: ErrorCode, message: string, turnId?: string): ServerEventOf<"error"> =>
  turnId === undefined ? { type: "error", code, message } : { type: "error", code, message, turnId }
