/**
 * Where the WebSocket benchmark's time and memory go, measured in one process without sockets:
 *
 * - `langchain_chunks_per_s`: the scripted model streamed through LangChain's `BaseChatModel.stream`
 *   alone (50 deltas per call), the cost every convo delta pays before any Effect or socket code.
 * - `core_deltas_per_s`: 100 chat sessions (`ChatAgent.connect`, one conversation each, in-memory
 *   store) running turns concurrently, events drained as the adapter drains them: the most the
 *   socket server could relay on one core.
 * - `core_session_kb`: heap per idle session (with its event drain), after a full GC.
 *
 * Run by run.ts as `node --import tsx --expose-gc bench/ws/breakdown.ts`; prints one JSON line.
 */
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as Connection from "@convo/core/Connection"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { HumanMessage, SystemMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"
import { performance } from "node:perf_hooks"

const deltaTexts = Array.from({ length: 50 }, (_, i) => `w${i} `)
const model = new ScriptedChatModel({ defaultReply: ScriptedReply.text(deltaTexts) })
const agent = ChatAgent.make({ name: "bench", model: LlmModels.openAiGpt4oMini, systemPrompt: "Be brief." })
const Env = Layer.mergeAll(
  ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer)),
  LlmModels.layerFixed(model),
  ChatAgentHooks.layer({ canAccept: () => Effect.succeed(true) })
)

const heapUsed = () => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed
}

const langchain = async (calls: number) => {
  const prompt = [new SystemMessage("Be brief."), new HumanMessage("Tell me something.")]
  for (let i = 0; i < 20; i++) for await (const _ of await model.stream(prompt));
  let chunks = 0
  const start = performance.now()
  for (let i = 0; i < calls; i++) for await (const _ of await model.stream(prompt)) chunks++
  return chunks / ((performance.now() - start) / 1000)
}

/** Opens a session on a new conversation and drains its events as the adapter does (a pull loop). */
const openSession = (onDelta: () => void) =>
  Effect.gen(function* () {
    const store = yield* ConversationStore.ConversationStore
    const conversation = yield* store.create({ userId: null })
    const session = yield* ChatAgent.connect(
      agent,
      Connection.make({ params: { conversation_pk: String(conversation.id) } })
    )
    const pull = yield* Stream.toPull(session.events)
    yield* pull.pipe(
      Effect.flatMap((chunk) =>
        Effect.sync(() => {
          for (const event of chunk) if (event.type === "message_delta") onDelta()
        })
      ),
      Effect.forever,
      Effect.ignore,
      Effect.forkScoped
    )
    return session
  })

const coreThroughput = (sessions: number, turns: number) =>
  Effect.gen(function* () {
    let deltas = 0
    const opened = yield* Effect.forEach(Array.from({ length: sessions }), () => openSession(() => deltas++))
    const run = (n: number) =>
      Effect.forEach(
        opened,
        (session) =>
          Effect.gen(function* () {
            for (let i = 0; i < n; i++) {
              yield* session.send({ type: "user_message", text: "Tell me something." })
              yield* session.idle
            }
          }),
        { concurrency: "unbounded", discard: true }
      )
    yield* run(2)
    deltas = 0
    const start = performance.now()
    yield* run(turns)
    return deltas / ((performance.now() - start) / 1000)
  }).pipe(Effect.scoped)

const coreMemory = (sessions: number) =>
  Effect.gen(function* () {
    yield* openSession(() => undefined)
    yield* Effect.sleep("100 millis")
    const before = heapUsed()
    yield* Effect.forEach(Array.from({ length: sessions }), () => openSession(() => undefined), { discard: true })
    yield* Effect.sleep("500 millis")
    return (heapUsed() - before) / sessions / 1024
  }).pipe(Effect.scoped)

const main = async () => {
  const langchainChunksPerS = await langchain(400)
  const result = await Effect.runPromise(
    Effect.gen(function* () {
      const coreDeltasPerS = yield* coreThroughput(100, 10)
      const coreSessionKb = yield* coreMemory(1000)
      return { coreDeltasPerS, coreSessionKb }
    }).pipe(Effect.provide(Env), Logger.withMinimumLogLevel(LogLevel.Warning))
  )
  console.log(
    JSON.stringify({
      langchain_chunks_per_s: Math.round(langchainChunksPerS),
      core_deltas_per_s: Math.round(result.coreDeltasPerS),
      core_session_kb: Number(result.coreSessionKb.toFixed(1))
    })
  )
  process.exit(0)
}

void main()
