/**
 * The pyhub write mode end to end on SQLite and PostgreSQL: a chat agent (the real LangChain
 * OpenAI client against the fake server) runs a turn with two tool calls and then a second turn,
 * once with the default codec and once with `MessageCodec.layerPyhub`. Every stored row of the
 * pyhub run is one pyhub's decoder reads, and the model's second request is the same in both modes.
 */
import * as Databases from "@convo/testing/Databases"
import * as FakeOpenAI from "@convo/testing/FakeOpenAI"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import * as SessionProbe from "@convo/testing/SessionProbe"
import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { tool } from "@langchain/core/tools"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ChatAgent from "../src/ChatAgent.js"
import * as Connection from "../src/Connection.js"
import * as ConversationEvents from "../src/ConversationEvents.js"
import * as ConversationStore from "../src/ConversationStore.js"
import * as LlmModels from "../src/LlmModels.js"
import * as MessageCodec from "../src/MessageCodec.js"
import * as SqlConversationStore from "../src/SqlConversationStore.js"
import * as TurnLock from "../src/TurnLock.js"
import { pyhubProblems } from "./support/pyhubDecoder.js"

const pgEnabled = await Databases.pgTestsEnabled()

const weather = tool(async ({ city }: { city: string }) => `Sunny in ${city}, 21.5°C`, {
  name: "weather",
  description: "the weather of a city",
  schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
})
const menu = tool(async ({ item }: { item: string }) => `${item}: 4.50`, {
  name: "menu",
  description: "the price of a drink",
  schema: { type: "object", properties: { item: { type: "string" } }, required: ["item"] }
})
const agent = ChatAgent.make({ model: LlmModels.openAiGpt4o, systemPrompt: "Be brief.", tools: [weather, menu] })

const image =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

/** Two turns (the first with text, an image, two tool calls and usage); the stored rows and the model's requests. */
const conversation = (codec: Layer.Layer<MessageCodec.MessageCodec>, database: typeof Databases.sqliteTemp) =>
  Effect.gen(function* () {
    const fake = yield* FakeOpenAI.FakeOpenAI
    yield* fake.enqueue(
      ScriptedReply.toolCalls(
        [
          { name: "weather", args: { city: "Seoul" }, id: "call_w" },
          { name: "menu", args: { item: "latte" }, id: "call_m" }
        ],
        { usage: { inputTokens: 120, outputTokens: 30 } }
      ),
      ScriptedReply.text("Sunny; a latte is 4.50.", { usage: { inputTokens: 200, outputTokens: 12 } }),
      ScriptedReply.text("You're welcome.")
    )
    const store = yield* ConversationStore.ConversationStore
    const created = yield* store.create({ userId: "alice" })
    const session = yield* ChatAgent.connect(
      agent,
      Connection.make({ user: { id: "alice" }, params: { conversation_pk: created.publicId } })
    )
    const probe = yield* SessionProbe.make(session)
    yield* session.send({ type: "user_message", text: "서울 날씨와 이 커피 가격은?", images: [image] })
    yield* probe.turnEnds(1)
    yield* session.send({ type: "user_message", text: "thanks" })
    yield* probe.turnEnds(2)
    const sql = yield* SqlClient.SqlClient
    const pg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    const rows = yield* sql.unsafe<{ readonly kind: string; readonly content: string }>(
      `SELECT kind, ${pg ? "content::text AS content" : "content"} FROM convo_message WHERE conversation_id = ${created.id} ORDER BY seq`
    )
    const requests = (yield* fake.requests).flatMap((request) => (request.body === undefined ? [] : [request.body]))
    return { rows, requests }
  }).pipe(
    Effect.provide(
      Layer.unwrapEffect(
        Effect.map(FakeOpenAI.FakeOpenAI, (fake) =>
          LlmModels.layerWith({ openAiApiKey: "sk-test", openAiBaseUrl: fake.baseURL })
        )
      ).pipe(
        Layer.provideMerge(FakeOpenAI.layer()),
        Layer.merge(SqlConversationStore.layer().pipe(Layer.provide(codec), Layer.provideMerge(database()))),
        Layer.merge(TurnLock.layerMemory),
        Layer.merge(ConversationEvents.layerMemory())
      )
    ),
    Effect.scoped
  )

const bothModes = (database: typeof Databases.sqliteTemp) =>
  Effect.gen(function* () {
    const inPyhub = yield* conversation(MessageCodec.layerPyhub, database)
    const inDefault = yield* conversation(MessageCodec.layer, database)
    assert.deepStrictEqual(
      inPyhub.rows.map((row) => row.kind),
      ["human", "ai", "tool", "tool", "ai", "human", "ai"]
    )
    for (const row of inPyhub.rows) {
      assert.deepStrictEqual(pyhubProblems(JSON.parse(row.content)), [], row.content)
    }
    assert.deepStrictEqual(
      inPyhub.rows.map((row) => Object.keys(JSON.parse(row.content)).sort().join(",")),
      [
        "_type,_value",
        "actions,messages",
        "messages,steps",
        "messages,steps",
        "_type,_value",
        "_type,_value",
        "_type,_value"
      ]
    )
    // the default mode's tool rows are what pyhub cannot read
    assert.isNotEmpty(pyhubProblems(JSON.parse(inDefault.rows[2]!.content)))
    // the second turn's request (system, the stored first turn, the new message) is the same in both modes
    assert.strictEqual(inPyhub.requests.length, 3)
    assert.deepStrictEqual(inPyhub.requests[2], inDefault.requests[2])
    assert.deepStrictEqual(
      inPyhub.requests[2]!.messages.map((message) => message.role),
      ["system", "user", "assistant", "tool", "tool", "assistant", "user"]
    )
  })

describe("MessageCodec.layerPyhub with the SQL store and a chat agent", () => {
  it.live("SQLite: pyhub can read every row, and the model sees the same history in both modes", () =>
    bothModes(Databases.sqliteTemp)
  )

  describe.skipIf(!pgEnabled)("PostgreSQL", () => {
    it.live("pyhub can read every row, and the model sees the same history in both modes", () =>
      bothModes(Databases.postgresFresh)
    )
  })
})
