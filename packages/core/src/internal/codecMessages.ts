/**
 * LangChain.js messages ⇄ the `_value` records LangChain Python's `model_dump` gives and
 * django-pyhub-ai stored: snake_case fields in pydantic's field order, `_value` checked with
 * `effect/Schema` before a message is built, and every stored field kept (see `codecStored.ts`).
 *
 * @internal
 */
import {
  AIMessage,
  AIMessageChunk,
  BaseMessage,
  FunctionMessage,
  HumanMessage,
  SystemMessage,
  ToolMessage
} from "@langchain/core/messages"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { isPlainObject } from "./codecJson.js"
import { recall, remember, writeRecord } from "./codecStored.js"
import type { RecordSpec } from "./codecStored.js"

/**
 * A codec as the built-ins are written: `decode` fails with a detail text, which the registry turns
 * into a `CodecError` naming the type.
 *
 * @internal
 */
export interface InternalCodec<A> {
  readonly type: string
  readonly is: (u: unknown) => u is A
  readonly encode: (value: A) => unknown
  readonly decode: (value: unknown) => Either.Either<A, string>
  /**
   * The decode of a `_value` that holds no tagged value, when it is one of the common shapes
   * (`undefined` otherwise: the registry then walks it and calls `decode`).
   */
  readonly decodePlain?: (value: Record<string, unknown>) => A | undefined
}

/** Checks `u` against `schema` (the decoded output is not used: the stored object is kept as is). @internal */
export const check = (schema: Schema.Schema.AnyNoContext, u: unknown): Either.Either<void, string> => {
  const result = Schema.decodeUnknownEither(schema, { errors: "all" })(u)
  if (Either.isRight(result)) return Either.void
  const byPath = new Map<string, Array<string>>()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(result.left)) {
    const path = issue.path.length === 0 ? "value" : issue.path.join(".")
    byPath.set(path, [...(byPath.get(path) ?? []), issue.message])
  }
  return Either.left(Array.from(byPath, ([path, messages]) => `${path}: ${messages.join(" or ")}`).join("; "))
}

/** @internal */
export const describe = (u: unknown): string =>
  u === null ? "null" : Array.isArray(u) ? "an array" : typeof u === "object" ? "an object" : `a ${typeof u}`

const Dict = Schema.Record({ key: Schema.String, value: Schema.Unknown })
const optionalText = Schema.optional(Schema.NullOr(Schema.String))

const Content = Schema.Union(Schema.String, Schema.Array(Schema.Union(Schema.String, Dict)))

const ToolCall = Schema.Struct({
  name: Schema.String,
  args: Dict,
  id: optionalText,
  type: Schema.optional(Schema.Literal("tool_call"))
})

const InvalidToolCall = Schema.Struct({
  name: optionalText,
  args: optionalText,
  id: optionalText,
  error: optionalText,
  type: Schema.optional(Schema.Literal("invalid_tool_call"))
})

const ToolCallChunk = Schema.Struct({
  name: optionalText,
  args: optionalText,
  id: optionalText,
  index: Schema.optional(Schema.NullOr(Schema.Number)),
  type: Schema.optional(Schema.Literal("tool_call_chunk"))
})

const UsageMetadata = Schema.Struct({
  input_tokens: Schema.Number,
  output_tokens: Schema.Number,
  total_tokens: Schema.Number,
  input_token_details: Schema.optional(Dict),
  output_token_details: Schema.optional(Dict)
})

const baseFields = {
  content: Content,
  additional_kwargs: Schema.optional(Dict),
  response_metadata: Schema.optional(Dict),
  name: optionalText,
  id: optionalText
}

const aiFields = {
  ...baseFields,
  example: Schema.optional(Schema.Boolean),
  tool_calls: Schema.optional(Schema.Array(ToolCall)),
  invalid_tool_calls: Schema.optional(Schema.Array(InvalidToolCall)),
  usage_metadata: Schema.optional(Schema.NullOr(UsageMetadata))
}

const typeField = (...types: ReadonlyArray<string>) => Schema.optional(Schema.Literal(...types))

/** How one message class is stored. @internal */
export interface MessageSpec<M extends BaseMessage> extends InternalCodec<M> {
  /** The `type` field Python writes. */
  readonly pyType: string
  /** `type` values accepted on decode (the plain and the chunk class of the same role). */
  readonly pyTypes: ReadonlyArray<string>
  readonly canonical: ReadonlyArray<string>
  readonly modelled: ReadonlySet<string>
}

const baseCanonical = ["content", "additional_kwargs", "response_metadata", "type", "name", "id"]
const baseModelled = ["content", "additional_kwargs", "response_metadata", "name", "id"]
const aiCanonical = [...baseCanonical, "example", "tool_calls", "invalid_tool_calls", "usage_metadata"]
const aiModelled = [...baseModelled, "tool_calls", "invalid_tool_calls", "usage_metadata"]

const defaults: Readonly<Record<string, unknown>> = {
  additional_kwargs: {},
  response_metadata: {},
  name: null,
  id: null,
  example: false,
  tool_calls: [],
  invalid_tool_calls: [],
  usage_metadata: null,
  tool_call_chunks: [],
  artifact: null,
  status: "success"
}

