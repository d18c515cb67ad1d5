/**
 * Token counts that run offline: `js-tiktoken` with the ranks it ships (`o200k_base`,
 * `cl100k_base`; loaded on first use, never downloaded), or a character heuristic for models
 * whose tokenizer is not known. Messages are counted the way OpenAI documents it for chat
 * models (each message costs its role and content plus a fixed overhead, the reply is primed
 * with a few more), with one extra token per message as a margin; images cost a fixed figure per
 * provider (`imageTokens`).
 */
import { AIMessage, type BaseMessage, ToolMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import type { Tiktoken } from "js-tiktoken/lite"
import type { ModelSpec, Provider, Tokenizer } from "../LlmModels.js"

/** How a model's text is counted. @internal */
export type Encoding = Tokenizer | "heuristic"

/** Counts text in tokens. @internal */
export interface Counter {
  readonly encoding: Encoding
  readonly text: (text: string) => number
  /** The cost of one image in a user message. */
  readonly image: number
}

/** Tokens every message costs besides its content (OpenAI documents 3; one more as a margin). @internal */
export const perMessage = 4
/** Tokens that prime the reply. @internal */
export const replyPriming = 3

/**
 * What one image costs, by provider: OpenAI's high-detail maximum for GPT-4o (85 + 170 × 8
 * tiles = 1,445), Anthropic's documented cost of its largest image (~1,600), Google's tiled
 * images (258 per 768 px tile; 6 tiles = 1,548). An image is counted at its provider's maximum,
 * so the budget is never exceeded for a large one.
 *
 * @internal
 */
export const imageTokens = (provider: Provider): number => {
  switch (provider) {
    case "openai":
      return 1_445
    case "google":
      return 1_548
    default:
      return 1_600
  }
}

/**
 * A conservative count for text whose tokenizer is unknown: ASCII at 3 characters a token (most
 * tokenizers do better than 4 on English), every other character a token of its own (Korean,
 * Chinese, emoji: close to what BPE tokenizers give).
 *
 * @internal
 */
export const heuristic = (text: string): number => {
  let ascii = 0
  let other = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 128) ascii++
    else if (code < 0xdc00 || code > 0xdfff) other++ // a surrogate pair counts once
  }
  return Math.ceil(ascii / 3) + other
}

/** Pieces whose count is remembered, per encoding. */
const PIECES = 200_000

/**
 * The longest piece handed to the encoder at once. BPE's cost grows with the square of a piece's
 * length (a run of 8,000 letters without a space or punctuation: seconds of CPU in js-tiktoken,
 * during which the event loop serves no one), so a longer piece — a base64 blob, a hostile message —
 * is counted in cuts of this length: a few tokens more than the whole (merges across a cut are lost;
 * base64 of 3,000 bytes: 2,750 against 2,746), never seconds. Natural language's pieces are words,
 * far shorter. @internal
 */
export const maxPiece = 64

/**
 * Counts text the way the encoder does (the same pre-tokenizing pattern, then each piece, a long
 * one in cuts of `maxPiece`), with the count of each piece remembered: natural language repeats its
 * pieces, so most are never encoded twice (js-tiktoken's `encode` also costs a few regexes and sets
 * per call). Only pieces of at most `maxPiece` characters are remembered, so the memo is bounded in
 * bytes too. @internal
 */
export const pieceCounter = (encoder: Pick<Tiktoken, "encode">, pattern: string): ((text: string) => number) => {
  const split = new RegExp(pattern, "gu")
  const known = new Map<string, number>()
  const countPiece = (piece: string): number => {
    let count = known.get(piece)
    if (count === undefined) {
      // special tokens in user text are counted as text, as the provider sees them
      count = encoder.encode(piece, [], []).length
      if (known.size < PIECES) known.set(piece, count)
    }
    return count
  }
  return (text) => {
    if (text.length === 0) return 0
    let total = 0
    for (const match of text.matchAll(split)) {
      const piece = match[0]
      if (piece.length <= maxPiece) {
        total += countPiece(piece)
        continue
      }
      for (let from = 0; from < piece.length;) {
        let to = Math.min(piece.length, from + maxPiece)
        // never between the two halves of a surrogate pair
        const last = piece.charCodeAt(to - 1)
        if (to < piece.length && last >= 0xd800 && last <= 0xdbff) to--
        total += countPiece(piece.slice(from, to))
        from = to
      }
    }
    return total
  }
}

