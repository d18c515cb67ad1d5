/**
 * One measurement of `bench/turns/run.ts`, in a process of its own, against the convo sources of
 * the tree this file sits in (the runner copies it into the baseline's tree too). Prints one JSON
 * line: turns/s, turn latency p50/p99 (ms), CPU ms per turn.
 *
 *   tsx bench/turns/worker.ts <sqlite|pg> <conversations> <turns each> <instant|stream> [checkpoint ms|off]
 */
import * as ChatAgent from "@convo/core/ChatAgent"
import * as Connection from "@convo/core/Connection"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as Databases from "@convo/testing/Databases"
import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"

const [backend = "sqlite", conversationsArg = "10", turnsArg = "100", mode = "instant", checkpoint = "default"] =
  process.argv.slice(2)
const conversations = Number(conversationsArg)
const turns = Number(turnsArg)

const reply =
  mode === "stream"
    ? ScriptedReply.text(
        Array.from({ length: 40 }, (_, i) => `w${i} `),
        { chunkDelay: "25 millis" }
      )
    : ScriptedReply.text(["Hello ", "there, ", "friend."])

const agent = ChatAgent.make({
  model: LlmModels.openAiGpt4oMini,
  ...(checkpoint === "default"
    ? {}
    : { checkpointInterval: checkpoint === "off" ? null : `${Number(checkpoint)} millis` })
} as ChatAgent.Options)

const Db = backend === "pg" ? Databases.postgresFresh() : Databases.sqliteTemp()
const Main = Layer.mergeAll(
  SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer)),
  LlmModels.layerFixed(new ScriptedChatModel({ defaultReply: reply }))
).pipe(Layer.provideMerge(Db))

const quantile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

const oneConversation = (latencies: Array<number>, measured: boolean) =>
  Effect.gen(function* () {
    const store = yield* ConversationStore.ConversationStore
    const conversation = yield* store.create({ userId: "u" })
    const session = yield* ChatAgent.connect(
      agent,
      Connection.make({ user: { id: "u" }, params: { conversation_pk: String(conversation.id) } })
    )
    let ended = yield* Deferred.make<void>()
    yield* Stream.runForEach(session.events, (event) =>
      event.type === "turn_end" ? Deferred.succeed(ended, undefined) : Effect.void
    ).pipe(Effect.forkScoped)
    for (let i = 0; i < (measured ? turns : 2); i++) {
      const start = performance.now()
      yield* session.send({ type: "user_message", text: `message ${i}`, clientId: `c-${i}` })
      yield* Deferred.await(ended)
      ended = yield* Deferred.make<void>()
      if (measured) latencies.push(performance.now() - start)
    }
  }).pipe(Effect.scoped)

const main = Effect.gen(function* () {
  // warm-up: a few turns on their own conversations
  yield* Effect.forEach(Array.from({ length: 4 }), () => oneConversation([], false), { concurrency: "unbounded" })
  const latencies: Array<number> = []
  const cpu = process.cpuUsage()
  const start = performance.now()
  yield* Effect.forEach(Array.from({ length: conversations }), () => oneConversation(latencies, true), {
    concurrency: "unbounded"
  })
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  const sorted = [...latencies].sort((a, b) => a - b)
  process.stdout.write(
    `${JSON.stringify({
      turns: latencies.length,
      turnsPerSecond: latencies.length / seconds,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      cpuMsPerTurn: (used.user + used.system) / 1000 / latencies.length
    })}\n`
  )
}).pipe(Effect.provide(Main))

Effect.runPromise(main).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)
