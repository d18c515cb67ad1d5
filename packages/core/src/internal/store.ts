/**
 * What every store implementation shares: input validation, the encoding of a turn's messages
 * and the decoding of stored content into history entries. The memory and SQL stores both use
 * it, so they reject the same input and treat a broken row the same way.
 *
 * The public classes of `ConversationStore.ts` are only used inside functions here: that module
 * imports the memory store, which imports this one.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type {
  ConversationId,
  HistoryEntry,
  MessageKind,
  MessageRow,
  MessageStatus,
  NewConversation,
  NewPendingTurn,
  NewTurn
} from "../ConversationStore.js"
import { StoreError } from "../ConversationStore.js"
import * as MessageCodec from "../MessageCodec.js"
import * as CodecJson from "./codecJson.js"

/** @internal */
export const invalidInput = (operation: string, detail: string): StoreError =>
  new StoreError({ reason: "InvalidInput", operation, detail })

const isPositiveInt = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u) && u > 0
const isNonNegativeInt = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 0
const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null

/** @internal */
export const checkId = (operation: string, id: unknown): Effect.Effect<ConversationId, StoreError> =>
  isPositiveInt(id)
    ? Effect.succeed(id)
    : Effect.fail(invalidInput(operation, `conversation id must be a positive integer, got ${describe(id)}`))

const describe = (u: unknown): string => {
  if (typeof u === "string") return JSON.stringify(u)
  if (typeof u === "number" || typeof u === "boolean" || u === null || u === undefined) return String(u)
  if (Array.isArray(u)) return "an array"
  return `a ${typeof u}`
}

const optionalNullableString = (
  operation: string,
  field: string,
  u: unknown
): Either.Either<string | null, StoreError> =>
  u === undefined || u === null
    ? Either.right(null)
    : typeof u === "string"
      ? Either.right(u)
      : Either.left(invalidInput(operation, `${field} must be a string or null, got ${describe(u)}`))

/** Why `u` is not a valid public id, if it is not. @internal */
export const publicIdProblem = (u: unknown): string | undefined => {
  if (typeof u !== "string") return `a public id must be a string, got ${describe(u)}`
  if (u.length === 0 || u.length > 255) return `a public id must have 1 to 255 characters, got ${u.length}`
  if (/[\u0000-\u001f\u007f]/.test(u)) return "a public id must not hold control characters"
  if (/^[0-9]+$/.test(u))
    return `a public id must not be only digits (it would read as an integer id), got ${describe(u)}`
  return undefined
}

/** @internal */
export const isPublicId = (u: unknown): u is string => publicIdProblem(u) === undefined

/**
 * Checks a conversation reference: a positive integer id or a public id.
 *
 * @internal
 */
export const checkRef = (operation: string, ref: unknown): Effect.Effect<number | string, StoreError> => {
  if (typeof ref === "string") {
    const problem = publicIdProblem(ref)
    return problem === undefined ? Effect.succeed(ref) : Effect.fail(invalidInput(operation, problem))
  }
  return checkId(operation, ref)
}

/**
 * A fresh public id: a UUIDv7 (48 bits of milliseconds, 74 random bits from
 * `crypto.getRandomValues`), lower-case and hyphenated.
 *
 * @internal
 */
