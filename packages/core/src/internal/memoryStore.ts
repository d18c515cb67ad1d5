/**
 * The in-memory `ConversationStore`. It keeps content as encoded JSON text, exactly like the SQL
 * store, so a history read decodes (and fails to decode) the same way. Every write runs in one
 * synchronous step after encoding, so a turn is atomic with respect to other fibers.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type {
  AcceptResult,
  AppendResult,
  Conversation,
  ConversationId,
  ConversationPage,
  ConversationRef,
  HistoryPage,
  MessageRow,
  PendingTurn,
  Service
} from "../ConversationStore.js"
import { ConversationNotFound } from "../ConversationStore.js"
import type * as MessageCodec from "../MessageCodec.js"
import * as Store from "./store.js"

interface ConversationRecord {
  readonly id: ConversationId
  readonly publicId: string
  readonly userId: string | null
  readonly title: string | null
  metadataJson: string
  lastSeq: number
  readonly createdAt: number
  updatedAt: number
}

interface PendingRecord {
  readonly turn: Store.PreparedPending
  readonly acceptedAt: number
  draft: string | null
  checkpointedAt: number | null
}

interface MessageRecord {
  readonly row: MessageRow
  readonly content: string
}

/** @internal */
export interface MemoryStore {
  readonly service: Service
  /**
   * Stores `raw` verbatim as the content of a new message (next `seq`, kind `unknown`), the way a
   * damaged or foreign row would look. For tests of undecodable history entries.
   */
  readonly insertRaw: (conversationId: ConversationId, raw: string) => Effect.Effect<MessageRow, ConversationNotFound>
}

