/**
 * Scripted model replies, shared by `ScriptedChatModel` (in-process, no HTTP) and `FakeOpenAI`
 * (an OpenAI-compatible HTTP server for the real LangChain client), so one script can drive
 * either. A reply is a text answer, tool calls, an HTTP error or an error in the middle of the
 * stream, each with optional delays.
 *
 * Token counts are deterministic: unless a reply says otherwise, input tokens are the
 * characters of the prompt's messages / 4 and output tokens the characters produced / 4, each
 * rounded up (`roughTokens`).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"

/**
 * Delays, in real time (the fakes run on Node timers, not on Effect's clock).
 *
 * @since 0.1.0
 * @category models
 */
export interface Timing {
  /** Before anything is sent: for timeouts and stop-before-start tests. */
  readonly firstByteDelay?: Duration.DurationInput | undefined
  /** Between two streamed chunks: for stop-mid-stream tests. */
  readonly chunkDelay?: Duration.DurationInput | undefined
}

/**
 * The token counts a reply reports: explicit numbers, `"auto"` (characters / 4), or `"none"`
 * (no usage reported at all).
 *
 * @since 0.1.0
 * @category models
 */
export type Usage = { readonly inputTokens: number; readonly outputTokens: number } | "auto" | "none"

interface Common {
  readonly firstByteDelayMillis: number
  readonly chunkDelayMillis: number
}

/**
 * A text answer streamed as `deltas`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Text extends Common {
  readonly _tag: "Text"
  readonly deltas: ReadonlyArray<string>
  readonly usage: Usage
  readonly finishReason: string
}

/**
 * One scripted tool call. `arguments` is the JSON text the model "writes" (it may be invalid on
 * purpose); `id` is generated (`call_1`, `call_2`, ... per model or server) when absent.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCall {
  readonly id: string | undefined
  readonly name: string
  readonly arguments: string
}

/**
 * Tool calls, optionally after some text; each call's arguments stream in `fragments` pieces, as
 * OpenAI streams them. Finishes with `finish_reason: "tool_calls"`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCalls extends Common {
  readonly _tag: "ToolCalls"
  readonly deltas: ReadonlyArray<string>
  readonly calls: ReadonlyArray<ToolCall>
  readonly fragments: number
  readonly usage: Usage
}

/**
 * The request fails with an HTTP status and an OpenAI-style error body
 * (`{"error": {"message", "type", "param", "code"}}`).
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpError extends Common {
  readonly _tag: "HttpError"
  readonly status: number
  readonly message: string
  readonly type: string
  readonly code: string | null
}

/**
 * The stream starts, sends `deltas`, then the connection breaks (the server destroys the socket;
 * the scripted model throws `message`).
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamError extends Common {
  readonly _tag: "StreamError"
  readonly deltas: ReadonlyArray<string>
  readonly message: string
}

/**
 * @since 0.1.0
 * @category models
 */
export type ScriptedReply = Text | ToolCalls | HttpError | StreamError

const millis = (input: Duration.DurationInput | undefined): number => {
  if (input === undefined) return 0
  const ms = Duration.toMillis(Duration.decode(input))
  return Number.isFinite(ms) && ms > 0 ? ms : ms === Infinity ? 2_147_483_647 : 0
}

const timing = (options: Timing | undefined): Common => ({
  firstByteDelayMillis: millis(options?.firstByteDelay),
  chunkDelayMillis: millis(options?.chunkDelay)
})

/**
 * Splits text into `n` pieces of nearly equal length (by code point); fewer when the text is
 * shorter than `n`. Empty text gives no pieces.
 *
 * @since 0.1.0
 * @category utils
 */
export const split = (text: string, n: number): ReadonlyArray<string> => {
  const chars = [...text]
  if (chars.length === 0) return []
  const count = Math.max(1, Math.min(Math.floor(n), chars.length))
  const pieces: Array<string> = []
  for (let i = 0; i < count; i++) {
    const start = Math.floor((i * chars.length) / count)
    const end = Math.floor(((i + 1) * chars.length) / count)
    pieces.push(chars.slice(start, end).join(""))
  }
  return pieces
}

/**
 * Splits text into words, each with its trailing whitespace (leading whitespace stays on the
 * first piece).
 *
 * @since 0.1.0
 * @category utils
 */
export const words = (text: string): ReadonlyArray<string> => {
  const out = text.match(/^\s*\S+\s*|\S+\s*/g) ?? []
  return out.length === 0 && text.length > 0 ? [text] : out
}

/**
 * Rough token count: characters (code points) / 4, rounded up.
 *
 * @since 0.1.0
 * @category utils
 */
export const roughTokens = (text: string): number => {
  // code points without an array of them: a prompt holds the whole history, every call
  let points = text.length
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        points--
        i++
      }
    }
  }
  return Math.ceil(points / 4)
}

/**
 * @since 0.1.0
 * @category constructors
 */
export interface TextOptions extends Timing {
  /** Split the text into this many deltas. Default: one delta per word. Ignored when deltas are given. */
  readonly chunks?: number | undefined
  readonly usage?: Usage | undefined
  /** Default `"stop"`; `"length"` mimics a reply cut at `max_tokens`. */
  readonly finishReason?: string | undefined
}

