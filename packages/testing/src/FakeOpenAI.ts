/**
 * A fake OpenAI-compatible HTTP server for tests: the real `ChatOpenAI` (or any OpenAI client)
 * talks to it over HTTP on 127.0.0.1, on a free port, for the life of a scope.
 *
 * It serves `POST /v1/chat/completions` (and `/chat/completions`), streaming
 * (`text/event-stream` of `chat.completion.chunk` objects in OpenAI's exact shape; with
 * `stream_options.include_usage`, a last chunk with `choices: []` and `usage`; then
 * `data: [DONE]`) and not streaming (`chat.completion`). Replies come from a queue of
 * `ScriptedReply`s — text, tool calls, HTTP errors, a connection broken mid-stream, delays — and
 * a default reply when the queue is empty. Every request is recorded with its parsed body.
 * Token counts are deterministic (`ScriptedReply`: characters / 4). With `contextLimit`, a request
 * too long for it is refused with 400 `context_length_exceeded`, as OpenAI does.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Tiktoken } from "js-tiktoken/lite"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as ScriptedReply from "./ScriptedReply.js"

/**
 * A chat message as a client sent it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestMessage {
  readonly role: string
  readonly content?: unknown
  readonly name?: string
  readonly tool_calls?: ReadonlyArray<{
    readonly id: string
    readonly type: string
    readonly function: { readonly name: string; readonly arguments: string }
  }>
  readonly tool_call_id?: string
  readonly [key: string]: unknown
}

/**
 * The body of a chat completions request (the fields tests look at; all others are kept too).
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatCompletionRequest {
  readonly model?: string
  readonly messages: ReadonlyArray<RequestMessage>
  readonly stream?: boolean
  readonly stream_options?: { readonly include_usage?: boolean }
  readonly tools?: ReadonlyArray<{
    readonly type: string
    readonly function: { readonly name: string; readonly description?: string; readonly parameters?: unknown }
  }>
  readonly tool_choice?: unknown
  readonly temperature?: number
  readonly max_tokens?: number
  readonly max_completion_tokens?: number
  readonly [key: string]: unknown
}

/**
 * One request the server received. `body` is the parsed chat completions request, or `undefined`
 * when the body was not one (the server answered 400 and used no reply).
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly raw: string
  readonly body: ChatCompletionRequest | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface FakeOpenAIServer {
  /** `http://127.0.0.1:PORT/v1`: give it to the client as its base URL. */
  readonly baseURL: string
  /** Every request received, in order. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Queues replies, used one per chat completions request. */
  readonly enqueue: (...replies: ReadonlyArray<ScriptedReply.ScriptedReply>) => Effect.Effect<void>
  /** Sets the reply given when the queue is empty. */
  readonly setDefaultReply: (reply: ScriptedReply.ScriptedReply) => Effect.Effect<void>
  /** Replies still queued. */
  readonly pending: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly replies?: ReadonlyArray<ScriptedReply.ScriptedReply> | undefined
  /** Default `ScriptedReply.defaultReply`. */
  readonly defaultReply?: ScriptedReply.ScriptedReply | undefined
  /**
   * Picks the reply of a request when the queue is empty, before the default reply (e.g. by the
   * last user message, for a fake model in a process of its own). `undefined`: the default.
   */
  readonly replyFor?: ((request: ChatCompletionRequest) => ScriptedReply.ScriptedReply | undefined) | undefined
  /** The port on 127.0.0.1. Default: a free one. */
  readonly port?: number | undefined
  /**
   * The model's context window in tokens. A request whose prompt (counted by `countTokens`) plus
   * its `max_tokens` / `max_completion_tokens` exceeds it is refused as OpenAI refuses one: 400,
   * `context_length_exceeded`, and uses no reply. Default: no limit.
   */
  readonly contextLimit?: number | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class FakeOpenAI extends Context.Tag("@convo/testing/FakeOpenAI")<FakeOpenAI, FakeOpenAIServer>() {}

