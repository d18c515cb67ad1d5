/**
 * convo's conversation as the Vercel AI SDK sees it: the request body of `DefaultChatTransport`
 * read as one user message, a turn's server events mapped to UI message stream chunks, and stored
 * history entries grouped into `UIMessage`s, so a streamed turn and the same turn read back from
 * history give the same message.
 *
 * @internal
 */
import type * as ConversationStore from "@convo/core/ConversationStore"
import type * as Protocol from "@convo/core/Protocol"
import type * as AiSdkChat from "../AiSdkChat.js"

type Chunk = AiSdkChat.UIMessageChunk
type Part = AiSdkChat.UIMessagePart

// ---------------------------------------------------------------------------
// the request
// ---------------------------------------------------------------------------

/** The user message a request carries, or why it is refused. @internal */
export type RequestInput =
  | {
      readonly _tag: "Message"
      readonly chatId: string
      readonly clientId: string
      readonly text: string
      readonly images: ReadonlyArray<string>
    }
  | { readonly _tag: "Refused"; readonly status: number; readonly code: string; readonly message: string }

const refuse = (status: number, code: string, message: string): RequestInput => ({
  _tag: "Refused",
  status,
  code,
  message
})

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Reads the body `DefaultChatTransport` posts (`{ id, messages, trigger, messageId }`), or the
 * shape of its docs' `prepareSendMessagesRequest` (`{ id, message }`): only the last message is
 * taken, and it must be a user message. Earlier messages are ignored: the stored history is the
 * truth.
 *
 * @internal
 */
export const decodeRequest = (body: unknown): RequestInput => {
  if (!isRecord(body)) return refuse(400, "bad_request", "the body must be a JSON object")
  const chatId = body["id"]
  if (typeof chatId !== "string" || chatId.length === 0) {
    return refuse(400, "bad_request", `"id" (the chat id) must be a non-empty string`)
  }
  const trigger = body["trigger"]
  if (trigger !== undefined && trigger !== "submit-message") {
    return refuse(
      400,
      "unsupported",
      `trigger ${JSON.stringify(trigger)} is not supported: only new user messages are (convo never rewrites stored history)`
    )
  }
  const messages = body["messages"]
  const message = isRecord(body["message"])
    ? body["message"]
    : Array.isArray(messages) && messages.length > 0
      ? messages[messages.length - 1]
      : undefined
  if (!isRecord(message)) return refuse(400, "bad_request", `the body has no "message" nor a non-empty "messages"`)
  if (message["role"] !== "user") {
    return refuse(
      400,
      "unsupported",
      `the last message must be a new user message, got role ${JSON.stringify(message["role"])}`
    )
  }
  const id = message["id"]
  if (typeof id !== "string" || id.length === 0) return refuse(400, "bad_request", "the user message has no id")
  const parts = message["parts"]
  if (!Array.isArray(parts)) return refuse(400, "bad_request", `the user message has no "parts"`)
  const texts: Array<string> = []
  const images: Array<string> = []
  for (const part of parts) {
    if (!isRecord(part)) return refuse(400, "bad_request", "a message part must be an object")
    if (part["type"] === "text" && typeof part["text"] === "string") {
      texts.push(part["text"])
    } else if (
      part["type"] === "file" &&
      typeof part["url"] === "string" &&
      typeof part["mediaType"] === "string" &&
      part["mediaType"].startsWith("image/") &&
      part["url"].startsWith("data:")
    ) {
      images.push(part["url"])
    } else if (part["type"] === "file") {
      return refuse(415, "unsupported", "only images sent as data URLs are supported as file parts")
    } else {
      return refuse(400, "unsupported", `message parts of type ${JSON.stringify(part["type"])} are not supported`)
    }
  }
  return { _tag: "Message", chatId, clientId: id, text: texts.join("\n"), images }
}

// ---------------------------------------------------------------------------
// server events → chunks
// ---------------------------------------------------------------------------

/** The state of one turn being mapped to chunks. @internal */
export interface TurnState {
  readonly turnId: string
  readonly conversationId: number | null
  readonly aiIds: Set<string>
  openText: string | null
  stepOpen: boolean
  error: string | null
  done: boolean
}

/** @internal */
export const makeTurnState = (turnId: string, conversationId: number | null): TurnState => ({
  turnId,
  conversationId,
  aiIds: new Set(),
  openText: null,
  stepOpen: false,
  error: null,
  done: false
})

/**
 * The turn of the human message sent with `clientId`, when `event` names it: its `message_start`,
 * or an acknowledgement (`received`, read structurally: cores that lack it never send it).
 *
 * @internal
 */
