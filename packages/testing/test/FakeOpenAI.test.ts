import * as LlmModels from "@convo/core/LlmModels"
import * as FakeOpenAI from "@convo/testing/FakeOpenAI"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { assert, describe, it } from "@effect/vitest"
import {
  AIMessage,
  type AIMessageChunk,
  type BaseMessage,
  HumanMessage,
  SystemMessage,
  ToolMessage,
  type UsageMetadata
} from "@langchain/core/messages"
import { ChatOpenAI } from "@langchain/openai"
import * as Effect from "effect/Effect"

// `usage_metadata` types as `never` with @langchain/core 1.4 under this compiler: read it through this.
const usageOf = (message: BaseMessage) => (message as { usage_metadata?: UsageMetadata }).usage_metadata

const prompt = [new SystemMessage("You are a language tutor."), new HumanMessage("첫 문장으로 대화를 시작해주세요.")]
const promptChars = "You are a language tutor.첫 문장으로 대화를 시작해주세요."

const client = (
  server: FakeOpenAI.FakeOpenAIServer,
  fields: Partial<ConstructorParameters<typeof ChatOpenAI>[0]> = {}
) =>
  new ChatOpenAI({
    model: "gpt-4o",
    apiKey: "sk-fake",
    configuration: { baseURL: server.baseURL },
    maxRetries: 0,
    streamUsage: true,
    ...fields
  })

type Streamable = { stream: (input: Array<BaseMessage>) => Promise<AsyncIterable<AIMessageChunk>> }

const collect = (model: Streamable, messages: Array<BaseMessage> = prompt) =>
  Effect.promise(async () => {
    const chunks: Array<AIMessageChunk> = []
    let error: unknown = undefined
    try {
      for await (const chunk of await model.stream(messages)) chunks.push(chunk)
    } catch (e) {
      error = e
    }
    const contents = chunks.map((c) => c.content as string).filter((c) => c !== "")
    const total = chunks.length === 0 ? undefined : chunks.reduce((a, b) => a.concat(b))
    return { chunks, contents, total, error }
  })

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather of a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
  }
}

/** Raw SSE `data:` payloads of a streamed response. */
const sseEvents = (text: string) =>
  text
    .split("\n\n")
    .filter((block) => block.startsWith("data: "))
    .map((block) => block.slice("data: ".length))