/** `created` in every response: fixed, so responses are deterministic. */
const CREATED = 1_700_000_000
const FINGERPRINT = "fp_fake"
const MAX_BODY_BYTES = 32 * 1024 * 1024

const promptText = (messages: ReadonlyArray<RequestMessage>): string =>
  messages
    .map((message) => {
      const content = message.content
      if (typeof content === "string") return content
      if (Array.isArray(content)) {
        return content
          .map((part: unknown) =>
            typeof part === "object" && part !== null && typeof (part as { text?: unknown }).text === "string"
              ? (part as { text: string }).text
              : ""
          )
          .join("")
      }
      return ""
    })
    .join("")

let encoder: Promise<Tiktoken> | undefined

const textTokens = (tiktoken: Tiktoken, text: string): number =>
  text.length === 0 ? 0 : tiktoken.encode(text, [], []).length

/** What one image costs: OpenAI's high-detail maximum for GPT-4o, 85 + 170 × 8 tiles. */
const IMAGE_TOKENS = 1_445

/**
 * The prompt tokens of a chat completions request as OpenAI counts them for GPT-4o (`o200k_base`,
 * its documented chat format): 3 tokens per message plus its role, content and name (1 more for a
 * name), each tool call's name and arguments plus 3, a tool message's call id, 3 to prime the
 * reply; images at 1,445 tokens (the high-detail maximum); tool definitions as their JSON.
 * Counted here on the request as it arrived, independently of convo's own counter.
 *
 * @since 0.3.0
 * @category tokens
 */
export const countTokens = async (request: ChatCompletionRequest): Promise<number> => {
  encoder ??= Promise.all([import("js-tiktoken/lite"), import("js-tiktoken/ranks/o200k_base")]).then(
    ([lite, ranks]) => new lite.Tiktoken(ranks.default)
  )
  const tiktoken = await encoder
  let total = 3
  for (const message of request.messages) {
    total += 3 + textTokens(tiktoken, message.role)
    const content = message.content
    if (typeof content === "string") total += textTokens(tiktoken, content)
    else if (Array.isArray(content)) {
      for (const part of content as ReadonlyArray<{ readonly type?: unknown; readonly text?: unknown }>) {
        if (typeof part?.text === "string") total += textTokens(tiktoken, part.text)
        else if (part?.type === "image_url") total += IMAGE_TOKENS
      }
    }
    if (typeof message.name === "string") total += 1 + textTokens(tiktoken, message.name)
    for (const call of message.tool_calls ?? []) {
      total += 3 + textTokens(tiktoken, call.function.name) + textTokens(tiktoken, call.function.arguments)
    }
    if (typeof message.tool_call_id === "string") total += textTokens(tiktoken, message.tool_call_id)
  }
  for (const definition of request.tools ?? []) total += textTokens(tiktoken, JSON.stringify(definition))
  return total
}

const isChatRequest = (u: unknown): u is ChatCompletionRequest =>
  typeof u === "object" && u !== null && !Array.isArray(u) && Array.isArray((u as { messages?: unknown }).messages)

const errorBody = (message: string, type: string, code: string | null) =>
  JSON.stringify({ error: { message, type, param: null, code } })