export const newPublicId = (now: number = Date.now()): string => {
  const bytes = new Uint8Array(16)
  globalThis.crypto.getRandomValues(bytes)
  let time = now
  for (let i = 5; i >= 0; i--) {
    bytes[i] = time % 256
    time = Math.floor(time / 256)
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** @internal */
export const publicIdTaken = (publicId: string): StoreError =>
  new StoreError({
    reason: "Conflict",
    operation: "create",
    detail: `the public id ${JSON.stringify(publicId)} is taken by another conversation`
  })

/** @internal */
export interface ValidConversation {
  readonly publicId: string
  readonly userId: string | null
  readonly title: string | null
  /** The metadata as it will be read back (a JSON round trip of the input). */
  readonly metadata: Record<string, unknown>
  readonly metadataJson: string
}

/** @internal */
export const validateNewConversation = (input: NewConversation): Effect.Effect<ValidConversation, StoreError> =>
  Effect.suspend(() => {
    const operation = "create"
    if (!isObject(input)) return Effect.fail(invalidInput(operation, "input must be an object"))
    const userId = optionalNullableString(operation, "userId", input.userId)
    if (Either.isLeft(userId)) return Effect.fail(userId.left)
    const title = optionalNullableString(operation, "title", input.title)
    if (Either.isLeft(title)) return Effect.fail(title.left)
    const metadata = validateMetadata(operation, input.metadata === undefined ? {} : input.metadata)
    if (Either.isLeft(metadata)) return Effect.fail(metadata.left)
    if (input.publicId !== undefined) {
      const problem = publicIdProblem(input.publicId)
      if (problem !== undefined) return Effect.fail(invalidInput(operation, problem))
    }
    return Effect.succeed({
      publicId: typeof input.publicId === "string" ? input.publicId : newPublicId(),
      userId: userId.right,
      title: title.right,
      ...metadata.right
    })
  })

/** @internal */
export const validateMetadata = (
  operation: string,
  u: unknown
): Either.Either<{ readonly metadata: Record<string, unknown>; readonly metadataJson: string }, StoreError> => {
  if (!isObject(u) || Array.isArray(u)) {
    return Either.left(invalidInput(operation, `metadata must be a JSON object, got ${describe(u)}`))
  }
  let metadataJson: string
  try {
    metadataJson = JSON.stringify(u)
  } catch (error) {
    return Either.left(invalidInput(operation, `metadata is not JSON-serialisable: ${String(error)}`))
  }
  const metadata: unknown = JSON.parse(metadataJson)
  if (!isObject(metadata) || Array.isArray(metadata)) {
    return Either.left(invalidInput(operation, "metadata must be a JSON object"))
  }
  return Either.right({ metadata, metadataJson })
}

/** The metadata of `current` with `patch` merged in (a key set to `undefined` is removed). @internal */
export const mergeMetadata = (
  operation: string,
  current: Record<string, unknown>,
  patch: unknown
): Either.Either<{ readonly metadata: Record<string, unknown>; readonly metadataJson: string }, StoreError> => {
  if (!isObject(patch) || Array.isArray(patch)) {
    return Either.left(invalidInput(operation, `the patch must be an object, got ${describe(patch)}`))
  }
  const merged: Record<string, unknown> = { ...current }
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete merged[key]
    else merged[key] = value
  }
  return validateMetadata(operation, merged)
}

/** Parses stored metadata text; a broken value reads as `{}` rather than failing the read. @internal */
export const parseMetadata = (u: unknown): Record<string, unknown> => {
  let value = u
  if (typeof u === "string") {
    try {
      value = JSON.parse(u)
    } catch {
      return {}
    }
  }
  return isObject(value) && !Array.isArray(value) ? value : {}
}

/** @internal */
export interface ValidListQuery {
  readonly userId: string | null
  readonly before: number | undefined
  readonly limit: number | undefined
}

/** @internal */
export const validateListQuery = (query: unknown): Effect.Effect<ValidListQuery, StoreError> =>
  Effect.suspend(() => {
    const operation = "list"
    if (!isObject(query)) return Effect.fail(invalidInput(operation, "query must be an object"))
    const { before, limit, userId } = query
    if (userId !== null && typeof userId !== "string") {
      return Effect.fail(invalidInput(operation, `userId must be a string or null, got ${describe(userId)}`))
    }
    if (before !== undefined && !isPositiveInt(before)) {
      return Effect.fail(invalidInput(operation, `before must be a positive integer, got ${describe(before)}`))
    }
    if (limit !== undefined && !isPositiveInt(limit)) {
      return Effect.fail(invalidInput(operation, `limit must be a positive integer, got ${describe(limit)}`))
    }
    return Effect.succeed({ userId, before, limit })
  })

/** @internal */
export interface ValidHistoryQuery {
  /** `undefined`: every user's messages. */
  readonly userId: string | null | undefined
  readonly before: number | undefined
  readonly after: number | undefined
  readonly limit: number | undefined
}

/** @internal */
export const validateHistoryQuery = (query: unknown): Effect.Effect<ValidHistoryQuery, StoreError> =>
  Effect.suspend(() => {
    const operation = "history"
    if (query === undefined)
      return Effect.succeed({ userId: undefined, before: undefined, after: undefined, limit: undefined })
    if (!isObject(query)) return Effect.fail(invalidInput(operation, "query must be an object"))
    const { after, before, limit, userId } = query
    if (userId !== undefined && userId !== null && typeof userId !== "string") {
      return Effect.fail(invalidInput(operation, `userId must be a string, null or undefined, got ${describe(userId)}`))
    }
    if (before !== undefined && !isNonNegativeInt(before)) {
      return Effect.fail(invalidInput(operation, `before must be a non-negative integer, got ${describe(before)}`))
    }
    if (after !== undefined && !isNonNegativeInt(after)) {
      return Effect.fail(invalidInput(operation, `after must be a non-negative integer, got ${describe(after)}`))
    }
    if (limit !== undefined && !isPositiveInt(limit)) {
      return Effect.fail(invalidInput(operation, `limit must be a positive integer, got ${describe(limit)}`))
    }
    return Effect.succeed({ userId, before, after, limit })
  })

/** One message of a turn, encoded and ready to store. @internal */
export interface EncodedMessage {
  readonly content: string
  readonly kind: MessageKind
  readonly status: MessageStatus
  readonly clientId: string | null
  readonly inputTokens: number | null
  readonly outputTokens: number | null
}

/** @internal */
export interface PreparedTurn {
  readonly conversationId: ConversationId
  readonly userId: string | null
  readonly turnId: string
  readonly messages: ReadonlyArray<EncodedMessage>
  /** The client ids carried by the turn's messages (distinct). */
  readonly clientIds: ReadonlyArray<string>
}

const statuses: ReadonlyArray<MessageStatus> = ["complete", "aborted", "error", "interrupted"]
const kinds: ReadonlyArray<MessageKind> = ["human", "ai", "system", "tool", "function", "data", "unknown"]

const tokenCount = (u: unknown): number | null =>
  typeof u === "number" && Number.isSafeInteger(u) && u >= 0 && u <= 2_147_483_647 ? u : null

/**
 * Validates a turn and encodes each message with the codec. Nothing is written by the caller
 * unless every message encodes.
 *
 * @internal
 */
export const prepareTurn = (codec: MessageCodec.Service, turn: NewTurn): Effect.Effect<PreparedTurn, StoreError> =>
  Effect.gen(function* () {
    const operation = "append"
    if (!isObject(turn)) return yield* invalidInput(operation, "turn must be an object")
    const conversationId = yield* checkId(operation, turn.conversationId)
    const userId = optionalNullableString(operation, "userId", turn.userId)
    if (Either.isLeft(userId)) return yield* userId.left
    if (turn.turnId !== undefined && (typeof turn.turnId !== "string" || turn.turnId.length === 0)) {
      return yield* invalidInput(operation, `turnId must be a non-empty string, got ${describe(turn.turnId)}`)
    }
    if (!Array.isArray(turn.messages)) return yield* invalidInput(operation, "messages must be an array")
    const messages: ReadonlyArray<unknown> = turn.messages
    if (messages.length === 0) return yield* invalidInput(operation, "a turn needs at least one message")
    const clientIds = new Set<string>()
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]
      const at = `message ${i + 1} of ${messages.length}`
      if (!isObject(message)) return yield* invalidInput(operation, `${at} must be an object`)
      if (message.status !== undefined && !statuses.includes(message.status as MessageStatus)) {
        return yield* invalidInput(
          operation,
          `${at}: status must be one of ${statuses.join(", ")}, got ${describe(message.status)}`
        )
      }
      const clientId = message.clientId
      if (clientId !== undefined && clientId !== null) {
        if (typeof clientId !== "string" || clientId.length === 0) {
          return yield* invalidInput(operation, `${at}: clientId must be a non-empty string, got ${describe(clientId)}`)
        }
        if (clientIds.has(clientId)) {
          return yield* invalidInput(operation, `${at}: clientId ${JSON.stringify(clientId)} is used twice in the turn`)
        }
        clientIds.add(clientId)
      }
      if (message.content !== undefined) {
        if (typeof message.content !== "string") {
          return yield* invalidInput(operation, `${at}: content must be JSON text, got ${describe(message.content)}`)
        }
        try {
          CodecJson.parse(message.content)
        } catch (error) {
          return yield* invalidInput(
            operation,
            `${at}: content is not JSON: ${error instanceof Error ? error.message : String(error)}`
          )
        }
      }
    }
    const encoded: Array<EncodedMessage> = []
    for (let i = 0; i < turn.messages.length; i++) {
      const message = turn.messages[i]!
      let content: Either.Either<string, MessageCodec.CodecError>
      try {
        content =
          message.content !== undefined ? Either.right(message.content) : codec.encodeStringEither(message.value)
      } catch (defect) {
        return yield* Effect.die(defect)
      }
      if (Either.isLeft(content)) {
        const cause = content.left
        return yield* new StoreError({
          reason: "Encode",
          operation,
          detail: `message ${i + 1} of ${turn.messages.length}: ${cause.message}`,
          cause
        })
      }
      const kind = MessageCodec.kindOf(message.value)
      const tokens = MessageCodec.tokensOf(message.value)
      encoded.push({
        content: content.right,
        kind: kinds.includes(kind) ? kind : "unknown",
        status: message.status ?? "complete",
        clientId: message.clientId ?? null,
        inputTokens: tokenCount(tokens.input),
        outputTokens: tokenCount(tokens.output)
      })
    }
    return {
      conversationId,
      userId: userId.right,
      turnId: turn.turnId ?? newTurnId(),
      messages: encoded,
      clientIds: Array.from(clientIds)
    }
  })

