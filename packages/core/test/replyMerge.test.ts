import { assert, describe, it } from "@effect/vitest"
import { AIMessageChunk } from "@langchain/core/messages"
import fc from "fast-check"
import { ReplyMerge } from "../src/internal/replyMerge.js"

// plain records: with @langchain/core 1.4 under this compiler the fields' `usage_metadata` types as `never`
type Fields = Record<string, unknown>
const chunkOf = (fields: Fields): AIMessageChunk =>
  new AIMessageChunk(fields as unknown as ConstructorParameters<typeof AIMessageChunk>[0])

/** What a stored reply is made of (toAIMessage reads these). */
const view = (chunk: AIMessageChunk | undefined) =>
  chunk === undefined
    ? undefined
    : {
        content: chunk.content,
        id: chunk.id,
        additional_kwargs: chunk.additional_kwargs,
        response_metadata: chunk.response_metadata,
        tool_calls: chunk.tool_calls,
        invalid_tool_calls: chunk.invalid_tool_calls,
        tool_call_chunks: chunk.tool_call_chunks,
        usage_metadata: chunk.usage_metadata
      }

const fold = (chunks: ReadonlyArray<AIMessageChunk>): AIMessageChunk | undefined =>
  chunks.length === 0 ? undefined : chunks.reduce((a, b) => a.concat(b))

// chunk shapes real providers stream: plain text; OpenAI's (an id on every chunk, `prompt`/`completion`
// indices, `model_provider`, an empty `usage`); a finish chunk; usage; tool call fragments; content blocks
const text = fc.string({ maxLength: 3 })
const shape: fc.Arbitrary<Fields> = fc.oneof(
  text.map((content) => ({ content })),
  fc.record({ content: text, id: fc.constantFrom("chatcmpl-1", "chatcmpl-2") }).map((fields) => ({
    ...fields,
    response_metadata: { prompt: 0, completion: 0, model_provider: "openai", usage: {} }
  })),
  fc
    .record({ content: text, n: fc.integer({ min: 0, max: 2 }), reasoning: fc.constantFrom("", "r") })
    .map(({ content, n, reasoning }) => ({
      content,
      response_metadata: { index: n, created: 17, tokens: n, nested: { count: n, list: reasoning === "" ? [] : [n] } },
      additional_kwargs: { reasoning }
    })),
  fc.constantFrom("stop", "length", "").map((finish_reason) => ({
    content: "",
    response_metadata: { finish_reason, model_name: "gpt", model_provider: "openai" }
  })),
  fc.nat({ max: 5 }).map((tokens) => ({
    content: "",
    usage_metadata: { input_tokens: tokens, output_tokens: tokens, total_tokens: 2 * tokens }
  })),
  fc.record({ index: fc.nat({ max: 1 }), args: fc.constantFrom("", "{", '"a":1', "}") }).map(({ index, args }) => ({
    content: "",
    tool_call_chunks: [
      { type: "tool_call_chunk" as const, index, ...(args === "" ? { id: `c${index}`, name: "f" } : {}), args }
    ]
  })),
  text.map((t) => ({ content: [{ type: "text" as const, text: t }] }))
)

describe("ReplyMerge", () => {
  it("merges to what LangChain's own fold gives, read at any point", () => {
    fc.assert(
      fc.property(
        fc.array(shape, { maxLength: 30 }),
        fc.array(fc.nat({ max: 30 }), { maxLength: 3 }),
        (fields, reads) => {
          const chunks = fields.map(chunkOf)
          const merge = new ReplyMerge()
          chunks.forEach((chunk, i) => {
            merge.add(chunk)
            // a checkpoint reads the reply mid-stream; the merge goes on after it
            if (reads.includes(i)) assert.deepStrictEqual(view(merge.merged()), view(fold(chunks.slice(0, i + 1))))
          })
          assert.strictEqual(merge.count, chunks.length)
          assert.deepStrictEqual(view(merge.merged()), view(fold(chunks)))
        }
      ),
      { numRuns: 500 }
    )
  })

  it("joins a text-only reply into one message, whatever its length", () => {
    const merge = new ReplyMerge()
    for (let i = 0; i < 200; i++) merge.add(new AIMessageChunk({ content: `w${i} ` }))
    const reply = merge.merged()!
    assert.strictEqual(reply.content, Array.from({ length: 200 }, (_, i) => `w${i} `).join(""))
    assert.strictEqual(merge.merged(), reply)
  })

  it("fails as LangChain does on metadata of two types", () => {
    const merge = new ReplyMerge()
    merge.add(new AIMessageChunk({ content: "a", response_metadata: { x: "s" } }))
    assert.throws(() => merge.add(new AIMessageChunk({ content: "b", response_metadata: { x: 1 } })), /different type/)
  })
})
