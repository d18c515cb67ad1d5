/**
 * What opening a session costs `HttpChat`'s POST, which opens one per message: `ChatAgent.connect`
 * with its history page (as before) against `{ history: false }` (as now), in one process on one
 * SQLite database, blocks alternating. The conversation holds `turns` turns of the benchmark's
 * reply (200 deltas, about 1 KB), as a bench/ws client's does after some turns. Prints the process
 * CPU per open (user + system, GC included) and opens per second, medians over the rounds after the
 * first.
 *
 *   npx tsx bench/ws/abSession.ts [--turns=25] [--rounds=8] [--opens=200]
 */
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as Connection from "@convo/core/Connection"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as Databases from "@convo/testing/Databases"
import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { loadavg } from "node:os"
import { performance } from "node:perf_hooks"

const flag = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const turns = flag("turns", 25)
const rounds = flag("rounds", 8)
const opens = flag("opens", 200)

const reply = Array.from({ length: 200 }, (_, i) => `w${i} `).join("")
const agent = ChatAgent.make({ name: "bench", model: LlmModels.openAiGpt4oMini, systemPrompt: "Be brief." })
const median = (xs: ReadonlyArray<number>) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!

const program = Effect.gen(function* () {
  const store = yield* ConversationStore.ConversationStore
  const conversation = yield* store.create({ userId: null })
  for (let i = 0; i < turns; i++) {
    yield* store.append({
      conversationId: conversation.id,
      userId: null,
      turnId: `t${i}`,
      messages: [{ value: new HumanMessage("Tell me something.") }, { value: new AIMessage(reply) }]
    })
  }
  const connection = Connection.make({ user: null, params: { conversation_pk: String(conversation.id) } })
  const openOnce = (history: boolean) => Effect.scoped(ChatAgent.connect(agent, connection, { history }))
  const block = (history: boolean) =>
    Effect.gen(function* () {
      const cpu = process.cpuUsage()
      const start = performance.now()
      for (let i = 0; i < opens; i++) yield* openOnce(history)
      const used = process.cpuUsage(cpu)
      return { cpuUs: (used.user + used.system) / opens, perS: opens / ((performance.now() - start) / 1000) }
    })
  interface Sample {
    readonly cpuUs: number
    readonly perS: number
  }
  const samples: { page: Array<Sample>; none: Array<Sample> } = { page: [], none: [] }
  yield* openOnce(true) // the tokenizer's ranks load on the first session
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ([true, false] as const) : ([false, true] as const)
    for (const history of order) {
      const sample = yield* block(history)
      if (round > 0) samples[history ? "page" : "none"].push(sample)
    }
  }
  const page = median(samples.page.map((s) => s.cpuUs))
  const none = median(samples.none.map((s) => s.cpuUs))
  console.log(
    `${turns} stored turns, ${opens} opens per block, ${rounds} rounds, load ${loadavg()[0]!.toFixed(1)}:\n` +
      `  with the history page: ${page.toFixed(0)} µs CPU per open, ${median(samples.page.map((s) => s.perS)).toFixed(0)} opens/s\n` +
      `  without (history: false): ${none.toFixed(0)} µs CPU per open, ${median(samples.none.map((s) => s.perS)).toFixed(0)} opens/s\n` +
      `  ratio ${(none / page).toFixed(2)}`
  )
})

await Effect.runPromise(
  program.pipe(
    Effect.provide(
      Layer.mergeAll(
        ChatAgentHooks.layer({ canAccept: () => Effect.succeed(true) }),
        LlmModels.layerFixed(new ScriptedChatModel({ defaultReply: ScriptedReply.text([reply]) }))
      ).pipe(
        Layer.provideMerge(SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer))),
        Layer.provideMerge(Databases.sqliteTemp())
      )
    )
  )
)
