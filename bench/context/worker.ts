/**
 * One measurement of the context benchmark, in a process of its own (run by `run.ts` in the
 * current tree and in a baseline tree, so it uses only what both have).
 *
 *   node --import tsx --expose-gc bench/context/worker.ts latency <sqlite|pg> <turns> <messages> [budget]
 *   node --import tsx --expose-gc bench/context/worker.ts read <sqlite|pg> <turns> <runs> [budget]
 *   node --import tsx --expose-gc bench/context/worker.ts memory <sqlite|pg> <turns> <sessions> <conversations>
 *
 * `latency`: a conversation of `turns` stored turns (seeded in bulk SQL), one `ChatAgent` session
 * on it, then `messages` user messages one after another: for each, the time from `send` to the
 * model's `stream` call (accept, history read, decode, trim, prompt build). The first message of
 * the session is reported apart (`cold`) from the others (`warm`).
 *
 * `memory`: `conversations` conversations of `turns` turns, `sessions` sessions spread over them;
 * heap and RSS after a full GC with the sessions open, then after one turn in each, and the peak RSS.
 *
 * Prints one JSON line.
 */
import * as ChatAgent from "@convo/core/ChatAgent"
import * as Connection from "@convo/core/Connection"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqlMigrations from "@convo/core/SqlMigrations"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { BaseChatModel } from "@langchain/core/language_models/chat_models"
import {
  AIMessage,
  AIMessageChunk,
  type BaseMessage,
  HumanMessage,
  SystemMessage,
  ToolMessage
} from "@langchain/core/messages"
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import Pg from "pg"

const [mode, backend, turnsArg, fourth, fifth] = process.argv.slice(2)
const turns = Number(turnsArg)

/** Turn `k` as the tests store it: every 7th calls a tool. ~110 tokens a turn. */
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

const seed = (conversationId: number, count: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const codec = yield* MessageCodec.MessageCodec
    let seq = 0
    let batch: Array<Record<string, unknown>> = []
    const flush = Effect.suspend(() => {
      const rows = batch
      batch = []
      return rows.length === 0 ? Effect.void : Effect.asVoid(sql`INSERT INTO convo_message ${sql.insert(rows)}`)
    })
    yield* sql.withTransaction(
      Effect.gen(function* () {
        for (let k = 1; k <= count; k++) {
          for (const message of turnMessages(k)) {
            batch.push({
              conversation_id: conversationId,
              seq: ++seq,
              turn_id: `turn-${k}`,
              user_id: "alice",
              client_id: null,
              kind: message.getType(),
              status: "complete",
              content: Either.getOrThrow(codec.encodeStringEither(message))
            })
          }
          if (batch.length >= 400) yield* flush
        }
        yield* flush
        yield* sql`UPDATE convo_conversation SET last_seq = ${seq} WHERE id = ${conversationId}`
      })
    )
    // as autovacuum would after so many rows: with the statistics of an empty table PostgreSQL
    // answers "the newest 16 rows" by sorting the whole conversation
    if (backend === "pg") yield* sql`ANALYZE convo_message`
  })

/** Copies conversation `from`'s messages into conversation `to` in one statement. */
const copy = (from: number, to: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`INSERT INTO convo_message (conversation_id, seq, turn_id, user_id, client_id, kind, status, content) SELECT ${to}, seq, turn_id, user_id, client_id, kind, status, content FROM convo_message WHERE conversation_id = ${from}`.pipe(
      Effect.zipRight(
        sql`UPDATE convo_conversation SET last_seq = (SELECT last_seq FROM convo_conversation WHERE id = ${from}) WHERE id = ${to}`
      )
    )
  )

const database = (): Layer.Layer<SqlClient.SqlClient> => {
  if (backend === "pg") {
    const name = `convo_bench_ctx_${process.pid}_${Date.now().toString(36)}`
    const admin = () => {
      const client = new Pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "postgres" })
      return client
    }
    return Layer.unwrapScoped(
      Effect.gen(function* () {
        yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const client = admin()
            await client.connect()
            await client.query(`CREATE DATABASE ${name}`)
            await client.end()
          }),
          () =>
            Effect.promise(async () => {
              const client = admin()
              await client.connect()
              await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
              await client.end()
            })
        )
        return PgClient.layer({ host: "127.0.0.1", port: 5432, username: "postgres", database: name })
      })
    ).pipe(Layer.orDie)
  }
  const directory = mkdtempSync(join(tmpdir(), "convo-bench-ctx-"))
  process.on("exit", () => rmSync(directory, { recursive: true, force: true }))
  return SqliteClient.layer({ filename: join(directory, "bench.db") }).pipe(Layer.orDie)
}

