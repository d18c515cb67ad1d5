import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as Connection from "@convo/core/Connection"
import * as ConversationEvents from "@convo/core/ConversationEvents"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as TurnLock from "@convo/core/TurnLock"
import * as Databases from "@convo/testing/Databases"
import * as FakeOpenAI from "@convo/testing/FakeOpenAI"
import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import * as SessionProbe from "@convo/testing/SessionProbe"
import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"

const pgEnabled = await Databases.pgTestsEnabled()

/** A model with a small window, so a few dozen turns fill it: 4,000 tokens, 1,000 for the reply. */
const CONTEXT = 4_000
const REPLY = 1_000
const smallModel: LlmModels.ModelSpec = { ...LlmModels.openAiGpt4o, contextWindow: CONTEXT }

const agentWith = (context?: ChatAgent.ContextPolicy) =>
  ChatAgent.make({
    model: smallModel,
    maxTokens: REPLY,
    systemPrompt: "You are a patient tutor. Answer briefly.",
    ...(context === undefined ? {} : { context })
  })

const alice = { id: "alice" }

/** The messages of stored turn `k`: every 7th calls a tool, the others are a question and its answer. */
const turnMessages = (k: number): ReadonlyArray<BaseMessage> => {
  const question = new HumanMessage(`question ${k}: how do I say "the ${k}th coffee, please" in Chinese?`)
  if (k % 7 !== 0) {
    return [question, new AIMessage(`answer ${k}: 请给我第${k}杯咖啡。 That is how you order it politely.`)]
  }
  const id = `call_${k}`
  return [
    question,
    new AIMessage({ content: "", tool_calls: [{ id, name: "lookup", args: { phrase: `coffee ${k}` } }] }),
    new ToolMessage({ content: `dictionary entry ${k}: 咖啡 kāfēi`, tool_call_id: id, name: "lookup" }),
    new AIMessage(`answer ${k}: 请给我第${k}杯咖啡。`)
  ]
}

/** Seeds `turns` stored turns (numbered 1..turns) into a SQL store, in bulk. */
const seedSql = (conversationId: number, turns: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(seedRows(sql, conversationId, turns)))

const seedRows = (sql: SqlClient.SqlClient, conversationId: number, turns: number) =>
  Effect.gen(function* () {
    const codec = yield* MessageCodec.MessageCodec
    let seq = 0
    let batch: Array<Record<string, unknown>> = []
    const flush = Effect.suspend(() => {
      const rows = batch
      batch = []
      return rows.length === 0 ? Effect.void : Effect.asVoid(sql`INSERT INTO convo_message ${sql.insert(rows)}`)
    })
    for (let k = 1; k <= turns; k++) {
      for (const message of turnMessages(k)) {
        const content = Either.getOrThrow(codec.encodeStringEither(message))
        batch.push({
          conversation_id: conversationId,
          seq: ++seq,
          turn_id: `turn-${k}`,
          user_id: "alice",
          client_id: null,
          kind: message.getType(),
          status: "complete",
          content
        })
      }
      if (batch.length >= 400) yield* flush
    }
    yield* flush
    yield* sql`UPDATE convo_conversation SET last_seq = ${seq} WHERE id = ${conversationId}`
  })

/** Seeds through the store port (the memory store). */
const seedStore = (conversationId: number, turns: number) =>
  Effect.gen(function* () {
    const store = yield* ConversationStore.ConversationStore
    for (let k = 1; k <= turns; k++) {
      yield* store.append({
        conversationId,
        userId: "alice",
        turnId: `turn-${k}`,
        messages: turnMessages(k).map((value) => ({ value }))
      })
    }
  })

/** A store that counts the history rows it hands out. */
const counting = (rows: { read: number }) =>
  Layer.effect(
    ConversationStore.ConversationStore,
    Effect.map(ConversationStore.ConversationStore, (store) => ({
      ...store,
      history: (id, query) =>
        Effect.tap(store.history(id, query), (page) => Effect.sync(() => (rows.read += page.entries.length)))
    }))
  )

const modelLayer = (fake: FakeOpenAI.FakeOpenAIServer) =>
  LlmModels.layerWith({ openAiApiKey: "sk-test", openAiBaseUrl: fake.baseURL })

