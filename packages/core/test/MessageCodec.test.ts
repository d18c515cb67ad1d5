import { assert, describe, it } from "@effect/vitest"
import {
  AIMessage,
  AIMessageChunk,
  FunctionMessage,
  HumanMessage,
  SystemMessage,
  ToolMessage
} from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import * as AgentStep from "../src/AgentStep.js"
import * as MessageCodec from "../src/MessageCodec.js"
import * as Opaque from "../src/Opaque.js"
import * as Table from "../src/Table.js"

interface Vector {
  readonly name: string
  readonly stored: string
  readonly expect: {
    readonly class: "HumanMessage" | "AIMessage"
    readonly content: string
    readonly id: string | null
    readonly name?: string | null
    readonly tool_calls?: ReadonlyArray<unknown>
    readonly usage_metadata?: Record<string, number>
  }
}

const fixture: { readonly vectors: ReadonlyArray<Vector> } = JSON.parse(
  readFileSync(new URL("./fixtures/pyhub-stored-messages.json", import.meta.url), "utf8")
)

// Exact `json.dumps` output of pyhub's encoder (XJSONEncoder) over LangChain Python model_dump
// and pandas to_dict shapes, generated with CPython's json module.
const py = {
  system:
    '{"_type": "SystemMessage", "_value": {"content": "You are a barista. \\ud55c\\uad6d\\uc5b4\\ub85c \\ub2f5\\ud558\\uc138\\uc694.", "additional_kwargs": {}, "response_metadata": {}, "type": "system", "name": null, "id": null}}',
  humanMultimodal:
    '{"_type": "HumanMessage", "_value": {"content": [{"type": "text", "text": "\\uc774 \\uadf8\\ub9bc\\uc740?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}}], "additional_kwargs": {}, "response_metadata": {}, "type": "human", "name": null, "id": null, "example": false}}',
  aiChunk:
    '{"_type": "AIMessageChunk", "_value": {"content": "", "additional_kwargs": {"tool_calls": [{"index": 0, "id": "call_abc", "function": {"arguments": "{\\"query\\": \\"\\uc11c\\uc6b8\\"}", "name": "search"}, "type": "function"}]}, "response_metadata": {"finish_reason": "tool_calls", "model_name": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0ba0d124f1"}, "type": "AIMessageChunk", "name": null, "id": "run-1b2c3d", "example": false, "tool_calls": [{"name": "search", "args": {"query": "\\uc11c\\uc6b8"}, "id": "call_abc", "type": "tool_call"}], "invalid_tool_calls": [], "usage_metadata": null, "tool_call_chunks": [{"name": "search", "args": "{\\"query\\": \\"\\uc11c\\uc6b8\\"}", "id": "call_abc", "index": 0, "type": "tool_call_chunk"}]}}',
  aiTools:
    '{"_type": "AIMessage", "_value": {"content": "", "additional_kwargs": {}, "response_metadata": {"finish_reason": "tool_calls"}, "type": "ai", "name": null, "id": "run-42", "example": false, "tool_calls": [{"name": "order", "args": {"drink": "\\ub77c\\ub5bc", "size": {"ml": 355, "shots": 2.0}, "extras": ["\\ud83c\\udf6a", null, true, 1e-05]}, "id": "call_1", "type": "tool_call"}], "invalid_tool_calls": [{"name": "pay", "args": "{oops", "id": "call_2", "error": "Malformed args.", "type": "invalid_tool_call"}], "usage_metadata": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}}}',
  tool: '{"_type": "ToolMessage", "_value": {"content": "\\ub9d1\\uc74c, 21.5\\u00b0C", "additional_kwargs": {}, "response_metadata": {}, "type": "tool", "name": null, "id": null, "tool_call_id": "call_abc", "artifact": null, "status": "success"}}',
  function:
    '{"_type": "FunctionMessage", "_value": {"content": "{\\"temp\\": 21.5}", "additional_kwargs": {}, "response_metadata": {}, "type": "function", "name": "weather", "id": null}}',
  bytes: '{"_type": "bytes", "_value": "iVBORw0KGgoA/w=="}',
  dataFrame:
    '{"_type": "DataFrame", "_value": {"price": {"2": 1.0, "0": 2.5, "10": NaN}, "name": {"2": "\\uc544\\uba54\\ub9ac\\uce74\\ub178", "0": "latte", "10": null}}}',
  series: '{"_type": "Series", "_value": {"b": 2.0, "3": "x", "a": 1}}',
  toolAgentAction:
    '{"_type": "ToolAgentAction", "_value": {"tool": "search", "tool_input": {"query": "\\uc11c\\uc6b8"}, "log": "\\nInvoking: `search` with `{\'query\': \'\\uc11c\\uc6b8\'}`\\n\\n\\n", "type": "AgentActionMessageLog", "message_log": [{"content": "", "additional_kwargs": {"tool_calls": [{"index": 0, "id": "call_abc", "function": {"arguments": "{\\"query\\": \\"\\uc11c\\uc6b8\\"}", "name": "search"}, "type": "function"}]}, "response_metadata": {"finish_reason": "tool_calls", "model_name": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0ba0d124f1"}, "type": "AIMessageChunk", "name": null, "id": "run-1b2c3d", "example": false, "tool_calls": [{"name": "search", "args": {"query": "\\uc11c\\uc6b8"}, "id": "call_abc", "type": "tool_call"}], "invalid_tool_calls": [], "usage_metadata": null, "tool_call_chunks": [{"name": "search", "args": "{\\"query\\": \\"\\uc11c\\uc6b8\\"}", "id": "call_abc", "index": 0, "type": "tool_call_chunk"}]}], "tool_call_id": "call_abc"}}',
  agentActionMessageLog:
    '{"_type": "AgentActionMessageLog", "_value": {"tool": "search", "tool_input": {"query": "\\uc11c\\uc6b8"}, "log": "\\nInvoking: `search` with `{\'query\': \'\\uc11c\\uc6b8\'}`\\n\\n\\n", "type": "AgentActionMessageLog", "message_log": [{"content": "", "additional_kwargs": {"tool_calls": [{"index": 0, "id": "call_abc", "function": {"arguments": "{\\"query\\": \\"\\uc11c\\uc6b8\\"}", "name": "search"}, "type": "function"}]}, "response_metadata": {"finish_reason": "tool_calls", "model_name": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0ba0d124f1"}, "type": "AIMessageChunk", "name": null, "id": "run-1b2c3d", "example": false, "tool_calls": [{"name": "search", "args": {"query": "\\uc11c\\uc6b8"}, "id": "call_abc", "type": "tool_call"}], "invalid_tool_calls": [], "usage_metadata": null, "tool_call_chunks": [{"name": "search", "args": "{\\"query\\": \\"\\uc11c\\uc6b8\\"}", "id": "call_abc", "index": 0, "type": "tool_call_chunk"}]}]}}',
  agentStep:
    '{"_type": "AgentStep", "_value": {"action": {"tool": "python_repl_ast", "tool_input": {"query": "df.head()"}, "log": "\\nInvoking: `python_repl_ast`\\n", "type": "AgentAction"}, "observation": {"_type": "DataFrame", "_value": {"price": {"2": 1.0, "0": 2.5, "10": NaN}, "name": {"2": "\\uc544\\uba54\\ub9ac\\uce74\\ub178", "0": "latte", "10": null}}}}}',
  agentStepBytes:
    '{"_type": "AgentStep", "_value": {"action": {"tool": "plot", "tool_input": "hist", "log": "", "type": "AgentAction"}, "observation": {"_type": "bytes", "_value": "iVBORw0KGgoA/w=="}}}',
  actionsRow:
    '{"actions": [{"_type": "ToolAgentAction", "_value": {"tool": "search", "tool_input": {"query": "\\uc11c\\uc6b8"}, "log": "\\nInvoking: `search` with `{\'query\': \'\\uc11c\\uc6b8\'}`\\n\\n\\n", "type": "AgentActionMessageLog", "message_log": [{"content": "", "additional_kwargs": {"tool_calls": [{"index": 0, "id": "call_abc", "function": {"arguments": "{\\"query\\": \\"\\uc11c\\uc6b8\\"}", "name": "search"}, "type": "function"}]}, "response_metadata": {"finish_reason": "tool_calls", "model_name": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0ba0d124f1"}, "type": "AIMessageChunk", "name": null, "id": "run-1b2c3d", "example": false, "tool_calls": [{"name": "search", "args": {"query": "\\uc11c\\uc6b8"}, "id": "call_abc", "type": "tool_call"}], "invalid_tool_calls": [], "usage_metadata": null, "tool_call_chunks": [{"name": "search", "args": "{\\"query\\": \\"\\uc11c\\uc6b8\\"}", "id": "call_abc", "index": 0, "type": "tool_call_chunk"}]}], "tool_call_id": "call_abc"}}], "messages": [{"_type": "AIMessageChunk", "_value": {"content": "", "additional_kwargs": {"tool_calls": [{"index": 0, "id": "call_abc", "function": {"arguments": "{\\"query\\": \\"\\uc11c\\uc6b8\\"}", "name": "search"}, "type": "function"}]}, "response_metadata": {"finish_reason": "tool_calls", "model_name": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0ba0d124f1"}, "type": "AIMessageChunk", "name": null, "id": "run-1b2c3d", "example": false, "tool_calls": [{"name": "search", "args": {"query": "\\uc11c\\uc6b8"}, "id": "call_abc", "type": "tool_call"}], "invalid_tool_calls": [], "usage_metadata": null, "tool_call_chunks": [{"name": "search", "args": "{\\"query\\": \\"\\uc11c\\uc6b8\\"}", "id": "call_abc", "index": 0, "type": "tool_call_chunk"}]}}]}',
  stepsRow:
    '{"steps": [{"_type": "AgentStep", "_value": {"action": {"tool": "python_repl_ast", "tool_input": {"query": "df.head()"}, "log": "\\nInvoking: `python_repl_ast`\\n", "type": "AgentAction"}, "observation": {"_type": "DataFrame", "_value": {"price": {"2": 1.0, "0": 2.5, "10": NaN}, "name": {"2": "\\uc544\\uba54\\ub9ac\\uce74\\ub178", "0": "latte", "10": null}}}}}], "messages": [{"_type": "ToolMessage", "_value": {"content": "\\ub9d1\\uc74c, 21.5\\u00b0C", "additional_kwargs": {}, "response_metadata": {}, "type": "tool", "name": null, "id": null, "tool_call_id": "call_abc", "artifact": null, "status": "success"}}]}',
  unknown:
    '{"_type": "Decimal", "_value": {"10": 1, "2": [1e+16, -0.0, NaN, Infinity, 1.0, 1180591620717411303424], "digits": "1.50", "nested": {"_type": "bytes", "_value": "AA=="}}}',
  unknownFinite: '{"_type": "Point3D", "_value": {"x": 1.5, "y": -2, "z": "\\u00e9"}}'
} as const

