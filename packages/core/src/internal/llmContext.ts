/**
 * Builds what is sent to the model from a stored history: only LangChain messages, and a tool
 * history the providers accept (every tool call answered by its tool message, no orphan tool
 * message), even after a turn that was stopped between a tool call and its result.
 */
import { type BaseMessage, AIMessage, isBaseMessage, ToolMessage } from "@langchain/core/messages"
import type { HistoryEntry } from "../ConversationStore.js"

/** @internal */
export const messagesOf = (entries: ReadonlyArray<HistoryEntry>): Array<BaseMessage> =>
  entries.flatMap((entry) => (entry._tag === "Decoded" && isBaseMessage(entry.value) ? [entry.value] : []))

/**
 * Drops tool calls that have no tool message after them and tool messages that answer no call.
 *
 * @internal
 */
export const repairToolPairs = (messages: ReadonlyArray<BaseMessage>): Array<BaseMessage> => {
  const answered = new Set<string>()
  for (const message of messages) {
    if (ToolMessage.isInstance(message)) answered.add(message.tool_call_id)
  }
  const called = new Set<string>()
  const out: Array<BaseMessage> = []
  for (const message of messages) {
    if (AIMessage.isInstance(message) && (message.tool_calls?.length ?? 0) > 0) {
      const kept = (message.tool_calls ?? []).filter((call) => call.id !== undefined && answered.has(call.id))
      for (const call of kept) called.add(call.id!)
      if (kept.length === (message.tool_calls ?? []).length) {
        out.push(message)
      } else if (kept.length > 0 || hasText(message)) {
        out.push(
          new AIMessage({
            content: message.content,
            tool_calls: kept,
            ...(message.id !== undefined ? { id: message.id } : {}),
            ...(message.usage_metadata !== undefined ? { usage_metadata: message.usage_metadata } : {})
          })
        )
      }
      continue
    }
    if (ToolMessage.isInstance(message) && !called.has(message.tool_call_id)) continue
    out.push(message)
  }
  return out
}

const hasText = (message: BaseMessage): boolean =>
  typeof message.content === "string" ? message.content.length > 0 : message.content.length > 0