/** The deltas of a reply: given as they are, or a string split into `chunks` pieces or by words. */
const deltasOf = (content: string | ReadonlyArray<string>, chunks: number | undefined): ReadonlyArray<string> =>
  typeof content !== "string" ? [...content] : chunks !== undefined ? split(content, chunks) : words(content)

/**
 * A text answer. Give a string (split by words, or into `chunks` pieces) or the exact deltas.
 *
 * @example
 * ```ts
 * import * as ScriptedReply from "@convo/testing/ScriptedReply"
 *
 * ScriptedReply.text("你好！欢迎光临星巴克。", { chunks: 3 })
 * ScriptedReply.text(["Hel", "lo"], { chunkDelay: "10 millis" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const text = (content: string | ReadonlyArray<string>, options?: TextOptions): Text => ({
  _tag: "Text",
  deltas: deltasOf(content, options?.chunks),
  usage: options?.usage ?? "auto",
  finishReason: options?.finishReason ?? "stop",
  ...timing(options)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export interface ToolCallInput {
  readonly name: string
  /** An object (sent as JSON) or the raw argument text (which may be invalid JSON on purpose). */
  readonly args: unknown
  readonly id?: string | undefined
}

/**
 * @since 0.1.0
 * @category constructors
 */
export interface ToolCallsOptions extends Timing {
  /** Text the model writes before calling the tools. */
  readonly text?: string | undefined
  /** How many pieces each call's argument text streams in. Default 3. */
  readonly fragments?: number | undefined
  readonly usage?: Usage | undefined
}

/**
 * One or more tool calls.
 *
 * @example
 * ```ts
 * import * as ScriptedReply from "@convo/testing/ScriptedReply"
 *
 * ScriptedReply.toolCalls([{ name: "get_weather", args: { city: "Seoul" } }])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const toolCalls = (calls: ReadonlyArray<ToolCallInput>, options?: ToolCallsOptions): ToolCalls => ({
  _tag: "ToolCalls",
  deltas: options?.text === undefined ? [] : words(options.text),
  calls: calls.map((call) => ({
    id: call.id,
    name: call.name,
    arguments: typeof call.args === "string" ? call.args : (JSON.stringify(call.args ?? {}) ?? "{}")
  })),
  fragments: Math.max(1, Math.floor(options?.fragments ?? 3)),
  usage: options?.usage ?? "auto",
  ...timing(options)
})

const defaultErrorMessage = (status: number): string =>
  status === 401
    ? "Incorrect API key provided."
    : status === 429
      ? "Rate limit reached for requests."
      : status >= 500
        ? "The server had an error while processing your request. Sorry about that!"
        : "Bad request."

/**
 * @since 0.1.0
 * @category constructors
 */
export interface HttpErrorOptions extends Pick<Timing, "firstByteDelay"> {
  readonly message?: string | undefined
  /** Default `server_error` for 5xx, `invalid_request_error` otherwise. */
  readonly type?: string | undefined
  readonly code?: string | null | undefined
}

/**
 * The request fails with this HTTP status and an OpenAI-style error body.
 *
 * @since 0.1.0
 * @category constructors
 */
export const httpError = (status: number, options?: HttpErrorOptions): HttpError => ({
  _tag: "HttpError",
  status,
  message: options?.message ?? defaultErrorMessage(status),
  type: options?.type ?? (status >= 500 ? "server_error" : "invalid_request_error"),
  code: options?.code ?? null,
  ...timing(options)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export interface StreamErrorOptions extends Timing {
  /** Split a string into this many deltas. Default: one per word. */
  readonly chunks?: number | undefined
  /** The error the scripted model throws. Default `"terminated"` (what `fetch` says). */
  readonly message?: string | undefined
}

/**
 * Some deltas, then the connection breaks.
 *
 * @since 0.1.0
 * @category constructors
 */
export const streamError = (content: string | ReadonlyArray<string>, options?: StreamErrorOptions): StreamError => ({
  _tag: "StreamError",
  deltas: deltasOf(content, options?.chunks),
  message: options?.message ?? "terminated",
  ...timing(options)
})

/**
 * The reply the fakes give when their queue is empty.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultReply: Text = text("This is a scripted default reply.")

/**
 * All the text a reply produces (its deltas, then each call's name and arguments): what
 * `"auto"` usage counts as output.
 *
 * @since 0.1.0
 * @category utils
 */
export const outputText = (reply: ScriptedReply): string => {
  switch (reply._tag) {
    case "Text":
    case "StreamError":
      return reply.deltas.join("")
    case "ToolCalls":
      return reply.deltas.join("") + reply.calls.map((call) => call.name + call.arguments).join("")
    case "HttpError":
      return ""
  }
}

/**
 * The token counts a reply reports for a prompt of `promptText`, or `undefined` for `"none"`.
 *
 * @since 0.1.0
 * @category utils
 */
export const usageFor = (
  reply: Text | ToolCalls,
  promptText: string
): { readonly inputTokens: number; readonly outputTokens: number } | undefined => {
  if (reply.usage === "none") return undefined
  if (reply.usage !== "auto") return reply.usage
  return { inputTokens: roughTokens(promptText), outputTokens: roughTokens(outputText(reply)) }
}