/** @internal */
export const make = (codec: MessageCodec.Service): MemoryStore => {
  const conversations = new Map<ConversationId, ConversationRecord>()
  const byPublicId = new Map<string, ConversationId>()
  const messages = new Map<ConversationId, Array<MessageRecord>>()
  /** Pending turns in acceptance order, keyed by conversation and turn id. */
  const pendingTurns = new Map<string, PendingRecord>()
  const pendingKey = (conversationId: ConversationId, turnId: string) => `${conversationId}:${turnId}`
  let nextConversationId = 1
  let nextMessageId = 1

  const toConversation = (record: ConversationRecord): Conversation => ({
    id: record.id,
    publicId: record.publicId,
    userId: record.userId,
    title: record.title,
    metadata: Store.parseMetadata(record.metadataJson),
    createdAt: new Date(record.createdAt),
    updatedAt: new Date(record.updatedAt)
  })

  const find = (id: ConversationId): Effect.Effect<ConversationRecord, ConversationNotFound> =>
    Effect.suspend(() => {
      const record = conversations.get(id)
      return record === undefined
        ? Effect.fail(new ConversationNotFound({ conversationId: id }))
        : Effect.succeed(record)
    })

  const store = (
    record: ConversationRecord,
    turnId: string,
    userId: string | null,
    items: ReadonlyArray<Store.EncodedMessage>,
    now: number
  ): ReadonlyArray<MessageRow> => {
    const list = messages.get(record.id) ?? []
    messages.set(record.id, list)
    const rows = items.map((item, i): MessageRow => ({
      id: nextMessageId++,
      conversationId: record.id,
      seq: record.lastSeq + i + 1,
      turnId,
      userId,
      clientId: item.clientId,
      kind: item.kind,
      status: item.status,
      inputTokens: item.inputTokens,
      outputTokens: item.outputTokens,
      createdAt: new Date(now)
    }))
    record.lastSeq += items.length
    record.updatedAt = now
    rows.forEach((row, i) => list.push({ row, content: items[i]!.content }))
    return rows
  }

  const create = Effect.fn("ConversationStore.create")(function* (input: Parameters<Service["create"]>[0]) {
    const valid = yield* Store.validateNewConversation(input)
    const now = yield* Clock.currentTimeMillis
    if (byPublicId.has(valid.publicId)) return yield* Store.publicIdTaken(valid.publicId)
    const record: ConversationRecord = {
      id: nextConversationId++,
      publicId: valid.publicId,
      userId: valid.userId,
      title: valid.title,
      metadataJson: valid.metadataJson,
      lastSeq: 0,
      createdAt: now,
      updatedAt: now
    }
    conversations.set(record.id, record)
    byPublicId.set(record.publicId, record.id)
    return toConversation(record)
  })

  const get = Effect.fn("ConversationStore.get")(function* (ref: ConversationRef) {
    const valid = yield* Store.checkRef("get", ref)
    if (typeof valid === "number") return toConversation(yield* find(valid))
    const id = byPublicId.get(valid)
    if (id === undefined) return yield* new ConversationNotFound({ conversationId: valid })
    return toConversation(yield* find(id))
  })

  const list = Effect.fn("ConversationStore.list")(function* (query: Parameters<Service["list"]>[0]) {
    const valid = yield* Store.validateListQuery(query)
    const matching = Array.from(conversations.values())
      .filter((c) => c.userId === valid.userId && (valid.before === undefined || c.id < valid.before))
      .sort((a, b) => b.id - a.id)
    const page = valid.limit === undefined ? matching : matching.slice(0, valid.limit)
    const result: ConversationPage = { conversations: page.map(toConversation), hasMore: page.length < matching.length }
    return result
  })

  // Synchronous: callers run it in one step, so no other fiber runs between the checks and the write.
  const appendNow = (
    record: ConversationRecord,
    prepared: Store.PreparedTurn,
    writtenAhead: boolean,
    now: number
  ): AppendResult => {
    const list = messages.get(record.id) ?? []
    const wasPending = writtenAhead && pendingTurns.delete(pendingKey(record.id, prepared.turnId))
    if (writtenAhead && !wasPending && list.some((m) => m.row.turnId === prepared.turnId)) {
      return {
        turnId: prepared.turnId,
        rows: list.filter((m) => m.row.turnId === prepared.turnId).map((m) => m.row),
        duplicate: true
      }
    }
    if (prepared.clientIds.length > 0) {
      const seen = list.find((m) => m.row.clientId !== null && prepared.clientIds.includes(m.row.clientId))
      if (seen !== undefined) {
        return {
          turnId: seen.row.turnId,
          rows: list.filter((m) => m.row.turnId === seen.row.turnId).map((m) => m.row),
          duplicate: true
        }
      }
    }
    const rows = store(record, prepared.turnId, prepared.userId, prepared.messages, now)
    return { turnId: prepared.turnId, rows, duplicate: false }
  }

  const append = Effect.fn("ConversationStore.append")(function* (turn: Parameters<Service["append"]>[0]) {
    const prepared = yield* Store.prepareTurn(codec, turn)
    const now = yield* Clock.currentTimeMillis
    return yield* Effect.suspend((): Effect.Effect<AppendResult, ConversationNotFound> => {
      const record = conversations.get(prepared.conversationId)
      if (record === undefined)
        return Effect.fail(new ConversationNotFound({ conversationId: prepared.conversationId }))
      return Effect.succeed(appendNow(record, prepared, turn.turnId !== undefined, now))
    })
  })

  const bulkAppend = Effect.fn("ConversationStore.bulkAppend")(function* (turns: Parameters<Service["bulkAppend"]>[0]) {
    const prepared = yield* Store.prepareTurns(codec, turns)
    const now = yield* Clock.currentTimeMillis
    return yield* Effect.suspend((): Effect.Effect<ReadonlyArray<AppendResult>, ConversationNotFound> => {
      const missing = prepared.find((p) => !conversations.has(p.conversationId))
      if (missing !== undefined)
        return Effect.fail(new ConversationNotFound({ conversationId: missing.conversationId }))
      return Effect.succeed(
        prepared.map((p, i) => appendNow(conversations.get(p.conversationId)!, p, turns[i]!.turnId !== undefined, now))
      )
    })
  })

  const accept = Effect.fn("ConversationStore.accept")(function* (turn: Parameters<Service["accept"]>[0]) {
    const prepared = yield* Store.preparePending(codec, turn)
    const now = yield* Clock.currentTimeMillis
    return yield* Effect.suspend((): Effect.Effect<AcceptResult, ConversationNotFound> => {
      const id = prepared.conversationId
      if (!conversations.has(id)) return Effect.fail(new ConversationNotFound({ conversationId: id }))
      const waiting = Array.from(pendingTurns.values()).filter((p) => p.turn.conversationId === id)
      const clientId = prepared.clientId
      if (clientId !== null) {
        const pending = waiting.find((p) => p.turn.clientId === clientId)
        if (pending !== undefined) return Effect.succeed({ _tag: "Duplicate", turnId: pending.turn.turnId })
        const stored = (messages.get(id) ?? []).find((m) => m.row.clientId === clientId)
        if (stored !== undefined) return Effect.succeed({ _tag: "Duplicate", turnId: stored.row.turnId })
      }
      const key = pendingKey(id, prepared.turnId)
      if (pendingTurns.has(key) || (messages.get(id) ?? []).some((m) => m.row.turnId === prepared.turnId)) {
        return Effect.succeed({ _tag: "Duplicate", turnId: prepared.turnId })
      }
      if (waiting.length >= prepared.maxPending) return Effect.succeed({ _tag: "Busy", pending: waiting.length })
      pendingTurns.set(key, { turn: prepared, acceptedAt: now, draft: null, checkpointedAt: null })
      return Effect.succeed({ _tag: "Accepted", turnId: prepared.turnId, acceptedAt: new Date(now) })
    })
  })

  const checkpoint = Effect.fn("ConversationStore.checkpoint")(function* (
    conversationId: ConversationId,
    turnId: string,
    draft: ReadonlyArray<unknown>
  ) {
    yield* Store.checkId("checkpoint", conversationId)
    const encoded = yield* Store.encodeDraft(codec, draft)
    const now = yield* Clock.currentTimeMillis
    const record = pendingTurns.get(pendingKey(conversationId, turnId))
    if (record === undefined) return false
    record.draft = encoded
    record.checkpointedAt = now
    return true
  })

  const release = Effect.fn("ConversationStore.release")(function* (conversationId: ConversationId, turnId: string) {
    yield* Store.checkId("release", conversationId)
    pendingTurns.delete(pendingKey(conversationId, turnId))
  })

  const pending = Effect.fn("ConversationStore.pending")(function* (conversationId?: ConversationId) {
    if (conversationId !== undefined) yield* Store.checkId("pending", conversationId)
    return Array.from(pendingTurns.values())
      .filter((p) => conversationId === undefined || p.turn.conversationId === conversationId)
      .map((p): PendingTurn => {
        const decoded = Store.decodePending(codec, p.turn.content, p.draft)
        return {
          conversationId: p.turn.conversationId,
          turnId: p.turn.turnId,
          userId: p.turn.userId,
          clientId: p.turn.clientId,
          owner: p.turn.owner,
          acceptedAt: new Date(p.acceptedAt),
          checkpointedAt: p.checkpointedAt === null ? null : new Date(p.checkpointedAt),
          human: decoded.human,
          draft: decoded.draft
        }
      })
  })

  const history = Effect.fn("ConversationStore.history")(function* (
    id: ConversationId,
    query?: Parameters<Service["history"]>[1]
  ) {
    yield* Store.checkId("history", id)
    const valid = yield* Store.validateHistoryQuery(query)
    yield* find(id)
    const matching = (messages.get(id) ?? []).filter(
      (m) =>
        (valid.userId === undefined || m.row.userId === valid.userId) &&
        (valid.before === undefined || m.row.seq < valid.before) &&
        (valid.after === undefined || m.row.seq > valid.after)
    )
    const page =
      valid.limit === undefined
        ? matching
        : valid.after !== undefined
          ? matching.slice(0, valid.limit)
          : matching.slice(Math.max(0, matching.length - valid.limit))
    const entries = yield* Store.decodeEntries(
      codec,
      page.map((m) => ({ row: m.row, raw: m.content }))
    )
    const result: HistoryPage = { entries, hasMore: page.length < matching.length }
    return result
  })

  const clear = Effect.fn("ConversationStore.clear")(function* (
    id: ConversationId,
    options?: Parameters<Service["clear"]>[1]
  ) {
    yield* Store.checkId("clear", id)
    const now = yield* Clock.currentTimeMillis
    return yield* Effect.suspend(() => {
      const record = conversations.get(id)
      if (record === undefined) return Effect.fail(new ConversationNotFound({ conversationId: id }))
      const userId = options?.userId
      if (userId === undefined) messages.delete(id)
      else
        messages.set(
          id,
          (messages.get(id) ?? []).filter((m) => m.row.userId !== userId)
        )
      record.updatedAt = now
      return Effect.void
    })
  })

  const remove = Effect.fn("ConversationStore.delete")(function* (id: ConversationId) {
    yield* Store.checkId("delete", id)
    return yield* Effect.suspend(() => {
      const record = conversations.get(id)
      if (record === undefined) return Effect.fail(new ConversationNotFound({ conversationId: id }))
      conversations.delete(id)
      byPublicId.delete(record.publicId)
      messages.delete(id)
      for (const [key, p] of pendingTurns) if (p.turn.conversationId === id) pendingTurns.delete(key)
      return Effect.void
    })
  })

  const insertRaw = (conversationId: ConversationId, raw: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.suspend((): Effect.Effect<MessageRow, ConversationNotFound> => {
        const record = conversations.get(conversationId)
        if (record === undefined) return Effect.fail(new ConversationNotFound({ conversationId }))
        const item: Store.EncodedMessage = {
          content: raw,
          kind: "unknown",
          status: "complete",
          clientId: null,
          inputTokens: null,
          outputTokens: null
        }
        return Effect.succeed(store(record, Store.newTurnId(), null, [item], now)[0]!)
      })
    )

  const updateMetadata = Effect.fn("ConversationStore.updateMetadata")(function* (
    id: ConversationId,
    patch: Readonly<Record<string, unknown>>
  ) {
    yield* Store.checkId("updateMetadata", id)
    const record = yield* find(id)
    const merged = yield* Store.mergeMetadata("updateMetadata", Store.parseMetadata(record.metadataJson), patch)
    record.metadataJson = merged.metadataJson
    record.updatedAt = yield* Clock.currentTimeMillis
    return toConversation(record)
  })

  return {
    service: {
      create,
      get,
      list,
      append,
      bulkAppend,
      accept,
      checkpoint,
      release,
      pending,
      history,
      clear,
      delete: remove,
      updateMetadata
    },
    insertRaw
  }
}