/** An instant model that keeps nothing of its calls (`ScriptedChatModel` records every call's messages). */
class InstantModel extends BaseChatModel {
  override _llmType(): string {
    return "instant"
  }
  override async _generate(): Promise<ChatResult> {
    return { generations: [{ text: "Sure, here you go.", message: new AIMessage("Sure, here you go.") }] }
  }
  override async *_streamResponseChunks(): AsyncGenerator<ChatGenerationChunk> {
    for (const text of ["Sure", ", ", "here you go."]) {
      yield new ChatGenerationChunk({ message: new AIMessageChunk({ content: text }), text })
    }
  }
}

const model = new InstantModel({})
let sentAt = 0
const requests: Array<number> = []
const stream = model.stream.bind(model)
model.stream = ((messages: unknown, options: unknown) => {
  requests.push(performance.now() - sentAt)
  return stream(messages as never, options as never)
}) as typeof model.stream

// latency's optional fifth argument: a token budget (`context.maxTokens`; a baseline without context windows ignores it)
const budget = mode === "latency" && fifth !== undefined ? Number(fifth) : undefined
const agent = ChatAgent.make({
  model: LlmModels.openAiGpt4o,
  systemPrompt: "You are a patient tutor. Answer briefly.",
  ...(budget === undefined ? {} : { context: { maxTokens: budget } })
})

const layer = Layer.mergeAll(SqlConversationStore.layer(), LlmModels.layerFixed(model)).pipe(
  Layer.provideMerge(MessageCodec.layer),
  Layer.provideMerge(
    Layer.effectDiscard(SqlMigrations.run()).pipe(Layer.provide(NodeContext.layer), Layer.provideMerge(database()))
  ),
  Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
)

const open = (conversationId: number) =>
  Effect.gen(function* () {
    const session = yield* ChatAgent.connect(
      agent,
      Connection.make({ user: { id: "alice" }, params: { conversation_pk: String(conversationId) } })
    )
    let ends = 0
    let wake: (() => void) | undefined
    yield* Stream.runForEach(session.events, (event) =>
      Effect.sync(() => {
        if (event.type !== "turn_end") return
        ends++
        wake?.()
      })
    ).pipe(Effect.forkScoped)
    const turn = (text: string) =>
      Effect.gen(function* () {
        const target = ends + 1
        sentAt = performance.now()
        yield* session.send({ type: "user_message", text })
        yield* Effect.async<void>((resume) => {
          if (ends >= target) return resume(Effect.void)
          wake = () => {
            if (ends >= target) resume(Effect.void)
          }
        })
      })
    return { session, turn }
  })

const gcMemory = () => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
  const usage = process.memoryUsage()
  return { heapMiB: usage.heapUsed / 2 ** 20, rssMiB: usage.rss / 2 ** 20 }
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const latency = Effect.gen(function* () {
  const store = yield* ConversationStore.ConversationStore
  const conversation = yield* store.create({ userId: "alice" })
  yield* seed(conversation.id, turns)
  const messages = Number(fourth ?? "12")
  const { turn } = yield* open(conversation.id)
  for (let i = 1; i <= messages; i++) yield* turn(`new question ${i}`)
  return {
    mode,
    backend,
    turns,
    coldMs: requests[0]!,
    warmMs: median(requests.slice(1)),
    warmAllMs: requests.slice(1)
  }
})

const memory = Effect.gen(function* () {
  const store = yield* ConversationStore.ConversationStore
  const sessions = Number(fourth ?? "100")
  const conversationCount = Number(fifth ?? "10")
  const first = yield* store.create({ userId: "alice" })
  yield* seed(first.id, turns)
  const ids = [first.id]
  for (let i = 1; i < conversationCount; i++) {
    const next = yield* store.create({ userId: "alice" })
    yield* copy(first.id, next.id)
    ids.push(next.id)
  }
  const before = gcMemory()
  const opened = []
  const started = performance.now()
  for (let i = 0; i < sessions; i++) opened.push(yield* open(ids[i % ids.length]!))
  const connectMs = (performance.now() - started) / sessions
  const connected = gcMemory()
  for (const { turn } of opened) yield* turn("one more question")
  const afterTurn = gcMemory()
  return {
    mode,
    backend,
    turns,
    sessions,
    conversations: conversationCount,
    connectMsPerSession: connectMs,
    before,
    connected,
    afterTurn,
    peakRssMiB: process.resourceUsage().maxRSS / 1024
  }
})