const base = Layer.mergeAll(TurnLock.layerMemory, ConversationEvents.layerMemory(), MessageCodec.layer)

const open = (agent: ChatAgent.ChatAgent, conversationId: number) =>
  Effect.gen(function* () {
    const connection = Connection.make({ user: alice, params: { conversation_pk: String(conversationId) } })
    const session = yield* ChatAgent.connect(agent, connection)
    const probe = yield* SessionProbe.make(session)
    return { session, probe }
  })

/** The history page sent on connect. */
const firstPage = (probe: SessionProbe.SessionProbe) =>
  Effect.map(
    probe.until((events) => events.some((event) => event.type === "history")),
    () => probe.ofType("history")[0]!
  )

const bodies = (fake: FakeOpenAI.FakeOpenAIServer) =>
  Effect.map(fake.requests, (requests) =>
    requests.flatMap((request) => (request.body === undefined ? [] : [request.body]))
  )

/**
 * The history part of a request (between the system prompt and the new message) is whole turns
 * of the stored conversation, newest last, with every tool call answered: gives the turn numbers.
 */
const assertWholeTurns = (body: FakeOpenAI.ChatCompletionRequest, lastTurn: number): ReadonlyArray<number> => {
  const messages = body.messages
  assert.strictEqual(messages[0]!.role, "system")
  assert.strictEqual(messages[messages.length - 1]!.role, "user")
  const history = messages.slice(1, -1)
  const turns: Array<number> = []
  for (let i = 0; i < history.length; i++) {
    const message = history[i]!
    if (message.role === "user") {
      const k = Number(/^question (\d+):/.exec(String(message.content))?.[1])
      assert.isTrue(Number.isInteger(k), `a stored question: ${String(message.content)}`)
      turns.push(k)
      // a human message never without its reply
      assert.strictEqual(history[i + 1]?.role, "assistant", `turn ${k} has its reply`)
    }
    if (message.role === "assistant" && (message.tool_calls?.length ?? 0) > 0) {
      const ids = message.tool_calls!.map((call) => call.id)
      const answers = history.slice(i + 1, i + 1 + ids.length)
      assert.deepStrictEqual(
        answers.map((answer) => [answer.role, answer.tool_call_id]),
        ids.map((id) => ["tool", id]),
        "every tool call is followed by its result"
      )
    }
    if (message.role === "tool") {
      const call = history[i - 1]
      assert.isTrue(
        call !== undefined &&
          (call.role === "tool" || (call.tool_calls ?? []).some((c) => c.id === message.tool_call_id)),
        "a tool result follows its call"
      )
    }
  }
  if (history.length > 0) {
    assert.strictEqual(history[0]!.role, "user", "the window starts at a turn's human message")
    assert.strictEqual(history[history.length - 1]!.role, "assistant", "the window ends with a reply")
  }
  // contiguous, ending with the newest stored turn
  turns.forEach((k, i) => assert.strictEqual(k, lastTurn - turns.length + 1 + i))
  return turns
}

/** Each request fits the provider's limit, counted by the fake on the request as it arrived. */
const assertWithinBudget = (body: FakeOpenAI.ChatCompletionRequest) =>
  Effect.gen(function* () {
    const prompt = yield* Effect.promise(() => FakeOpenAI.countTokens(body))
    const reply = body.max_completion_tokens ?? body.max_tokens ?? 0
    assert.strictEqual(reply, REPLY)
    assert.isAtMost(prompt + reply, CONTEXT, "the request fits the context window")
    return prompt
  })

