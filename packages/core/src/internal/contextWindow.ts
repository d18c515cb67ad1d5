/**
 * The context window of a turn: the newest whole turns of the history that fit the model's token
 * budget beside the system prompt, the tool definitions, the summary and the new message.
 *
 * A session keeps the turns of its last window with their token counts. Before a turn it reads
 * the newest page of the history: when that page still holds the last row it saw, only the rows
 * after it are new (decoded and counted once); otherwise (a clear, or many turns from elsewhere)
 * it reads newest first, a page at a time, only until the budget is full. Older turns are read
 * only while everything read so far fits. So a turn costs the same at 10 or 100,000 stored turns,
 * and a session holds at most one window of messages, slim copies (and the turn just before it, so the next
 * turn knows without a read whether that one fits), and none above `RETAIN_CHARS`.
 */
import { convertToOpenAITool } from "@langchain/core/utils/function_calling"
import { type BaseMessage, HumanMessage, isBaseMessage } from "@langchain/core/messages"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type { ContextPolicy, Summarizer, Tool } from "../ChatAgent.js"
import type { ConversationId, ConversationStoreError, HistoryEntry, Service as Store } from "../ConversationStore.js"
import type { ModelSpec } from "../LlmModels.js"
import { slim } from "./compactMessage.js"
import { repairToolPairs } from "./llmContext.js"
import * as Tokens from "./tokens.js"

/** The new message does not fit the budget with the system prompt and tools alone. @internal */
export class ContextTooLarge extends Data.TaggedError("ContextTooLarge")<{
  readonly tokens: number
  readonly budget: number
}> {}

/** The text a client sees for `ContextTooLarge`. @internal */
export const tooLargeText = (error: ContextTooLarge): string =>
  `The message is too long for the model: it needs about ${error.tokens} tokens with the instructions, and ${error.budget} fit. Shorten it or send fewer images.`

/** A policy with its defaults filled in. @internal */
export interface Policy {
  readonly budget: number
  readonly maxMessages: number | null
  readonly summarize: Summarizer | null
  readonly summarizeEvery: number
}

/** One stored turn as the model sees it. @internal */
export interface Turn {
  readonly turnId: string
  readonly firstSeq: number
  readonly lastSeq: number
  /** Slim copies (`compactMessage.ts`), made once as the turn is read and reused by every later turn. */
  readonly messages: ReadonlyArray<BaseMessage>
  /** The seq of each message (same order), for the client's window marker. */
  readonly seqs: ReadonlyArray<number>
  readonly tokens: number
  readonly chars: number
}

interface Cache {
  turns: ReadonlyArray<Turn>
  /** Nothing older than the first cached turn exists. */
  complete: boolean
  /** The newest row seen, and its turn: the next read joins here. */
  lastSeq: number
  lastTurnId: string | null
}

/** The context state of one session. @internal */
export interface State {
  readonly policy: Policy
  readonly counter: Tokens.Counter
  /** The system prompt, the tool definitions and the reply's priming. */
  readonly fixedTokens: number
  cache: Cache | null
}

/** What of the history goes to the model. @internal */
export interface Window {
  readonly messages: ReadonlyArray<BaseMessage>
  readonly firstSeq: number | null
  /** Older stored messages exist that are not sent. */
  readonly cut: boolean
}

/** Rows read per page while the window is filled. */
const PAGE = 100
/** Rows of the newest page read before every turn (to find where the last window ended). */
const PROBE = 16
/** Above this many characters (images included) a session keeps no window between turns. */
const RETAIN_CHARS = 4 * 1024 * 1024
/** Token counts kept per store, by row. */
const COUNTS = 50_000

const counts = new WeakMap<Store, Map<string, number>>()

/** Resolves a policy against the model spec and the reply's token limit. @internal */
export const resolvePolicy = (
  spec: ModelSpec,
  maxTokens: number | undefined,
  policy: ContextPolicy | undefined
): Policy => {
  const reply = Math.min(maxTokens ?? spec.maxOutputTokens, spec.maxOutputTokens)
  const positive = (n: number | undefined) =>
    n !== undefined && Number.isFinite(n) && n > 0 ? Math.floor(n) : undefined
  return {
    budget: positive(policy?.maxTokens) ?? Math.max(1, spec.contextWindow - reply),
    maxMessages: positive(policy?.maxMessages) ?? null,
    summarize: policy?.summarize ?? null,
    summarizeEvery: positive(policy?.summarizeEvery) ?? 10
  }
}

/** The tokens of the tool definitions, as sent to an OpenAI-style API. @internal */
export const toolTokens = (counter: Tokens.Counter, tools: ReadonlyArray<Tool>): number => {
  let total = 0
  for (const tool of tools) {
    let definition: string
    try {
      definition = JSON.stringify(convertToOpenAITool(tool as Parameters<typeof convertToOpenAITool>[0]))
    } catch {
      definition = JSON.stringify({ name: tool.name, description: tool.description })
    }
    total += Tokens.perMessage + counter.text(definition)
  }
  return total
}

