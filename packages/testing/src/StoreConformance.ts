/**
 * The conformance suite of `ConversationStore`: one vitest suite that any store layer must pass
 * (memory, SQLite, PostgreSQL, or a custom store). It covers conversations (create, get, list by
 * owner with a cursor), public ids (generated or chosen, unique, read back by `get`), appends
 * (gapless `seq` across turns, one-turn atomicity, idempotent client ids), bulk appends (many
 * turns at once, each with its own turn id, all or nothing, a re-run storing nothing), history (order, cursors, limits, the user filter, undecodable rows), clear,
 * delete, not-found and invalid-input errors, and concurrent appends.
 *
 * Checks that need to reach under the port are driven by optional hooks: `insertRawContent`
 * (store content text as is, for undecodable rows), `countMessages` (rows left after a delete)
 * and `secondConnection` (a second store on the same database, for races across connections).
 * A check whose hook is missing is skipped.
 *
 * @since 0.1.0
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import { isTaggedJson } from "@convo/core/TaggedJson"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import { assert, describe, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * The values the suite appends. They must be encodable by the store's codec, except
 * `unencodable`, which it must reject.
 *
 * @since 0.1.0
 * @category models
 */
export interface SampleValues {
  readonly human: (text: string) => unknown
  readonly ai: (text: string, usage?: { readonly input: number; readonly output: number }) => unknown
  /** The text of a decoded value made by `human` or `ai`. */
  readonly textOf: (value: unknown) => string | undefined
  /** A value the codec cannot encode. */
  readonly unencodable: unknown
  /** Whether the store derives `kind` and token columns from the values (true for `MessageCodec`). */
  readonly checkKinds: boolean
}

/**
 * LangChain messages, as a chat agent stores them.
 *
 * @since 0.1.0
 * @category constants
 */
