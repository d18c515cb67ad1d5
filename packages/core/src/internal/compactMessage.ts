/**
 * Messages as a session keeps them between turns: slim copies with only what a model request is
 * built from (kind, content, id, name, tool calls, a tool message's call id and status). A decoded
 * stored message also carries its metadata, usage and the fields it was decoded from, about three
 * times what a slim copy holds; a window of a few thousand messages per session adds up. A
 * message with anything else that may reach the provider (`additional_kwargs`, invalid tool
 * calls, another type) is kept as it is.
 */
import { AIMessage, type BaseMessage, HumanMessage, SystemMessage, ToolMessage } from "@langchain/core/messages"
import type { ToolCall } from "@langchain/core/messages/tool"

interface Common {
  readonly content: BaseMessage["content"]
  readonly id: string | undefined
  readonly name: string | undefined
}

/** @internal */
export type Compact =
  | (Common & { readonly kind: "human" | "system" })
  | (Common & { readonly kind: "ai"; readonly toolCalls: ReadonlyArray<ToolCall> })
  | (Common & {
      readonly kind: "tool"
      readonly toolCallId: string
      readonly status: "success" | "error" | undefined
    })
  | { readonly kind: "whole"; readonly message: BaseMessage }

const isEmpty = (record: Readonly<Record<string, unknown>> | undefined): boolean =>
  record === undefined || Object.keys(record).length === 0

/** @internal */
export const compact = (message: BaseMessage): Compact => {
  if (!isEmpty(message.additional_kwargs)) return { kind: "whole", message }
  const common: Common = { content: message.content, id: message.id, name: message.name }
  if (HumanMessage.isInstance(message)) return { kind: "human", ...common }
  if (SystemMessage.isInstance(message)) return { kind: "system", ...common }
  if (AIMessage.isInstance(message)) {
    if ((message.invalid_tool_calls?.length ?? 0) > 0) return { kind: "whole", message }
    return { kind: "ai", ...common, toolCalls: message.tool_calls ?? [] }
  }
  if (ToolMessage.isInstance(message)) {
    return { kind: "tool", ...common, toolCallId: message.tool_call_id, status: message.status }
  }
  return { kind: "whole", message }
}

const fields = (message: Common) => ({
  content: message.content,
  ...(message.id !== undefined ? { id: message.id } : {}),
  ...(message.name !== undefined ? { name: message.name } : {})
})

/** @internal */
export const expand = (message: Compact): BaseMessage => {
  switch (message.kind) {
    case "whole":
      return message.message
    case "human":
      return new HumanMessage(fields(message))
    case "system":
      return new SystemMessage(fields(message))
    case "ai":
      return new AIMessage({ ...fields(message), tool_calls: [...message.toolCalls] })
    case "tool":
      return new ToolMessage({
        ...fields(message),
        tool_call_id: message.toolCallId,
        ...(message.status !== undefined ? { status: message.status } : {})
      })
  }
}

/** A slim copy of a message (the message itself when it must be kept whole). @internal */
export const slim = (message: BaseMessage): BaseMessage => expand(compact(message))