/** The context state of a session. @internal */
export const make = (options: {
  readonly spec: ModelSpec
  readonly maxTokens: number | undefined
  readonly policy: ContextPolicy | undefined
  readonly systemPrompt: string | null
  /** The tools offered to the model (none when the model does not call tools). */
  readonly tools: ReadonlyArray<Tool>
}): Effect.Effect<State> =>
  Effect.map(Tokens.counterFor(options.spec), (counter) => ({
    policy: resolvePolicy(options.spec, options.maxTokens, options.policy),
    counter,
    fixedTokens:
      Tokens.replyPriming +
      (options.systemPrompt === null || options.systemPrompt.length === 0
        ? 0
        : Tokens.perMessage + counter.text("system") + counter.text(options.systemPrompt)) +
      toolTokens(counter, options.tools),
    cache: null
  }))

/**
 * The tokens left for the history (and the summary) once the new message is in, or
 * `ContextTooLarge` when there are none.
 *
 * @internal
 */
export const room = (state: State, human: BaseMessage): Effect.Effect<number, ContextTooLarge> => {
  const needed = state.fixedTokens + Tokens.messageTokens(state.counter, human)
  return needed > state.policy.budget
    ? Effect.fail(new ContextTooLarge({ tokens: needed, budget: state.policy.budget }))
    : Effect.succeed(state.policy.budget - needed)
}

const countOf = (state: State, store: Store | null, entry: HistoryEntry, message: BaseMessage): number => {
  if (store === null) return Tokens.messageTokens(state.counter, message)
  let byRow = counts.get(store)
  if (byRow === undefined) {
    byRow = new Map()
    counts.set(store, byRow)
  }
  const key = `${state.counter.encoding}:${entry.conversationId}:${entry.id}:${entry.seq}`
  const known = byRow.get(key)
  if (known !== undefined) return known
  const tokens = Tokens.messageTokens(state.counter, message)
  byRow.set(key, tokens)
  if (byRow.size > COUNTS) byRow.delete(byRow.keys().next().value!)
  return tokens
}

/** Groups entries (in seq order) into turns; tool pairs are repaired within each turn. */
const turnsOf = (state: State, store: Store | null, entries: ReadonlyArray<HistoryEntry>): Array<Turn> => {
  const turns: Array<Turn> = []
  let start = 0
  while (start < entries.length) {
    const turnId = entries[start]!.turnId
    let end = start + 1
    while (end < entries.length && entries[end]!.turnId === turnId) end++
    const group = entries.slice(start, end)
    const stored: Array<{ readonly entry: HistoryEntry; readonly message: BaseMessage }> = []
    for (const entry of group) {
      if (entry._tag === "Decoded" && isBaseMessage(entry.value)) stored.push({ entry, message: entry.value })
    }
    const messages = repairToolPairs(stored.map((item) => item.message))
    const seqOf = new Map(stored.map((item) => [item.message, item.entry] as const))
    let tokens = 0
    let chars = 0
    const seqs: Array<number> = []
    let previousSeq = group[0]!.seq
    for (const message of messages) {
      const entry = seqOf.get(message)
      // a message rebuilt by the repair is counted afresh (and sits where its original was)
      tokens +=
        entry === undefined ? Tokens.messageTokens(state.counter, message) : countOf(state, store, entry, message)
      chars += Tokens.messageChars(message)
      previousSeq = entry?.seq ?? previousSeq
      seqs.push(previousSeq)
    }
    turns.push({
      turnId,
      firstSeq: group[0]!.seq,
      lastSeq: group[group.length - 1]!.seq,
      messages: messages.map(slim),
      seqs,
      tokens,
      chars
    })
    start = end
  }
  return turns
}

/** The index of the oldest turn of the window: the newest turns that fit, contiguous. */
const select = (turns: ReadonlyArray<Turn>, budget: number, maxMessages: number | null): number => {
  let tokens = 0
  let messages = 0
  let start = turns.length
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]!
    if (tokens + turn.tokens > budget) break
    if (maxMessages !== null && messages + turn.messages.length > maxMessages) break
    tokens += turn.tokens
    messages += turn.messages.length
    start = i
  }
  return start
}

const windowOf = (turns: ReadonlyArray<Turn>, start: number, complete: boolean): Window => {
  const kept = turns.slice(start)
  const messages = kept.flatMap((turn) => turn.messages)
  const firstSeq = kept.find((turn) => turn.seqs.length > 0)?.seqs[0] ?? null
  return { messages, firstSeq, cut: start > 0 || !complete }
}