/**
 * Starts the server for the life of the scope. Takes the replies (or options with replies and a
 * default reply).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  script?: ReadonlyArray<ScriptedReply.ScriptedReply> | Options
): Effect.Effect<FakeOpenAIServer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const options: Options = Array.isArray(script) ? { replies: script } : ((script as Options | undefined) ?? {})
    const queue: Array<ScriptedReply.ScriptedReply> = [...(options.replies ?? [])]
    const requests: Array<RecordedRequest> = []
    let defaultReply = options.defaultReply ?? ScriptedReply.defaultReply
    let completions = 0
    let toolCallIds = 0
    const open = new Set<Http.ServerResponse>()
    const timers = new Set<ReturnType<typeof setTimeout>>()

    const wait = (res: Http.ServerResponse, millis: number): Promise<boolean> =>
      millis <= 0
        ? Promise.resolve(!res.destroyed)
        : new Promise((resolve) => {
            const done = () => {
              clearTimeout(timer)
              timers.delete(timer)
              res.off("close", done)
              resolve(!res.destroyed && !res.writableEnded)
            }
            const timer = setTimeout(done, millis)
            timers.add(timer)
            res.once("close", done)
          })

    const respond = async (res: Http.ServerResponse, body: ChatCompletionRequest) => {
      const reply = queue.shift() ?? options.replyFor?.(body) ?? defaultReply
      const id = `chatcmpl-fake-${++completions}`
      const model = typeof body.model === "string" ? body.model : "fake-model"
      if (!(await wait(res, reply.firstByteDelayMillis))) return

      if (reply._tag === "HttpError") {
        res.writeHead(reply.status, { "content-type": "application/json" })
        res.end(errorBody(reply.message, reply.type, reply.code))
        return
      }

      const calls =
        reply._tag === "ToolCalls"
          ? reply.calls.map((call) => ({ ...call, id: call.id ?? `call_${++toolCallIds}` }))
          : []
      const usage = reply._tag === "StreamError" ? undefined : ScriptedReply.usageFor(reply, promptText(body.messages))
      const usageJson =
        usage === undefined
          ? undefined
          : {
              prompt_tokens: usage.inputTokens,
              completion_tokens: usage.outputTokens,
              total_tokens: usage.inputTokens + usage.outputTokens
            }
      const finishReason =
        reply._tag === "ToolCalls" ? "tool_calls" : reply._tag === "Text" ? reply.finishReason : "stop"

      if (body.stream !== true) {
        if (reply._tag === "StreamError") {
          res.destroy()
          return
        }
        const content = reply.deltas.join("")
        res.writeHead(200, { "content-type": "application/json" })
        res.end(
          JSON.stringify({
            id,
            object: "chat.completion",
            created: CREATED,
            model,
            system_fingerprint: FINGERPRINT,
            choices: [
              {
                index: 0,
                message: {
                  role: "assistant",
                  content: calls.length > 0 && content === "" ? null : content,
                  refusal: null,
                  annotations: [],
                  ...(calls.length > 0
                    ? {
                        tool_calls: calls.map((call) => ({
                          id: call.id,
                          type: "function",
                          function: { name: call.name, arguments: call.arguments }
                        }))
                      }
                    : {})
                },
                logprobs: null,
                finish_reason: finishReason
              }
            ],
            ...(usageJson === undefined ? {} : { usage: usageJson })
          })
        )
        return
      }

      const includeUsage = body.stream_options?.include_usage === true
      const chunk = (choices: ReadonlyArray<unknown>, extra?: Record<string, unknown>) =>
        `data: ${JSON.stringify({
          id,
          object: "chat.completion.chunk",
          created: CREATED,
          model,
          system_fingerprint: FINGERPRINT,
          choices,
          ...(includeUsage ? { usage: null } : {}),
          ...extra
        })}\n\n`
      const choice = (delta: Record<string, unknown>, finish: string | null = null) => [
        { index: 0, delta, logprobs: null, finish_reason: finish }
      ]

      const events: Array<string> = [
        chunk(
          choice({
            role: "assistant",
            content: reply._tag === "ToolCalls" && reply.deltas.length === 0 ? null : "",
            refusal: null
          })
        ),
        ...reply.deltas.map((delta) => chunk(choice({ content: delta })))
      ]
      for (const [index, call] of calls.entries()) {
        events.push(
          chunk(
            choice({
              tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }]
            })
          )
        )
        const fragments = reply._tag === "ToolCalls" ? ScriptedReply.split(call.arguments, reply.fragments) : []
        for (const fragment of fragments) {
          events.push(chunk(choice({ tool_calls: [{ index, function: { arguments: fragment } }] })))
        }
      }
      if (reply._tag !== "StreamError") {
        events.push(chunk(choice({}, finishReason)))
        if (includeUsage && usageJson !== undefined) events.push(chunk([], { usage: usageJson }))
        events.push("data: [DONE]\n\n")
      }

      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        connection: "keep-alive"
      })
      for (const [i, event] of events.entries()) {
        if (i > 0 && !(await wait(res, reply.chunkDelayMillis))) return
        if (res.destroyed) return
        res.write(event)
      }
      if (reply._tag === "StreamError") {
        if (!(await wait(res, reply.chunkDelayMillis))) return
        // Flush what was written, then close the connection without ending the chunked body.
        const socket = res.socket
        if (socket === null) res.destroy()
        else socket.destroySoon()
        return
      }
      res.end()
    }

    const handle = (req: Http.IncomingMessage, res: Http.ServerResponse) => {
      open.add(res)
      res.once("close", () => open.delete(res))
      const parts: Array<Buffer> = []
      let size = 0
      req.on("data", (part: Buffer) => {
        size += part.length
        if (size > MAX_BODY_BYTES) {
          res.writeHead(413, { "content-type": "application/json" })
          res.end(errorBody("Request body too large.", "invalid_request_error", null))
          req.destroy()
        } else {
          parts.push(part)
        }
      })
      req.on("end", () => {
        if (res.writableEnded) return
        const raw = Buffer.concat(parts).toString("utf8")
        const path = (req.url ?? "/").split("?")[0] ?? "/"
        const method = req.method ?? "GET"
        let parsed: unknown = undefined
        try {
          parsed = raw.length > 0 ? JSON.parse(raw) : undefined
        } catch {
          parsed = undefined
        }
        const body = isChatRequest(parsed) ? parsed : undefined
        requests.push({ method, path, headers: { ...req.headers }, raw, body })
        if (method !== "POST" || (path !== "/v1/chat/completions" && path !== "/chat/completions")) {
          res.writeHead(404, { "content-type": "application/json" })
          res.end(errorBody(`Unknown request URL: ${method} ${path}.`, "invalid_request_error", "unknown_url"))
          return
        }
        if (body === undefined) {
          res.writeHead(400, { "content-type": "application/json" })
          res.end(
            errorBody(
              "We could not parse the JSON body of your request, or it has no messages array.",
              "invalid_request_error",
              null
            )
          )
          return
        }
        const limit = options.contextLimit
        if (limit === undefined) {
          respond(res, body).catch(() => res.destroy())
          return
        }
        countTokens(body)
          .then((prompt) => {
            const reply = body.max_completion_tokens ?? body.max_tokens ?? 0
            if (prompt + reply <= limit) return respond(res, body)
            res.writeHead(400, { "content-type": "application/json" })
            res.end(
              errorBody(
                `This model's maximum context length is ${limit} tokens. However, you requested ${prompt + reply} tokens (${prompt} in the messages, ${reply} in the completion). Please reduce the length of the messages or completion.`,
                "invalid_request_error",
                "context_length_exceeded"
              )
            )
          })
          .catch(() => res.destroy())
      })
    }

    const server = yield* Effect.acquireRelease(
      Effect.async<Http.Server>((resume) => {
        const server = Http.createServer(handle)
        server.once("error", (error) => resume(Effect.die(error)))
        server.listen(options.port ?? 0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          for (const timer of timers) clearTimeout(timer)
          timers.clear()
          for (const res of open) res.destroy()
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const { port } = server.address() as AddressInfo

    return {
      baseURL: `http://127.0.0.1:${port}/v1`,
      requests: Effect.sync(() => [...requests]),
      enqueue: (...replies) => Effect.sync(() => void queue.push(...replies)),
      setDefaultReply: (reply) =>
        Effect.sync(() => {
          defaultReply = reply
        }),
      pending: Effect.sync(() => queue.length)
    } satisfies FakeOpenAIServer
  })

/**
 * The server as a layer: it starts when the layer is built and stops when its scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (script?: ReadonlyArray<ScriptedReply.ScriptedReply> | Options): Layer.Layer<FakeOpenAI> =>
  Layer.scoped(FakeOpenAI, make(script))