const codec = MessageCodec.make()
const run = <A>(effect: Effect.Effect<A, MessageCodec.CodecError>): A => Effect.runSync(effect)

/** Fails the test unless `effect` fails with a CodecError (a defect or a success is a failure). */
const codecError = (effect: Effect.Effect<unknown, MessageCodec.CodecError>): MessageCodec.CodecError => {
  const exit = Effect.runSyncExit(effect)
  if (Exit.isSuccess(exit)) throw new Error(`expected a CodecError, got a value: ${String(exit.value)}`)
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (!(failure instanceof MessageCodec.CodecError)) throw new Error(`expected a CodecError, got ${String(exit.cause)}`)
  assert.isTrue(MessageCodec.isCodecError(failure))
  return failure
}

const roundTripText = (text: string) => {
  const value = run(codec.decodeString(text))
  assert.strictEqual(run(codec.encodeString(value)), text)
  return value
}

describe("MessageCodec", () => {
  describe("the seed's stored vectors", () => {
    for (const vector of fixture.vectors) {
      it.effect(`${vector.name}: decodes with every field and re-encodes byte-for-byte`, () =>
        Effect.gen(function* () {
          const codec = yield* MessageCodec.MessageCodec
          const value = yield* codec.decodeString(vector.stored)
          const Class: Function = vector.expect.class === "HumanMessage" ? HumanMessage : AIMessage
          assert.isTrue(value instanceof Class)
          const message = value as HumanMessage | AIMessage
          assert.strictEqual(message.constructor, Class)
          assert.strictEqual(message.content, vector.expect.content)
          assert.strictEqual(message.id, vector.expect.id)
          if ("name" in vector.expect) assert.strictEqual(message.name, vector.expect.name)
          assert.isNull(message.name)
          assert.deepStrictEqual(MessageCodec.extrasOf(message), { type: message.type, example: false })
          if (vector.expect.tool_calls !== undefined) {
            assert.deepStrictEqual((message as AIMessage).tool_calls, vector.expect.tool_calls)
          }
          if (vector.expect.usage_metadata !== undefined) {
            const usage = (message as AIMessage).usage_metadata as Record<string, unknown> | undefined
            assert.isDefined(usage)
            for (const [key, n] of Object.entries(vector.expect.usage_metadata)) {
              assert.strictEqual(usage?.[key], n)
            }
            assert.deepStrictEqual(usage?.input_token_details, { audio: 0, cache_read: 0 })
            assert.deepStrictEqual(usage?.output_token_details, { audio: 0, reasoning: 0 })
          }
          const json = yield* codec.encode(value)
          assert.deepStrictEqual(json, JSON.parse(vector.stored))
          assert.strictEqual(yield* codec.encodeString(value), vector.stored)
          // The parsed (not text) form decodes the same way, e.g. a PostgreSQL jsonb column.
          const fromJson = yield* codec.decode(JSON.parse(vector.stored))
          assert.deepStrictEqual(yield* codec.encode(fromJson), JSON.parse(vector.stored))
        }).pipe(Effect.provide(MessageCodec.layer))
      )
    }

    it("gives kinds and token counts for the store's columns", () => {
      const [human, ai] = fixture.vectors.map((v) => run(codec.decodeString(v.stored)))
      assert.strictEqual(MessageCodec.kindOf(human), "human")
      assert.strictEqual(MessageCodec.kindOf(ai), "ai")
      assert.deepStrictEqual(MessageCodec.tokensOf(human), { input: null, output: null })
      assert.deepStrictEqual(MessageCodec.tokensOf(ai), { input: 139, output: 14 })
    })

    it("re-encodes a message built from the decoded fields to the same JSON", () => {
      const ai = run(codec.decodeString(fixture.vectors[1]!.stored)) as AIMessage
      const rebuilt = new AIMessage({
        content: ai.content,
        id: ai.id!,
        additional_kwargs: {},
        response_metadata: {},
        tool_calls: [],
        invalid_tool_calls: [],
        usage_metadata: ai.usage_metadata!
      })
      assert.deepStrictEqual(run(codec.encode(rebuilt)), JSON.parse(fixture.vectors[1]!.stored))
    })
  })

  describe("messages", () => {
    it("a tagged value inside a message's fields is decoded too (the quick decode of plain messages skips only values without one)", () => {
      const text =
        '{"_type": "AIMessage", "_value": {"content": "hi", "additional_kwargs": {"raw": {"_type": "bytes", "_value": "aGk="}}, "response_metadata": {}, "type": "ai", "name": null, "id": null, "example": false, "tool_calls": [], "invalid_tool_calls": [], "usage_metadata": null}}'
      const value = run(codec.decodeString(text)) as AIMessage
      assert.instanceOf(value, AIMessage)
      assert.instanceOf(value.additional_kwargs.raw, Uint8Array)
      assert.strictEqual(run(codec.encodeString(value)), text)
      // the same message without it takes the quick decode and reads back the same
      const plain = text.replace('{"raw": {"_type": "bytes", "_value": "aGk="}}', "{}")
      const quick = run(codec.decodeString(plain)) as AIMessage
      assert.instanceOf(quick, AIMessage)
      assert.deepStrictEqual(quick.additional_kwargs, {})
      assert.strictEqual(quick.content, "hi")
      assert.strictEqual(run(codec.encodeString(quick)), plain)
    })

    it("SystemMessage", () => {
      const value = roundTripText(py.system)
      assert.instanceOf(value, SystemMessage)
      assert.strictEqual((value as SystemMessage).content, "You are a barista. 한국어로 답하세요.")
      assert.strictEqual(MessageCodec.kindOf(value), "system")
      // A message built in TypeScript gets pyhub's full shape and key order.
      assert.strictEqual(run(codec.encodeString(new SystemMessage("You are a barista. 한국어로 답하세요."))), py.system)
    })

    it("HumanMessage with multimodal content parts", () => {
      const value = roundTripText(py.humanMultimodal) as HumanMessage
      assert.instanceOf(value, HumanMessage)
      assert.deepStrictEqual(value.content, [
        { type: "text", text: "이 그림은?" },
        { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "auto" } }
      ])
      const built = new HumanMessage({
        content: [
          { type: "text", text: "이 그림은?" },
          { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "auto" } }
        ]
      })
      assert.strictEqual(run(codec.encodeString(built)), py.humanMultimodal)
    })

    it("AIMessage with tool calls, nested arguments, invalid tool calls and usage", () => {
      const value = roundTripText(py.aiTools) as AIMessage
      assert.instanceOf(value, AIMessage)
      assert.deepStrictEqual(value.tool_calls, [
        {
          name: "order",
          args: { drink: "라떼", size: { ml: 355, shots: 2 }, extras: ["🍪", null, true, 1e-5] },
          id: "call_1",
          type: "tool_call"
        }
      ])
      assert.strictEqual(value.invalid_tool_calls?.[0]?.error, "Malformed args.")
      assert.deepStrictEqual(MessageCodec.tokensOf(value), { input: 10, output: 5 })
      assert.strictEqual(MessageCodec.kindOf(value), "ai")
    })

    it("AIMessageChunk with tool call chunks", () => {
      const value = roundTripText(py.aiChunk) as AIMessageChunk
      assert.instanceOf(value, AIMessageChunk)
      assert.strictEqual(value.id, "run-1b2c3d")
      assert.deepStrictEqual(value.tool_calls, [
        { name: "search", args: { query: "서울" }, id: "call_abc", type: "tool_call" }
      ])
      assert.strictEqual(value.tool_call_chunks?.[0]?.args, '{"query": "서울"}')
      assert.strictEqual(MessageCodec.kindOf(value), "ai")
      const fresh = run(codec.encode(new AIMessageChunk({ content: "hi", id: "c1" }))) as any
      assert.strictEqual(fresh._type, "AIMessageChunk")
      assert.deepStrictEqual(Object.keys(fresh._value), [
        "content",
        "additional_kwargs",
        "response_metadata",
        "type",
        "name",
        "id",
        "example",
        "tool_calls",
        "invalid_tool_calls",
        "usage_metadata",
        "tool_call_chunks"
      ])
      assert.strictEqual(fresh._value.type, "AIMessageChunk")
    })

    it("ToolMessage", () => {
      const value = roundTripText(py.tool) as ToolMessage
      assert.instanceOf(value, ToolMessage)
      assert.strictEqual(value.tool_call_id, "call_abc")
      assert.strictEqual(value.status, "success")
      assert.strictEqual(MessageCodec.kindOf(value), "tool")
      assert.strictEqual(
        run(codec.encodeString(new ToolMessage({ content: "맑음, 21.5°C", tool_call_id: "call_abc" }))),
        py.tool
      )
      const withArtifact = new ToolMessage({
        content: "chart",
        tool_call_id: "c9",
        artifact: { png: new Uint8Array([1, 2, 3]) },
        status: "error"
      })
      const json = run(codec.encode(withArtifact)) as any
      assert.deepStrictEqual(json._value.artifact, { png: { _type: "bytes", _value: "AQID" } })
      const back = run(codec.decode(json)) as ToolMessage
      assert.deepStrictEqual(back.artifact, { png: new Uint8Array([1, 2, 3]) })
      assert.strictEqual(back.status, "error")
    })

    it("FunctionMessage", () => {
      const value = roundTripText(py.function) as FunctionMessage
      assert.instanceOf(value, FunctionMessage)
      assert.strictEqual(value.name, "weather")
      assert.strictEqual(MessageCodec.kindOf(value), "function")
      assert.strictEqual(
        run(codec.encodeString(new FunctionMessage({ content: '{"temp": 21.5}', name: "weather" }))),
        py.function
      )
    })

    it("keeps fields LangChain.js has no place for, in their stored order", () => {
      const stored =
        '{"_type": "HumanMessage", "_value": {"content": "hi", "additional_kwargs": {}, "response_metadata": {}, ' +
        '"type": "human", "name": "kim", "id": "m1", "example": true, "lang": "ko", "score": 1.0}}'
      const value = roundTripText(stored)
      assert.deepStrictEqual(MessageCodec.extrasOf(value), { type: "human", example: true, lang: "ko", score: 1 })
      assert.strictEqual((value as HumanMessage).name, "kim")
      // A change to a field LangChain.js models is written back, the extras stay.
      ;(value as HumanMessage).content = "hello"
      assert.strictEqual(run(codec.encodeString(value)), stored.replace('"content": "hi"', '"content": "hello"'))
    })

    it("writes a minimal stored message back without the fields it lacked", () => {
      const stored = { _type: "HumanMessage", _value: { content: "hi" } }
      const value = run(codec.decode(stored))
      assert.instanceOf(value, HumanMessage)
      assert.deepStrictEqual(run(codec.encode(value)), stored)
    })
  })

  describe("data values", () => {
    it("bytes", () => {
      const value = roundTripText(py.bytes)
      assert.instanceOf(value, Uint8Array)
      assert.deepStrictEqual(
        Array.from(value as Uint8Array),
        [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff]
      )
      assert.strictEqual(
        run(codec.encodeString(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0, 255]))),
        py.bytes
      )
      assert.strictEqual(MessageCodec.kindOf(value), "data")
      assert.deepStrictEqual(run(codec.encode(new Uint8Array([]))), { _type: "bytes", _value: "" })
    })

    it("DataFrame keeps pandas' column and index order, floats and NaN", () => {
      const value = roundTripText(py.dataFrame)
      assert.instanceOf(value, Table.DataFrame)
      const frame = value as Table.DataFrame
      assert.deepStrictEqual(frame.columns, ["price", "name"])
      assert.deepStrictEqual(frame.index, ["2", "0", "10"])
      assert.strictEqual(frame.get("price", "2"), 1)
      assert.isNaN(frame.get("price", "10") as number)
      assert.strictEqual(frame.get("name", "2"), "아메리카노")
      assert.isNull(frame.get("name", "10"))
      assert.deepStrictEqual(frame.column("name")?.values, ["아메리카노", "latte", null])
      assert.strictEqual(MessageCodec.kindOf(frame), "data")
      const built = Table.DataFrame.fromColumns({ qty: [1, 2], item: ["a", "b"] })
      assert.strictEqual(
        run(codec.encodeString(built)),
        '{"_type": "DataFrame", "_value": {"qty": {"0": 1, "1": 2}, "item": {"0": "a", "1": "b"}}}'
      )
    })

    it("Series keeps its index order", () => {
      const value = roundTripText(py.series)
      assert.instanceOf(value, Table.Series)
      const series = value as Table.Series
      assert.deepStrictEqual(series.index, ["b", "3", "a"])
      assert.deepStrictEqual(series.values, [2, "x", 1])
      assert.strictEqual(series.get("3"), "x")
      assert.strictEqual(
        run(codec.encodeString(Table.Series.fromArray([10, 20]))),
        '{"_type": "Series", "_value": {"0": 10, "1": 20}}'
      )
    })

    it("ToolAgentAction with its message log", () => {
      const value = roundTripText(py.toolAgentAction)
      assert.instanceOf(value, AgentStep.ToolAgentAction)
      const action = value as AgentStep.ToolAgentAction
      assert.instanceOf(action, AgentStep.AgentActionMessageLog)
      assert.instanceOf(action, AgentStep.AgentAction)
      assert.strictEqual(action.tool, "search")
      assert.deepStrictEqual(action.toolInput, { query: "서울" })
      assert.strictEqual(action.toolCallId, "call_abc")
      assert.strictEqual(action.messageLog.length, 1)
      assert.instanceOf(action.messageLog[0], AIMessageChunk)
      assert.strictEqual(MessageCodec.kindOf(action), "data")
      const built = new AgentStep.ToolAgentAction({
        tool: "search",
        toolInput: { query: "서울" },
        log: "\nInvoking: `search` with `{'query': '서울'}`\n\n\n",
        messageLog: [action.messageLog[0]!],
        toolCallId: "call_abc"
      })
      assert.strictEqual(run(codec.encodeString(built)), py.toolAgentAction)
    })

    it("AgentActionMessageLog", () => {
      const value = roundTripText(py.agentActionMessageLog)
      assert.instanceOf(value, AgentStep.AgentActionMessageLog)
      assert.notInstanceOf(value, AgentStep.ToolAgentAction)
    })

    it("AgentStep with a DataFrame or bytes observation", () => {
      const value = roundTripText(py.agentStep)
      assert.instanceOf(value, AgentStep.AgentStep)
      const step = value as AgentStep.AgentStep
      assert.instanceOf(step.action, AgentStep.AgentAction)
      assert.strictEqual(step.action.tool, "python_repl_ast")
      assert.instanceOf(step.observation, Table.DataFrame)
      const withBytes = roundTripText(py.agentStepBytes) as AgentStep.AgentStep
      assert.instanceOf(withBytes.observation, Uint8Array)
      assert.strictEqual(withBytes.action.toolInput, "hist")
    })

    it("AgentStep of a ToolAgentAction is written as pydantic dumps it (AgentAction fields, pyhub's type)", () => {
      const action = run(codec.decodeString(py.toolAgentAction)) as AgentStep.ToolAgentAction
      const step = new AgentStep.AgentStep({ action, observation: "맑음" })
      assert.deepStrictEqual(run(codec.encode(step)), {
        _type: "AgentStep",
        _value: {
          action: { tool: "search", tool_input: { query: "서울" }, log: action.log, type: "AgentAction" },
          observation: "맑음"
        }
      })
    })

    it("pyhub's tool-output rows: plain objects holding tagged values", () => {
      const actions = roundTripText(py.actionsRow) as { actions: Array<unknown>; messages: Array<unknown> }
      assert.instanceOf(actions.actions[0], AgentStep.ToolAgentAction)
      assert.instanceOf(actions.messages[0], AIMessageChunk)
      assert.strictEqual(MessageCodec.kindOf(actions), "data")
      const steps = roundTripText(py.stepsRow) as { steps: Array<unknown>; messages: Array<unknown> }
      assert.instanceOf(steps.steps[0], AgentStep.AgentStep)
      assert.instanceOf(steps.messages[0], ToolMessage)
    })

    it("plain JSON passes through untagged, in Python's text format", () => {
      const value = { a: 1, b: [true, null, "x", 1.5], c: {} }
      assert.deepStrictEqual(run(codec.encode(value)), value)
      assert.deepStrictEqual(run(codec.decode(value)), value)
      assert.strictEqual(run(codec.encodeString(value)), '{"a": 1, "b": [true, null, "x", 1.5], "c": {}}')
      assert.strictEqual(run(codec.encodeString("plain")), '"plain"')
      assert.deepStrictEqual(run(codec.decodeString("[1, 2]")), [1, 2])
      assert.strictEqual(MessageCodec.kindOf("text"), "data")
    })
  })

  describe("unknown _type", () => {
    it("decodes to an opaque value that is written back byte-for-byte", () => {
      const value = roundTripText(py.unknown)
      assert.instanceOf(value, Opaque.OpaqueValue)
      const opaque = value as Opaque.OpaqueValue
      assert.strictEqual(opaque._type, "Decimal")
      // Nested tags inside an opaque value are kept as they were, not decoded.
      assert.deepStrictEqual((opaque._value as any).nested, { _type: "bytes", _value: "AA==" })
      assert.strictEqual(MessageCodec.kindOf(opaque), "unknown")
      // A bare float `_value` keeps Python's form through the rebuilt envelope.
      assert.strictEqual((roundTripText('{"_type": "Decimal", "_value": 166.0}') as Opaque.OpaqueValue)._value, 166)
      const finite = roundTripText(py.unknownFinite)
      assert.deepStrictEqual(run(codec.encode(finite)), JSON.parse(py.unknownFinite))
      assert.deepStrictEqual(run(codec.encode(new Opaque.OpaqueValue({ _type: "X", _value: [1] }))), {
        _type: "X",
        _value: [1]
      })
    })
  })

  describe("user-registered types", () => {
    class Point extends Schema.Class<Point>("Point")({ x: Schema.Number, y: Schema.Number }) {}
    class Money {
      constructor(
        readonly amount: string,
        readonly currency: string
      ) {}
    }
    const MoneyCodec: MessageCodec.TypeCodec<Money> = {
      type: "Money",
      is: (u): u is Money => u instanceof Money,
      encode: (m) => ({ amount: m.amount, currency: m.currency }),
      decode: (v) => {
        const r = v as { amount?: unknown; currency?: unknown }
        return typeof r?.amount === "string" && typeof r.currency === "string"
          ? Effect.succeed(new Money(r.amount, r.currency))
          : Effect.fail(
              new MessageCodec.CodecError({ direction: "decode", detail: "amount and currency must be strings" })
            )
      }
    }
    const custom = MessageCodec.layerWith({ types: [MessageCodec.fromSchema("Point", Point), MoneyCodec] })

    it.layer(custom)((it) => {
      it.effect("encode and decode through the layer, also nested", () =>
        Effect.gen(function* () {
          const codec = yield* MessageCodec.MessageCodec
          const text = yield* codec.encodeString({ at: new Point({ x: 1, y: 2.5 }), price: new Money("4.50", "KRW") })
          assert.strictEqual(
            text,
            '{"at": {"_type": "Point", "_value": {"x": 1, "y": 2.5}}, ' +
              '"price": {"_type": "Money", "_value": {"amount": "4.50", "currency": "KRW"}}}'
          )
          const back = (yield* codec.decodeString(text)) as { at: Point; price: Money }
          assert.instanceOf(back.at, Point)
          assert.strictEqual(back.at.y, 2.5)
          assert.instanceOf(back.price, Money)
          assert.strictEqual(back.price.currency, "KRW")
          // Built-ins still work beside user types.
          assert.instanceOf(yield* codec.decodeString(fixture.vectors[0]!.stored), HumanMessage)
          const bad = yield* Effect.flip(codec.decode({ _type: "Money", _value: { amount: 4 } }))
          assert.strictEqual(bad.type, "Money")
          assert.strictEqual(bad.direction, "decode")
          const badPoint = yield* Effect.flip(codec.decode({ _type: "Point", _value: { x: "1" } }))
          assert.strictEqual(badPoint.type, "Point")
        })
      )
    })

    it.effect("the default layer does not know them", () =>
      Effect.gen(function* () {
        const codec = yield* MessageCodec.MessageCodec
        const error = yield* Effect.flip(codec.encode(new Money("1", "KRW")))
        assert.strictEqual(error.direction, "encode")
        const opaque = yield* codec.decode({ _type: "Money", _value: { amount: "1", currency: "KRW" } })
        assert.instanceOf(opaque, Opaque.OpaqueValue)
      }).pipe(Effect.provide(MessageCodec.layer))
    )

    it("a user codec for a built-in _type takes precedence", () => {
      const upper: MessageCodec.TypeCodec<string> = {
        type: "bytes",
        is: (u): u is string => false,
        encode: (s) => s,
        decode: (v) => Effect.succeed(String(v).toUpperCase())
      }
      const custom = MessageCodec.make({ types: [upper] })
      assert.strictEqual(run(custom.decode({ _type: "bytes", _value: "abc" })), "ABC")
    })

    it("a misbehaving user codec gives a CodecError, not a crash", () => {
      const broken: MessageCodec.TypeCodec<Money> = {
        type: "Money",
        is: (u): u is Money => u instanceof Money,
        encode: () => {
          throw new Error("boom")
        },
        decode: () => Effect.die("boom")
      }
      const custom = MessageCodec.make({ types: [broken] })
      assert.include(codecError(custom.encode(new Money("1", "KRW"))).detail, "boom")
      assert.strictEqual(codecError(custom.decode({ _type: "Money", _value: {} })).type, "Money")
      const loops: MessageCodec.TypeCodec<Money> = {
        type: "Loop",
        is: (u): u is Money => u instanceof Money,
        encode: (m) => ({ again: m }),
        decode: (v) => Effect.succeed(v as Money)
      }
      assert.strictEqual(
        codecError(MessageCodec.make({ types: [loops] }).encode(new Money("1", "K"))).direction,
        "encode"
      )
    })
  })

  describe("bad input gives a CodecError and never throws", () => {
    const decodeCases: ReadonlyArray<readonly [string, unknown, string | undefined]> = [
      ["missing _type", { _value: { content: "hi" } }, undefined],
      ["missing _value", { _type: "HumanMessage" }, "HumanMessage"],
      ["_type not a string", { _type: 7, _value: {} }, undefined],
      ["extra keys beside the envelope", { _type: "bytes", _value: "AA==", more: 1 }, "bytes"],
      ["HumanMessage content 42", { _type: "HumanMessage", _value: { content: 42 } }, "HumanMessage"],
      ["HumanMessage _value not an object", { _type: "HumanMessage", _value: "hi" }, "HumanMessage"],
      [
        "HumanMessage with the wrong type field",
        { _type: "HumanMessage", _value: { content: "hi", type: "ai" } },
        "HumanMessage"
      ],
      [
        "AIMessage additional_kwargs an array",
        { _type: "AIMessage", _value: { content: "", additional_kwargs: [] } },
        "AIMessage"
      ],
      [
        "AIMessage tool_calls not an array",
        { _type: "AIMessage", _value: { content: "", tool_calls: {} } },
        "AIMessage"
      ],
      [
        "AIMessage tool call without a name",
        { _type: "AIMessage", _value: { content: "", tool_calls: [{ args: {}, id: "1" }] } },
        "AIMessage"
      ],
      [
        "AIMessage usage with text tokens",
        {
          _type: "AIMessage",
          _value: { content: "", usage_metadata: { input_tokens: "1", output_tokens: 1, total_tokens: 2 } }
        },
        "AIMessage"
      ],
      ["ToolMessage without tool_call_id", { _type: "ToolMessage", _value: { content: "42" } }, "ToolMessage"],
      [
        "ToolMessage with a bad status",
        { _type: "ToolMessage", _value: { content: "42", tool_call_id: "c", status: "done" } },
        "ToolMessage"
      ],
      ["bytes that are not base64", { _type: "bytes", _value: "not base64!" }, "bytes"],
      ["bytes that are a number", { _type: "bytes", _value: 42 }, "bytes"],
      ["DataFrame as an array", { _type: "DataFrame", _value: [1, 2] }, "DataFrame"],
      ["DataFrame column not an object", { _type: "DataFrame", _value: { a: 1 } }, "DataFrame"],
      ["Series as a string", { _type: "Series", _value: "x" }, "Series"],
      ["AgentStep without action", { _type: "AgentStep", _value: { observation: "x" } }, "AgentStep"],
      [
        "ToolAgentAction with an unknown message type",
        {
          _type: "ToolAgentAction",
          _value: {
            tool: "t",
            tool_input: "",
            log: "",
            message_log: [{ content: "", type: "alien" }],
            tool_call_id: "c"
          }
        },
        "ToolAgentAction"
      ],
      [
        "a broken tag nested in plain JSON",
        { rows: [{ _type: "HumanMessage", _value: { content: null } }] },
        "HumanMessage"
      ],
      ["a value that is not JSON", new Date(0), undefined],
      ["undefined", undefined, undefined]
    ]
    for (const [name, input, type] of decodeCases) {
      it(`decode: ${name}`, () => {
        const error = codecError(codec.decode(input))
        assert.strictEqual(error.direction, "decode")
        assert.strictEqual(error.type, type)
        assert.isTrue(error.detail.length > 0)
        assert.include(error.message, error.detail)
      })
    }

    const textCases: ReadonlyArray<readonly [string, string]> = [
      ["malformed JSON", "not json"],
      ["empty text", ""],
      ["truncated", '{"_type": "HumanMessage"'],
      ["trailing garbage", "{} x"],
      ["a raw control character in a string", '"a\u0001b"'],
      ["deep nesting", "[".repeat(100_000)],
      ["a broken _value", '{"_type": "HumanMessage", "_value": {"content": 42}}']
    ]
    for (const [name, text] of textCases) {
      it(`decodeString: ${name}`, () => {
        assert.strictEqual(codecError(codec.decodeString(text)).direction, "decode")
      })
    }

    class Unregistered {
      readonly n = 1
    }
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const encodeCases: ReadonlyArray<readonly [string, unknown]> = [
      ["a function", () => 1],
      ["a symbol", Symbol("s")],
      ["an unregistered class instance", new Unregistered()],
      ["undefined", undefined],
      ["a bigint", 10n],
      ["a function nested in plain JSON", { a: [1, { f: () => 1 }] }],
      ["a Map", new Map([["a", 1]])],
      ["a cycle", cyclic]
    ]
    for (const [name, value] of encodeCases) {
      it(`encode: ${name}`, () => {
        assert.strictEqual(codecError(codec.encode(value)).direction, "encode")
        assert.strictEqual(codecError(codec.encodeString(value)).direction, "encode")
      })
    }
  })

  describe("encodeString writes Python's json.dumps text", () => {
    it("escapes like ensure_ascii, including astral characters as surrogate pairs", () => {
      assert.strictEqual(
        run(codec.encodeString({ k: 'é😀\n\u0001\u007f"\\/\t\b\f\r' })),
        '{"k": "\\u00e9\\ud83d\\ude00\\n\\u0001\\u007f\\"\\\\/\\t\\b\\f\\r"}'
      )
      assert.strictEqual(run(codec.encodeString("\ud800")), '"\\ud800"')
    })

    it("writes numbers as Python's repr does", () => {
      // Each expected text is CPython's json.dumps of the same float.
      const cases: ReadonlyArray<readonly [number, string]> = [
        [0.1, "0.1"],
        [1e-5, "1e-05"],
        [0.0001, "0.0001"],
        [1.5e300, "1.5e+300"],
        [123456789.125, "123456789.125"],
        [-2.5e-7, "-2.5e-07"],
        [1234567890123456.8, "1234567890123456.8"],
        [5e-324, "5e-324"],
        [-0, "-0.0"],
        [NaN, "NaN"],
        [Infinity, "Infinity"],
        [-Infinity, "-Infinity"],
        [42, "42"],
        [Number.MAX_SAFE_INTEGER, "9007199254740991"],
        [1e16, "1e+16"],
        [2 ** 70, "1.1805916207174113e+21"]
      ]
      for (const [n, text] of cases) assert.strictEqual(run(codec.encodeString([n])), `[${text}]`, String(n))
    })

    it("writes floats across the whole range as CPython's json.dumps does", () => {
      // [value, CPython's json.dumps(value)] for floats from 1e-264 to 1e+160, generated with CPython 3.
      const table: ReadonlyArray<readonly [number, string]> = [
        [5.071415981588368e-30, "5.071415981588368e-30"],
        [6.037951474724464e-27, "6.037951474724464e-27"],
        [9.317895256213563e-24, "9.317895256213563e-24"],
        [5.19085063089796e-21, "5.19085063089796e-21"],
        [5.570571457560441e-18, "5.570571457560441e-18"],
        [6.286463459649074e-15, "6.286463459649074e-15"],
        [2.6619430946938897e-12, "2.6619430946938897e-12"],
        [5.60717775137625e-9, "5.60717775137625e-09"],
        [6.668944481951217e-6, "6.668944481951217e-06"],
        [0.008136791852679574, "0.008136791852679574"],
        [1.8471111060629664, "1.8471111060629664"],
        [3730.6113636207297, "3730.6113636207297"],
        [1816034.8374265544, "1816034.8374265544"],
        [8286800809.304598, "8286800809.304598"],
        [7240946342871.152, "7240946342871.152"],
        [1376923027328614.2, "1376923027328614.2"],
        [9.839740787189004e18, "9.839740787189004e+18"],
        [9.6828200301301e21, "9.6828200301301e+21"],
        [6.885302801804565e24, "6.885302801804565e+24"],
        [6.540064341207137e27, "6.540064341207137e+27"],
        [2.417446856261462e30, "2.417446856261462e+30"],
        [-1.1547680013076696e101, "-1.1547680013076696e+101"],
        [8.88116792998917e-231, "8.88116792998917e-231"],
        [1.0259476444142278e-264, "1.0259476444142278e-264"],
        [-1.1937126864956989e160, "-1.1937126864956989e+160"],
        [-7.616900394922395e-186, "-7.616900394922395e-186"],
        [-9.404446511312006e34, "-9.404446511312006e+34"],
        [2.4990667113411633e94, "2.4990667113411633e+94"],
        [-1.6800925191972358e-196, "-1.6800925191972358e-196"],
        [7.688121853400444e-68, "7.688121853400444e-68"],
        [1.3722183439346506e-20, "1.3722183439346506e-20"],
        [0.5, "0.5"],
        [1.5, "1.5"],
        [100.25, "100.25"],
        [9007199254740992.0, "9007199254740992.0"],
        [1000000000000000.5, "1000000000000000.5"],
        [123456789012345.67, "123456789012345.67"],
        [0.30000000000000004, "0.30000000000000004"],
        [0.3333333333333333, "0.3333333333333333"],
        [2.5e-5, "2.5e-05"],
        [1e23, "1e+23"]
      ]
      for (const [n, text] of table) assert.strictEqual(run(codec.encodeString(n)), text)
    })

    it("reads what Python writes, and Python's number forms survive a round trip", () => {
      const value = roundTripText(
        "[1.0, 1e+16, 1180591620717411303424, -0.0, NaN, -Infinity, 1e400, 2.50e-3]"
      ) as Array<number>
      assert.strictEqual(value[0], 1)
      assert.strictEqual(value[1], 1e16)
      assert.strictEqual(value[2], 2 ** 70)
      assert.isTrue(Object.is(value[3], -0))
      assert.isNaN(value[4])
      assert.strictEqual(value[5], -Infinity)
      assert.strictEqual(value[6], Infinity)
      assert.strictEqual(value[7], 0.0025)
      // JSON produced elsewhere (no spaces) is rewritten in Python's format.
      assert.strictEqual(
        run(codec.encodeString(run(codec.decodeString('{"a":[1,2],"b":"\u00e9"}')))),
        '{"a": [1, 2], "b": "\\u00e9"}'
      )
    })
  })
})
