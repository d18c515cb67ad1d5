/**
 * LangChain.js messages and other values ⇄ tagged JSON `{"_type": ..., "_value": ...}`, exactly
 * as django-pyhub-ai stored them in `ConversationMessage.content` (SEED-SPEC S3).
 *
 * What is stored, and how:
 *
 * - Messages (`SystemMessage`, `HumanMessage`, `AIMessage`, `AIMessageChunk`, `ToolMessage`,
 *   `FunctionMessage` from `@langchain/core/messages`): `_value` is LangChain Python's
 *   `model_dump()`: snake_case fields in pydantic's order (`content, additional_kwargs,
 *   response_metadata, type, name, id`, then `example`, `tool_calls, invalid_tool_calls,
 *   usage_metadata`, `tool_call_chunks`, or `tool_call_id, artifact, status`). `_value` is checked
 *   with `effect/Schema` before a message is built.
 * - `bytes` (base64 text, decoded to `Uint8Array`), `DataFrame` and `Series` (pandas `to_dict()`,
 *   see `Table`), `ToolAgentAction`, `AgentActionMessageLog`, `AgentAction` and `AgentStep`
 *   (see `AgentStep`; an `AgentStep`'s action is written as pydantic dumps it: `AgentAction`'s
 *   four fields, `type` "AgentAction", as pyhub's encoder rewrote it).
 * - Plain JSON passes through untagged, as pyhub's encoder passed it (its tool-output rows are
 *   plain objects holding tagged values): text, numbers, booleans, null, arrays and plain objects
 *   are written as themselves and walked for tagged values inside. Object properties set to
 *   `undefined` are left out, as `JSON.stringify` does.
 * - An unregistered `_type` decodes to an `OpaqueValue` (see `Opaque`) kept as stored and written
 *   back unchanged.
 *
 * Fields LangChain.js has no place for (pyhub's `example`, any extra field) are not dropped: a
 * decoded value keeps its stored `_value` beside it in a side table (a `WeakMap`; the message gets
 * no extra property), and encoding writes the stored keys back in their stored order, the fields
 * the class models from the value's current state and the others as stored. `extrasOf` shows them.
 * A stored `null` `name` or `id` stays `null` on the message.
 *
 * Text: `encodeString` writes what CPython's `json.dumps` writes (separators `", "` and `": "`,
 * non-ASCII as `\uXXXX`, astral characters as surrogate pairs, NaN and Infinity, floats as
 * `repr`), and `decodeString` reads what `json.loads` reads, remembering what JavaScript values
 * cannot hold (key order of index-like keys, `1.0` versus `1`, integers past 2^53), so
 * `encodeString(decodeString(text))` gives back text Python wrote byte for byte (one exception: a whole
 * text that is a bare float such as `1.0` comes back as `1`; floats inside containers keep their form). `encode` and
 * `decode` work on JSON values (a PostgreSQL `jsonb` column, which keeps no key order anyway).
 *
 * Decoding never throws: bad JSON text, a malformed envelope or a `_value` its codec rejects fail
 * with a `CodecError`; so does encoding a value no codec accepts.
 *
 * @since 0.1.0
 */
import { AIMessage, BaseMessage } from "@langchain/core/messages"
import type {
  AIMessageChunk,
  FunctionMessage,
  HumanMessage,
  SystemMessage,
  ToolMessage
} from "@langchain/core/messages"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { AgentAction, AgentActionMessageLog, AgentStep, ToolAgentAction } from "./AgentStep.js"
import * as Builtins from "./internal/codecBuiltins.js"
import { stringify } from "./internal/codecJson.js"
import * as Messages from "./internal/codecMessages.js"
import * as Pyhub from "./internal/codecPyhub.js"
import type { InternalCodec } from "./internal/codecMessages.js"
import * as Registry from "./internal/codecRegistry.js"
import { extras } from "./internal/codecStored.js"
import { OpaqueValue } from "./Opaque.js"
import type { DataFrame, Series } from "./Table.js"
import type { TaggedJson } from "./TaggedJson.js"