const has = (record: object, key: string) => Object.prototype.hasOwnProperty.call(record, key)

const context = "message"

const listFields = new Set(["tool_calls", "invalid_tool_calls", "tool_call_chunks"])

/**
 * A stored field as the message holds it: lists default to empty, and a stored `null` becomes
 * `undefined` (LangChain.js' "not set"), except `name` and `id`, which keep their `null`.
 */
const restored = (v: Record<string, unknown>, key: string): unknown => {
  if (!has(v, key)) return listFields.has(key) ? [] : undefined
  const x = v[key]
  return x === null && key !== "name" && key !== "id" ? undefined : x
}

// A fast accept for the common stored shapes (text content, no tool calls), which `check` accepts
// too; anything else is checked by the Schema, which also words the error.
const optionalDict = (x: unknown) => x === undefined || isPlainObject(x)
const optionalNullableText = (x: unknown) => x === undefined || x === null || typeof x === "string"
const noItems = (x: unknown) => x === undefined || (Array.isArray(x) && x.length === 0)
const plainUsage = (x: unknown) =>
  x === undefined ||
  x === null ||
  (isPlainObject(x) &&
    typeof x.input_tokens === "number" &&
    typeof x.output_tokens === "number" &&
    typeof x.total_tokens === "number" &&
    optionalDict(x.input_token_details) &&
    optionalDict(x.output_token_details))
const plainBase = (v: Record<string, unknown>, pyTypes: ReadonlyArray<string>) =>
  typeof v.content === "string" &&
  optionalDict(v.additional_kwargs) &&
  optionalDict(v.response_metadata) &&
  optionalNullableText(v.name) &&
  optionalNullableText(v.id) &&
  (v.type === undefined || (typeof v.type === "string" && pyTypes.includes(v.type))) &&
  (v.example === undefined || typeof v.example === "boolean")
const plainAi = (v: Record<string, unknown>, pyTypes: ReadonlyArray<string>) =>
  plainBase(v, pyTypes) && noItems(v.tool_calls) && noItems(v.invalid_tool_calls) && plainUsage(v.usage_metadata)

const makeSpec = <M extends BaseMessage>(options: {
  /** True only for values `fields` accepts: skips the Schema check for them. */
  readonly quick?: (v: Record<string, unknown>, pyTypes: ReadonlyArray<string>) => boolean
  readonly type: string
  readonly pyTypes: readonly [string, ...Array<string>]
  readonly canonical: ReadonlyArray<string>
  readonly modelled: ReadonlyArray<string>
  readonly fields: Schema.Struct.Fields
  readonly is: (u: unknown) => boolean
  readonly build: (fields: Record<string, any>) => M
}): MessageSpec<M> => {
  const pyType = options.pyTypes[0]
  const schema = Schema.Struct({ ...options.fields, type: typeField(...options.pyTypes) })
  const modelled = new Set(options.modelled)
  const recordDefaults = { ...defaults, type: pyType }
  const construct = (v: Record<string, any>): M => {
    // The constructors normalise what they are given (and may push into a content array): give
    // them copies, then put the stored values back exactly.
    const fields: Record<string, any> = {}
    for (const key of options.modelled) if (has(v, key)) fields[key] = v[key]
    if (Array.isArray(v.content)) fields.content = [...v.content]
    const message = options.build(fields)
    const m = message as unknown as Record<string, unknown>
    for (const key of options.modelled) m[key] = restored(v, key)
    m.content = v.content
    m.additional_kwargs = v.additional_kwargs ?? {}
    m.response_metadata = v.response_metadata ?? {}
    remember(message, v, context)
    return message
  }
  return {
    type: options.type,
    pyType,
    pyTypes: options.pyTypes,
    canonical: options.canonical,
    modelled,
    is: (u): u is M => BaseMessage.isInstance(u) && options.is(u),
    encode: (message) => {
      const spec: RecordSpec = {
        canonical: options.canonical,
        modelled,
        current: (key) => (message as unknown as Record<string, unknown>)[key],
        defaults: recordDefaults
      }
      return writeRecord(spec, recall(message, context))
    },
    decode: (u) => {
      if (!isPlainObject(u)) return Either.left(`expected an object of message fields, got ${describe(u)}`)
      const valid = options.quick?.(u, options.pyTypes) === true ? Either.void : check(schema, u)
      if (Either.isLeft(valid)) return Either.left(valid.left)
      return Either.right(construct(u))
    },
    decodePlain: (v) => (options.quick?.(v, options.pyTypes) === true ? construct(v) : undefined)
  }
}

/** @internal */
export const SystemMessageSpec = makeSpec<SystemMessage>({
  type: "SystemMessage",
  quick: plainBase,
  pyTypes: ["system", "SystemMessageChunk"],
  canonical: baseCanonical,
  modelled: baseModelled,
  fields: baseFields,
  is: (u) => SystemMessage.isInstance(u),
  build: (fields) => new SystemMessage(fields as any)
})