export const langChainValues: SampleValues = {
  human: (text) => new HumanMessage({ content: text }),
  ai: (text, usage) =>
    new AIMessage(
      // The cast: with @langchain/core 1.4 under this compiler, `usage_metadata` in the fields types as `never`.
      (usage === undefined
        ? { content: text }
        : {
            content: text,
            usage_metadata: {
              input_tokens: usage.input,
              output_tokens: usage.output,
              total_tokens: usage.input + usage.output
            }
          }) as unknown as ConstructorParameters<typeof AIMessage>[0]
    ),
  textOf: (value) =>
    typeof value === "object" && value !== null && typeof (value as { content?: unknown }).content === "string"
      ? (value as { content: string }).content
      : undefined,
  unencodable: function notAMessage() {},
  checkKinds: true
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<R> {
  /** The values to append. Default: `langChainValues`. */
  readonly values?: SampleValues | undefined
  /**
   * Stores `raw` verbatim as the content of a new message of the conversation (next `seq`),
   * bypassing the codec, the way a damaged or foreign row would look.
   */
  readonly insertRawContent?: ((conversationId: number, raw: string) => Effect.Effect<void, unknown, R>) | undefined
  /**
   * Raw contents that must read back as `Undecodable`. Default: broken JSON text, and a tagged
   * envelope whose `_value` its codec rejects. A store with a JSON column (PostgreSQL `jsonb`) can
   * only hold valid JSON: give it JSON that does not decode, spelled as the database prints it back.
   */
  readonly corruptContents?: ReadonlyArray<string> | undefined
  /** Counts the stored message rows of a conversation, under the port (to check delete and clear). */
  readonly countMessages?: ((conversationId: number) => Effect.Effect<number, unknown, R>) | undefined
  /** A second store on the same database through its own connection or pool. */
  readonly secondConnection?: Layer.Layer<ConversationStore.ConversationStore, unknown, R> | undefined
  /** Number of concurrent appends in the race checks. Default 50. */
  readonly concurrency?: number | undefined
}

const defaultCorruptContents = [
  '{"_type": "HumanMessage", "_value": {"content": "cut',
  '{"_type": "HumanMessage", "_value": 42}'
]

const Store = ConversationStore.ConversationStore

const newOwner = (): string => `user-${globalThis.crypto.randomUUID()}`

/** A conversation id that no store has handed out. */
const missingId = 2_000_000_001

const seqsOf = (rows: ReadonlyArray<{ readonly seq: number }>) => rows.map((row) => row.seq)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/**
 * Registers the suite `name` against `storeLayer`, which provides the store and whatever the
 * hooks need (`R`). The layer is built once for the whole suite; every check makes its own
 * conversations and owners, so checks do not see each other's data.
 *
 * @example
 * ```ts
 * import * as ConversationStore from "@convo/core/ConversationStore"
 * import * as MessageCodec from "@convo/core/MessageCodec"
 * import { storeConformance } from "@convo/testing/StoreConformance"
 * import * as Layer from "effect/Layer"
 *
 * storeConformance("memory", ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer)))
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const storeConformance = <R = never>(
  name: string,
  storeLayer: Layer.Layer<ConversationStore.ConversationStore | R, unknown>,
  options: Options<R> = {}
): void => {
  const values = options.values ?? langChainValues
  const concurrency = options.concurrency ?? 50
  const corruptContents = options.corruptContents ?? defaultCorruptContents

  const turn = (
    conversationId: number,
    texts: ReadonlyArray<string>,
    extra: { readonly userId?: string | null; readonly clientId?: string; readonly turnId?: string } = {}
  ): ConversationStore.NewTurn => ({
    conversationId,
    userId: extra.userId ?? null,
    ...(extra.turnId === undefined ? {} : { turnId: extra.turnId }),
    messages: texts.map((text, i) => ({
      value: i % 2 === 0 ? values.human(text) : values.ai(text),
      ...(i === 0 && extra.clientId !== undefined ? { clientId: extra.clientId } : {})
    }))
  })

  const textsOf = (entries: ReadonlyArray<ConversationStore.HistoryEntry>) =>
    entries.map((entry) => (entry._tag === "Decoded" ? values.textOf(entry.value) : `<undecodable ${entry.seq}>`))

  const expectStoreError = <A, E>(effect: Effect.Effect<A, E, never>, reason: ConversationStore.StoreError["reason"]) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(effect)
      assert.instanceOf(error, ConversationStore.StoreError, `expected a StoreError, got ${String(error)}`)
      assert.strictEqual((error as ConversationStore.StoreError).reason, reason)
      return error as ConversationStore.StoreError
    })

  const expectNotFound = <A, E>(effect: Effect.Effect<A, E, never>, id: number | string) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(effect)
      assert.instanceOf(
        error,
        ConversationStore.ConversationNotFound,
        `expected ConversationNotFound, got ${String(error)}`
      )
      assert.strictEqual((error as ConversationStore.ConversationNotFound).conversationId, id)
    })

  layer(storeLayer, { excludeTestServices: true, timeout: "120 seconds" })(name, (it) => {
    describe("conversations", () => {
      it.effect("create and get keep owner, title and metadata", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const owner = newOwner()
          const metadata = { language: "한국어", level: 2, tags: ["a", "b"], nested: { ok: true, none: null } }
          const created = yield* store.create({ userId: owner, title: "Tutor", metadata })
          assert.isTrue(Number.isSafeInteger(created.id) && created.id > 0)
          assert.strictEqual(created.userId, owner)
          assert.strictEqual(created.title, "Tutor")
          assert.deepStrictEqual(created.metadata, metadata)
          assert.instanceOf(created.createdAt, Date)
          assert.instanceOf(created.updatedAt, Date)
          assert.isFalse(Number.isNaN(created.createdAt.getTime()))
          const got = yield* store.get(created.id)
          assert.deepStrictEqual(got, created)
        })
      )

      it.effect("create with no input makes an ownerless conversation with empty metadata", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const created = yield* store.create({})
          assert.strictEqual(created.userId, null)
          assert.strictEqual(created.title, null)
          assert.deepStrictEqual(created.metadata, {})
          const other = yield* store.create({})
          assert.notStrictEqual(other.id, created.id)
        })
      )

      it.effect("list returns one owner's conversations, newest first, with an id cursor", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const owner = newOwner()
          const ids: Array<number> = []
          for (let i = 0; i < 5; i++) ids.push((yield* store.create({ userId: owner, title: `t${i}` })).id)
          yield* store.create({ userId: newOwner() })
          const newest = [...ids].reverse()

          const all = yield* store.list({ userId: owner })
          assert.deepStrictEqual(
            all.conversations.map((c) => c.id),
            newest
          )
          assert.isFalse(all.hasMore)

          const first = yield* store.list({ userId: owner, limit: 2 })
          assert.deepStrictEqual(
            first.conversations.map((c) => c.id),
            newest.slice(0, 2)
          )
          assert.isTrue(first.hasMore)
          const second = yield* store.list({ userId: owner, limit: 2, before: first.conversations[1]!.id })
          assert.deepStrictEqual(
            second.conversations.map((c) => c.id),
            newest.slice(2, 4)
          )
          assert.isTrue(second.hasMore)
          const third = yield* store.list({ userId: owner, limit: 2, before: second.conversations[1]!.id })
          assert.deepStrictEqual(
            third.conversations.map((c) => c.id),
            newest.slice(4)
          )
          assert.isFalse(third.hasMore)
          const exact = yield* store.list({ userId: owner, limit: 5 })
          assert.strictEqual(exact.conversations.length, 5)
          assert.isFalse(exact.hasMore)
          assert.deepStrictEqual((yield* store.list({ userId: newOwner() })).conversations, [])
        })
      )

      it.effect("list with userId null returns only ownerless conversations", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const ownerless = yield* store.create({ userId: null })
          const owned = yield* store.create({ userId: newOwner() })
          const page = yield* store.list({ userId: null, before: owned.id + 1, limit: 100 })
          assert.isTrue(page.conversations.some((c) => c.id === ownerless.id))
          assert.isFalse(page.conversations.some((c) => c.id === owned.id))
          assert.isTrue(page.conversations.every((c) => c.userId === null))
        })
      )

      it.effect("create rejects metadata that is not a JSON object, and non-string owners", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const bad: ReadonlyArray<unknown> = [[1, 2], "text", 42, null, { big: BigInt(1) }]
          for (const metadata of bad) {
            yield* expectStoreError(store.create({ metadata } as ConversationStore.NewConversation), "InvalidInput")
          }
          yield* expectStoreError(
            store.create({ userId: 7 } as unknown as ConversationStore.NewConversation),
            "InvalidInput"
          )
          yield* expectStoreError(
            store.create({ title: {} } as unknown as ConversationStore.NewConversation),
            "InvalidInput"
          )
        })
      )
    })

    describe("public ids", () => {
      it.effect("create generates an unguessable public id; get reads by either id", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const a = yield* store.create({ userId: newOwner() })
          const b = yield* store.create({})
          assert.match(a.publicId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
          assert.notStrictEqual(a.publicId, b.publicId)
          assert.deepStrictEqual(yield* store.get(a.publicId), a)
          assert.deepStrictEqual(yield* store.get(a.id), a)
          const listed = yield* store.list({ userId: a.userId })
          assert.deepStrictEqual(
            listed.conversations.map((c) => c.publicId),
            [a.publicId]
          )
        })
      )

      it.effect("a caller-chosen public id is kept, unique, and freed by delete", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const chosen = `thread-${globalThis.crypto.randomUUID()}/한국어`
          const created = yield* store.create({ publicId: chosen, title: "mine" })
          assert.strictEqual(created.publicId, chosen)
          assert.strictEqual((yield* store.get(chosen)).id, created.id)
          const taken = yield* expectStoreError(store.create({ publicId: chosen }), "Conflict")
          assert.include(taken.message, chosen)
          assert.strictEqual((yield* store.get(chosen)).title, "mine")
          yield* store.delete(created.id)
          yield* expectNotFound(store.get(chosen), chosen)
          const again = yield* store.create({ publicId: chosen })
          assert.notStrictEqual(again.id, created.id)
        })
      )

      it.effect("rejects public ids that are empty, only digits, too long or not text", () =>
        Effect.gen(function* () {
          const store = yield* Store
          for (const publicId of ["", "12345", "x".repeat(256), "a\nb", 42 as unknown as string]) {
            yield* expectStoreError(store.create({ publicId }), "InvalidInput")
          }
          yield* expectStoreError(store.get(""), "InvalidInput")
          yield* expectStoreError(store.get("007"), "InvalidInput")
          yield* expectNotFound(store.get("no-such-thread"), "no-such-thread")
        })
      )
    })

    describe("bulkAppend", () => {
      it.effect("appends many turns of several conversations in order, each with its own turn id", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const a = yield* store.create({})
          const b = yield* store.create({})
          yield* store.append(turn(a.id, ["before"]))
          const turns = [
            turn(a.id, ["a1", "a1!"], { turnId: "import-a1" }),
            turn(b.id, ["b1", "b1!"], { turnId: "import-b1", userId: "u" }),
            turn(a.id, ["a2", "a2!", "a2!!"], { turnId: "import-a2", clientId: "c-a2" })
          ]
          const results = yield* store.bulkAppend(turns)
          assert.deepStrictEqual(
            results.map((r) => [r.turnId, r.duplicate, seqsOf(r.rows)]),
            [
              ["import-a1", false, [2, 3]],
              ["import-b1", false, [1, 2]],
              ["import-a2", false, [4, 5, 6]]
            ]
          )
          assert.strictEqual(results[1]!.rows[0]!.userId, "u")
          assert.strictEqual(results[2]!.rows[0]!.clientId, "c-a2")
          const history = yield* store.history(a.id)
          assert.deepStrictEqual(textsOf(history.entries), ["before", "a1", "a1!", "a2", "a2!", "a2!!"])
          assert.deepStrictEqual(history.entries.map((e) => e.turnId).slice(1), [
            "import-a1",
            "import-a1",
            "import-a2",
            "import-a2",
            "import-a2"
          ])
          // a re-run stores nothing and gives the stored rows back
          const again = yield* store.bulkAppend(turns)
          assert.isTrue(again.every((r) => r.duplicate))
          assert.deepStrictEqual(
            again.map((r) => seqsOf(r.rows)),
            results.map((r) => seqsOf(r.rows))
          )
          assert.strictEqual((yield* store.history(a.id)).entries.length, 6)
          // a turn repeated inside one batch is stored once
          const twice = yield* store.bulkAppend([
            turn(b.id, ["b2"], { turnId: "import-b2" }),
            turn(b.id, ["b2"], { turnId: "import-b2" })
          ])
          assert.deepStrictEqual(
            twice.map((r) => [r.duplicate, seqsOf(r.rows)]),
            [
              [false, [3]],
              [true, [3]]
            ]
          )
          assert.deepStrictEqual(yield* store.bulkAppend([]), [])
        })
      )

      it.effect("is all or nothing: an unknown conversation or a bad value stores none of the turns", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const a = yield* store.create({})
          yield* expectNotFound(
            store.bulkAppend([turn(a.id, ["kept?"], { turnId: "x1" }), turn(missingId, ["nowhere"], { turnId: "x2" })]),
            missingId
          )
          const bad = yield* expectStoreError(
            store.bulkAppend([
              turn(a.id, ["kept?"], { turnId: "x1" }),
              { conversationId: a.id, userId: null, messages: [{ value: values.unencodable }] }
            ]),
            "Encode"
          )
          assert.include(bad.detail, "turn 2 of 2")
          assert.strictEqual((yield* store.history(a.id)).entries.length, 0)
          const page = yield* store.bulkAppend([turn(a.id, ["now"], { turnId: "x1" })])
          assert.deepStrictEqual(seqsOf(page[0]!.rows), [1])
        })
      )
    })

    describe("updateMetadata (optional: chat agents keep their summaries with it)", () => {
      it.effect("merges keys into the metadata, removes keys set to undefined, keeps the others", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const update = store.updateMetadata
          if (update === undefined) return
          const created = yield* store.create({ userId: newOwner(), metadata: { language: "中文", level: 1 } })
          const updated = yield* update(created.id, { level: undefined, "convo:summary": { text: "요약", through: 4 } })
          assert.deepStrictEqual(updated.metadata, { language: "中文", "convo:summary": { text: "요약", through: 4 } })
          assert.deepStrictEqual((yield* store.get(created.id)).metadata, updated.metadata)
          // concurrent merges of different keys all land
          yield* Effect.forEach([1, 2, 3, 4, 5], (n) => update(created.id, { [`k${n}`]: n }), {
            concurrency: "unbounded",
            discard: true
          })
          const metadata = (yield* store.get(created.id)).metadata
          assert.deepStrictEqual(
            [1, 2, 3, 4, 5].map((n) => metadata[`k${n}`]),
            [1, 2, 3, 4, 5]
          )
          yield* expectNotFound(update(999_999_999, { a: 1 }), 999_999_999)
          yield* expectStoreError(update(created.id, { big: BigInt(1) }), "InvalidInput")
        })
      )
    })

    describe("append", () => {
      it.effect("numbers messages 1..n across turns, gapless", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const owner = newOwner()
          const conversation = yield* store.create({ userId: owner })
          const first = yield* store.append(turn(conversation.id, ["hello", "hi"], { userId: owner, turnId: "turn-1" }))
          assert.isFalse(first.duplicate)
          assert.strictEqual(first.turnId, "turn-1")
          assert.deepStrictEqual(seqsOf(first.rows), [1, 2])
          const second = yield* store.append(turn(conversation.id, ["how are you", "fine", "and you"]))
          assert.deepStrictEqual(seqsOf(second.rows), [3, 4, 5])
          assert.notStrictEqual(second.turnId, first.turnId)
          const third = yield* store.append(turn(conversation.id, ["bye"]))
          assert.deepStrictEqual(seqsOf(third.rows), [6])
          for (const row of first.rows) {
            assert.strictEqual(row.conversationId, conversation.id)
            assert.strictEqual(row.turnId, "turn-1")
            assert.strictEqual(row.userId, owner)
            assert.strictEqual(row.status, "complete")
            assert.strictEqual(row.clientId, null)
            assert.instanceOf(row.createdAt, Date)
          }
          assert.isTrue(second.rows.every((row) => row.turnId === second.turnId && row.userId === null))
          const ids = [...first.rows, ...second.rows, ...third.rows].map((row) => row.id)
          assert.strictEqual(new Set(ids).size, ids.length)
          const after = yield* store.get(conversation.id)
          assert.isTrue(after.updatedAt.getTime() >= conversation.updatedAt.getTime())
        })
      )

      it.effect("stores status, client id, kind and token counts", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const conversation = yield* store.create({})
          const result = yield* store.append({
            conversationId: conversation.id,
            userId: "u1",
            messages: [
              { value: values.human("question"), clientId: "client-1" },
              { value: values.ai("answer", { input: 12, output: 34 }), status: "aborted" }
            ]
          })
          const [human, ai] = result.rows
          assert.strictEqual(human!.clientId, "client-1")
          assert.strictEqual(human!.status, "complete")
          assert.strictEqual(ai!.clientId, null)
          assert.strictEqual(ai!.status, "aborted")
          if (values.checkKinds) {
            assert.strictEqual(human!.kind, "human")
            assert.strictEqual(ai!.kind, "ai")
            assert.strictEqual(human!.inputTokens, null)
            assert.strictEqual(human!.outputTokens, null)
            assert.strictEqual(ai!.inputTokens, 12)
            assert.strictEqual(ai!.outputTokens, 34)
          }
          const page = yield* store.history(conversation.id)
          assert.deepStrictEqual(
            page.entries.map(({ _tag, ...row }) => {
              const { content: _content, value: _value, ...rest } = row as ConversationStore.DecodedEntry
              return rest
            }),
            [...result.rows]
          )
        })
      )

      it.effect("a turn whose message fails to encode writes nothing", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const conversation = yield* store.create({})
          const error = yield* expectStoreError(
            store.append({
              conversationId: conversation.id,
              userId: null,
              messages: [{ value: values.human("kept out") }, { value: values.unencodable }]
            }),
            "Encode"
          )
          assert.include(error.detail, "message 2 of 2")
          assert.deepStrictEqual((yield* store.history(conversation.id)).entries, [])
          const next = yield* store.append(turn(conversation.id, ["first for real"]))
          assert.deepStrictEqual(seqsOf(next.rows), [1])
        })
      )

      it.effect("a repeated client id stores nothing and returns the stored turn", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const conversation = yield* store.create({})
          const original = yield* store.append(turn(conversation.id, ["hello", "hi"], { clientId: "msg-1" }))
          assert.isFalse(original.duplicate)
          const repeat = yield* store.append(turn(conversation.id, ["hello again", "other"], { clientId: "msg-1" }))
          assert.isTrue(repeat.duplicate)
          assert.strictEqual(repeat.turnId, original.turnId)
          assert.deepStrictEqual(repeat.rows, original.rows)
          const page = yield* store.history(conversation.id)
          assert.deepStrictEqual(textsOf(page.entries), ["hello", "hi"])
          // The client id is matched on any message of the turn, and the sequence has no gap.
          const repeatLater = yield* store.append({
            conversationId: conversation.id,
            userId: null,
            messages: [
              { value: values.human("x"), clientId: "new" },
              { value: values.ai("y"), clientId: "msg-1" }
            ]
          })
          assert.isTrue(repeatLater.duplicate)
          const next = yield* store.append(turn(conversation.id, ["next"], { clientId: "msg-2" }))
          assert.deepStrictEqual(seqsOf(next.rows), [3])
          // Client ids are scoped to their conversation.
          const other = yield* store.create({})
          const elsewhere = yield* store.append(turn(other.id, ["hello"], { clientId: "msg-1" }))
          assert.isFalse(elsewhere.duplicate)
        })
      )

      it.effect("rejects invalid turns", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const conversation = yield* store.create({})
          const id = conversation.id
          const human = values.human("x")
          const bad: ReadonlyArray<unknown> = [
            { conversationId: id, userId: null, messages: [] },
            { conversationId: id, userId: null, messages: "nope" },
            { conversationId: id, userId: null, messages: [{ value: human, status: "done" }] },
            { conversationId: id, userId: null, messages: [{ value: human, clientId: "" }] },
            {
              conversationId: id,
              userId: null,
              messages: [
                { value: human, clientId: "same" },
                { value: human, clientId: "same" }
              ]
            },
            { conversationId: id, userId: 5, messages: [{ value: human }] },
            { conversationId: id, userId: null, turnId: "", messages: [{ value: human }] },
            { conversationId: 0, userId: null, messages: [{ value: human }] },
            { conversationId: 1.5, userId: null, messages: [{ value: human }] },
            { conversationId: "1", userId: null, messages: [{ value: human }] }
          ]
          for (const input of bad) {
            yield* expectStoreError(store.append(input as ConversationStore.NewTurn), "InvalidInput")
          }
          assert.deepStrictEqual((yield* store.history(id)).entries, [])
        })
      )
    })

    describe("history", () => {
      // seq 1..6: turns by "a" (1, 2), null (3, 4), "b" (5, 6)
      const seed = Effect.gen(function* () {
        const store = yield* Store
        const conversation = yield* store.create({})
        yield* store.append(turn(conversation.id, ["m1", "m2"], { userId: "a" }))
        yield* store.append(turn(conversation.id, ["m3", "m4"], { userId: null }))
        yield* store.append(turn(conversation.id, ["m5", "m6"], { userId: "b" }))
        return { store, id: conversation.id }
      })

      it.effect("reads every entry in seq order, decoded", () =>
        Effect.gen(function* () {
          const { id, store } = yield* seed
          const page = yield* store.history(id)
          assert.isFalse(page.hasMore)
          assert.deepStrictEqual(seqsOf(page.entries), range(1, 6))
          assert.deepStrictEqual(textsOf(page.entries), ["m1", "m2", "m3", "m4", "m5", "m6"])
          for (const entry of page.entries) {
            assert.strictEqual(entry._tag, "Decoded")
            if (entry._tag === "Decoded")
              assert.isTrue(isTaggedJson(entry.content), "content is the stored tagged JSON")
          }
        })
      )

      it.effect("pages backwards with limit and before", () =>
        Effect.gen(function* () {
          const { id, store } = yield* seed
          const last = yield* store.history(id, { limit: 2 })
          assert.deepStrictEqual(seqsOf(last.entries), [5, 6])
          assert.isTrue(last.hasMore)
          const middle = yield* store.history(id, { limit: 2, before: 5 })
          assert.deepStrictEqual(seqsOf(middle.entries), [3, 4])
          assert.isTrue(middle.hasMore)
          const oldest = yield* store.history(id, { limit: 2, before: 3 })
          assert.deepStrictEqual(seqsOf(oldest.entries), [1, 2])
          assert.isFalse(oldest.hasMore)
          const all = yield* store.history(id, { limit: 6 })
          assert.deepStrictEqual(seqsOf(all.entries), range(1, 6))
          assert.isFalse(all.hasMore)
          const before = yield* store.history(id, { before: 4 })
          assert.deepStrictEqual(seqsOf(before.entries), [1, 2, 3])
          assert.isFalse(before.hasMore)
          assert.deepStrictEqual((yield* store.history(id, { before: 1 })).entries, [])
        })
      )

      it.effect("pages forwards with after", () =>
        Effect.gen(function* () {
          const { id, store } = yield* seed
          const next = yield* store.history(id, { after: 2, limit: 2 })
          assert.deepStrictEqual(seqsOf(next.entries), [3, 4])
          assert.isTrue(next.hasMore)
          const rest = yield* store.history(id, { after: 4, limit: 5 })
          assert.deepStrictEqual(seqsOf(rest.entries), [5, 6])
          assert.isFalse(rest.hasMore)
          const window = yield* store.history(id, { after: 1, before: 5, limit: 2 })
          assert.deepStrictEqual(seqsOf(window.entries), [2, 3])
          assert.isTrue(window.hasMore)
          assert.deepStrictEqual(seqsOf((yield* store.history(id, { after: 3 })).entries), [4, 5, 6])
          assert.deepStrictEqual((yield* store.history(id, { after: 6 })).entries, [])
        })
      )

      it.effect("filters on the user: a string or null", () =>
        Effect.gen(function* () {
          const { id, store } = yield* seed
          assert.deepStrictEqual(textsOf((yield* store.history(id, { userId: "a" })).entries), ["m1", "m2"])
          assert.deepStrictEqual(textsOf((yield* store.history(id, { userId: null })).entries), ["m3", "m4"])
          assert.deepStrictEqual(textsOf((yield* store.history(id, { userId: "b" })).entries), ["m5", "m6"])
          assert.deepStrictEqual((yield* store.history(id, { userId: "nobody" })).entries, [])
          const lastOfB = yield* store.history(id, { userId: "b", limit: 1 })
          assert.deepStrictEqual(seqsOf(lastOfB.entries), [6])
          assert.isTrue(lastOfB.hasMore)
          assert.deepStrictEqual(seqsOf((yield* store.history(id, { userId: undefined })).entries), range(1, 6))
        })
      )

      it.effect("rejects invalid queries", () =>
        Effect.gen(function* () {
          const { id, store } = yield* seed
          const bad: ReadonlyArray<unknown> = [
            { limit: 0 },
            { limit: -1 },
            { limit: 1.5 },
            { before: -1 },
            { after: "2" },
            { userId: 3 },
            "query"
          ]
          for (const query of bad) {
            yield* expectStoreError(store.history(id, query as ConversationStore.HistoryQuery), "InvalidInput")
          }
          yield* expectStoreError(store.list({ userId: "a", limit: 0 }), "InvalidInput")
          yield* expectStoreError(store.list({ userId: "a", before: -3 }), "InvalidInput")
          yield* expectStoreError(store.list({} as ConversationStore.ListQuery), "InvalidInput")
          for (const badId of [0, -1, 1.5, Number.NaN, "7"]) {
            yield* expectStoreError(store.get(badId as number), "InvalidInput")
            yield* expectStoreError(store.history(badId as number), "InvalidInput")
            yield* expectStoreError(store.clear(badId as number), "InvalidInput")
            yield* expectStoreError(store.delete(badId as number), "InvalidInput")
          }
        })
      )

      const insertRaw = options.insertRawContent
      it.effect.skipIf(insertRaw === undefined)(
        "a stored row that does not decode becomes an Undecodable entry; the rest still loads",
        () =>
          Effect.gen(function* () {
            const store = yield* Store
            for (const raw of corruptContents) {
              const conversation = yield* store.create({})
              yield* store.append(turn(conversation.id, ["before"]))
              yield* insertRaw!(conversation.id, raw)
              yield* store.append(turn(conversation.id, ["after", "reply"]))
              const page = yield* store.history(conversation.id)
              assert.deepStrictEqual(seqsOf(page.entries), [1, 2, 3, 4])
              assert.deepStrictEqual(
                page.entries.map((entry) => entry._tag),
                ["Decoded", "Undecodable", "Decoded", "Decoded"]
              )
              assert.deepStrictEqual(textsOf([page.entries[0]!, ...page.entries.slice(2)]), [
                "before",
                "after",
                "reply"
              ])
              const broken = page.entries[1]!
              assert.strictEqual(broken._tag, "Undecodable")
              if (broken._tag === "Undecodable") {
                assert.strictEqual(broken.raw, raw)
                assert.isTrue(broken.reason.length > 0)
                assert.isTrue(Number.isSafeInteger(broken.id) && broken.id > 0)
                assert.strictEqual(broken.conversationId, conversation.id)
              }
              // Reading again gives the same row, untouched; paging over it works too.
              const again = yield* store.history(conversation.id, { limit: 3 })
              assert.deepStrictEqual(seqsOf(again.entries), [2, 3, 4])
              const brokenAgain = again.entries[0]!
              assert.strictEqual(brokenAgain._tag, "Undecodable")
              assert.strictEqual(brokenAgain.id, broken.id)
              if (brokenAgain._tag === "Undecodable") assert.strictEqual(brokenAgain.raw, raw)
            }
          })
      )
    })

    describe("clear and delete", () => {
      it.effect("clear with a userId removes only that user's messages (null: the anonymous ones)", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const shared = yield* store.create({ userId: null })
          const alice = newOwner()
          const bob = newOwner()
          yield* store.append(turn(shared.id, ["a1", "a2"], { userId: alice }))
          yield* store.append(turn(shared.id, ["b1"], { userId: bob }))
          yield* store.append(turn(shared.id, ["n1"], { userId: null }))
          yield* store.clear(shared.id, { userId: alice })
          assert.deepStrictEqual(textsOf((yield* store.history(shared.id)).entries), ["b1", "n1"])
          yield* store.clear(shared.id, { userId: null })
          assert.deepStrictEqual(textsOf((yield* store.history(shared.id)).entries), ["b1"])
          const next = yield* store.append(turn(shared.id, ["a3"], { userId: alice }))
          assert.deepStrictEqual(seqsOf(next.rows), [5])
          yield* store.clear(shared.id)
          assert.deepStrictEqual((yield* store.history(shared.id)).entries, [])
        })
      )

      it.effect("clear removes the messages of that conversation only; seq continues", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const cleared = yield* store.create({ title: "cleared", metadata: { keep: true } })
          const kept = yield* store.create({})
          yield* store.append(turn(cleared.id, ["a", "b", "c"]))
          yield* store.append(turn(kept.id, ["x", "y"]))
          yield* store.clear(cleared.id)
          assert.deepStrictEqual((yield* store.history(cleared.id)).entries, [])
          assert.deepStrictEqual(textsOf((yield* store.history(kept.id)).entries), ["x", "y"])
          const after = yield* store.get(cleared.id)
          assert.strictEqual(after.title, "cleared")
          assert.deepStrictEqual(after.metadata, { keep: true })
          const next = yield* store.append(turn(cleared.id, ["d"]))
          assert.deepStrictEqual(seqsOf(next.rows), [4])
          assert.deepStrictEqual(seqsOf((yield* store.history(cleared.id)).entries), [4])
          yield* store.clear(kept.id)
          yield* store.clear(kept.id)
          if (options.countMessages !== undefined) {
            assert.strictEqual(yield* options.countMessages(kept.id), 0)
            assert.strictEqual(yield* options.countMessages(cleared.id), 1)
          }
        })
      )

      it.effect("delete removes the conversation and its messages", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const owner = newOwner()
          const doomed = yield* store.create({ userId: owner })
          const kept = yield* store.create({ userId: owner })
          yield* store.append(turn(doomed.id, ["a", "b"], { clientId: "c-1" }))
          yield* store.append(turn(kept.id, ["x"]))
          yield* store.delete(doomed.id)
          yield* expectNotFound(store.get(doomed.id), doomed.id)
          yield* expectNotFound(store.history(doomed.id), doomed.id)
          yield* expectNotFound(store.append(turn(doomed.id, ["c"], { clientId: "c-1" })), doomed.id)
          yield* expectNotFound(store.delete(doomed.id), doomed.id)
          assert.deepStrictEqual(
            (yield* store.list({ userId: owner })).conversations.map((c) => c.id),
            [kept.id]
          )
          assert.deepStrictEqual(textsOf((yield* store.history(kept.id)).entries), ["x"])
          if (options.countMessages !== undefined) {
            assert.strictEqual(yield* options.countMessages(doomed.id), 0)
            assert.strictEqual(yield* options.countMessages(kept.id), 1)
          }
          // Ids are not reused.
          const fresh = yield* store.create({ userId: owner })
          assert.notStrictEqual(fresh.id, doomed.id)
        })
      )

      it.effect("unknown conversations fail with ConversationNotFound carrying the id", () =>
        Effect.gen(function* () {
          const store = yield* Store
          yield* expectNotFound(store.get(missingId), missingId)
          yield* expectNotFound(store.history(missingId), missingId)
          yield* expectNotFound(store.history(missingId, { limit: 5, userId: null }), missingId)
          yield* expectNotFound(store.append(turn(missingId, ["hello"])), missingId)
          yield* expectNotFound(store.append(turn(missingId, ["hello"], { clientId: "k" })), missingId)
          yield* expectNotFound(store.clear(missingId), missingId)
          yield* expectNotFound(store.delete(missingId), missingId)
        })
      )
    })

    describe("write-ahead turns", () => {
      const pendingTurn = (conversationId: number, turnId: string, text: string, clientId?: string) => ({
        conversationId,
        userId: "u1",
        turnId,
        clientId: clientId ?? null,
        value: values.human(text),
        owner: "owner-a"
      })

      it.effect("accept makes a pending turn outside the history; append moves it in", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const conversation = yield* store.create({})
          const accepted = yield* store.accept(pendingTurn(conversation.id, "t1", "hello", "c1"))
          assert.strictEqual(accepted._tag, "Accepted")
          assert.deepStrictEqual((yield* store.history(conversation.id)).entries, [])
          const [pending] = yield* store.pending(conversation.id)
          assert.strictEqual(pending?.turnId, "t1")
          assert.strictEqual(pending?.clientId, "c1")
          assert.strictEqual(pending?.owner, "owner-a")
          assert.strictEqual(values.textOf(pending?.human), "hello")
          assert.deepStrictEqual(pending?.draft, [])
          assert.isTrue(yield* store.checkpoint(conversation.id, "t1", [values.ai("hal")]))
          const [checkpointed] = yield* store.pending(conversation.id)
          assert.deepStrictEqual(checkpointed?.draft.map(values.textOf), ["hal"])
          const appended = yield* store.append({
            conversationId: conversation.id,
            userId: "u1",
            turnId: "t1",
            messages: [
              { value: values.human("hello"), clientId: "c1" },
              { value: values.ai("hallo"), status: "complete" }
            ]
          })
          assert.isFalse(appended.duplicate)
          assert.deepStrictEqual(seqsOf(appended.rows), [1, 2])
          assert.deepStrictEqual(yield* store.pending(conversation.id), [])
          assert.isFalse(yield* store.checkpoint(conversation.id, "t1", [values.ai("late")]))
          // the same turn appended again (a late finish after recovery) stores nothing
          const again = yield* store.append({
            conversationId: conversation.id,
            userId: "u1",
            turnId: "t1",
            messages: [{ value: values.human("hello") }]
          })
          assert.isTrue(again.duplicate)
          assert.deepStrictEqual(seqsOf((yield* store.history(conversation.id)).entries), [1, 2])
        })
      )

      it.effect("a client id pending or stored is a duplicate; a full queue is busy", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const conversation = yield* store.create({})
          yield* store.accept(pendingTurn(conversation.id, "t1", "one", "c1"))
          const twice = yield* store.accept(pendingTurn(conversation.id, "t2", "one again", "c1"))
          assert.deepStrictEqual(twice, { _tag: "Duplicate", turnId: "t1" })
          yield* store.append({
            conversationId: conversation.id,
            userId: "u1",
            turnId: "t1",
            messages: [{ value: values.human("one"), clientId: "c1" }]
          })
          const stored = yield* store.accept(pendingTurn(conversation.id, "t3", "one more", "c1"))
          assert.deepStrictEqual(stored, { _tag: "Duplicate", turnId: "t1" })
          yield* store.accept({ ...pendingTurn(conversation.id, "t4", "a"), maxPending: 2 })
          yield* store.accept({ ...pendingTurn(conversation.id, "t5", "b"), maxPending: 2 })
          const busy = yield* store.accept({ ...pendingTurn(conversation.id, "t6", "c"), maxPending: 2 })
          assert.deepStrictEqual(busy, { _tag: "Busy", pending: 2 })
          assert.deepStrictEqual(
            (yield* store.pending(conversation.id)).map((p) => p.turnId),
            ["t4", "t5"]
          )
          yield* store.release(conversation.id, "t4")
          assert.deepStrictEqual(
            (yield* store.pending(conversation.id)).map((p) => p.turnId),
            ["t5"]
          )
          yield* expectNotFound(store.accept(pendingTurn(missingId, "t7", "x")), missingId)
        })
      )

      it.effect("turns queued behind each other get contiguous seqs in the order they are appended", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const conversation = yield* store.create({})
          for (const id of ["a", "b", "c"]) yield* store.accept(pendingTurn(conversation.id, id, `q-${id}`))
          for (const id of ["b", "a", "c"]) {
            yield* store.append({
              conversationId: conversation.id,
              userId: "u1",
              turnId: id,
              messages: [{ value: values.human(`q-${id}`) }, { value: values.ai(`a-${id}`) }]
            })
          }
          const page = yield* store.history(conversation.id)
          assert.deepStrictEqual(textsOf(page.entries), ["q-b", "a-b", "q-a", "a-a", "q-c", "a-c"])
          assert.deepStrictEqual(seqsOf(page.entries), [1, 2, 3, 4, 5, 6])
        })
      )

      it.effect("racing appends of one pending turn (two recoveries) store it once", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const conversation = yield* store.create({})
          yield* store.accept(pendingTurn(conversation.id, "t1", "hello", "c1"))
          const results = yield* Effect.forEach(
            range(1, 6),
            () =>
              store.append({
                conversationId: conversation.id,
                userId: "u1",
                turnId: "t1",
                messages: [
                  { value: values.human("hello"), status: "interrupted", clientId: "c1" },
                  { value: values.ai("hal"), status: "interrupted" }
                ]
              }),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((result) => !result.duplicate).length, 1)
          const page = yield* store.history(conversation.id)
          assert.deepStrictEqual(seqsOf(page.entries), [1, 2])
          assert.deepStrictEqual(
            page.entries.map((entry) => entry.status),
            ["interrupted", "interrupted"]
          )
        })
      )
    })

    describe("concurrency", () => {
      const checkGapless = (rows: ReadonlyArray<ConversationStore.AppendResult>, perTurn: number) => {
        const seqs = rows.flatMap((result) => seqsOf(result.rows)).sort((a, b) => a - b)
        assert.deepStrictEqual(seqs, range(1, rows.length * perTurn))
        for (const result of rows) {
          const own = seqsOf(result.rows)
          assert.deepStrictEqual(own, range(own[0]!, own[0]! + perTurn - 1), "a turn's seqs are contiguous")
        }
      }

      it.effect(`${concurrency} concurrent appends get seqs 1..N with no gap or duplicate`, () =>
        Effect.gen(function* () {
          const store = yield* Store
          const conversation = yield* store.create({})
          const results = yield* Effect.forEach(
            range(1, concurrency),
            (i) => store.append(turn(conversation.id, [`q${i}`, `a${i}`])),
            { concurrency: "unbounded" }
          )
          checkGapless(results, 2)
          const page = yield* store.history(conversation.id)
          assert.deepStrictEqual(seqsOf(page.entries), range(1, concurrency * 2))
          assert.isTrue(page.entries.every((entry) => entry._tag === "Decoded"))
        })
      )

      it.effect("concurrent appends with the same client id store it once", () =>
        Effect.gen(function* () {
          const store = yield* Store
          const conversation = yield* store.create({})
          const results = yield* Effect.forEach(
            range(1, 10),
            (i) => store.append(turn(conversation.id, [`try ${i}`, "reply"], { clientId: "same" })),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((result) => !result.duplicate).length, 1)
          const stored = results.find((result) => !result.duplicate)!
          for (const result of results) assert.deepStrictEqual(result.rows, stored.rows)
          assert.deepStrictEqual(seqsOf((yield* store.history(conversation.id)).entries), [1, 2])
        })
      )

      const second = options.secondConnection
      it.effect.skipIf(second === undefined)(
        `${concurrency} concurrent appends through two connections get seqs 1..N with no gap or duplicate`,
        () =>
          Effect.gen(function* () {
            const storeA = yield* Store
            const storeB = Context.get(yield* Layer.build(second!), Store)
            const conversation = yield* storeA.create({})
            const results = yield* Effect.forEach(
              range(1, concurrency),
              (i) => (i % 2 === 0 ? storeA : storeB).append(turn(conversation.id, [`q${i}`, `a${i}`])),
              { concurrency: "unbounded" }
            )
            checkGapless(results, 2)
            const fromB = yield* storeB.history(conversation.id)
            assert.deepStrictEqual(seqsOf(fromB.entries), range(1, concurrency * 2))
            // The same client id racing on both connections is stored once.
            const racing = yield* Effect.forEach(
              range(1, 10),
              (i) =>
                (i % 2 === 0 ? storeA : storeB).append(turn(conversation.id, [`dup ${i}`, "r"], { clientId: "racer" })),
              { concurrency: "unbounded" }
            )
            assert.strictEqual(racing.filter((result) => !result.duplicate).length, 1)
            const stored = racing.find((result) => !result.duplicate)!
            assert.deepStrictEqual(seqsOf(stored.rows), [concurrency * 2 + 1, concurrency * 2 + 2])
            for (const result of racing) assert.deepStrictEqual(result.rows, stored.rows)
          }).pipe(Effect.scoped)
      )
    })
  })
}
