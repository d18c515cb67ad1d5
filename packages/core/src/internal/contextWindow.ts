/**
 * The context window of a turn: the newest whole turns of the history that fit the model's token
 * budget beside the system prompt, the tool definitions, the summary and the new message.
 *
 * The newest turns read of a conversation (for one user, counted with one encoding) are kept as an
 * immutable `Snapshot`, shared by every session of the process on that conversation. Before a turn
 * a session reads the newest page of the history: when that page still holds the snapshot's last
 * row, only the rows after it are new (decoded and counted once); otherwise (a clear, or many
 * turns from elsewhere) it reads newest first, a page at a time, only until the budget is full.
 * Older turns are read only while everything read so far fits. So a turn costs the same at 10 or
 * 100,000 stored turns. A snapshot holds the window of the largest budget that used it (slim
 * copies, and the turn just before it, so the next turn knows without a read whether that one
 * fits), none above `RETAIN_CHARS`; the process holds it only while a session does.
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

/**
 * The newest turns of a conversation as read for one user with one encoding. Never changed: a
 * turn that reads new rows makes a new snapshot (sharing the turns of the old one).
 *
 * @internal
 */
export interface Snapshot {
  readonly turns: ReadonlyArray<Turn>
  /** Nothing older than the first turn exists. */
  readonly complete: boolean
  /** The newest row seen, and its turn: the next read joins here. */
  readonly lastSeq: number
  readonly lastTurnId: string | null
  /** The largest history budget that used this snapshot: the turns kept cover it. */
  readonly reach: number
}

/** The context state of one session. @internal */
export interface State {
  readonly policy: Policy
  readonly counter: Tokens.Counter
  /** The system prompt, the tool definitions and the reply's priming. */
  readonly fixedTokens: number
  /** The snapshot of this session's last window (it keeps the shared one alive). */
  snapshot: Snapshot | null
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

/**
 * The snapshots of the process, by store and `encoding|conversation|user`, newest first, held
 * weakly: a snapshot lives while a session holds it. A few are remembered per key, so that a
 * newer one made by a session that has since closed does not hide an older one a session still
 * holds (the next session joins that one).
 */
const shared = new WeakMap<Store, Map<string, Array<WeakRef<Snapshot>>>>()
/** Snapshots remembered per key. */
const SHARED = 4
const forget = new FinalizationRegistry<{
  readonly byKey: Map<string, Array<WeakRef<Snapshot>>>
  readonly key: string
}>(({ byKey, key }) => {
  const live = byKey.get(key)?.filter((ref) => ref.deref() !== undefined) ?? []
  if (live.length === 0) byKey.delete(key)
  else byKey.set(key, live)
})

const keyOf = (state: State, conversationId: ConversationId, userId: string | null): string =>
  `${state.counter.encoding}|${conversationId}|${userId === null ? "-" : `u${userId}`}`

/** The live snapshots of a key, newest first. */
const snapshotsOf = (store: Store, key: string): Array<Snapshot> => {
  const snapshots: Array<Snapshot> = []
  for (const ref of shared.get(store)?.get(key) ?? []) {
    const snapshot = ref.deref()
    if (snapshot !== undefined) snapshots.push(snapshot)
  }
  return snapshots
}

const publish = (store: Store, key: string, snapshot: Snapshot): void => {
  let byKey = shared.get(store)
  if (byKey === undefined) {
    byKey = new Map()
    shared.set(store, byKey)
  }
  const live = snapshotsOf(store, key)
  if (live[0] === snapshot) return
  const kept = [snapshot, ...live.filter((other) => other !== snapshot)]
    .sort((a, b) => b.lastSeq - a.lastSeq)
    .slice(0, SHARED)
  byKey.set(
    key,
    kept.map((other) => new WeakRef(other))
  )
  forget.register(snapshot, { byKey, key })
}

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
    snapshot: null
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
  // a plain loop: `flatMap` over a window of a thousand turns cost more than the rest of a joined read
  const messages: Array<BaseMessage> = []
  let firstSeq: number | null = null
  for (let i = start; i < turns.length; i++) {
    const turn = turns[i]!
    if (firstSeq === null && turn.seqs.length > 0) firstSeq = turn.seqs[0]!
    for (const message of turn.messages) messages.push(message)
  }
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
  /** The entries of the page's whole turns (turned into `Turn`s only when used: a joined read needs none). */
  readonly whole: ReadonlyArray<HistoryEntry>
  readonly hasMore: boolean
}