/** Three turns on a long conversation: each request within the budget, whole turns, accepted. */
const longConversation = (
  storeLayer: Layer.Layer<
    ConversationStore.ConversationStore | SqlClient.SqlClient | MessageCodec.MessageCodec,
    unknown
  >,
  turns: number,
  seed: typeof seedSql
) =>
  Effect.gen(function* () {
    const fake = yield* FakeOpenAI.make({ contextLimit: CONTEXT })
    const rows = { read: 0 }
    const layer = Layer.mergeAll(counting(rows), modelLayer(fake)).pipe(Layer.provideMerge(storeLayer))
    yield* Effect.gen(function* () {
      const store = yield* ConversationStore.ConversationStore
      const conversation = yield* store.create({ userId: "alice" })
      yield* seed(conversation.id, turns)
      rows.read = 0
      const { session, probe } = yield* open(agentWith(), conversation.id)
      const page = yield* firstPage(probe)
      assert.strictEqual(page?.messages.length, 50, "connect sends one page")
      assert.isTrue(page?.hasMore)
      assert.isAtMost(rows.read, 50, "connect reads only the first page")

      const readPerTurn: Array<number> = []
      for (let i = 1; i <= 3; i++) {
        const before = rows.read
        yield* session.send({ type: "user_message", text: `new question ${i}`, clientId: `new-${i}` })
        yield* probe.turnEnds(i)
        readPerTurn.push(rows.read - before)
      }
      const ends = probe.ofType("turn_end")
      assert.deepStrictEqual(
        ends.map((end) => end.status),
        ["complete", "complete", "complete"],
        "the provider accepted every request"
      )
      assert.deepStrictEqual(probe.ofType("error"), [])
      const sent = yield* bodies(fake)
      assert.strictEqual(sent.length, 3)
      const usages = probe.ofType("usage")
      for (const [i, body] of sent.entries()) {
        yield* assertWithinBudget(body)
        // the turns this session ran come after the seeded ones (their questions are not numbered)
        const history = body.messages.slice(1, -1)
        const seededEnd = history.findIndex(
          (message) => message.role === "user" && String(message.content).startsWith("new question")
        )
        const seeded =
          seededEnd === -1
            ? body
            : {
                ...body,
                messages: [body.messages[0]!, ...history.slice(0, seededEnd), body.messages[body.messages.length - 1]!]
              }
        const window = assertWholeTurns(seeded, turns)
        assert.isAbove(window.length, 10, "the window is not empty")
        assert.isBelow(window.length, turns, "older turns are cut")
        const context = usages[i]!.context!
        assert.strictEqual(context.messages, history.length, "usage says how many history messages were sent")
        assert.isTrue(context.cut)
        assert.isFalse(context.summary)
      }
      // the first turn reads about one window; the next ones only what is new
      assert.isBelow(readPerTurn[0]!, 400, `rows read by the first turn: ${readPerTurn[0]}`)
      assert.isAtMost(readPerTurn[1]!, 16, `rows read by the second turn: ${readPerTurn[1]}`)
      assert.isAtMost(readPerTurn[2]!, 16, `rows read by the third turn: ${readPerTurn[2]}`)
    }).pipe(Effect.provide(layer))
  })

const memoryStore = ConversationStore.layerMemory.pipe(Layer.provideMerge(base))

