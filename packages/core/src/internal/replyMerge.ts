/**
 * The reply of a model call merged as its chunks arrive, equal to LangChain's own fold
 * (`chunks.reduce((a, b) => a.concat(b))`) without a message per chunk.
 *
 * `AIMessageChunk.concat` builds a new message (its `Serializable` fields, merged dictionaries and
 * lists) per chunk. Most chunks of a reply add only text: a string, with metadata that merges to
 * what the reply already has (empty, `index: 0`, the same `model_provider`, …). Those chunks'
 * texts are kept aside and joined into one chunk when the reply is read or a chunk that adds more
 * arrives; every other chunk is concatenated as LangChain does. The chunks themselves are not kept.
 */
import { AIMessageChunk } from "@langchain/core/messages"

/** String keys LangChain's `_mergeDicts` replaces instead of concatenating. */
const replaced = new Set(["id", "name", "output_version", "model_provider"])
/** Keys `_mergeDicts` leaves as they are (its `DEFAULT_MERGE_IGNORE_KEYS`, and `type` for strings). */
const ignored = new Set(["index", "created", "timestamp"])

/** Whether `_mergeDicts(into, from)` equals `into`: `from` adds nothing. */
const adds = (into: Record<string, unknown> | undefined, from: Record<string, unknown> | undefined): boolean => {
  if (from === undefined || from === null) return false
  for (const key in from) {
    const value = from[key]
    if (value === undefined || value === null) continue
    const current = into?.[key]
    if (current === undefined || current === null) return true
    if (typeof current !== typeof value || Array.isArray(current) !== Array.isArray(value)) return true
    if (typeof value === "string") {
      if (key === "type" || ignored.has(key)) continue
      if (replaced.has(key) ? value !== "" && value !== current : value !== "") return true
    } else if (typeof value === "number") {
      if (!ignored.has(key) && value !== 0) return true
    } else if (Array.isArray(value)) {
      if (value.length > 0) return true
    } else if (typeof value === "object") {
      if (adds(current as Record<string, unknown>, value as Record<string, unknown>)) return true
    } else if (value !== current) return true
  }
  return false
}

const empty = (list: ReadonlyArray<unknown> | undefined): boolean => list === undefined || list.length === 0

/** @internal */
export class ReplyMerge {
  /** The chunks merged so far, without `text`. */
  private head: AIMessageChunk | undefined = undefined
  /** Text of chunks that added only text, after `head`. */
  private text = ""
  /** Chunks taken so far. */
  count = 0

  /** Whether `chunk` adds only its text to `head`. */
  private textOnly(head: AIMessageChunk, chunk: AIMessageChunk): boolean {
    return (
      typeof chunk.content === "string" &&
      typeof head.content === "string" &&
      (chunk.id === undefined || head.id !== undefined) &&
      chunk.usage_metadata === undefined &&
      head.usage_metadata === undefined &&
      empty(chunk.tool_call_chunks) &&
      empty(chunk.tool_calls) &&
      empty(chunk.invalid_tool_calls) &&
      empty(head.tool_call_chunks) &&
      empty(head.tool_calls) &&
      empty(head.invalid_tool_calls) &&
      !adds(head.additional_kwargs, chunk.additional_kwargs) &&
      !adds(head.response_metadata, chunk.response_metadata)
    )
  }

  add(chunk: AIMessageChunk): void {
    this.count++
    const head = this.head
    if (head === undefined) {
      this.head = chunk
      return
    }
    if (this.textOnly(head, chunk)) {
      this.text += chunk.content as string
      return
    }
    this.head = this.flush(head).concat(chunk)
  }

  /** The reply so far as one chunk; `undefined` before the first. */
  merged(): AIMessageChunk | undefined {
    const head = this.head
    if (head === undefined) return undefined
    this.head = this.flush(head)
    return this.head
  }

  private flush(head: AIMessageChunk): AIMessageChunk {
    if (this.text.length === 0) return head
    const text = this.text
    this.text = ""
    return head.concat(new AIMessageChunk({ content: text }))
  }
}