/**
 * `read` (current tree only): the history part alone, in process. `fullMs`: today's full read (the default
 * `getPreviousMessages`: every row, decoded, repaired, put in a prompt), median of `fourth` runs.
 * `joinedMs`: a session's later turn (one new turn stored before each, outside the timing: the
 * 16-row probe, the new turn decoded and counted, the window cut and the prompt built), median of
 * 31. `sharedMs`: a new session's first turn while another session of the process holds the
 * conversation's window (it joins that one), median of `fourth`. `coldMs`: the first session of
 * the process on the conversation (it reads the window newest first and counts every row; median
 * of `fourth`), `coldUncountedMs` the very first (the tokenizer's piece cache empty too). `floorMs`: one `SELECT 1`
 * through the same client (the round trip every read pays), median of 15.
 */
const read = Effect.gen(function* () {
  const ContextWindow = yield* Effect.promise(() => import("../../packages/core/src/internal/contextWindow.js"))
  const LlmContext = yield* Effect.promise(() => import("../../packages/core/src/internal/llmContext.js"))
  const store = yield* ConversationStore.ConversationStore
  const sql = yield* SqlClient.SqlClient
  const conversation = yield* store.create({ userId: "alice" })
  yield* seed(conversation.id, turns)
  const runs = Number(fourth ?? "5")
  const human = new HumanMessage("new question")
  const system = new SystemMessage("You are a patient tutor. Answer briefly.")
  const time = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.gen(function* () {
      const started = performance.now()
      yield* effect
      return performance.now() - started
    })
  const samples = (count: number, sample: Effect.Effect<number, unknown, never>) =>
    Effect.gen(function* () {
      const values: Array<number> = []
      for (let i = 0; i < count; i++) values.push(yield* sample)
      return median(values)
    })
  const fullMs = yield* samples(
    runs,
    time(
      Effect.map(store.history(conversation.id, { userId: "alice" }), (page) => [
        system,
        ...LlmContext.repairToolPairs(LlmContext.messagesOf(page.entries)),
        human
      ])
    )
  )
  const floorMs = yield* samples(15, time(sql`SELECT 1`))
  const make = ContextWindow.make({
    spec: LlmModels.openAiGpt4o,
    maxTokens: undefined,
    policy: fifth === undefined ? undefined : { maxTokens: Number(fifth) },
    systemPrompt: system.content as string,
    tools: []
  })
  const windowed = (state: Effect.Effect.Success<typeof make>, from: ConversationStore.Service = store) =>
    Effect.flatMap(ContextWindow.room(state, human), (room) =>
      Effect.map(ContextWindow.load(state, from, conversation.id, "alice", room), (window) => [
        system,
        ...window.messages,
        human
      ])
    )
  yield* make // the ranks load once per process, outside the timings
  // the first session of the process on the conversation: nothing counted, nothing shared (a store
  // object of its own each time: windows and counts are remembered per store)
  const coldUncountedMs = yield* Effect.flatMap(make, (state) => time(windowed(state, { ...store })))
  const coldMs = yield* samples(
    runs,
    Effect.flatMap(make, (state) => time(windowed(state, { ...store })))
  )
  const session = yield* make
  yield* windowed(session)
  let stored = 0
  const storeTurn = Effect.suspend(() =>
    store.append({
      conversationId: conversation.id,
      userId: "alice",
      turnId: `bench-${++stored}`,
      messages: [{ value: new HumanMessage(`new question ${stored}`) }, { value: new AIMessage(`answer ${stored}`) }]
    })
  )
  const joinedMs = yield* samples(
    31,
    Effect.zipRight(
      storeTurn,
      Effect.suspend(() => time(windowed(session)))
    )
  )
  // another session while this one holds the window
  const sharedMs = yield* samples(
    runs,
    Effect.zipRight(
      storeTurn,
      Effect.flatMap(make, (state) => time(windowed(state)))
    )
  )
  yield* windowed(session)
  return {
    mode,
    backend,
    turns,
    fullMs,
    floorMs,
    coldUncountedMs,
    coldMs,
    joinedMs,
    sharedMs
  }
})

const program = (mode === "memory" ? memory : mode === "read" ? read : latency) as Effect.Effect<
  unknown,
  unknown,
  Layer.Layer.Success<typeof layer> | Scope.Scope
>
Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(layer))).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`)
    process.exit(0)
  },
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
