/**
 * PLACEHOLDER CONTRACT - replaced by the implementation.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { TaggedJson } from "./TaggedJson.js"

export class CodecError extends Schema.TaggedError<CodecError>("@convo/core/MessageCodec/CodecError")("CodecError", {
  direction: Schema.Literal("encode", "decode"),
  type: Schema.optional(Schema.String),
  detail: Schema.String
}) {}

export interface Service {
  readonly encode: (value: unknown) => Effect.Effect<TaggedJson, CodecError>
  readonly decode: (json: unknown) => Effect.Effect<unknown, CodecError>
  readonly encodeString: (value: unknown) => Effect.Effect<string, CodecError>
  readonly decodeString: (text: string) => Effect.Effect<unknown, CodecError>
}

export class MessageCodec extends Context.Tag("@convo/core/MessageCodec")<MessageCodec, Service>() {}
