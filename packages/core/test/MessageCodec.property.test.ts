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
import fc from "fast-check"
import * as AgentStep from "../src/AgentStep.js"
import * as MessageCodec from "../src/MessageCodec.js"
import * as Table from "../src/Table.js"

const codec = MessageCodec.make()
const run = <A>(effect: Effect.Effect<A, MessageCodec.CodecError>): A => Effect.runSync(effect)

// Any UTF-16 text: astral characters, lone surrogates, and (often, since "binary" rarely picks
// them) ASCII, control characters, DEL and Latin-1.
const lowUnit = fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c))
const anyText = (maxLength?: number) =>
  fc.oneof(
    fc.string({ unit: "binary", ...(maxLength === undefined ? {} : { maxLength }) }),
    fc.string({ unit: lowUnit, ...(maxLength === undefined ? {} : { maxLength }) })
  )
const text = anyText(24)
const nullable = <A>(arb: fc.Arbitrary<A>) => fc.option(arb, { nil: null })
const json = fc.jsonValue({ maxDepth: 3 })
const args = fc.dictionary(text, json, { maxKeys: 4 })
// Cells as pandas writes them: floats (NaN, infinities, -0.0 included), ints, text, None, bools.
const cell = fc.oneof(fc.double(), fc.integer(), text, fc.constant(null), fc.boolean())
const finiteCell = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), text, fc.constant(null))
// Index labels as JSON writes them: numeric labels become text, so "10" may come before "2".
const label = fc.oneof(text, fc.nat().map(String))

const contentPart = fc.oneof(
  fc.record({ type: fc.constant("text"), text }),
  fc.record({
    type: fc.constant("image_url"),
    image_url: fc.record({
      url: fc.base64String().map((b) => `data:image/png;base64,${b}`),
      detail: fc.constant("auto")
    })
  })
)
const content = fc.oneof(text, fc.array(contentPart, { maxLength: 3 }))
const toolCall = fc.record({ name: text, args, id: nullable(text), type: fc.constant("tool_call" as const) })
const usage = fc
  .record({
    input_tokens: fc.nat(),
    output_tokens: fc.nat(),
    details: fc.option(fc.record({ audio: fc.nat(), cache_read: fc.nat() }), { nil: undefined })
  })
  .map(({ details, input_tokens, output_tokens }) => ({
    input_tokens,
    output_tokens,
    total_tokens: input_tokens + output_tokens,
    ...(details === undefined ? {} : { input_token_details: details })
  }))

const message = fc.oneof(
  fc.record({ content, name: nullable(text), id: nullable(text) }).map((f) => new HumanMessage(f as any)),
  fc.record({ content: text, id: nullable(text) }).map((f) => new SystemMessage(f as any)),
  fc
    .record({ content, id: nullable(text), tool_calls: fc.array(toolCall, { maxLength: 3 }), usage_metadata: usage })
    .map((f) => new AIMessage({ ...f, additional_kwargs: {}, response_metadata: {} } as any)),
  fc
    .record({ content: text, id: nullable(text), tool_calls: fc.array(toolCall, { maxLength: 2 }) })
    .map((f) => new AIMessageChunk(f as any)),
  fc
    .record({
      content: text,
      tool_call_id: text,
      artifact: json,
      status: fc.constantFrom("success" as const, "error" as const)
    })
    .map((f) => new ToolMessage(f)),
  fc.record({ content: text, name: text }).map((f) => new FunctionMessage(f))
)

const series = (cells: fc.Arbitrary<unknown>) =>
  fc
    .uniqueArray(fc.tuple(label, cells), { selector: ([k]) => k, maxLength: 6 })
    .map((entries) => new Table.Series(entries))
const dataFrame = (cells: fc.Arbitrary<unknown>) =>
  fc
    .tuple(
      fc.uniqueArray(label, { maxLength: 4 }),
      fc.uniqueArray(text, { minLength: 1, maxLength: 4 }),
      fc.array(fc.array(cells, { minLength: 4, maxLength: 4 }), { minLength: 4, maxLength: 4 })
    )
    .map(
      ([index, columns, cells]) =>
        new Table.DataFrame(
          columns.map((c, j) => [c, new Table.Series(index.map((i, k) => [i, cells[j]![k]] as const))] as const)
        )
    )