const encoders = new Map<Tokenizer, Promise<(text: string) => number>>()

const load = (name: Tokenizer): Promise<(text: string) => number> => {
  let encoder = encoders.get(name)
  if (encoder === undefined) {
    encoder = Promise.all([
      import("js-tiktoken/lite"),
      name === "o200k_base" ? import("js-tiktoken/ranks/o200k_base") : import("js-tiktoken/ranks/cl100k_base")
    ]).then(([lite, ranks]) => {
      const tiktoken = new lite.Tiktoken(ranks.default)
      // only `encode` is used: its decoding table (a byte array per token, about 47 of the 63 MiB
      // `o200k_base` takes in the heap) is dropped
      ;(tiktoken as unknown as { readonly textMap?: Map<number, Uint8Array> }).textMap?.clear()
      return pieceCounter(tiktoken, ranks.default.pat_str)
    })
    encoder.catch(() => encoders.delete(name))
    encoders.set(name, encoder)
  }
  return encoder
}

/** The encoding of a model spec. @internal */
export const encodingOf = (spec: ModelSpec): Encoding => spec.tokenizer ?? "heuristic"

/**
 * The counter of a model spec. The first use of an encoding loads its ranks (a few hundred
 * milliseconds, once per process).
 *
 * @internal
 */
export const counterFor = (spec: ModelSpec): Effect.Effect<Counter> => {
  const encoding = encodingOf(spec)
  const image = imageTokens(spec.provider)
  if (encoding === "heuristic") return Effect.succeed({ encoding, text: heuristic, image })
  return Effect.promise(() => load(encoding)).pipe(
    Effect.map((text): Counter => ({ encoding, text, image })),
    // ranks that cannot load (a bundler that dropped them): the heuristic, never a failure
    Effect.catchAllDefect(() => Effect.succeed<Counter>({ encoding: "heuristic", text: heuristic, image }))
  )
}

const contentTokens = (counter: Counter, content: BaseMessage["content"]): number => {
  if (typeof content === "string") return counter.text(content)
  let total = 0
  for (const part of content as ReadonlyArray<unknown>) {
    if (typeof part === "string") {
      total += counter.text(part)
      continue
    }
    if (typeof part !== "object" || part === null) continue
    const block = part as { readonly type?: unknown; readonly text?: unknown }
    if (typeof block.text === "string") total += counter.text(block.text)
    else if (block.type === "image_url" || block.type === "image" || block.type === "media") total += counter.image
    else total += counter.text(JSON.stringify(part))
  }
  return total
}

const roleOf = (message: BaseMessage): string => {
  switch (message.getType()) {
    case "human":
      return "user"
    case "ai":
      return "assistant"
    default:
      return message.getType()
  }
}

/**
 * The tokens one message costs in a request: overhead, role, content, name, tool calls (their
 * names and arguments as JSON) and a tool message's call id.
 *
 * @internal
 */
export const messageTokens = (counter: Counter, message: BaseMessage): number => {
  let total = perMessage + counter.text(roleOf(message)) + contentTokens(counter, message.content)
  if (typeof message.name === "string" && message.name.length > 0) total += 1 + counter.text(message.name)
  if (AIMessage.isInstance(message)) {
    for (const call of message.tool_calls ?? []) {
      total += perMessage + counter.text(call.name) + counter.text(JSON.stringify(call.args ?? {}))
      if (call.id !== undefined) total += counter.text(call.id)
    }
  }
  if (ToolMessage.isInstance(message)) total += counter.text(message.tool_call_id)
  return total
}

/** The characters a message holds (its retained size, images included). @internal */
export const messageChars = (message: BaseMessage): number => {
  const content = message.content
  if (typeof content === "string") return content.length
  return JSON.stringify(content).length
}
