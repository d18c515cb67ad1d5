import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as Connection from "@convo/core/Connection"
import * as ConversationEvents from "@convo/core/ConversationEvents"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as TurnLock from "@convo/core/TurnLock"
import * as FakeOpenAI from "@convo/testing/FakeOpenAI"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import * as SessionProbe from "@convo/testing/SessionProbe"
import { assert, describe, it } from "@effect/vitest"
import { BaseChatModel } from "@langchain/core/language_models/chat_models"
import {
  AIMessage,
  AIMessageChunk,
  type BaseMessage,
  HumanMessage,
  ToolMessage,
  type UsageMetadata
} from "@langchain/core/messages"
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs"
import { tool } from "@langchain/core/tools"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const TUTOR_PROMPT = `You are a language tutor.
{언어}로 대화를 나눕시다. 번역과 발음을 제공하지 않고 {언어}로만 답변해주세요.
"{상황}"의 상황으로 상황극을 진행합니다.
가능한한 {언어} {레벨}에 맞는 단어와 표현을 사용해주세요.`

const tutor = ChatAgent.make({
  model: LlmModels.openAiGpt4o,
  temperature: 1,
  systemPrompt: TUTOR_PROMPT,
  promptContext: { 언어: "중국어", 상황: "스타벅스에서 커피를 주문하는 상황", 레벨: "초급" },
  firstUserMessage: "첫 문장으로 대화를 시작해주세요."
})

const plain = ChatAgent.make({ model: LlmModels.openAiGpt4o, systemPrompt: "Be brief." })

const alice = { id: "alice" }
const bob = { id: "bob" }

/** A fresh memory store and a fake OpenAI server driven by the real ChatOpenAI client. */
const TestLayer = Layer.unwrapEffect(
  Effect.map(FakeOpenAI.FakeOpenAI, (fake) =>
    LlmModels.layerWith({ openAiApiKey: "sk-test", openAiBaseUrl: fake.baseURL })
  )
).pipe(
  Layer.provideMerge(FakeOpenAI.layer()),
  Layer.merge(ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer))),
  // each test gets its own lock and event hub: conversation ids restart with every fresh store
  Layer.merge(TurnLock.layerMemory),
  Layer.merge(ConversationEvents.layerMemory())
)

/** TestLayer whose store answers `pending` 100 ms late while `slowPending` is set. */
let slowPending = false
const slowPendingLayer = Layer.effect(
  ConversationStore.ConversationStore,
  Effect.map(ConversationStore.ConversationStore, (store) => ({
    ...store,
    pending: (conversationId?: ConversationStore.ConversationId) =>
      Effect.zipRight(slowPending ? Effect.sleep("100 millis") : Effect.void, store.pending(conversationId))
  }))
).pipe(Layer.provideMerge(TestLayer))

/** TestLayer whose store records the `limit` of every history read. */
const historyLimits: Array<number | undefined> = []
const recordingLayer = Layer.effect(
  ConversationStore.ConversationStore,
  Effect.map(ConversationStore.ConversationStore, (store) => ({
    ...store,
    history: (...args: Parameters<ConversationStore.ConversationStore["Type"]["history"]>) => {
      historyLimits.push(args[1]?.limit)
      return store.history(...args)
    }
  }))
).pipe(Layer.provideMerge(TestLayer))

const chatBodies = Effect.map(
  Effect.flatMap(FakeOpenAI.FakeOpenAI, (fake) => fake.requests),
  (requests) => requests.flatMap((request) => (request.body === undefined ? [] : [request.body]))
)

const storedValues = (conversationId: number) =>
  Effect.flatMap(ConversationStore.ConversationStore, (store) => store.history(conversationId)).pipe(
    Effect.map((page) => page.entries)
  )

const open = (agent: ChatAgent.ChatAgent, user: { id: string } | null, conversationId?: number) =>
  Effect.gen(function* () {
    const connection = Connection.make({
      user,
      params: conversationId === undefined ? {} : { conversation_pk: String(conversationId) }
    })
    const session = yield* ChatAgent.connect(agent, connection)
    const probe = yield* SessionProbe.make(session)
    return { session, probe }
  })

const newConversation = (userId: string | null = "alice") =>
  Effect.flatMap(ConversationStore.ConversationStore, (store) => store.create({ userId }))