describe("FakeOpenAI with the real ChatOpenAI", () => {
  it.scopedLive("streams text deltas whose concat is the full text, with usage from the usage chunk", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([ScriptedReply.text("你好！欢迎光临星巴克。", { chunks: 4 })])
      const { contents, total, error } = yield* collect(client(server, { temperature: 1, maxTokens: 256 }))
      assert.isUndefined(error)
      assert.deepStrictEqual(contents, ["你好", "！欢迎", "光临星", "巴克。"])
      assert.strictEqual(total?.content, "你好！欢迎光临星巴克。")
      const usage = usageOf(total!)
      assert.strictEqual(usage?.input_tokens, ScriptedReply.roughTokens(promptChars))
      assert.strictEqual(usage?.output_tokens, ScriptedReply.roughTokens("你好！欢迎光临星巴克。"))
      assert.strictEqual(usage?.total_tokens, usage!.input_tokens + usage!.output_tokens)
      assert.strictEqual(total?.response_metadata["finish_reason"], "stop")

      const [request] = yield* server.requests
      assert.strictEqual(request?.path, "/v1/chat/completions")
      assert.strictEqual(request?.headers["authorization"], "Bearer sk-fake")
      const body = request!.body!
      assert.strictEqual(body.model, "gpt-4o")
      assert.isTrue(body.stream)
      assert.deepStrictEqual(body.stream_options, { include_usage: true })
      assert.strictEqual(body.temperature, 1)
      assert.strictEqual(body.max_tokens, 256)
      assert.deepStrictEqual(
        body.messages.map((m) => [m.role, m.content]),
        [
          ["system", "You are a language tutor."],
          ["user", "첫 문장으로 대화를 시작해주세요."]
        ]
      )
    })
  )

  it.scopedLive("answers non-streaming requests with the whole message and usage", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([ScriptedReply.text("Hello there")])
      const message = yield* Effect.promise(() => client(server).invoke(prompt))
      assert.strictEqual(message.content, "Hello there")
      assert.strictEqual(usageOf(message)?.output_tokens, ScriptedReply.roughTokens("Hello there"))
      const [request] = yield* server.requests
      assert.notStrictEqual(request?.body?.stream, true)
    })
  )

  it.scopedLive("streams tool calls that assemble into tool_calls with parsed args", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([
        ScriptedReply.toolCalls(
          [
            { name: "get_weather", args: { city: "Seoul" } },
            { name: "get_weather", args: { city: "北京" } }
          ],
          { fragments: 5 }
        ),
        ScriptedReply.toolCalls([{ name: "get_weather", args: { city: "Busan" }, id: "call_fixed" }])
      ])
      const model = client(server).bindTools([weatherTool])
      const { total, error } = yield* collect(model)
      assert.isUndefined(error)
      assert.deepStrictEqual(
        total?.tool_calls?.map((c) => ({ id: c.id, name: c.name, args: c.args })),
        [
          { id: "call_1", name: "get_weather", args: { city: "Seoul" } },
          { id: "call_2", name: "get_weather", args: { city: "北京" } }
        ]
      )
      assert.strictEqual(total?.response_metadata["finish_reason"], "tool_calls")
      const [request] = yield* server.requests
      assert.strictEqual(request?.body?.tools?.[0]?.function.name, "get_weather")

      const invoked = yield* Effect.promise(() => model.invoke(prompt))
      assert.deepStrictEqual(invoked.tool_calls?.[0]?.args, { city: "Busan" })
      assert.strictEqual(invoked.tool_calls?.[0]?.id, "call_fixed")
    })
  )

  it.scopedLive("records tool results sent back in the next request", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([ScriptedReply.text("It is sunny in Seoul.")])
      const history = [
        ...prompt,
        new AIMessage({
          content: "",
          tool_calls: [{ id: "call_1", name: "get_weather", args: { city: "Seoul" }, type: "tool_call" }]
        }),
        new ToolMessage({ content: "sunny", tool_call_id: "call_1" })
      ]
      const { total } = yield* collect(client(server).bindTools([weatherTool]), history)
      assert.strictEqual(total?.content, "It is sunny in Seoul.")
      const messages = (yield* server.requests)[0]!.body!.messages
      assert.deepStrictEqual(
        messages.map((m) => m.role),
        ["system", "user", "assistant", "tool"]
      )
      assert.strictEqual(messages[2]?.tool_calls?.[0]?.function.arguments, '{"city":"Seoul"}')
      assert.strictEqual(messages[3]?.tool_call_id, "call_1")
    })
  )

  it.scopedLive("a scripted HTTP 500 surfaces as an error with its status", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([ScriptedReply.httpError(500)])
      const { chunks, error } = yield* collect(client(server))
      assert.strictEqual(chunks.length, 0)
      assert.isDefined(error)
      assert.strictEqual((error as { status?: number }).status, 500)
      assert.include(String((error as Error).message), "The server had an error")
      assert.strictEqual((yield* server.requests).length, 1, "maxRetries: 0 means one request")
    })
  )

  it.scopedLive(
    "with a context limit, a request too long for it is refused as OpenAI does (400 context_length_exceeded)",
    () =>
      Effect.gen(function* () {
        const server = yield* FakeOpenAI.make({ contextLimit: 200, defaultReply: ScriptedReply.text("fits") })
        // "hello" is 1 token in o200k_base: 3 (priming) + 3 + 1 ("user") + 1
        assert.strictEqual(
          yield* Effect.promise(() => FakeOpenAI.countTokens({ messages: [{ role: "user", content: "hello" }] })),
          8
        )
        const small = yield* collect(client(server, { maxTokens: 100 }))
        assert.isUndefined(small.error)
        assert.strictEqual(small.chunks.map((chunk) => chunk.content).join(""), "fits")
        const long = [new HumanMessage("word ".repeat(120))]
        const refused = yield* collect(client(server, { maxTokens: 100 }), long)
        // LangChain recognises the code and wraps the client's 400 as a ContextOverflowError
        assert.strictEqual((refused.error as Error).name, "ContextOverflowError")
        assert.strictEqual((refused.error as { cause?: { status?: number } }).cause?.status, 400)
        assert.include(String((refused.error as Error).message), "maximum context length is 200 tokens")
        const [, second] = yield* server.requests
        assert.strictEqual(JSON.parse(second!.raw).messages.length, 1)
        // the same request without the reply's tokens fits
        const fits = yield* collect(client(server, { maxTokens: 50 }), long)
        assert.isUndefined(fits.error)
      })
  )

  it.scopedLive("a connection broken mid-stream surfaces as an error after the first deltas", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([ScriptedReply.streamError(["Hello", " wor"], { chunkDelay: "5 millis" })])
      const { contents, error } = yield* collect(client(server))
      assert.deepStrictEqual(contents, ["Hello", " wor"])
      assert.isDefined(error, "the stream must fail, not end quietly")
    })
  )

  it.scopedLive("a delay before the first byte trips the client's timeout", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([ScriptedReply.text("late", { firstByteDelay: "5 seconds" })])
      const { chunks, error } = yield* collect(client(server, { timeout: 100 }))
      assert.strictEqual(chunks.length, 0)
      assert.isDefined(error)
      assert.match(String((error as Error).message), /time/i)
    })
  )

  it.scopedLive("gives the default reply when the queue is empty, and takes replies queued later", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make({ defaultReply: ScriptedReply.text("default!") })
      const model = client(server)
      assert.strictEqual((yield* Effect.promise(() => model.invoke(prompt))).content, "default!")
      yield* server.enqueue(ScriptedReply.text("queued"))
      assert.strictEqual(yield* server.pending, 1)
      assert.strictEqual((yield* Effect.promise(() => model.invoke(prompt))).content, "queued")
      yield* server.setDefaultReply(ScriptedReply.text("new default"))
      assert.strictEqual((yield* Effect.promise(() => model.invoke(prompt))).content, "new default")
      assert.strictEqual((yield* server.requests).length, 3)
    })
  )

  it.scopedLive("runs through the ChatModelFactory: key, base URL and the clamped maxTokens reach the server", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([ScriptedReply.text("from the factory"), ScriptedReply.text("compatible")])
      const factory = LlmModels.make({ openAiApiKey: "sk-factory", openAiBaseUrl: server.baseURL })
      const model = yield* factory.make({ model: LlmModels.openAiGpt4oMini, maxTokens: 1_000_000, maxRetries: 0 })
      const { total } = yield* collect(model)
      assert.strictEqual(total?.content, "from the factory")
      assert.isAbove(usageOf(total!)?.total_tokens ?? 0, 0)
      const compatible = LlmModels.openAiCompatible({ name: "llama3.2", baseURL: server.baseURL })
      const local = yield* LlmModels.make({}).make({ model: compatible, temperature: 0.3 })
      assert.strictEqual((yield* collect(local)).total?.content, "compatible")
      const [first, second] = yield* server.requests
      assert.strictEqual(first?.body?.max_tokens, 16_384)
      assert.strictEqual(first?.body?.model, "gpt-4o-mini")
      assert.strictEqual(first?.headers["authorization"], "Bearer sk-factory")
      assert.strictEqual(second?.body?.model, "llama3.2")
      assert.strictEqual(second?.body?.temperature, 0.3)
    })
  )
})