/**
 * Validates and encodes the turns of a bulk append: every turn as `prepareTurn` does, failing
 * with the first bad turn (named by its position).
 *
 * @internal
 */
export const prepareTurns = (
  codec: MessageCodec.Service,
  turns: ReadonlyArray<NewTurn>
): Effect.Effect<Array<PreparedTurn>, StoreError> =>
  Effect.gen(function* () {
    if (!Array.isArray(turns)) return yield* invalidInput("bulkAppend", "turns must be an array")
    const out: Array<PreparedTurn> = []
    for (let i = 0; i < turns.length; i++) {
      out.push(
        yield* prepareTurn(codec, turns[i]!).pipe(
          Effect.mapError(
            (error) =>
              new StoreError({
                reason: error.reason,
                operation: "bulkAppend",
                detail: `turn ${i + 1} of ${turns.length}: ${error.detail}`,
                ...(error.cause !== undefined ? { cause: error.cause } : {})
              })
          )
        )
      )
    }
    return out
  })

/**
 * Decodes stored rows with the codec (which reads what Python's `json.loads` reads), without an
 * Effect per row: rows are decoded synchronously in chunks (the fiber yields between chunks), and
 * each entry's `content` is parsed only when it is read. Never fails: broken JSON, a `_value` its
 * codec rejects, or a codec defect become an `Undecodable` entry that keeps the row and its raw
 * text.
 *
 * @internal
 */