/**
 * The window of an app's own history (`getPreviousMessages` overridden): its entries are cut to
 * the budget the same way, but nothing is read and nothing is kept.
 *
 * @internal
 */
export const fromEntries = (
  state: State,
  store: Store,
  entries: ReadonlyArray<HistoryEntry>,
  budget: number
): Window => {
  const turns = turnsOf(state, store, entries)
  return windowOf(turns, select(turns, budget, state.policy.maxMessages), true)
}

/**
 * The window of a session without a conversation (its history lives in memory, split into turns
 * at each human message). The memory is cut to the window, so it stays bounded.
 *
 * @internal
 */
export const fromMemory = (state: State, memory: Array<BaseMessage>, budget: number): Window => {
  const turns: Array<Turn> = []
  let current: Array<BaseMessage> = []
  const flush = () => {
    if (current.length === 0) return
    const messages = repairToolPairs(current)
    const seq = turns.length + 1
    turns.push({
      turnId: `memory-${seq}`,
      firstSeq: seq,
      lastSeq: seq,
      messages,
      seqs: messages.map(() => seq),
      tokens: messages.reduce((sum, message) => sum + Tokens.messageTokens(state.counter, message), 0),
      chars: 0
    })
    current = []
  }
  for (const message of memory) {
    if (HumanMessage.isInstance(message)) flush()
    current.push(message)
  }
  flush()
  const start = select(turns, budget, state.policy.maxMessages)
  const window = windowOf(turns, start, true)
  memory.splice(0, memory.length, ...window.messages)
  return { ...window, firstSeq: null }
}

interface Page {
  readonly entries: ReadonlyArray<HistoryEntry>
  readonly turns: ReadonlyArray<Turn>
  readonly hasMore: boolean
}

/**
 * The whole turns of the newest `limit` rows older than `before`. The oldest turn of a page with
 * more rows before it may be cut by the page: it is left for the next page (a turn larger than
 * the page is read with a larger one).
 */
const readPage = (
  state: State,
  store: Store,
  conversationId: ConversationId,
  userId: string | null,
  before: number | undefined,
  limit: number
): Effect.Effect<Page, ConversationStoreError> =>
  Effect.flatMap(
    store.history(conversationId, { userId, limit, ...(before === undefined ? {} : { before }) }),
    (page): Effect.Effect<Page, ConversationStoreError> => {
      const first = page.entries[0]
      if (!page.hasMore || first === undefined) {
        return Effect.succeed({ entries: page.entries, turns: turnsOf(state, store, page.entries), hasMore: false })
      }
      const whole = page.entries.filter((entry) => entry.turnId !== first.turnId)
      if (whole.length === 0) return readPage(state, store, conversationId, userId, before, limit * 2)
      return Effect.succeed({ entries: page.entries, turns: turnsOf(state, store, whole), hasMore: true })
    }
  )

/**
 * The window of a stored conversation for this user, read from the store newest first and only
 * as far as `budget` reaches, joined to the session's last window when it can be.
 *
 * @internal
 */
export const load = (
  state: State,
  store: Store,
  conversationId: ConversationId,
  userId: string | null,
  budget: number
): Effect.Effect<Window, ConversationStoreError> =>
  Effect.gen(function* () {
    const maxMessages = state.policy.maxMessages
    const newest = yield* readPage(state, store, conversationId, userId, undefined, PROBE)
    const cache = state.cache
    let turns: ReadonlyArray<Turn>
    let complete: boolean
    const joinAt =
      cache === null
        ? -1
        : newest.entries.findIndex((entry) => entry.seq === cache.lastSeq && entry.turnId === cache.lastTurnId)
    if (cache !== null && joinAt >= 0) {
      // only the rows after the last one seen are new
      const added = turnsOf(state, store, newest.entries.slice(joinAt + 1))
      turns = [...cache.turns, ...added]
      complete = cache.complete
    } else {
      turns = newest.turns
      complete = !newest.hasMore
    }
    // older turns while everything read so far fits
    while (!complete && select(turns, budget, maxMessages) === 0) {
      const older = yield* readPage(state, store, conversationId, userId, turns[0]?.firstSeq, PAGE)
      turns = [...older.turns, ...turns]
      complete = !older.hasMore
      if (older.turns.length === 0) break
    }
    const start = select(turns, budget, maxMessages)
    // the turn just before the window is kept too: the next turn knows without a read whether it fits
    const keptFrom = Math.max(0, start - 1)
    const kept = turns.slice(keptFrom)
    const last = newest.entries[newest.entries.length - 1]
    const chars = kept.reduce((sum, turn) => sum + turn.chars, 0)
    state.cache =
      chars > RETAIN_CHARS
        ? null
        : {
            turns: kept,
            complete: complete && keptFrom === 0,
            lastSeq: last?.seq ?? 0,
            lastTurnId: last?.turnId ?? null
          }
    return windowOf(turns, start, complete)
  })
