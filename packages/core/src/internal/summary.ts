/**
 * Running summaries of what fell out of a conversation's context window
 * (`ContextPolicy.summarize`). A summary lives in the conversation's metadata (`convo:summary`,
 * or `convo:summary:<user>` in a conversation without an owner, where each user has a history of
 * their own) with the `seq` of the last message it covers. After a turn whose window was cut, a
 * background fiber reads the cut turns the summary does not cover yet and, once there are at least
 * `summarizeEvery` of them, asks the summarizer for a new summary. It never delays a reply; a
 * failure is logged and the summary stays as it was.
 */
import { AIMessage, type BaseMessage, HumanMessage, SystemMessage, ToolMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import type { Summarizer, SummaryInput } from "../ChatAgent.js"
import type { Conversation, HistoryEntry, Service as Store } from "../ConversationStore.js"
import { messagesOf, repairToolPairs } from "./llmContext.js"
import { textOf } from "./messageText.js"

/** A stored summary. @internal */
export interface Stored {
  readonly text: string
  /** The `seq` of the last message it covers. */
  readonly through: number
}

/** Rows read for one update. */
const ROWS = 400

/** The metadata key of a user's summary in a conversation. @internal */
export const keyOf = (conversation: Conversation, userId: string | null): string =>
  conversation.userId === null ? `convo:summary:${userId ?? ""}` : "convo:summary"

/** The stored summary in a conversation's metadata, if a valid one is there. @internal */
export const parse = (metadata: Readonly<Record<string, unknown>>, key: string): Stored | null => {
  const value = metadata[key]
  if (typeof value !== "object" || value === null) return null
  const { text, through } = value as { text?: unknown; through?: unknown }
  return typeof text === "string" && typeof through === "number" && Number.isSafeInteger(through)
    ? { text, through }
    : null
}

/** The system prompt with the summary after it. @internal */
export const withSummary = (systemPrompt: string | null, summary: string): string =>
  `${systemPrompt === null || systemPrompt.length === 0 ? "" : `${systemPrompt}\n\n`}Summary of the earlier conversation (its messages are not shown):\n${summary}`

const transcript = (messages: ReadonlyArray<BaseMessage>): string =>
  messages
    .map((message) => {
      const text = textOf(message.content)
      if (HumanMessage.isInstance(message)) return `User: ${text}`
      if (ToolMessage.isInstance(message)) return `Tool result (${message.name ?? "tool"}): ${text}`
      if (AIMessage.isInstance(message)) {
        const calls = (message.tool_calls ?? []).map((call) => `${call.name}(${JSON.stringify(call.args)})`)
        return `Assistant: ${text}${calls.length > 0 ? ` [called ${calls.join(", ")}]` : ""}`
      }
      return `${message.getType()}: ${text}`
    })
    .join("\n")

const instructions =
  "You keep a running summary of a conversation between a user and an assistant. Merge the summary so far with the new messages into one concise summary of the facts, names, preferences, decisions and open questions, in the conversation's language. Answer with the summary only."

/** Runs a summarizer: a function, or a chat model asked with a built-in prompt. @internal */
export const summarize = (summarizer: Summarizer, input: SummaryInput): Effect.Effect<string, unknown> => {
  if (typeof summarizer === "function") {
    return Effect.suspend(() => {
      const out = summarizer(input)
      if (Effect.isEffect(out)) return out as Effect.Effect<string, unknown>
      return Effect.tryPromise({ try: () => Promise.resolve(out), catch: (cause) => cause })
    })
  }
  return Effect.tryPromise({
    try: () =>
      summarizer.invoke([
        new SystemMessage(instructions),
        new HumanMessage(
          `Summary so far:\n${input.previous ?? "(none)"}\n\nNew messages:\n${transcript(input.messages)}`
        )
      ]),
    catch: (cause) => cause
  }).pipe(Effect.map((reply) => textOf(reply.content)))
}

/** Whole turns of entries in seq order; `dropFirst` / `dropLast`: that end may be cut by the page. */
const wholeTurns = (
  entries: ReadonlyArray<HistoryEntry>,
  drop: { readonly first: boolean; readonly last: boolean }
): ReadonlyArray<HistoryEntry> => {
  let kept = entries
  const first = kept[0]
  if (drop.first && first !== undefined) kept = kept.filter((entry) => entry.turnId !== first.turnId)
  const last = kept[kept.length - 1]
  if (drop.last && last !== undefined) kept = kept.filter((entry) => entry.turnId !== last.turnId)
  return kept
}

const turnCount = (entries: ReadonlyArray<HistoryEntry>): number => {
  let count = 0
  let previous: string | undefined
  for (const entry of entries) {
    if (entry.turnId !== previous) count++
    previous = entry.turnId
  }
  return count
}

const running = new Set<string>()
let warned = false

/**
 * Brings the summary up to the window that starts at `windowStart`, when at least `every` cut
 * turns are not in it yet. Runs at most once at a time per summary in this process.
 *
 * @internal
 */
export const update = (options: {
  readonly store: Store
  readonly conversation: Conversation
  readonly userId: string | null
  readonly windowStart: number
  readonly every: number
  readonly summarizer: Summarizer
}): Effect.Effect<void> => {
  const { conversation, store, userId, windowStart } = options
  const updateMetadata = store.updateMetadata
  if (updateMetadata === undefined) {
    if (warned) return Effect.void
    warned = true
    return Effect.logWarning("the conversation store has no updateMetadata: no summaries are kept")
  }
  const key = keyOf(conversation, userId)
  const lock = `${conversation.id}:${key}`
  if (running.has(lock)) return Effect.void
  running.add(lock)
  return Effect.gen(function* () {
    const current = parse((yield* store.get(conversation.id)).metadata, key)
    let entries: ReadonlyArray<HistoryEntry>
    if (current === null) {
      // the first summary covers the turns just before the window
      const page = yield* store.history(conversation.id, { userId, before: windowStart, limit: ROWS })
      entries = wholeTurns(page.entries, { first: page.hasMore, last: false })
    } else {
      if (current.through >= windowStart - 1) return
      const page = yield* store.history(conversation.id, { userId, after: current.through, limit: ROWS })
      const cut = page.entries.filter((entry) => entry.seq < windowStart)
      entries = wholeTurns(cut, { first: false, last: page.hasMore && cut.length === page.entries.length })
    }
    if (entries.length === 0 || turnCount(entries) < options.every) return
    const text = yield* summarize(options.summarizer, {
      previous: current?.text ?? null,
      messages: repairToolPairs(messagesOf(entries))
    })
    const through = entries[entries.length - 1]!.seq
    yield* updateMetadata(conversation.id, { [key]: { text, through, updatedAt: new Date().toISOString() } })
  }).pipe(
    Effect.catchAllCause((cause) => Effect.logWarning("could not update the conversation's summary", cause)),
    Effect.ensuring(Effect.sync(() => running.delete(lock))),
    Effect.withSpan("ChatAgent.summarize")
  )
}