describe("context window", () => {
  it.scopedLive(
    "a 10,000-turn conversation on SQLite: each turn sends whole turns within the budget",
    () =>
      longConversation(
        Layer.mergeAll(SqlConversationStore.layer(), base).pipe(
          Layer.provideMerge(Databases.sqliteTemp()),
          Layer.provide(MessageCodec.layer)
        ),
        10_000,
        seedSql
      ),
    120_000
  )

  it.scopedLive.skipIf(!pgEnabled)(
    "a 10,000-turn conversation on PostgreSQL: each turn sends whole turns within the budget",
    () =>
      longConversation(
        Layer.mergeAll(SqlConversationStore.layer(), base).pipe(
          Layer.provideMerge(Databases.postgresFresh()),
          Layer.provide(MessageCodec.layer)
        ),
        10_000,
        seedSql
      ),
    120_000
  )

  it.scopedLive(
    "a new message that alone exceeds the budget is refused as too_large, before any model call, storing nothing",
    () =>
      Effect.gen(function* () {
        const fake = yield* FakeOpenAI.make({ contextLimit: CONTEXT })
        yield* Effect.gen(function* () {
          const store = yield* ConversationStore.ConversationStore
          const conversation = yield* store.create({ userId: "alice" })
          const { session, probe } = yield* open(agentWith(), conversation.id)
          yield* session.send({ type: "user_message", text: "word ".repeat(4_000), clientId: "big" })
          const [error] = (yield* probe.until((events) => events.some((event) => event.type === "error"))).filter(
            (event) => event.type === "error"
          )
          assert.strictEqual(error?.type === "error" ? error.code : undefined, "too_large")
          assert.match(error?.type === "error" ? error.message : "", /too long for the model/)
          assert.strictEqual((yield* fake.requests).length, 0, "no model call")
          assert.deepStrictEqual((yield* store.history(conversation.id)).entries, [])
          assert.deepStrictEqual(yield* store.pending(conversation.id), [])
          // a message that fits still works, with the same client id
          yield* session.send({ type: "user_message", text: "a short one", clientId: "big" })
          const [end] = yield* probe.turnEnds(1)
          assert.strictEqual(end?.status, "complete")
        }).pipe(Effect.provide(modelLayer(fake)))
      }).pipe(Effect.provide(memoryStore))
  )

  it.scopedLive("maxMessages caps the history sent, still by whole turns", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.make({ contextLimit: CONTEXT })
      yield* Effect.gen(function* () {
        const store = yield* ConversationStore.ConversationStore
        const conversation = yield* store.create({ userId: "alice" })
        yield* seedStore(conversation.id, 14)
        const { session, probe } = yield* open(agentWith({ maxMessages: 7 }), conversation.id)
        yield* session.send({ type: "user_message", text: "next" })
        yield* probe.turnEnds(1)
        const [body] = yield* bodies(fake)
        // turn 14 calls a tool (4 messages), turn 13 has 2: 6 fit, turn 12 would make 8
        assert.deepStrictEqual(assertWholeTurns(body!, 14), [13, 14])
        assert.strictEqual(probe.ofType("usage")[0]?.context?.messages, 6)
      }).pipe(Effect.provide(modelLayer(fake)))
    }).pipe(Effect.provide(memoryStore))
  )

  it.scopedLive("an override of getPreviousMessages is honoured: its history, cut to the budget", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.make({ contextLimit: CONTEXT })
      const hooks = ChatAgentHooks.layer({
        // only the turns with an even number, as an app that filters its history might
        getPreviousMessages: (connection, conversation) =>
          Effect.flatMap(ConversationStore.ConversationStore, (store) =>
            store.history(conversation.id, { userId: connection.user?.id ?? null })
          ).pipe(Effect.map((page) => page.entries.filter((entry) => Number(entry.turnId.slice(5)) % 2 === 0)))
      })
      yield* Effect.gen(function* () {
        const store = yield* ConversationStore.ConversationStore
        const conversation = yield* store.create({ userId: "alice" })
        yield* seedStore(conversation.id, 300)
        const { session, probe } = yield* open(agentWith(), conversation.id)
        const page = yield* firstPage(probe)
        assert.isTrue(page!.messages.every((message) => Number(message.turnId.slice(5)) % 2 === 0))
        yield* session.send({ type: "user_message", text: "next" })
        yield* probe.turnEnds(1)
        const [body] = yield* bodies(fake)
        yield* assertWithinBudget(body!)
        const questions = body!.messages
          .filter((message) => message.role === "user")
          .slice(0, -1)
          .map((message) => Number(/^question (\d+):/.exec(String(message.content))?.[1]))
        assert.isAbove(questions.length, 5)
        assert.isTrue(
          questions.every((k) => k % 2 === 0),
          "only the override's turns"
        )
        assert.strictEqual(questions[questions.length - 1], 300)
        assert.isAbove(questions[0]!, 2, "cut to the budget")
        assert.isTrue(probe.ofType("usage")[0]?.context?.cut)
      }).pipe(Effect.provide(Layer.merge(modelLayer(fake), hooks)))
    }).pipe(Effect.provide(memoryStore))
  )

  it.scopedLive(
    "the sessions of a process share a conversation's window: another session's first turn reads only what is new",
    () =>
      Effect.gen(function* () {
        const fake = yield* FakeOpenAI.make({ contextLimit: CONTEXT })
        const rows = { read: 0 }
        yield* Effect.gen(function* () {
          const store = yield* ConversationStore.ConversationStore
          const conversation = yield* store.create({ userId: "alice" })
          yield* seedStore(conversation.id, 300)
          /** One turn of a new session: the rows it read, the request's history and its usage. */
          const turnOf = (agent: ChatAgent.ChatAgent, text: string) =>
            Effect.gen(function* () {
              const { session, probe } = yield* open(agent, conversation.id)
              yield* firstPage(probe)
              const before = rows.read
              yield* session.send({ type: "user_message", text })
              const [end] = yield* probe.turnEnds(1)
              assert.strictEqual(end?.status, "complete")
              const body = (yield* bodies(fake)).at(-1)!
              yield* assertWithinBudget(body)
              const history = body.messages.slice(1, -1)
              return { read: rows.read - before, history, usage: probe.ofType("usage")[0]!.context! }
            })
          /** The seeded turns of a request's history, then what came after them. */
          const split = (history: ReadonlyArray<FakeOpenAI.ChatCompletionRequest["messages"][number]>) => {
            const end = history.findIndex(
              (message) => message.role === "user" && !/^question \d+:/.test(String(message.content))
            )
            return { seeded: end === -1 ? history : history.slice(0, end), after: end === -1 ? [] : history.slice(end) }
          }
          const small = agentWith({ maxTokens: 1_500 })
          const a = yield* turnOf(small, "from a")
          assert.isAbove(a.read, 16, "the first session reads its window")
          // a larger budget than the snapshot was kept for: older turns are read
          const b = yield* turnOf(agentWith(), "from b")
          assert.isAbove(b.read, 16)
          assert.isAbove(b.usage.messages, a.usage.messages + 10, "the larger budget gets more turns")
          // the same budgets again, in new sessions: they join the shared window, reading only the probe
          const c = yield* turnOf(small, "from c")
          const d = yield* turnOf(agentWith(), "from d")
          for (const [turn, after] of [
            [c, ["from a", "from b"]],
            [d, ["from a", "from b", "from c"]]
          ] as const) {
            assert.isAtMost(turn.read, 16, `rows read by a joining session: ${turn.read}`)
            const { seeded, after: rest } = split(turn.history)
            const body = { messages: [{ role: "system" }, ...seeded, { role: "user" }] }
            assertWholeTurns(body as FakeOpenAI.ChatCompletionRequest, 300)
            assert.deepStrictEqual(
              rest.filter((message) => message.role === "user").map((message) => message.content),
              [...after],
              "the turns of the other sessions are in the window"
            )
            assert.strictEqual(turn.usage.messages, turn.history.length)
            assert.isTrue(turn.usage.cut)
          }
          assert.isBelow(c.usage.messages, d.usage.messages, "each session is cut to its own budget")
        }).pipe(Effect.provide(Layer.mergeAll(counting(rows), modelLayer(fake)).pipe(Layer.provideMerge(memoryStore))))
      })
  )

  it.scopedLive("summaries off: nothing is summarized or stored", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.make({ contextLimit: CONTEXT })
      yield* Effect.gen(function* () {
        const store = yield* ConversationStore.ConversationStore
        const conversation = yield* store.create({ userId: "alice" })
        yield* seedStore(conversation.id, 200)
        const { session, probe } = yield* open(agentWith(), conversation.id)
        for (let i = 1; i <= 2; i++) {
          yield* session.send({ type: "user_message", text: `next ${i}` })
          yield* probe.turnEnds(i)
        }
        yield* Effect.sleep("100 millis")
        assert.deepStrictEqual((yield* store.get(conversation.id)).metadata, {})
        for (const body of yield* bodies(fake)) {
          assert.notMatch(String(body.messages[0]!.content), /Summary of the earlier conversation/)
        }
      }).pipe(Effect.provide(modelLayer(fake)))
    }).pipe(Effect.provide(memoryStore))
  )

  it.scopedLive(
    "summaries on: written after the turn without delaying it, then sent first while the history is cut",
    () =>
      Effect.gen(function* () {
        const fake = yield* FakeOpenAI.make({ contextLimit: CONTEXT })
        const summarizer = new ScriptedChatModel({
          replies: [
            ScriptedReply.text("The user orders coffee number after number.", { firstByteDelay: "400 millis" }),
            ScriptedReply.text("The user ordered hundreds of coffees and asked two new questions.")
          ]
        })
        yield* Effect.gen(function* () {
          const store = yield* ConversationStore.ConversationStore
          const conversation = yield* store.create({ userId: "alice" })
          yield* seedStore(conversation.id, 200)
          const agent = agentWith({ summarize: summarizer, summarizeEvery: 2 })
          const { session, probe } = yield* open(agent, conversation.id)
          yield* session.send({ type: "user_message", text: "next 1" })
          yield* probe.turnEnds(1)
          // the reply did not wait for the summarizer (it takes 400 ms)
          assert.strictEqual(summarizer.calls.length <= 1, true)
          assert.deepStrictEqual((yield* store.get(conversation.id)).metadata, {})
          const firstWindowStart = probe.ofType("usage")[0]!.context!.firstSeq!
          // the summary arrives in the background
          let summary: unknown = undefined
          for (let i = 0; i < 100 && summary === undefined; i++) {
            yield* Effect.sleep("50 millis")
            summary = (yield* store.get(conversation.id)).metadata["convo:summary"]
          }
          const stored = summary as { text: string; through: number }
          assert.strictEqual(stored.text, "The user orders coffee number after number.")
          assert.strictEqual(stored.through, firstWindowStart - 1, "it covers the turns just before the window")
          const [call] = summarizer.calls
          const prompt = String(call!.messages[1]!.content)
          assert.match(prompt, /Summary so far:\n\(none\)/)
          assert.match(prompt, new RegExp(`question ${Number(/\d+/.exec(String(prompt.split("User: ").pop()))![0])}`))

          yield* session.send({ type: "user_message", text: "next 2" })
          yield* probe.turnEnds(2)
          const sent = yield* bodies(fake)
          assert.match(
            String(sent[1]!.messages[0]!.content),
            /You are a patient tutor[\s\S]*Summary of the earlier conversation[\s\S]*coffee number after number/
          )
          assert.notMatch(String(sent[0]!.messages[0]!.content), /Summary/)
          assert.isTrue(probe.ofType("usage")[1]!.context!.summary)
          for (const body of sent) yield* assertWithinBudget(body)
          // fewer than 2 new cut turns since: no second summary yet
          yield* Effect.sleep("200 millis")
          assert.strictEqual(summarizer.calls.length, 1)
        }).pipe(Effect.provide(modelLayer(fake)))
      }).pipe(Effect.provide(memoryStore))
  )

  it.scopedLive("a summarizer function gets the previous summary and the newly cut messages", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.make({ contextLimit: CONTEXT })
      const inputs: Array<ChatAgent.SummaryInput> = []
      yield* Effect.gen(function* () {
        const store = yield* ConversationStore.ConversationStore
        const conversation = yield* store.create({ userId: "alice" })
        yield* seedStore(conversation.id, 100)
        yield* store.updateMetadata!(conversation.id, { "convo:summary": { text: "old summary", through: 20 } })
        const agent = agentWith({
          summarizeEvery: 3,
          summarize: (input) => {
            inputs.push(input)
            return Promise.resolve(`summary ${inputs.length}`)
          }
        })
        const { session, probe } = yield* open(agent, conversation.id)
        yield* session.send({ type: "user_message", text: "next" })
        yield* probe.turnEnds(1)
        let stored: { text: string; through: number } | undefined
        for (let i = 0; i < 100 && stored?.text !== "summary 1"; i++) {
          yield* Effect.sleep("20 millis")
          stored = (yield* store.get(conversation.id)).metadata["convo:summary"] as typeof stored
        }
        assert.strictEqual(stored?.text, "summary 1")
        assert.strictEqual(inputs[0]!.previous, "old summary")
        const first = inputs[0]!.messages[0]!
        // seq 21 is the first message after the old summary: turn 10's question (turns 7 has 4 messages)
        assert.isTrue(HumanMessage.isInstance(first))
        assert.match(String(first.content), /^question 10:/)
        assert.isTrue(stored!.through > 20)
        const [body] = yield* bodies(fake)
        assert.match(String(body!.messages[0]!.content), /old summary/)
      }).pipe(Effect.provide(modelLayer(fake)))
    }).pipe(Effect.provide(memoryStore))
  )
})