describe("ChatAgent", () => {
  it.scopedLive("with deltaWindow 0 every chunk is its own delta, each with its own event id", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text(["你好", "，", "请问"]))
      const conversation = yield* newConversation()
      const agent = ChatAgent.make({ model: LlmModels.openAiGpt4o, systemPrompt: "Be brief.", deltaWindow: 0 })
      const { session, probe } = yield* open(agent, alice, conversation.id)
      yield* session.send({ type: "user_message", text: "hello", clientId: "c-1" })
      yield* probe.turnEnds(1)
      const deltas = probe.ofType("message_delta")
      assert.deepStrictEqual(
        deltas.map((event) => event.text),
        ["你好", "，", "请问"]
      )
      const ids = deltas.map((event) => Number(event.eventId))
      assert.deepStrictEqual(ids, [ids[0]!, ids[0]! + 1, ids[0]! + 2])
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("a turn streams deltas and ends with usage, and is stored", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text(["你好", "，", "请问"], { usage: { inputTokens: 139, outputTokens: 14 } }))
      const conversation = yield* newConversation()
      const { session, probe } = yield* open(plain, alice, conversation.id)
      yield* session.send({ type: "user_message", text: "hello", clientId: "c-1" })
      yield* probe.turnEnds(1)
      // the chunks arrive in one network read: coalesced, by default, into fewer deltas, in order
      const deltas = probe.ofType("message_delta").map((event) => event.text)
      assert.strictEqual(deltas.join(""), "你好，请问")
      const [end] = probe.ofType("turn_end")
      assert.deepStrictEqual(end!.usage, { inputTokens: 139, outputTokens: 14, totalTokens: 153 })
      assert.strictEqual(end!.status, "complete")
      const usage = probe.ofType("usage")
      assert.strictEqual(usage.length, 1)
      assert.strictEqual(usage[0]!.usage.outputTokens, 14)

      const entries = yield* storedValues(conversation.id)
      assert.deepStrictEqual(
        entries.map((entry) => [entry.seq, entry.kind, entry.status, entry.userId, entry.clientId]),
        [
          [1, "human", "complete", "alice", "c-1"],
          [2, "ai", "complete", "alice", null]
        ]
      )
      const ai = entries[1]!
      assert.isTrue(ai._tag === "Decoded" && AIMessage.isInstance(ai.value))
      if (ai._tag === "Decoded") {
        assert.strictEqual((ai.value as AIMessage).content, "你好，请问")
        assert.strictEqual((ai.value as { usage_metadata?: UsageMetadata }).usage_metadata?.total_tokens, 153)
        assert.strictEqual(ai.inputTokens, 139)
      }
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive(
    "a session opened without its history page sends none and reads one row, only to know whether the agent speaks first",
    () =>
      Effect.gen(function* () {
        const fake = yield* FakeOpenAI.FakeOpenAI
        yield* fake.enqueue(ScriptedReply.text("你好"), ScriptedReply.text("欢迎"))
        const conversation = yield* newConversation()
        const connection = Connection.make({ user: alice, params: { conversation_pk: String(conversation.id) } })
        historyLimits.length = 0
        // an empty history: the agent speaks first, as with the page
        const first = yield* ChatAgent.connect(tutor, connection, { history: false })
        const firstProbe = yield* SessionProbe.make(first)
        yield* firstProbe.turnEnds(1)
        assert.deepStrictEqual(firstProbe.ofType("history"), [])
        assert.deepStrictEqual(historyLimits.slice(0, 1), [1])
        // a history that is not empty: no first turn; the user's message runs
        historyLimits.length = 0
        const second = yield* ChatAgent.connect(tutor, connection, { history: false })
        const secondProbe = yield* SessionProbe.make(second)
        yield* second.send({ type: "user_message", text: "咖啡", clientId: "c-1" })
        yield* secondProbe.turnEnds(1)
        assert.deepStrictEqual(secondProbe.ofType("history"), [])
        assert.deepStrictEqual(historyLimits.slice(0, 1), [1])
        assert.deepStrictEqual(
          secondProbe.ofType("message_start").map((event) => [event.role, event.role === "human" ? event.text : ""]),
          [
            ["human", "咖啡"],
            ["ai", ""]
          ]
        )
        // an agent without a first message reads no history at all to open
        historyLimits.length = 0
        yield* ChatAgent.connect(plain, connection, { history: false })
        assert.deepStrictEqual(historyLimits, [])
        // without the option the page comes first
        const paged = yield* open(tutor, alice, conversation.id)
        const [page] = yield* paged.probe.until((events) => events.length > 0)
        assert.isTrue(page?.type === "history" && page.initial && page.messages.length === 4)
      }).pipe(Effect.provide(recordingLayer))
  )

  it.scopedLive("the second turn's request carries the first turn's messages in order", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text("first answer"), ScriptedReply.text("second answer"))
      const conversation = yield* newConversation()
      const { session, probe } = yield* open(plain, alice, conversation.id)
      yield* session.send({ type: "user_message", text: "one" })
      yield* session.send({ type: "user_message", text: "two" })
      yield* probe.turnEnds(2)
      const bodies = yield* chatBodies
      assert.strictEqual(bodies.length, 2)
      assert.deepStrictEqual(
        bodies[1]!.messages.map((message) => [message.role, message.content]),
        [
          ["system", "Be brief."],
          ["user", "one"],
          ["assistant", "first answer"],
          ["user", "two"]
        ]
      )
      // a reconnecting client sees the same history
      const again = yield* open(plain, alice, conversation.id)
      const [history] = again.probe.ofType("history").length > 0 ? again.probe.ofType("history") : []
      const initial = history ?? (yield* again.probe.until((events) => events.length > 0))[0]
      assert.isTrue(initial !== undefined && initial.type === "history")
      if (initial?.type === "history") {
        assert.deepStrictEqual(
          initial.messages.map((message) => [message.role, message.text]),
          [
            ["human", "one"],
            ["ai", "first answer"],
            ["human", "two"],
            ["ai", "second answer"]
          ]
        )
      }
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive(
    "a turn a dead process left while the session was open is stored before the next turn, which sends it",
    () =>
      Effect.gen(function* () {
        const fake = yield* FakeOpenAI.FakeOpenAI
        yield* fake.enqueue(ScriptedReply.text("first answer"), ScriptedReply.text("second answer"))
        slowPending = false
        const store = yield* ConversationStore.ConversationStore
        const conversation = yield* newConversation()
        const { session, probe } = yield* open(plain, alice, conversation.id)
        yield* session.send({ type: "user_message", text: "one" })
        yield* probe.turnEnds(1)
        // recovery's look at the pending turns is slow from here on, so the window is read before the
        // dead turn is stored (the race the second read is for)
        slowPending = true
        // the session's window is now kept; another process accepts a message and dies before its turn
        const accepted = yield* store.accept({
          conversationId: conversation.id,
          userId: "alice",
          turnId: "turn-of-a-dead-process",
          value: new HumanMessage("lost question"),
          owner: "a-process-that-died"
        })
        assert.strictEqual(accepted._tag, "Accepted")
        yield* session.send({ type: "user_message", text: "two" })
        const events = yield* probe.turnEnds(3)
        assert.deepStrictEqual(
          events.flatMap((event) => (event.type === "turn_end" ? [event.status] : [])),
          ["complete", "interrupted", "complete"]
        )
        // the window read raced the recovery and was read again: the request holds the recovered turn
        const bodies = yield* chatBodies
        assert.deepStrictEqual(
          bodies[1]!.messages.map((message) => [message.role, message.content]),
          [
            ["system", "Be brief."],
            ["user", "one"],
            ["assistant", "first answer"],
            ["user", "lost question"],
            ["user", "two"]
          ]
        )
        assert.deepStrictEqual((yield* store.pending(conversation.id)).length, 0)
      }).pipe(Effect.provide(slowPendingLayer))
  )

  it.scopedLive("the tutorial's prompt renders exactly and the first message is sent only on an empty history", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text("欢迎光临！"), ScriptedReply.text("好的"))
      const conversation = yield* newConversation()
      const first = yield* open(tutor, alice, conversation.id)
      yield* first.probe.turnEnds(1)
      const [body] = yield* chatBodies
      assert.deepStrictEqual(body!.messages, [
        {
          role: "system",
          content: `You are a language tutor.
중국어로 대화를 나눕시다. 번역과 발음을 제공하지 않고 중국어로만 답변해주세요.
"스타벅스에서 커피를 주문하는 상황"의 상황으로 상황극을 진행합니다.
가능한한 중국어 초급에 맞는 단어와 표현을 사용해주세요.`
        },
        { role: "user", content: "첫 문장으로 대화를 시작해주세요." }
      ])
      // the history is no longer empty: a new connection does not send the first message again
      const second = yield* open(tutor, alice, conversation.id)
      yield* second.session.send({ type: "user_message", text: "我要一杯拿铁" })
      yield* second.probe.turnEnds(1)
      const bodies = yield* chatBodies
      assert.strictEqual(bodies.length, 2)
      assert.deepStrictEqual(
        bodies[1]!.messages.slice(1).map((message) => message.content),
        ["첫 문장으로 대화를 시작해주세요.", "欢迎光临！", "我要一杯拿铁"]
      )
      const entries = yield* storedValues(conversation.id)
      assert.strictEqual(entries.length, 4)
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive(
    "an overridden onConversationComplete receives (human, ai, toolsOutput); the default does not run",
    () =>
      Effect.gen(function* () {
        const fake = yield* FakeOpenAI.FakeOpenAI
        yield* fake.enqueue(ScriptedReply.text("hi there"))
        const conversation = yield* newConversation()
        const calls: Array<{ human: BaseMessage; ai: BaseMessage | null; tools: number; status: string }> = []
        const hooks = ChatAgentHooks.layer({
          onConversationComplete: (human, ai, toolsOutput, context) =>
            Effect.sync(() => {
              calls.push({ human, ai, tools: toolsOutput.length, status: context.status })
            })
        })
        const { session, probe } = yield* open(plain, alice, conversation.id).pipe(Effect.provide(hooks))
        yield* session.send({ type: "user_message", text: "hello" })
        yield* probe.turnEnds(1)
        assert.strictEqual(calls.length, 1)
        assert.isTrue(HumanMessage.isInstance(calls[0]!.human))
        assert.strictEqual(calls[0]!.human.content, "hello")
        assert.strictEqual(calls[0]!.ai?.content, "hi there")
        assert.strictEqual(calls[0]!.tools, 0)
        assert.strictEqual(calls[0]!.status, "complete")
        assert.strictEqual((yield* storedValues(conversation.id)).length, 0)
      }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("a tool round is streamed and stored, and the next turn's request is well-formed", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      let attempts = 0
      const weather = tool(
        async ({ city }: { city: string }) => {
          attempts++
          if (attempts === 1) throw new Error("flaky upstream")
          return `Sunny in ${city}`
        },
        {
          name: "weather",
          description: "weather of a city",
          schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
        }
      )
      const broken = tool(
        async () => {
          throw new Error("always broken")
        },
        { name: "broken", description: "fails", schema: { type: "object", properties: {} } }
      )
      const agent = ChatAgent.make({ model: LlmModels.openAiGpt4o, tools: [weather, broken] })
      yield* fake.enqueue(
        ScriptedReply.toolCalls([
          { name: "weather", args: { city: "Seoul" } },
          { name: "broken", args: {} }
        ]),
        ScriptedReply.text("It is sunny in Seoul."),
        ScriptedReply.text("You're welcome.")
      )
      const conversation = yield* newConversation()
      const { session, probe } = yield* open(agent, alice, conversation.id)
      yield* session.send({ type: "user_message", text: "weather in Seoul?" })
      yield* probe.turnEnds(1)
      const toolCalls = probe.ofType("tool_call")
      assert.deepStrictEqual(
        toolCalls.map((event) => [event.call.name, event.call.args]),
        [
          ["weather", { city: "Seoul" }],
          ["broken", {}]
        ]
      )
      const results = probe.ofType("tool_result")
      assert.deepStrictEqual(
        results.map((event) => [event.name, event.content, event.isError]),
        [
          ["weather", "Sunny in Seoul", false],
          ["broken", "Error: always broken", true]
        ]
      )
      assert.strictEqual(attempts, 2, "a tool that throws is retried once")
      assert.strictEqual(probe.ofType("turn_end")[0]!.status, "complete")

      const entries = yield* storedValues(conversation.id)
      assert.deepStrictEqual(
        entries.map((entry) => entry.kind),
        ["human", "ai", "tool", "tool", "ai"]
      )

      yield* session.send({ type: "user_message", text: "thanks" })
      yield* probe.turnEnds(2)
      const bodies = yield* chatBodies
      const next = bodies[2]!.messages
      assert.deepStrictEqual(
        next.map((message) => message.role),
        ["user", "assistant", "tool", "tool", "assistant", "user"]
      )
      const assistant = next[1]!
      assert.deepStrictEqual(
        assistant.tool_calls!.map((call) => call.id),
        [next[2]!.tool_call_id, next[3]!.tool_call_id]
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("an error mid-stream stores the human message and the partial AI reply with status error", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.streamError(["partial ", "answer"], { message: "connection reset" }))
      const conversation = yield* newConversation()
      const { session, probe } = yield* open(plain, alice, conversation.id)
      yield* session.send({ type: "user_message", text: "tell me" })
      yield* probe.turnEnds(1)
      assert.strictEqual(probe.ofType("turn_end")[0]!.status, "error")
      assert.strictEqual(probe.ofType("error")[0]!.code, "model_error")
      const entries = yield* storedValues(conversation.id)
      assert.deepStrictEqual(
        entries.map((entry) => [entry.kind, entry.status]),
        [
          ["human", "error"],
          ["ai", "error"]
        ]
      )
      const ai = entries[1]!
      assert.isTrue(ai._tag === "Decoded" && (ai.value as AIMessage).content === "partial answer")
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("a model that does not answer in time ends the turn with a timeout, stored as error", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text("too late", { firstByteDelay: "5 seconds" }))
      const agent = ChatAgent.make({ model: LlmModels.openAiGpt4o, timeout: "300 millis" })
      const conversation = yield* newConversation()
      const { session, probe } = yield* open(agent, alice, conversation.id)
      yield* session.send({ type: "user_message", text: "hurry" })
      yield* probe.turnEnds(1)
      assert.strictEqual(probe.ofType("error")[0]!.code, "timeout")
      const entries = yield* storedValues(conversation.id)
      assert.deepStrictEqual(
        entries.map((entry) => [entry.kind, entry.status]),
        [["human", "error"]]
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("stop cancels the model call and stores the turn as aborted", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text(["one ", "two ", "three ", "four"], { chunkDelay: "400 millis" }))
      const conversation = yield* newConversation()
      const { session, probe } = yield* open(plain, alice, conversation.id)
      yield* session.send({ type: "user_message", text: "count" })
      yield* probe.until((events) => events.some((event) => event.type === "message_delta"))
      yield* session.send({ type: "stop" })
      yield* probe.turnEnds(1)
      assert.strictEqual(probe.ofType("turn_end")[0]!.status, "aborted")
      const entries = yield* storedValues(conversation.id)
      assert.deepStrictEqual(
        entries.map((entry) => [entry.kind, entry.status]),
        [
          ["human", "aborted"],
          ["ai", "aborted"]
        ]
      )
      const ai = entries[1]!
      assert.isTrue(ai._tag === "Decoded" && String((ai.value as AIMessage).content).startsWith("one"))
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("a stop that comes while text waits to be sent as a delta: the text is sent, as stored", () =>
    Effect.gen(function* () {
      // a model that sends "shown ", then a macrotask later "pending " and, before the pump's batch
      // of it is cut, has the client's stop come in (as a socket read could, in the same loop turn)
      let stop: (() => void) | undefined
      class StoppedModel extends BaseChatModel {
        override _llmType(): string {
          return "stopped"
        }
        override async _generate(): Promise<ChatResult> {
          throw new Error("streams only")
        }
        override async *_streamResponseChunks(
          _messages: ReadonlyArray<BaseMessage>,
          options: this["ParsedCallOptions"]
        ): AsyncGenerator<ChatGenerationChunk> {
          yield new ChatGenerationChunk({ message: new AIMessageChunk({ content: "shown " }), text: "shown " })
          await new Promise((done) => setTimeout(done, 50))
          yield new ChatGenerationChunk({ message: new AIMessageChunk({ content: "pending " }), text: "pending " })
          stop?.()
          await new Promise((_, fail) => options.signal?.addEventListener("abort", () => fail(new Error("aborted"))))
        }
      }
      const layer = LlmModels.layerFixed(new StoppedModel({})).pipe(
        Layer.merge(ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer))),
        Layer.merge(TurnLock.layerMemory),
        Layer.merge(ConversationEvents.layerMemory())
      )
      yield* Effect.gen(function* () {
        const conversation = yield* newConversation()
        const { session, probe } = yield* open(plain, alice, conversation.id)
        stop = () => void Effect.runFork(session.send({ type: "stop" }))
        yield* session.send({ type: "user_message", text: "go" })
        yield* probe.turnEnds(1)
        assert.strictEqual(probe.ofType("turn_end")[0]!.status, "aborted")
        const entries = yield* storedValues(conversation.id)
        const ai = entries[1]!
        const stored = ai._tag === "Decoded" ? String((ai.value as AIMessage).content) : "not decoded"
        assert.strictEqual(stored, "shown pending ")
        assert.strictEqual(
          probe
            .ofType("message_delta")
            .map((delta) => delta.text)
            .join(""),
          stored
        )
      }).pipe(Effect.provide(layer))
    })
  )

  it.scopedLive("a disconnect mid-turn still stores the turn as aborted", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text(["a ", "b ", "c"], { chunkDelay: "400 millis" }))
      const conversation = yield* newConversation()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const { session, probe } = yield* open(plain, alice, conversation.id)
          yield* session.send({ type: "user_message", text: "go" })
          yield* probe.until((events) => events.some((event) => event.type === "message_delta"))
        })
      )
      const entries = yield* storedValues(conversation.id)
      assert.deepStrictEqual(
        entries.map((entry) => [entry.kind, entry.status]),
        [
          ["human", "aborted"],
          ["ai", "aborted"]
        ]
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("two turns sent at once to one conversation run one after the other", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(
        ScriptedReply.text(["first ", "reply"], { chunkDelay: "100 millis" }),
        ScriptedReply.text(["second ", "reply"], { chunkDelay: "100 millis" })
      )
      const conversation = yield* newConversation(null)
      const a = yield* open(plain, alice, conversation.id)
      const b = yield* open(plain, alice, conversation.id)
      yield* Effect.all([
        a.session.send({ type: "user_message", text: "from tab A" }),
        b.session.send({ type: "user_message", text: "from tab B" })
      ])
      // every tab watching the conversation sees both turns, live, in the same order
      yield* Effect.all([a.probe.turnEnds(2), b.probe.turnEnds(2)])
      const turnsSeen = (probe: SessionProbe.SessionProbe) => probe.ofType("turn_start").map((event) => event.turnId)
      assert.deepStrictEqual(turnsSeen(a.probe), turnsSeen(b.probe))
      const textOf = (probe: SessionProbe.SessionProbe) =>
        probe
          .ofType("message_delta")
          .map((event) => event.text)
          .join("")
      assert.strictEqual(textOf(a.probe), textOf(b.probe))
      const ids = a.probe
        .events()
        .flatMap((event) => ("eventId" in event && event.eventId !== undefined ? [event.eventId] : []))
      assert.deepStrictEqual(
        ids,
        [...ids].sort((x, y) => x - y),
        "event ids increase"
      )
      const entries = yield* storedValues(conversation.id)
      assert.deepStrictEqual(
        entries.map((entry) => entry.seq),
        [1, 2, 3, 4]
      )
      // turns did not interleave: each human message is followed by its own reply
      assert.deepStrictEqual(
        entries.map((entry) => entry.turnId),
        [entries[0]!.turnId, entries[0]!.turnId, entries[2]!.turnId, entries[2]!.turnId]
      )
      const bodies = yield* chatBodies
      assert.strictEqual(bodies[1]!.messages.length, 4, "the second turn saw the whole first turn")
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("access: owners only; anonymous refused by default; unknown conversations refused", () =>
    Effect.gen(function* () {
      const owned = yield* newConversation("alice")
      const refused = (effect: Effect.Effect<unknown, ChatAgent.ConnectionRejected, any>) =>
        Effect.flip(effect).pipe(Effect.map((error) => error.reason))
      assert.strictEqual(yield* refused(open(plain, bob, owned.id)), "Forbidden")
      assert.strictEqual(yield* refused(open(plain, null, owned.id)), "Unauthenticated")
      assert.strictEqual(yield* refused(open(plain, alice, 999_999)), "NotFound")
      const garbage = Connection.make({ user: alice, params: { conversation_pk: "1 OR 1=1" } })
      assert.strictEqual(yield* refused(ChatAgent.connect(plain, garbage)), "NotFound")

      // accept everyone (the tutorial's override): an unowned conversation, each user sees their own messages
      const open_ = ChatAgentHooks.layer({ canAccept: () => Effect.succeed(true) })
      const shared = yield* newConversation(null)
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text("hi alice"))
      const a = yield* open(plain, alice, shared.id).pipe(Effect.provide(open_))
      yield* a.session.send({ type: "user_message", text: "I am alice" })
      yield* a.probe.turnEnds(1)
      const anonymous = yield* open(plain, null, shared.id).pipe(Effect.provide(open_))
      const history = (yield* anonymous.probe.until((events) => events.length > 0))[0]
      assert.isTrue(history?.type === "history" && history.messages.length === 0)
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("bad input gets an error event, runs nothing and stores nothing", () =>
    Effect.gen(function* () {
      const textOnly = ChatAgent.make({
        model: LlmModels.openAiCompatible({ name: "llama", baseURL: "http://127.0.0.1:1/v1", multimodal: false }),
        limits: { maxTextLength: 10 }
      })
      const conversation = yield* newConversation()
      const { session, probe } = yield* open(textOnly, alice, conversation.id)
      yield* session.send({ type: "user_message", text: "   " })
      yield* session.send({ type: "user_message", text: "x".repeat(11) })
      yield* session.send({ type: "user_message", text: "look", images: ["data:image/png;base64,AAAA"] })
      yield* session.receive("{not json")
      yield* session.receive('{"type":"user_message","text":7}')
      yield* session.send({ type: "ping", id: "p1" })
      yield* probe.until((events) => events.some((event) => event.type === "pong"))
      assert.deepStrictEqual(
        probe.ofType("error").map((event) => event.code),
        ["empty_message", "too_large", "not_multimodal", "bad_frame", "bad_frame"]
      )
      assert.strictEqual((yield* chatBodies).length, 0)
      assert.strictEqual((yield* storedValues(conversation.id)).length, 0)

      const vision = ChatAgent.make({ model: LlmModels.openAiGpt4o })
      const v = yield* open(vision, alice, conversation.id)
      yield* v.session.send({ type: "user_message", text: "svg?", images: ["data:image/svg+xml;base64,PHN2Zz4="] })
      yield* v.session.send({ type: "user_message", text: "url?", images: ["https://example.com/cat.png"] })
      yield* v.probe.until((events) => events.filter((event) => event.type === "error").length >= 2)
      assert.deepStrictEqual(
        v.probe.ofType("error").map((event) => event.code),
        ["invalid_image", "invalid_image"]
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("images go to a multimodal model and are stored with the human message", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text("a red pixel"))
      const image = "data:image/png;base64,iVBORw0KGgo="
      const conversation = yield* newConversation()
      const { session, probe } = yield* open(plain, alice, conversation.id)
      yield* session.receive(JSON.stringify({ user_text: "what is this?", images__base64: image }))
      yield* probe.turnEnds(1)
      const [body] = yield* chatBodies
      assert.deepStrictEqual(body!.messages[1]!.content, [
        { type: "text", text: "what is this?" },
        { type: "image_url", image_url: { url: image } }
      ])
      const again = yield* open(plain, alice, conversation.id)
      const history = (yield* again.probe.until((events) => events.length > 0))[0]
      assert.isTrue(history?.type === "history" && history.messages[0]!.images?.[0] === image)
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("without a conversation the chat works and nothing is stored", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text("one"), ScriptedReply.text("two"))
      const { session, probe } = yield* open(plain, alice)
      assert.strictEqual(session.conversation, null)
      yield* session.send({ type: "user_message", text: "a" })
      yield* session.send({ type: "user_message", text: "b" })
      yield* probe.turnEnds(2)
      const bodies = yield* chatBodies
      assert.deepStrictEqual(
        bodies[1]!.messages.map((message) => message.content),
        ["Be brief.", "a", "one", "b"]
      )
      const store = yield* ConversationStore.ConversationStore
      assert.strictEqual((yield* store.list({ userId: "alice" })).conversations.length, 0)
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("a reloaded history with a tool call left unanswered is repaired before it reaches the provider", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text("ok"))
      const store = yield* ConversationStore.ConversationStore
      const conversation = yield* newConversation()
      yield* store.append({
        conversationId: conversation.id,
        userId: "alice",
        messages: [
          { value: new HumanMessage("search"), status: "aborted" },
          {
            value: new AIMessage({ content: "", tool_calls: [{ id: "call_x", name: "search", args: {} }] }),
            status: "aborted"
          },
          { value: new ToolMessage({ content: "orphan", tool_call_id: "call_y" }), status: "aborted" }
        ]
      })
      const { session, probe } = yield* open(plain, alice, conversation.id)
      yield* session.send({ type: "user_message", text: "again" })
      yield* probe.turnEnds(1)
      const [body] = yield* chatBodies
      assert.deepStrictEqual(
        body!.messages.map((message) => message.role),
        ["system", "user", "user"]
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("a client message id re-sent after a reconnect never runs a turn twice", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text("once"))
      const conversation = yield* newConversation()
      const first = yield* open(plain, alice, conversation.id)
      yield* first.session.send({ type: "user_message", text: "pay the bill", clientId: "client-42" })
      yield* first.session.send({ type: "user_message", text: "pay the bill", clientId: "client-42" })
      yield* first.probe.turnEnds(1)
      yield* first.session.idle
      const second = yield* open(plain, alice, conversation.id)
      yield* second.session.send({ type: "user_message", text: "pay the bill", clientId: "client-42" })
      yield* second.probe.until((events) => events.some((event) => event.type === "error"))
      assert.strictEqual(second.probe.ofType("error")[0]!.code, "duplicate")
      assert.strictEqual(second.probe.ofType("turn_start").length, 0)
      assert.strictEqual((yield* chatBodies).length, 1)
      assert.strictEqual((yield* storedValues(conversation.id)).length, 2)
    }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive(
    "a watcher that drops and reconnects with its last event id gets what it missed, then the live rest, once",
    () =>
      Effect.gen(function* () {
        const fake = yield* FakeOpenAI.FakeOpenAI
        const words = ["one ", "two ", "three ", "four ", "five ", "six"]
        yield* fake.enqueue(ScriptedReply.text(words, { chunkDelay: "150 millis" }))
        const conversation = yield* newConversation()
        const sender = yield* open(plain, alice, conversation.id)
        yield* sender.session.send({ type: "user_message", text: "count to six" })
        // a second tab sees the first deltas, then its connection drops
        const seen = yield* Effect.scoped(
          Effect.gen(function* () {
            const tab = yield* open(plain, alice, conversation.id)
            yield* tab.probe.until((events) => events.filter((event) => event.type === "message_delta").length >= 2)
            return tab.probe.events()
          })
        )
        const lastEventId = Math.max(
          ...seen.flatMap((event) => ("eventId" in event && event.eventId !== undefined ? [event.eventId] : []))
        )
        yield* Effect.sleep("400 millis") // deltas go by while it is away
        const connection = Connection.make({
          user: alice,
          params: { conversation_pk: String(conversation.id) },
          lastEventId
        })
        const resumed = yield* ChatAgent.connect(plain, connection)
        const probe = yield* SessionProbe.make(resumed)
        yield* probe.turnEnds(1)
        const before = seen.flatMap((event) => (event.type === "message_delta" ? [event.text] : []))
        const after = probe.ofType("message_delta").map((event) => event.text)
        assert.strictEqual([...before, ...after].join(""), words.join(""))

        // the same through a `resume` message on a fresh connection
        const late = yield* open(plain, alice, conversation.id)
        yield* late.session.send({ type: "resume", lastEventId })
        yield* late.probe.turnEnds(1)
        assert.deepStrictEqual(
          late.probe.ofType("message_delta").map((event) => event.text),
          after
        )
      }).pipe(Effect.provide(TestLayer))
  )

  it.scopedLive("history pages and clear run the same access checks without opening a session", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAI.FakeOpenAI
      yield* fake.enqueue(ScriptedReply.text("hi"))
      const conversation = yield* newConversation("alice")
      const { session, probe } = yield* open(plain, alice, conversation.id)
      yield* session.send({ type: "user_message", text: "hello", clientId: "c-7" })
      yield* probe.turnEnds(1)
      const params = { conversation_pk: String(conversation.id) }
      const page = yield* ChatAgent.history(tutor, Connection.make({ user: alice, params }), { limit: 1 })
      assert.deepStrictEqual(
        page.messages.map((message) => [message.role, message.text]),
        [["ai", "hi"]]
      )
      assert.isTrue(page.hasMore)
      const older = yield* ChatAgent.history(tutor, Connection.make({ user: alice, params }), {
        before: page.messages[0]!.seq
      })
      assert.deepStrictEqual(
        older.messages.map((message) => [message.text, message.clientId]),
        [["hello", "c-7"]]
      )
      assert.strictEqual((yield* chatBodies).length, 1, "reading history never runs the first message")
      const refused = yield* Effect.flip(ChatAgent.history(plain, Connection.make({ user: bob, params })))
      assert.isTrue(ChatAgent.isConnectionRejected(refused) && refused.reason === "Forbidden")
      const clearRefused = yield* Effect.flip(ChatAgent.clear(plain, Connection.make({ user: bob, params })))
      assert.isTrue(ChatAgent.isConnectionRejected(clearRefused) && clearRefused.reason === "Forbidden")
      assert.strictEqual((yield* storedValues(conversation.id)).length, 2)
      yield* ChatAgent.clear(plain, Connection.make({ user: alice, params }))
      assert.strictEqual((yield* storedValues(conversation.id)).length, 0)
    }).pipe(Effect.provide(TestLayer))
  )
})