/**
 * Encoding or decoding failed. `type` names the `_type` whose codec failed, when one did;
 * `detail` says what was wrong and where (`$.messages[0]._value`).
 *
 * @since 0.1.0
 * @category errors
 */
export class CodecError extends Schema.TaggedError<CodecError>("@convo/core/MessageCodec/CodecError")("CodecError", {
  direction: Schema.Literal("encode", "decode"),
  type: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `cannot ${this.direction}${this.type === undefined ? "" : ` ${this.type}`}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isCodecError = (u: unknown): u is CodecError => u instanceof CodecError

/**
 * A JSON value as `encode` gives it: a tagged envelope, or plain JSON (which may hold envelopes).
 *
 * @since 0.1.0
 * @category models
 */
export type Json =
  TaggedJson | string | number | boolean | null | ReadonlyArray<unknown> | { readonly [key: string]: unknown }

/**
 * How one type is stored. `is` picks the values this codec writes (it is asked only about values
 * that are not plain JSON: class instances, `Uint8Array`, ...); `encode` gives the `_value`, which
 * may itself hold values other codecs write; `decode` builds the value back from a `_value` whose
 * nested tagged values are already decoded. `decode` must be synchronous; its failure (any error)
 * becomes a `CodecError` naming `type`. A thrown exception in `is` or `encode` does too.
 *
 * @since 0.1.0
 * @category models
 */
export interface TypeCodec<A> {
  readonly type: string
  readonly is: (u: unknown) => u is A
  readonly encode: (value: A) => unknown
  readonly decode: (value: unknown) => Effect.Effect<A, unknown> | Either.Either<A, unknown>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** A value as JSON: tagged when a codec writes it, itself when it is plain JSON. */
  readonly encode: (value: unknown) => Effect.Effect<Json, CodecError>
  /** A value back from JSON. */
  readonly decode: (json: unknown) => Effect.Effect<unknown, CodecError>
  /** A value as the text Python's `json.dumps` writes. */
  readonly encodeString: (value: unknown) => Effect.Effect<string, CodecError>
  /** A value back from JSON text (as Python's `json.loads` reads it). */
  readonly decodeString: (text: string) => Effect.Effect<unknown, CodecError>
  /** `encodeString` as a plain function, for encoding the messages of a turn in one step (no span per message). */
  readonly encodeStringEither: (value: unknown) => Either.Either<string, CodecError>
  /** `decodeString` as a plain function, for decoding many stored rows in one step (no span per row). */
  readonly decodeStringEither: (text: string) => Either.Either<unknown, CodecError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class MessageCodec extends Context.Tag("@convo/core/MessageCodec")<MessageCodec, Service>() {}

const fromInternal = <A>(codec: InternalCodec<A>): TypeCodec<A> =>
  Registry.withPlainDecode(
    {
      type: codec.type,
      is: codec.is,
      encode: codec.encode,
      decode: (value) =>
        Either.mapLeft(
          codec.decode(value),
          (detail) => new CodecError({ direction: "decode", type: codec.type, detail })
        )
    },
    codec.decodePlain
  )

/**
 * @since 0.1.0
 * @category codecs
 */
export const SystemMessageCodec: TypeCodec<SystemMessage> = fromInternal(Messages.SystemMessageSpec)

/**
 * @since 0.1.0
 * @category codecs
 */
export const HumanMessageCodec: TypeCodec<HumanMessage> = fromInternal(Messages.HumanMessageSpec)

/**
 * @since 0.1.0
 * @category codecs
 */
export const AIMessageCodec: TypeCodec<AIMessage> = fromInternal(Messages.AIMessageSpec)

/**
 * @since 0.1.0
 * @category codecs
 */
export const AIMessageChunkCodec: TypeCodec<AIMessageChunk> = fromInternal(Messages.AIMessageChunkSpec)

/**
 * @since 0.1.0
 * @category codecs
 */
export const ToolMessageCodec: TypeCodec<ToolMessage> = fromInternal(Messages.ToolMessageSpec)

/**
 * @since 0.1.0
 * @category codecs
 */
export const FunctionMessageCodec: TypeCodec<FunctionMessage> = fromInternal(Messages.FunctionMessageSpec)

/**
 * `bytes`: base64 text ⇄ `Uint8Array`.
 *
 * @since 0.1.0
 * @category codecs
 */
export const BytesCodec: TypeCodec<Uint8Array> = fromInternal(Builtins.BytesCodec)

/**
 * @since 0.1.0
 * @category codecs
 */
export const DataFrameCodec: TypeCodec<DataFrame> = fromInternal(Builtins.DataFrameCodec)

/**
 * @since 0.1.0
 * @category codecs
 */
export const SeriesCodec: TypeCodec<Series> = fromInternal(Builtins.SeriesCodec)

/**
 * @since 0.1.0
 * @category codecs
 */
export const ToolAgentActionCodec: TypeCodec<ToolAgentAction> = fromInternal(Builtins.ToolAgentActionCodec)

/**
 * @since 0.1.0
 * @category codecs
 */
export const AgentActionMessageLogCodec: TypeCodec<AgentActionMessageLog> = fromInternal(
  Builtins.AgentActionMessageLogCodec
)

/**
 * A bare `AgentAction` (pyhub never stored one on its own, but one can be encoded).
 *
 * @since 0.1.0
 * @category codecs
 */
export const AgentActionCodec: TypeCodec<AgentAction> = fromInternal(Builtins.AgentActionCodec)

/**
 * @since 0.1.0
 * @category codecs
 */
export const AgentStepCodec: TypeCodec<AgentStep> = fromInternal(Builtins.AgentStepCodec)

/**
 * The built-in codecs, most specific first (an `AIMessageChunk` is also an `AIMessage` to
 * LangChain.js, a `ToolAgentAction` is also an `AgentActionMessageLog`).
 *
 * @since 0.1.0
 * @category codecs
 */
export const builtins: ReadonlyArray<TypeCodec<any>> = [
  AIMessageChunkCodec,
  AIMessageCodec,
  HumanMessageCodec,
  SystemMessageCodec,
  ToolMessageCodec,
  FunctionMessageCodec,
  BytesCodec,
  DataFrameCodec,
  SeriesCodec,
  ToolAgentActionCodec,
  AgentActionMessageLogCodec,
  AgentActionCodec,
  AgentStepCodec
]

/**
 * A codec from a Schema whose type is a class (e.g. `Schema.Class`): `is` is the schema's guard,
 * `_value` is the schema's encoded form.
 *
 * @example
 * import * as Schema from "effect/Schema"
 * import * as MessageCodec from "@convo/core/MessageCodec"
 *
 * class Point extends Schema.Class<Point>("Point")({ x: Schema.Number, y: Schema.Number }) {}
 * const layer = MessageCodec.layerWith({ types: [MessageCodec.fromSchema("Point", Point)] })
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSchema = <A, I>(type: string, schema: Schema.Schema<A, I, never>): TypeCodec<A> => {
  const is = Schema.is(schema)
  const encode = Schema.encodeSync(schema)
  const decode = Schema.decodeUnknownEither(schema)
  return {
    type,
    is: (u): u is A => is(u),
    encode: (value) => encode(value),
    decode: (value) =>
      Either.mapLeft(
        decode(value),
        (error) =>
          new CodecError({ direction: "decode", type, detail: ParseResult.TreeFormatter.formatErrorSync(error) })
      )
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Codecs for your own types. They come before the built-ins, so one may replace a built-in `_type`. */
  readonly types?: ReadonlyArray<TypeCodec<any>> | undefined
}

const toCodecError = (failure: Registry.Failure): CodecError =>
  failure.type === undefined
    ? new CodecError({ direction: failure.direction, detail: failure.detail })
    : new CodecError({ direction: failure.direction, type: failure.type, detail: failure.detail })

const typeOf = (json: unknown): string | undefined =>
  typeof json === "object" && json !== null && typeof (json as { _type?: unknown })._type === "string"
    ? (json as { _type: string })._type
    : undefined

/**
 * The codec service over the built-ins and `options.types`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Service => build(options, undefined)

/**
 * The codec in django-pyhub-ai's write mode: every row it writes decodes with pyhub's own
 * `XJSONDecoder`, so a Django deployment can read a database convo writes to. pyhub's decoder has
 * no `ToolMessage`, so a tool turn is written in the shapes pyhub's agent stored: the `AIMessage`
 * with tool calls as `{"actions": [ToolAgentAction, ...], "messages": [AIMessageChunk]}` and each
 * `ToolMessage` as `{"steps": [AgentStep], "messages": [FunctionMessage]}` (the tool message's own
 * fields kept in the `FunctionMessage`'s `additional_kwargs` under `convo_tool_message`). Reading
 * gives back the same `AIMessage` and `ToolMessage`, so the history sent to the model is the same
 * in both modes; every other row is read as `make` reads it, so a database written in the default
 * mode reads the same too. Encoding a value whose JSON holds a `_type` pyhub's decoder rejects
 * (your own types, an unregistered `OpaqueValue`, a bare `AgentAction`) fails with a `CodecError`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makePyhub = (options?: Options): Service =>
  build(options, { toStored: Pyhub.toPyhub, fromStored: Pyhub.fromPyhub })

/**
 * The `_type`s django-pyhub-ai's `XJSONDecoder` accepts; `makePyhub` writes only these.
 *
 * @since 0.2.0
 * @category models
 */
export const pyhubTypes: ReadonlySet<string> = Pyhub.pyhubTypes

interface StoredForm {
  readonly toStored: (json: unknown) => unknown
  readonly fromStored: (json: unknown) => unknown
}

const build = (options: Options | undefined, form: StoredForm | undefined): Service => {
  const registry = Registry.makeRegistry([...(options?.types ?? []), ...builtins])

  const encodeRegistry = (value: unknown): Either.Either<unknown, Registry.Failure> => {
    const result = Registry.encode(registry, value)
    if (form === undefined || Either.isLeft(result)) return result
    try {
      return Either.right(form.toStored(result.right))
    } catch (e) {
      return Either.left(
        e instanceof Registry.Failure
          ? e
          : new Registry.Failure("encode", undefined, e instanceof Error ? e.message : String(e))
      )
    }
  }

  const decodeRegistry = (json: unknown): Either.Either<unknown, Registry.Failure> =>
    Registry.decode(registry, form === undefined ? json : form.fromStored(json))

  const decodeTextRegistry = (text: string): Either.Either<unknown, Registry.Failure> =>
    form === undefined ? Registry.decodeText(registry, text) : Registry.decodeText(registry, text, form.fromStored)

  const encodeJson = (value: unknown): Effect.Effect<Json, CodecError> => {
    const result = encodeRegistry(value)
    if (Either.isLeft(result)) return Effect.fail(toCodecError(result.left))
    const type = typeOf(result.right)
    return type === undefined
      ? Effect.succeed(result.right as Json)
      : Effect.as(Effect.annotateCurrentSpan("codec.type", type), result.right as Json)
  }

  const decodeWith = (result: Either.Either<unknown, Registry.Failure>, json: unknown) => {
    if (Either.isLeft(result)) return Effect.fail(toCodecError(result.left))
    const type = typeOf(json)
    return type === undefined
      ? Effect.succeed(result.right)
      : Effect.as(Effect.annotateCurrentSpan("codec.type", type), result.right)
  }

  return MessageCodec.of({
    encode: Effect.fn("MessageCodec.encode")(function* (value: unknown) {
      return yield* encodeJson(value)
    }),
    decode: Effect.fn("MessageCodec.decode")(function* (json: unknown) {
      return yield* decodeWith(decodeRegistry(json), json)
    }),
    encodeString: Effect.fn("MessageCodec.encodeString")(function* (value: unknown) {
      const json = yield* encodeJson(value)
      return yield* Effect.try({
        try: () => stringify(json),
        catch: (e) => new CodecError({ direction: "encode", detail: e instanceof Error ? e.message : String(e) })
      })
    }),
    decodeString: Effect.fn("MessageCodec.decodeString")(function* (text: string) {
      return yield* decodeWith(decodeTextRegistry(text), undefined)
    }),
    encodeStringEither: (value: unknown) => {
      const result = encodeRegistry(value)
      if (Either.isLeft(result)) return Either.left(toCodecError(result.left))
      try {
        return Either.right(stringify(result.right))
      } catch (e) {
        return Either.left(new CodecError({ direction: "encode", detail: e instanceof Error ? e.message : String(e) }))
      }
    },
    decodeStringEither: (text: string) => Either.mapLeft(decodeTextRegistry(text), toCodecError)
  })
}

/**
 * The codec with the built-in types.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<MessageCodec> = Layer.sync(MessageCodec, () => make())

/**
 * The codec with the built-in types and your own.
 *
 * @example
 * import * as Effect from "effect/Effect"
 * import * as Either from "effect/Either"
 * import * as MessageCodec from "@convo/core/MessageCodec"
 *
 * class Money {
 *   constructor(readonly amount: string) {}
 * }
 * const MoneyCodec: MessageCodec.TypeCodec<Money> = {
 *   type: "Money",
 *   is: (u): u is Money => u instanceof Money,
 *   encode: (m) => ({ amount: m.amount }),
 *   decode: (v) => Either.right(new Money(String((v as { amount: unknown }).amount)))
 * }
 * const program = Effect.flatMap(MessageCodec.MessageCodec, (codec) => codec.encodeString(new Money("4.50")))
 * Effect.provide(program, MessageCodec.layerWith({ types: [MoneyCodec] }))
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<MessageCodec> => Layer.sync(MessageCodec, () => make(options))

/**
 * The codec in django-pyhub-ai's write mode (see `makePyhub`): use it when a Django deployment of
 * django-pyhub-ai reads the same tables.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerPyhub: Layer.Layer<MessageCodec> = Layer.sync(MessageCodec, () => makePyhub())

/**
 * The pyhub write mode with your own types (each must write only `_type`s `pyhubTypes` holds, or
 * encoding it fails).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerPyhubWith = (options: Options): Layer.Layer<MessageCodec> =>
  Layer.sync(MessageCodec, () => makePyhub(options))

/**
 * What a value is, for the store's `kind` column: the role of a message; "unknown" for an
 * `OpaqueValue` or a message of another role; "data" for anything else (bytes, tables, agent
 * step records, plain JSON, your own types).
 *
 * @since 0.1.0
 * @category utils
 */
export const kindOf = (value: unknown): "human" | "ai" | "system" | "tool" | "function" | "data" | "unknown" => {
  if (value instanceof OpaqueValue) return "unknown"
  if (BaseMessage.isInstance(value)) {
    const type: string = value.type
    return type === "human" || type === "ai" || type === "system" || type === "tool" || type === "function"
      ? type
      : "unknown"
  }
  return "data"
}

/**
 * Token counts of an AI message's `usage_metadata`, or nulls.
 *
 * @since 0.1.0
 * @category utils
 */
export const tokensOf = (value: unknown): { readonly input: number | null; readonly output: number | null } => {
  if (AIMessage.isInstance(value) && typeof value.usage_metadata === "object" && value.usage_metadata !== null) {
    const { input_tokens, output_tokens } = value.usage_metadata
    return {
      input: typeof input_tokens === "number" ? input_tokens : null,
      output: typeof output_tokens === "number" ? output_tokens : null
    }
  }
  return { input: null, output: null }
}

/**
 * The stored fields of a decoded value that its class has no field for, in stored order: pyhub's
 * `type` and `example` on a message, any extra field. Empty for a value that was not decoded.
 * Encoding writes them back.
 *
 * @since 0.1.0
 * @category utils
 */
export const extrasOf = (value: unknown): Readonly<Record<string, unknown>> => {
  if (typeof value !== "object" || value === null) return {}
  const modelled = Messages.modelledOf(value) ?? Builtins.modelledRecordFields(value)
  return modelled === undefined ? {} : extras(value, modelled)
}
