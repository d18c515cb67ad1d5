import { assert, describe, it } from "@effect/vitest"
import { AIMessage, type BaseMessage, HumanMessage, SystemMessage, ToolMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ConversationStore from "../src/ConversationStore.js"
import * as MessageCodec from "../src/MessageCodec.js"
import * as Opaque from "../src/Opaque.js"
import * as Table from "../src/Table.js"
import { messagesOf, repairToolPairs } from "../src/internal/llmContext.js"
import { pyhubProblems } from "./support/pyhubDecoder.js"

const image =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// With @langchain/core 1.4 under this compiler, `usage_metadata` in the fields types as `never`.
type AIFields = ConstructorParameters<typeof AIMessage>[0]

/** A turn with text, an image, two tool calls, their results and usage. */
const turn = (): Array<BaseMessage> => [
  new SystemMessage("You are a barista."),
  new HumanMessage({
    content: [
      { type: "text", text: "서울 날씨와 이 사진 속 커피는?" },
      { type: "image_url", image_url: { url: image } }
    ]
  }),
  new AIMessage({
    content: "Let me look.",
    id: "run-1",
    tool_calls: [
      { id: "call_a", name: "weather", args: { city: "Seoul", days: 2 }, type: "tool_call" },
      { id: "call_b", name: "menu", args: { item: "latte" }, type: "tool_call" }
    ],
    usage_metadata: { input_tokens: 120, output_tokens: 30, total_tokens: 150 },
    response_metadata: { finish_reason: "tool_calls", model_name: "gpt-4o-mini" }
  } as unknown as AIFields),
  new ToolMessage({ content: "맑음, 21.5°C", tool_call_id: "call_a", name: "weather" }),
  new ToolMessage({ content: [{ type: "text", text: "latte: 4.50" }], tool_call_id: "call_b", status: "error" }),
  new AIMessage({
    content: "It is sunny; that is a latte.",
    id: "run-2",
    usage_metadata: { input_tokens: 200, output_tokens: 12, total_tokens: 212 }
  } as unknown as AIFields)
]

const pyhub = MessageCodec.makePyhub()
const plain = MessageCodec.make()

const encode = (codec: MessageCodec.Service, value: unknown) => Either.getOrThrow(codec.encodeStringEither(value))
const decode = (codec: MessageCodec.Service, text: string) => Either.getOrThrow(codec.decodeStringEither(text))

/** A message as the default codec writes it: class, every field, in order. */
const canonical = (value: unknown) => `${(value as object).constructor.name} ${encode(plain, value)}`

describe("MessageCodec.makePyhub", () => {
  it("writes only the _types and shapes pyhub's decoder reads, recursively", () => {
    for (const message of turn()) {
      const row: unknown = JSON.parse(encode(pyhub, message))
      assert.deepStrictEqual(pyhubProblems(row), [], JSON.stringify(row))
    }
    // The checker is not blind: the default mode's tool message is one of pyhub's unknown types.
    assert.deepStrictEqual(pyhubProblems(JSON.parse(encode(plain, turn()[3]))), ['$: unknown _type "ToolMessage"'])
    assert.isNotEmpty(pyhubProblems({ steps: [], messages: [] }))
  })

  it("writes tool turns in pyhub's agent-step shapes", () => {
    const [, , ai, tool] = turn()
    const actions = JSON.parse(encode(pyhub, ai)) as Record<string, Array<Record<string, any>>>
    assert.deepStrictEqual(Object.keys(actions), ["actions", "messages"])
    assert.deepStrictEqual(
      actions.actions!.map((a) => [a._type, a._value.tool, a._value.tool_input, a._value.tool_call_id]),
      [
        ["ToolAgentAction", "weather", { city: "Seoul", days: 2 }, "call_a"],
        ["ToolAgentAction", "menu", { item: "latte" }, "call_b"]
      ]
    )
    assert.strictEqual(actions.messages![0]!._type, "AIMessageChunk")
    assert.deepStrictEqual(actions.messages![0]!._value.usage_metadata, {
      input_tokens: 120,
      output_tokens: 30,
      total_tokens: 150
    })
    const steps = JSON.parse(encode(pyhub, tool)) as Record<string, Array<Record<string, any>>>
    assert.deepStrictEqual(Object.keys(steps), ["steps", "messages"])
    assert.strictEqual(steps.steps![0]!._value.action.tool, "weather")
    assert.strictEqual(steps.steps![0]!._value.observation, "맑음, 21.5°C")
    assert.deepStrictEqual(
      [steps.messages![0]!._type, steps.messages![0]!._value.name, steps.messages![0]!._value.content],
      ["FunctionMessage", "weather", "맑음, 21.5°C"]
    )
  })

  it("reads back the messages the default mode stores, and reads default-mode rows the same", () => {
    for (const message of turn()) {
      const viaPyhub = decode(pyhub, encode(pyhub, message))
      assert.strictEqual(canonical(viaPyhub), canonical(decode(plain, encode(plain, message))))
      assert.strictEqual(canonical(decode(pyhub, encode(plain, message))), canonical(message))
      // Written again in pyhub mode, a row read back is the same text.
      assert.strictEqual(encode(pyhub, viaPyhub), encode(pyhub, message))
    }
  })

  it.effect("both modes give the model the same history", () =>
    Effect.gen(function* () {
      const historyWith = (layer: typeof MessageCodec.layer) =>
        Effect.gen(function* () {
          const store = yield* ConversationStore.makeMemory
          const conversation = yield* store.create({ userId: "u1" })
          yield* store.append({
            conversationId: conversation.id,
            userId: "u1",
            messages: turn().map((value) => ({ value }))
          })
          const page = yield* store.history(conversation.id)
          assert.isTrue(page.entries.every((entry) => entry._tag === "Decoded"))
          return {
            kinds: page.entries.map((entry) => entry.kind),
            tokens: page.entries.map((entry) => [entry.inputTokens, entry.outputTokens]),
            model: repairToolPairs(messagesOf(page.entries)).map(canonical)
          }
        }).pipe(Effect.provide(layer))
      const inPyhub = yield* historyWith(MessageCodec.layerPyhub)
      const inDefault = yield* historyWith(MessageCodec.layer)
      assert.deepStrictEqual(inPyhub, inDefault)
      assert.deepStrictEqual(inPyhub.kinds, ["system", "human", "ai", "tool", "tool", "ai"])
      assert.strictEqual(inPyhub.model.length, 6)
    })
  )

  it("keeps bytes and tables, and refuses what pyhub cannot read", () => {
    const bytes = new Uint8Array([1, 2, 3])
    assert.deepStrictEqual(decode(pyhub, encode(pyhub, bytes)), bytes)
    const frameRow = '{"_type": "DataFrame", "_value": {"price": {"2": 1.0, "0": 2.5}}}'
    const frame = decode(pyhub, frameRow)
    assert.instanceOf(frame, Table.DataFrame)
    assert.strictEqual(encode(pyhub, frame), frameRow)
    const opaque = new Opaque.OpaqueValue({ _type: "ChatPromptValue", _value: {} })
    const refused = pyhub.encodeStringEither({ nested: [opaque] })
    assert.isTrue(Either.isLeft(refused))
    if (Either.isLeft(refused)) {
      assert.include(refused.left.message, `cannot read _type "ChatPromptValue" (at $.nested[0])`)
    }
    const badTool = pyhub.encodeStringEither(new ToolMessage({ content: "x", tool_call_id: "c", artifact: opaque }))
    assert.isTrue(Either.isLeft(badTool))
  })

  it("reads pyhub's own agent-step rows as the default mode does", () => {
    const own =
      '{"steps": [{"_type": "AgentStep", "_value": {"action": {"tool": "t", "tool_input": {}, "log": "", "type": "AgentAction"}, "observation": "o"}}, {"_type": "AgentStep", "_value": {"action": {"tool": "t", "tool_input": {}, "log": "", "type": "AgentAction"}, "observation": "p"}}], "messages": [{"_type": "FunctionMessage", "_value": {"content": "o", "additional_kwargs": {}, "response_metadata": {}, "type": "function", "name": "t", "id": null}}]}'
    assert.strictEqual(encode(plain, decode(pyhub, own)), encode(plain, decode(plain, own)))
  })
})