export const decodeEntries = (
  codec: MessageCodec.Service,
  rows: ReadonlyArray<{ readonly row: MessageRow; readonly raw: string }>
): Effect.Effect<Array<HistoryEntry>> => decodeEntriesWith(codec, rows, identity)

const identity = <A>(a: A): A => a

/**
 * `decodeEntries` on rows as a driver returns them, each read by `read` just before it is decoded
 * (so what `read` builds dies young instead of outliving the whole page: fewer objects for the GC
 * to copy on a long history).
 *
 * @internal
 */
export const decodeEntriesWith = <R>(
  codec: MessageCodec.Service,
  rows: ReadonlyArray<R>,
  read: (row: R) => { readonly row: MessageRow; readonly raw: string }
): Effect.Effect<Array<HistoryEntry>> =>
  Effect.suspend(() => {
    const out: Array<HistoryEntry> = new Array(rows.length)
    const chunk = (from: number) =>
      Effect.sync(() => {
        const to = Math.min(rows.length, from + decodeChunk)
        for (let i = from; i < to; i++) {
          const { raw, row } = read(rows[i]!)
          out[i] = decodeEntrySync(codec, row, raw)
        }
      })
    const starts: Array<number> = []
    for (let from = 0; from < rows.length; from += decodeChunk) starts.push(from)
    return Effect.as(Effect.forEach(starts, chunk, { discard: true }), out)
  })