/**
 * The whole turns of the newest `limit` rows older than `before`. The oldest turn of a page with
 * more rows before it may be cut by the page: it is left for the next page (a turn larger than
 * the page is read with a larger one).
 */
const readPage = (
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
        return Effect.succeed({ entries: page.entries, whole: page.entries, hasMore: false })
      }
      const whole = page.entries.filter((entry) => entry.turnId !== first.turnId)
      if (whole.length === 0) return readPage(store, conversationId, userId, before, limit * 2)
      return Effect.succeed({ entries: page.entries, whole, hasMore: true })
    }
  )

/** Where `snapshot` joins the newest page: the index of its last row there, or -1. */
const joinAt = (snapshot: Snapshot | null, newest: Page): number =>
  snapshot === null
    ? -1
    : newest.entries.findIndex((entry) => entry.seq === snapshot.lastSeq && entry.turnId === snapshot.lastTurnId)

/**
 * The window of a stored conversation for this user, read from the store newest first and only
 * as far as `budget` reaches, joined to the process's snapshot of it when it can be.
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
    const key = keyOf(state, conversationId, userId)
    const newest = yield* readPage(store, conversationId, userId, undefined, PROBE)
    // the process's snapshots (newest first), then this session's own
    let base: Snapshot | null = null
    let at = -1
    for (const candidate of [...snapshotsOf(store, key), state.snapshot]) {
      at = joinAt(candidate, newest)
      if (at >= 0) {
        base = candidate
        break
      }
    }
    let turns: ReadonlyArray<Turn>
    let complete: boolean
    let added = 0
    if (base !== null && at >= 0) {
      // only the rows after the last one seen are new
      const fresh = at + 1 < newest.entries.length ? turnsOf(state, store, newest.entries.slice(at + 1)) : []
      added = fresh.length
      turns = added === 0 ? base.turns : [...base.turns, ...fresh]
      complete = base.complete
    } else {
      base = null
      turns = turnsOf(state, store, newest.whole)
      complete = !newest.hasMore
    }
    let older = 0
    // older turns while everything read so far fits
    while (!complete && select(turns, budget, maxMessages) === 0) {
      const page = yield* readPage(store, conversationId, userId, turns[0]?.firstSeq, PAGE)
      const read = turnsOf(state, store, page.whole)
      turns = [...read, ...turns]
      older += read.length
      complete = !page.hasMore
      if (read.length === 0) break
    }
    const start = select(turns, budget, maxMessages)
    // kept: the window of the largest budget that used the snapshot, and the turn just before it
    // (the next turn knows without a read whether that one fits)
    const reach = Math.max(budget, base?.reach ?? 0)
    const keptFrom = Math.max(0, Math.min(start, reach === budget ? start : select(turns, reach, null)) - 1)
    const last = newest.entries[newest.entries.length - 1]
    let snapshot: Snapshot | null
    if (base !== null && added === 0 && older === 0 && keptFrom === 0 && reach === base.reach) {
      snapshot = base // nothing new: the same snapshot
    } else {
      const kept = keptFrom === 0 ? turns : turns.slice(keptFrom)
      let chars = 0
      for (const turn of kept) chars += turn.chars
      snapshot =
        chars > RETAIN_CHARS
          ? null
          : {
              turns: kept,
              complete: complete && keptFrom === 0,
              lastSeq: last?.seq ?? 0,
              lastTurnId: last?.turnId ?? null,
              reach
            }
    }
    state.snapshot = snapshot
    if (snapshot !== null) publish(store, key, snapshot)
    return windowOf(turns, start, complete)
  })
