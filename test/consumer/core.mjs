// The runtime-neutral core, as a user's script would use it: no Node API, nothing but
// @convo/core, effect and @langchain/core from node_modules. The consumer test runs it with plain
// Node, then the same file with Bun and with Deno.
// Checks: the codec's pyhub round trip, the in-memory store, and a chat turn with the offline model.
import { ChatAgent, Connection, ConversationStore, LlmModels, MessageCodec } from "@convo/core"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import { Effect, Fiber, Layer, Stream } from "effect"

const check = (condition, what) => {
  if (!condition) throw new Error(`core: failed: ${what}`)
}

const program = Effect.gen(function* () {
  // pyhub's tagged JSON, as django-pyhub-ai writes it
  const codec = yield* MessageCodec.MessageCodec
  const text = yield* codec.encodeString(new AIMessage({ content: "你好!" }))
  check(text.startsWith('{"_type": "AIMessage", "_value": {'), `tagged JSON text: ${text}`)
  const back = yield* codec.decodeString(text)
  check(back instanceof AIMessage && back.content === "你好!", "the codec round trip gives the AIMessage back")

  // a turn with the offline model through a chat agent session; the store keeps it
  const store = yield* ConversationStore.ConversationStore
  const conversation = yield* store.create({ userId: "u1" })
  const agent = ChatAgent.make({ model: LlmModels.offline, systemPrompt: "You are a language tutor." })
  const connection = Connection.make({ user: { id: "u1" }, params: { conversation_pk: String(conversation.id) } })
  const events = yield* Effect.scoped(
    Effect.gen(function* () {
      const session = yield* ChatAgent.connect(agent, connection)
      const collected = yield* session.events.pipe(
        Stream.takeUntil((event) => event.type === "turn_end"),
        Stream.runCollect,
        Effect.fork
      )
      yield* session.send({ type: "user_message", text: "Bonjour" })
      return yield* Fiber.join(collected)
    })
  )
  const types = [...events].map((event) => event.type)
  check(types.includes("message_delta") && types.at(-1) === "turn_end", `the turn's events: ${types.join(" ")}`)
  const history = yield* store.history(conversation.id)
  const values = history.entries.map((entry) => (entry._tag === "Decoded" ? entry.value : undefined))
  check(values.length === 2, `2 stored messages, got ${values.length}`)
  check(values[0] instanceof HumanMessage && values[0].content === "Bonjour", "the human message is stored")
  check(values[1] instanceof AIMessage && String(values[1].content).includes("offline"), "the AI reply is stored")
  return types.length
})

const runtime = typeof Bun !== "undefined" ? "bun" : typeof Deno !== "undefined" ? "deno" : "node"
const count = await Effect.runPromise(
  program.pipe(
    Effect.provide(
      Layer.mergeAll(ConversationStore.layerMemory, LlmModels.layerOfflineFallback).pipe(
        Layer.provideMerge(MessageCodec.layer)
      )
    )
  )
)
console.log(`core on ${runtime}: codec round trip, memory store, offline turn (${count} events) — ok`)