const decodeChunk = 512

const decodeEntrySync = (codec: MessageCodec.Service, row: MessageRow, raw: string): HistoryEntry => {
  let decoded: Either.Either<unknown, MessageCodec.CodecError>
  try {
    decoded = codec.decodeStringEither(raw)
  } catch (defect) {
    return {
      ...row,
      _tag: "Undecodable",
      raw,
      reason: `codec defect: ${defect instanceof Error ? defect.message : String(defect)}`
    }
  }
  if (Either.isLeft(decoded)) return { ...row, _tag: "Undecodable", raw, reason: decoded.left.message }
  let content: MessageCodec.Json | undefined
  // Every field spelled out: a spread beside a getter builds the object the slow way (6x the time).
  return {
    _tag: "Decoded",
    id: row.id,
    conversationId: row.conversationId,
    seq: row.seq,
    turnId: row.turnId,
    userId: row.userId,
    clientId: row.clientId,
    kind: row.kind,
    status: row.status,
    inputTokens: row.inputTokens,
    outputTokens: row.outputTokens,
    createdAt: row.createdAt,
    value: decoded.right,
    get content() {
      return (content ??= parseContent(raw))
    }
  }
}

// The stored JSON value; text Python wrote may hold NaN or Infinity, which only the exact parser reads.
const parseContent = (raw: string): MessageCodec.Json => {
  try {
    return JSON.parse(raw) as MessageCodec.Json
  } catch {
    return CodecJson.parse(raw) as MessageCodec.Json
  }
}

/**
 * Why encoded content text cannot go into a PostgreSQL `jsonb` column, if it cannot: `jsonb`
 * takes strict JSON only (no NaN or Infinity, which Python's `json.dumps` writes) and no `\u0000`.
 *
 * @internal
 */
export const jsonbProblem = (text: string): string | undefined => {
  // Without the letters of NaN or Infinity anywhere the text holds neither, and parsing it (the
  // largest piece of an append's own CPU) is left to PostgreSQL, which refuses text that is not JSON.
  if (text.includes("NaN") || text.includes("Infinity")) {
    try {
      JSON.parse(text)
    } catch {
      return "the value holds NaN or Infinity, which a PostgreSQL jsonb column cannot store"
    }
  }
  return text.includes("\\u0000") && /(^|[^\\])(\\\\)*\\u0000/.test(text)
    ? "the value holds a NUL character (\\u0000), which a PostgreSQL jsonb column cannot store"
    : undefined
}

/**
 * The write's refusal when one of `messages` is a value a PostgreSQL `jsonb` column cannot hold:
 * a `StoreError` (`Encode`) naming the message by `label` (its index), or nothing.
 *
 * @internal
 */
export const jsonbRefusal = (
  operation: string,
  messages: ReadonlyArray<{ readonly content: string }>,
  label: (index: number) => string
): StoreError | undefined => {
  for (const [i, message] of messages.entries()) {
    const problem = jsonbProblem(message.content)
    if (problem !== undefined) return new StoreError({ reason: "Encode", operation, detail: `${label(i)}: ${problem}` })
  }
  return undefined
}

