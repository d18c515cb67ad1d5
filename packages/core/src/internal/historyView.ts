/**
 * Stored history entries as the client shows them (`Protocol.HistoryMessage`).
 */
import { AIMessage, isBaseMessage, ToolMessage } from "@langchain/core/messages"
import type { HistoryEntry } from "../ConversationStore.js"
import type * as Protocol from "../Protocol.js"
import { imagesOf, textOf } from "./messageText.js"

/** The stable id of a stored message: its LangChain id when it has one, else its position. */
export const messageIdOf = (entry: HistoryEntry): string => {
  if (entry._tag === "Decoded" && isBaseMessage(entry.value) && typeof entry.value.id === "string") {
    return entry.value.id
  }
  return `seq-${entry.seq}`
}

const describeData = (value: unknown): string => {
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`
  const tag = typeof value === "object" && value !== null ? value.constructor?.name : typeof value
  return `[${tag ?? "value"}]`
}

/** @internal */
export const toHistoryMessage = (entry: HistoryEntry): Protocol.HistoryMessage => {
  const base = {
    id: messageIdOf(entry),
    seq: entry.seq,
    turnId: entry.turnId,
    role: entry.kind,
    status: entry.status,
    ...(entry.clientId !== null ? { clientId: entry.clientId } : {}),
    ...(entry.inputTokens !== null || entry.outputTokens !== null
      ? {
          usage: {
            inputTokens: entry.inputTokens ?? 0,
            outputTokens: entry.outputTokens ?? 0,
            totalTokens: (entry.inputTokens ?? 0) + (entry.outputTokens ?? 0)
          }
        }
      : {})
  }
  if (entry._tag === "Undecodable") {
    return { ...base, text: "[this message could not be read]", undecodable: true }
  }
  const value = entry.value
  if (!isBaseMessage(value)) return { ...base, text: describeData(value) }
  const images = imagesOf(value.content)
  const toolCalls =
    AIMessage.isInstance(value) && (value.tool_calls?.length ?? 0) > 0
      ? value.tool_calls!.map((call) => ({ id: call.id ?? "", name: call.name, args: call.args }))
      : undefined
  return {
    ...base,
    text: textOf(value.content),
    ...(images.length > 0 ? { images } : {}),
    ...(toolCalls !== undefined ? { toolCalls } : {}),
    ...(ToolMessage.isInstance(value) ? { toolCallId: value.tool_call_id } : {})
  }
}