export const turnOfClientMessage = (event: Protocol.ServerEvent, clientId: string): string | undefined => {
  if (event.type === "message_start") {
    return event.role === "human" && event.clientId === clientId ? event.turnId : undefined
  }
  const loose = event as { readonly type: string; readonly clientId?: unknown; readonly turnId?: unknown }
  return loose.type === "received" && loose.clientId === clientId && typeof loose.turnId === "string"
    ? loose.turnId
    : undefined
}

/** The assistant `UIMessage` id of a turn: the same live and in history. @internal */
export const assistantId = (turnId: string): string => `turn-${turnId}`

/** @internal */
export const startChunk = (state: TurnState): Chunk => ({
  type: "start",
  messageId: assistantId(state.turnId),
  messageMetadata: { conversationId: state.conversationId, turnId: state.turnId }
})

const closeText = (state: TurnState, out: Array<Chunk>): void => {
  if (state.openText !== null) {
    out.push({ type: "text-end", id: state.openText })
    state.openText = null
  }
}

const finishReason = (status: string): "stop" | "error" | "other" =>
  status === "complete" ? "stop" : status === "error" ? "error" : "other"

/**
 * The chunks of one server event of the turn (none for events of other turns, and for event types
 * this version does not know, so new events of later cores pass unseen).
 *
 * @internal
 */
export const chunksOf = (state: TurnState, event: Protocol.ServerEvent): ReadonlyArray<Chunk> => {
  if (state.done) return []
  const out: Array<Chunk> = []
  switch (event.type) {
    case "message_start": {
      if (event.turnId !== state.turnId || event.role !== "ai") return out
      closeText(state, out)
      if (state.stepOpen) out.push({ type: "finish-step" })
      out.push({ type: "start-step" })
      state.stepOpen = true
      state.aiIds.add(event.id)
      return out
    }
    case "message_delta": {
      if (!state.aiIds.has(event.id) || event.text.length === 0) return out
      if (state.openText !== event.id) {
        closeText(state, out)
        out.push({ type: "text-start", id: event.id })
        state.openText = event.id
      }
      out.push({ type: "text-delta", id: event.id, delta: event.text })
      return out
    }
    case "message_end": {
      if (state.openText === event.id) closeText(state, out)
      return out
    }
    case "tool_call": {
      if (event.turnId !== state.turnId) return out
      closeText(state, out)
      out.push({
        type: "tool-input-available",
        toolCallId: event.call.id,
        toolName: event.call.name,
        input: event.call.args ?? {},
        dynamic: true
      })
      return out
    }
    case "tool_result": {
      if (event.turnId !== state.turnId) return out
      out.push(
        event.isError
          ? { type: "tool-output-error", toolCallId: event.toolCallId, errorText: event.content, dynamic: true }
          : { type: "tool-output-available", toolCallId: event.toolCallId, output: event.content, dynamic: true }
      )
      return out
    }
    case "error": {
      if (event.turnId === state.turnId) state.error = event.message
      return out
    }
    case "turn_end": {
      if (event.turnId !== state.turnId) return out
      closeText(state, out)
      if (state.stepOpen) out.push({ type: "finish-step" })
      state.stepOpen = false
      out.push({
        type: "finish",
        finishReason: finishReason(event.status),
        messageMetadata: {
          conversationId: state.conversationId,
          turnId: state.turnId,
          status: event.status,
          usage: event.usage
        }
      })
      // the AI SDK stops reading at an error chunk: it goes last, after the metadata
      if (state.error !== null) out.push({ type: "error", errorText: state.error })
      state.done = true
      return out
    }
    default:
      return out
  }
}

/** An error chunk that ends a stream the server cannot finish (a refusal found mid-stream). @internal */
export const errorChunks = (state: TurnState | null, message: string): ReadonlyArray<Chunk> => {
  const out: Array<Chunk> = []
  if (state !== null) {
    closeText(state, out)
    if (state.stepOpen) out.push({ type: "finish-step" })
    state.done = true
  }
  out.push({ type: "error", errorText: message })
  return out
}

/** One chunk as a server-sent event. @internal */
export const encodeChunk = (chunk: Chunk): string => `data: ${JSON.stringify(chunk)}\n\n`

/** The stream's last event. @internal */
export const done = "data: [DONE]\n\n"

// ---------------------------------------------------------------------------
// history → UIMessages
// ---------------------------------------------------------------------------

const textOf = (content: unknown): string => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return ""
  let text = ""
  for (const part of content) {
    if (typeof part === "string") text += part
    else if (isRecord(part) && part["type"] === "text" && typeof part["text"] === "string") text += part["text"]
  }
  return text
}