/** A validated pending turn, its human message encoded. @internal */
export interface PreparedPending {
  readonly conversationId: ConversationId
  readonly userId: string | null
  readonly turnId: string
  readonly clientId: string | null
  readonly owner: string
  readonly content: string
  readonly maxPending: number
}

/** @internal */
export const preparePending = (
  codec: MessageCodec.Service,
  turn: NewPendingTurn
): Effect.Effect<PreparedPending, StoreError> =>
  Effect.gen(function* () {
    const operation = "accept"
    if (!isObject(turn)) return yield* invalidInput(operation, "turn must be an object")
    const conversationId = yield* checkId(operation, turn.conversationId)
    const userId = optionalNullableString(operation, "userId", turn.userId)
    if (Either.isLeft(userId)) return yield* userId.left
    if (typeof turn.turnId !== "string" || turn.turnId.length === 0) {
      return yield* invalidInput(operation, `turnId must be a non-empty string, got ${describe(turn.turnId)}`)
    }
    if (typeof turn.owner !== "string" || turn.owner.length === 0) {
      return yield* invalidInput(operation, `owner must be a non-empty string, got ${describe(turn.owner)}`)
    }
    const clientId = turn.clientId ?? null
    if (clientId !== null && (typeof clientId !== "string" || clientId.length === 0)) {
      return yield* invalidInput(operation, `clientId must be a non-empty string, got ${describe(clientId)}`)
    }
    if (turn.maxPending !== undefined && !isPositiveInt(turn.maxPending)) {
      return yield* invalidInput(operation, `maxPending must be a positive integer, got ${describe(turn.maxPending)}`)
    }
    const content = yield* encodeOne(codec, operation, turn.value)
    return {
      conversationId,
      userId: userId.right,
      turnId: turn.turnId,
      clientId,
      owner: turn.owner,
      content,
      maxPending: turn.maxPending ?? 2_147_483_647
    }
  })

/** Encodes a checkpoint: the turn's messages so far as one JSON array of tagged values. @internal */
export const encodeDraft = (
  codec: MessageCodec.Service,
  draft: ReadonlyArray<unknown>
): Effect.Effect<string, StoreError> =>
  Effect.gen(function* () {
    if (!Array.isArray(draft)) return yield* invalidInput("checkpoint", "draft must be an array")
    const parts: Array<string> = []
    for (const value of draft) parts.push(yield* encodeOne(codec, "checkpoint", value))
    return `[${parts.join(",")}]`
  })

const encodeOne = (
  codec: MessageCodec.Service,
  operation: string,
  value: unknown
): Effect.Effect<string, StoreError> => {
  let content: Either.Either<string, MessageCodec.CodecError>
  try {
    content = codec.encodeStringEither(value)
  } catch (defect) {
    return Effect.die(defect)
  }
  return Either.isLeft(content)
    ? Effect.fail(new StoreError({ reason: "Encode", operation, detail: content.left.message, cause: content.left }))
    : Effect.succeed(content.right)
}

/**
 * Decodes a pending turn's stored human message and draft. A value that no longer decodes (a
 * codec changed since) is kept as its stored JSON, so recovery still stores something.
 *
 * @internal
 */
export const decodePending = (
  codec: MessageCodec.Service,
  content: string,
  draft: string | null
): { readonly human: unknown; readonly draft: ReadonlyArray<unknown> } => {
  const decode = (raw: string): unknown => {
    try {
      const decoded = codec.decodeStringEither(raw)
      return Either.isRight(decoded) ? decoded.right : parseContent(raw)
    } catch {
      return parseContent(raw)
    }
  }
  let parts: ReadonlyArray<unknown> = []
  if (draft !== null) {
    try {
      const parsed: unknown = JSON.parse(draft)
      if (Array.isArray(parsed)) parts = parsed.map((value) => decode(JSON.stringify(value)))
    } catch {
      parts = []
    }
  }
  return { human: decode(content), draft: parts }
}

/** A fresh turn id. @internal */
export const newTurnId = (): string => globalThis.crypto.randomUUID()