const action = fc
  .record({ tool: text, toolInput: fc.oneof(text, args), log: text })
  .map((f) => new AgentStep.AgentAction(f))
const agentStep = fc
  .record({ action, observation: fc.oneof(text, fc.uint8Array({ maxLength: 16 }), series(finiteCell), json) })
  .map((f) => new AgentStep.AgentStep(f))
const toolAgentAction = fc
  .record({ tool: text, toolInput: args, log: text, messageLog: fc.array(message, { maxLength: 2 }), toolCallId: text })
  .map((f) => new AgentStep.ToolAgentAction(f))

/** decode(encode(x)) and decodeString(encodeString(x)) give back values that encode to the same JSON. */
const roundTrips = (value: unknown) => {
  const encoded = run(codec.encode(value))
  assert.deepStrictEqual(run(codec.encode(run(codec.decode(encoded)))), encoded)
  const textForm = run(codec.encodeString(value))
  assert.match(textForm, /^[\x20-\x7e]*$/, "Python's ensure_ascii output is pure ASCII")
  const decoded = run(codec.decodeString(textForm))
  assert.deepStrictEqual(run(codec.encode(decoded)), encoded)
  assert.strictEqual(run(codec.encodeString(decoded)), textForm)
  return { encoded, textForm }
}

/** For values without NaN or infinities the text is also standard JSON. */
const roundTripsAsJson = (value: unknown): void => {
  const { encoded, textForm } = roundTrips(value)
  assert.deepStrictEqual(JSON.parse(textForm), encoded)
}

describe("MessageCodec properties", () => {
  it("any text survives encodeString as Python escapes it", () => {
    fc.assert(
      fc.property(anyText(), (s) => {
        const out = run(codec.encodeString(s))
        assert.match(out, /^"[\x20-\x7e]*"$/)
        assert.strictEqual(JSON.parse(out), s)
        assert.strictEqual(run(codec.decodeString(out)), s)
      }),
      { numRuns: 300 }
    )
  })

  it("messages with any text, tool calls with nested arguments and usage round-trip", () => {
    fc.assert(fc.property(message, roundTripsAsJson), { numRuns: 300 })
  })

  it("bytes round-trip", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        roundTripsAsJson(bytes)
        const back = run(codec.decode(run(codec.encode(bytes))))
        assert.deepStrictEqual(Array.from(back as Uint8Array), Array.from(bytes))
      }),
      { numRuns: 200 }
    )
  })

  it("Series and DataFrame tables round-trip, NaN and -0.0 included", () => {
    fc.assert(
      fc.property(fc.oneof(series(cell), dataFrame(cell)), (t) => void roundTrips(t)),
      { numRuns: 300 }
    )
    fc.assert(fc.property(fc.oneof(series(finiteCell), dataFrame(finiteCell)), roundTripsAsJson), { numRuns: 200 })
  })

  it("tables keep their index order through text", () => {
    fc.assert(
      fc.property(series(cell), (s) => {
        const back = run(codec.decodeString(run(codec.encodeString(s)))) as Table.Series
        assert.deepStrictEqual(back.index, s.index)
      }),
      { numRuns: 200 }
    )
  })

  it("agent steps and tool agent actions round-trip", () => {
    fc.assert(fc.property(fc.oneof(agentStep, toolAgentAction), roundTripsAsJson), { numRuns: 200 })
  })

  it("plain JSON and plain containers of tagged values round-trip", () => {
    fc.assert(fc.property(json, roundTripsAsJson), { numRuns: 300 })
    fc.assert(
      fc.property(
        fc.dictionary(text, fc.oneof(message, fc.uint8Array({ maxLength: 8 }), json), { maxKeys: 4 }),
        roundTripsAsJson
      ),
      { numRuns: 150 }
    )
  })
})