const imagesOf = (content: unknown): ReadonlyArray<string> => {
  if (!Array.isArray(content)) return []
  const urls: Array<string> = []
  for (const part of content) {
    if (!isRecord(part) || part["type"] !== "image_url") continue
    const image = part["image_url"]
    if (typeof image === "string") urls.push(image)
    else if (isRecord(image) && typeof image["url"] === "string") urls.push(image["url"])
  }
  return urls
}

const mediaTypeOf = (url: string): string => /^data:([^;,]+)/.exec(url)?.[1] ?? "application/octet-stream"

/** The file parts and the text part of a user message, in the order `useChat`'s `sendMessage` builds them. @internal */
export const userParts = (text: string, images: ReadonlyArray<string>): Array<Part> => [
  ...images.map((url): Part => ({ type: "file", mediaType: mediaTypeOf(url), url })),
  ...(text.length > 0 ? [{ type: "text" as const, text }] : [])
]

interface ToolCallValue {
  readonly id?: unknown
  readonly name?: unknown
  readonly args?: unknown
}

const valueOf = (entry: ConversationStore.HistoryEntry): Record<string, unknown> =>
  entry._tag === "Decoded" && isRecord(entry.value) ? entry.value : {}

const messageIdOf = (entry: ConversationStore.HistoryEntry): string => {
  const id = valueOf(entry)["id"]
  return typeof id === "string" ? id : `seq-${entry.seq}`
}

/**
 * Stored history entries as `UIMessage`s: per turn, the human message (its id is the client id the
 * `UIMessage` was sent with), and one assistant message holding a step per AI message (its text,
 * then its tool calls with their results), with metadata carrying convo's ids, the turn's status
 * and its summed token usage. A leading partial turn (a page cut inside it) is dropped; rows that
 * are neither human, AI nor tool (and undecodable rows) are skipped.
 *
 * @internal
 */
export const toUIMessages = (
  conversationId: number | null,
  entries: ReadonlyArray<ConversationStore.HistoryEntry>
): Array<AiSdkChat.UIMessage> => {
  const messages: Array<AiSdkChat.UIMessage> = []
  const firstHuman = entries.findIndex((entry) => entry.kind === "human")
  if (firstHuman === -1) return messages
  let assistant: {
    message: AiSdkChat.UIMessage
    parts: Array<Part>
    usage: { inputTokens: number; outputTokens: number; totalTokens: number }
  } | null = null
  const results = new Map<string, { readonly text: string; readonly isError: boolean }>()
  for (const entry of entries) {
    if (entry.kind !== "tool" || entry._tag !== "Decoded") continue
    const value = valueOf(entry)
    const callId = value["tool_call_id"]
    if (typeof callId === "string") {
      results.set(callId, { text: textOf(value["content"]), isError: value["status"] === "error" })
    }
  }
  for (const entry of entries.slice(firstHuman)) {
    if (entry._tag !== "Decoded") continue
    const value = valueOf(entry)
    if (entry.kind === "human") {
      assistant = null
      messages.push({
        id: entry.clientId ?? messageIdOf(entry),
        role: "user",
        parts: userParts(textOf(value["content"]), imagesOf(value["content"]))
      })
    } else if (entry.kind === "ai") {
      if (assistant === null || assistant.message.metadata?.turnId !== entry.turnId) {
        const parts: Array<Part> = []
        const usage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 }
        assistant = {
          message: {
            id: assistantId(entry.turnId),
            role: "assistant",
            metadata: { conversationId, turnId: entry.turnId, status: entry.status, usage },
            parts
          },
          parts,
          usage
        }
        messages.push(assistant.message)
      }
      const usage = assistant.usage
      usage.inputTokens += entry.inputTokens ?? 0
      usage.outputTokens += entry.outputTokens ?? 0
      usage.totalTokens = usage.inputTokens + usage.outputTokens
      assistant.parts.push({ type: "step-start" })
      const text = textOf(value["content"])
      if (text.length > 0) assistant.parts.push({ type: "text", text, state: "done" })
      const calls = Array.isArray(value["tool_calls"]) ? (value["tool_calls"] as ReadonlyArray<ToolCallValue>) : []
      for (const call of calls) {
        const toolCallId = typeof call.id === "string" ? call.id : ""
        const toolName = typeof call.name === "string" ? call.name : "unknown"
        const input = call.args ?? {}
        const result = results.get(toolCallId)
        assistant.parts.push(
          result === undefined
            ? { type: "dynamic-tool", toolName, toolCallId, state: "input-available", input }
            : result.isError
              ? { type: "dynamic-tool", toolName, toolCallId, state: "output-error", input, errorText: result.text }
              : { type: "dynamic-tool", toolName, toolCallId, state: "output-available", input, output: result.text }
        )
      }
    }
  }
  return messages
}