describe("FakeOpenAI wire format", () => {
  const post = (server: FakeOpenAI.FakeOpenAIServer, body: unknown, path = "/chat/completions") =>
    Effect.promise(async () => {
      const response = await fetch(server.baseURL + path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body)
      })
      return { status: response.status, type: response.headers.get("content-type"), text: await response.text() }
    })

  it.scopedLive("streams OpenAI's exact chunk shapes, a usage chunk, then [DONE]", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([ScriptedReply.text(["Hi", "!"])])
      const response = yield* post(server, {
        model: "gpt-4o",
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: "user", content: "abcdefgh" }]
      })
      assert.strictEqual(response.status, 200)
      assert.include(response.type, "text/event-stream")
      const events = sseEvents(response.text)
      assert.strictEqual(events.at(-1), "[DONE]")
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e))
      const envelope = {
        id: "chatcmpl-fake-1",
        object: "chat.completion.chunk",
        created: 1_700_000_000,
        model: "gpt-4o",
        system_fingerprint: "fp_fake"
      }
      const delta = (d: unknown, finish: string | null = null) => ({
        ...envelope,
        choices: [{ index: 0, delta: d, logprobs: null, finish_reason: finish }],
        usage: null
      })
      assert.deepStrictEqual(chunks, [
        delta({ role: "assistant", content: "", refusal: null }),
        delta({ content: "Hi" }),
        delta({ content: "!" }),
        delta({}, "stop"),
        { ...envelope, choices: [], usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 } }
      ])
    })
  )

  it.scopedLive("streams tool-call fragments the way OpenAI does, without usage when not asked", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([
        ScriptedReply.toolCalls([{ name: "f", args: { a: 1 }, id: "call_x" }], { fragments: 2 })
      ])
      const response = yield* post(server, { model: "m", stream: true, messages: [{ role: "user", content: "x" }] })
      const chunks = sseEvents(response.text)
        .slice(0, -1)
        .map((e) => JSON.parse(e))
      assert.isTrue(chunks.every((c) => !("usage" in c)))
      assert.deepStrictEqual(
        chunks.map((c) => c.choices[0]),
        [
          { index: 0, delta: { role: "assistant", content: null, refusal: null }, logprobs: null, finish_reason: null },
          {
            index: 0,
            delta: {
              tool_calls: [{ index: 0, id: "call_x", type: "function", function: { name: "f", arguments: "" } }]
            },
            logprobs: null,
            finish_reason: null
          },
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, function: { arguments: '{"a' } }] },
            logprobs: null,
            finish_reason: null
          },
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, function: { arguments: '":1}' } }] },
            logprobs: null,
            finish_reason: null
          },
          { index: 0, delta: {}, logprobs: null, finish_reason: "tool_calls" }
        ]
      )
    })
  )

  it.scopedLive("answers an HTTP error with an OpenAI-style error body", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([ScriptedReply.httpError(429, { code: "rate_limit_exceeded" })])
      const response = yield* post(server, { model: "m", messages: [] })
      assert.strictEqual(response.status, 429)
      assert.deepStrictEqual(JSON.parse(response.text), {
        error: {
          message: "Rate limit reached for requests.",
          type: "invalid_request_error",
          param: null,
          code: "rate_limit_exceeded"
        }
      })
    })
  )

  it.scopedLive("rejects bad JSON with 400 and unknown paths with 404, without using a reply", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.make([ScriptedReply.text("kept")])
      const bad = yield* post(server, "{ not json")
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(JSON.parse(bad.text).error.type, "invalid_request_error")
      const noMessages = yield* post(server, { model: "m" })
      assert.strictEqual(noMessages.status, 400)
      const unknown = yield* post(server, { messages: [] }, "/embeddings")
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(JSON.parse(unknown.text).error.code, "unknown_url")
      assert.strictEqual(yield* server.pending, 1)
      const requests = yield* server.requests
      assert.deepStrictEqual(
        requests.map((r) => [r.path, r.body === undefined]),
        [
          ["/v1/chat/completions", true],
          ["/v1/chat/completions", true],
          ["/v1/embeddings", false]
        ]
      )
      assert.strictEqual(requests[0]?.raw, "{ not json")
    })
  )

  it.scopedLive("stops cleanly when the scope closes during a slow reply", () =>
    Effect.gen(function* () {
      const baseURL = yield* Effect.scoped(
        Effect.gen(function* () {
          const server = yield* FakeOpenAI.make([ScriptedReply.text("slow", { firstByteDelay: "1 minute" })])
          // Start a request that will never be answered, then let the scope close under it.
          const pending = fetch(server.baseURL + "/chat/completions", {
            method: "POST",
            body: JSON.stringify({ messages: [{ role: "user", content: "x" }] })
          }).catch((error: unknown) => error)
          yield* Effect.promise(async () => {
            while ((await Effect.runPromise(server.requests)).length === 0) {
              await new Promise((resolve) => setTimeout(resolve, 5))
            }
          })
          return { baseURL: server.baseURL, pending }
        })
      )
      const outcome = yield* Effect.promise(() => baseURL.pending)
      assert.instanceOf(outcome, Error, "the open request fails when the server stops")
      const after = yield* Effect.promise(() =>
        fetch(baseURL.baseURL + "/chat/completions", { method: "POST", body: "{}" }).then(
          () => "answered",
          () => "refused"
        )
      )
      assert.strictEqual(after, "refused")
    })
  )
})

describe("FakeOpenAI.layer", () => {
  it.scopedLive("provides the server as a service", () =>
    Effect.gen(function* () {
      const server = yield* FakeOpenAI.FakeOpenAI
      const message = yield* Effect.promise(() => client(server).invoke(prompt))
      assert.strictEqual(message.content, "from the layer")
    }).pipe(Effect.provide(FakeOpenAI.layer([ScriptedReply.text("from the layer")])))
  )
})