/** @internal */
export const HumanMessageSpec = makeSpec<HumanMessage>({
  type: "HumanMessage",
  quick: plainBase,
  pyTypes: ["human", "HumanMessageChunk"],
  canonical: [...baseCanonical, "example"],
  modelled: baseModelled,
  fields: { ...baseFields, example: Schema.optional(Schema.Boolean) },
  is: (u) => HumanMessage.isInstance(u),
  build: (fields) => new HumanMessage(fields as any)
})

const aiBuildFields = (fields: Record<string, any>) => {
  const toolCalls = fields.tool_calls ?? []
  // LangChain.js re-parses (and warns about) provider tool calls left in additional_kwargs when
  // tool_calls is empty; the stored tool_calls are authoritative, so keep it from looking. The
  // fields are copied without the keys left out (a `delete` would slow every read of the object).
  const out: Record<string, any> = {}
  for (const key in fields) {
    if (key === "additional_kwargs" && toolCalls.length === 0) continue
    if (key === "usage_metadata" && fields.usage_metadata === null) continue
    out[key] = fields[key]
  }
  out.tool_calls = toolCalls
  out.invalid_tool_calls = fields.invalid_tool_calls ?? []
  return out
}

/** @internal */
export const AIMessageSpec = makeSpec<AIMessage>({
  type: "AIMessage",
  quick: plainAi,
  pyTypes: ["ai"],
  canonical: aiCanonical,
  modelled: aiModelled,
  fields: aiFields,
  is: (u) => AIMessage.isInstance(u) && !AIMessageChunk.isInstance(u),
  build: (fields) => new AIMessage(aiBuildFields(fields) as any)
})

/** @internal */
export const AIMessageChunkSpec = makeSpec<AIMessageChunk>({
  type: "AIMessageChunk",
  pyTypes: ["AIMessageChunk", "ai"],
  canonical: [...aiCanonical, "tool_call_chunks"],
  modelled: [...aiModelled, "tool_call_chunks"],
  fields: { ...aiFields, tool_call_chunks: Schema.optional(Schema.Array(ToolCallChunk)) },
  is: (u) => AIMessageChunk.isInstance(u),
  build: (fields) => new AIMessageChunk(aiBuildFields(fields) as any)
})

/** @internal */
export const ToolMessageSpec = makeSpec<ToolMessage>({
  type: "ToolMessage",
  pyTypes: ["tool", "ToolMessageChunk"],
  canonical: [...baseCanonical, "tool_call_id", "artifact", "status"],
  modelled: [...baseModelled, "tool_call_id", "artifact", "status"],
  fields: {
    ...baseFields,
    tool_call_id: Schema.String,
    artifact: Schema.optional(Schema.Unknown),
    status: Schema.optional(Schema.Literal("success", "error"))
  },
  is: (u) => ToolMessage.isInstance(u),
  build: (fields) => new ToolMessage(fields as any)
})

/** @internal */
export const FunctionMessageSpec = makeSpec<FunctionMessage>({
  type: "FunctionMessage",
  pyTypes: ["function", "FunctionMessageChunk"],
  canonical: baseCanonical,
  modelled: baseModelled,
  fields: { ...baseFields, name: Schema.String },
  is: (u) => FunctionMessage.isInstance(u),
  build: (fields) => new FunctionMessage(fields as any)
})

/** Most specific first: an `AIMessageChunk` is also an `AIMessage` to LangChain.js. @internal */
export const messageSpecs: ReadonlyArray<MessageSpec<any>> = [
  AIMessageChunkSpec,
  AIMessageSpec,
  HumanMessageSpec,
  SystemMessageSpec,
  ToolMessageSpec,
  FunctionMessageSpec
]

const byPyType = new Map<string, MessageSpec<any>>()
for (const spec of [...messageSpecs].reverse()) for (const t of spec.pyTypes) byPyType.set(t, spec)
// "ai" alone means a complete AIMessage, not a chunk.
byPyType.set("ai", AIMessageSpec)

/** The spec that encodes `u`, if it is a message the codec stores. @internal */
export const specOf = (u: unknown): MessageSpec<any> | undefined => messageSpecs.find((spec) => spec.is(u))

/**
 * A message written without a tag, as `model_dump` nests messages in an `AgentActionMessageLog`:
 * its `type` field says which class it is.
 *
 * @internal
 */
export const decodeUntagged = (u: unknown): Either.Either<BaseMessage, string> => {
  if (!isPlainObject(u)) return Either.left(`expected a message object, got ${describe(u)}`)
  const spec = typeof u.type === "string" ? byPyType.get(u.type) : undefined
  if (spec === undefined) return Either.left(`unknown message type ${JSON.stringify(u.type)}`)
  return spec.decode(u)
}

/** @internal */
export const encodeUntagged = (message: BaseMessage): Either.Either<unknown, string> => {
  const spec = specOf(message)
  if (spec === undefined) return Either.left(`no codec for a ${message.getType()} message`)
  return Either.right(spec.encode(message))
}

/** Fields of `value` the stored record had that its class does not model. @internal */
export const modelledOf = (u: unknown): ReadonlySet<string> | undefined => specOf(u)?.modelled
