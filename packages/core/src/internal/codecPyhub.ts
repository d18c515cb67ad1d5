/**
 * The rows of `MessageCodec.makePyhub`: what django-pyhub-ai's `XJSONDecoder` reads. Its decoder
 * knows a fixed list of `_type`s (no `ToolMessage`), so a tool turn is written the way pyhub's own
 * agent stored one, as plain objects from LangChain's agent executor:
 *
 * - an `AIMessage` with tool calls becomes `{"actions": [ToolAgentAction, ...], "messages":
 *   [AIMessageChunk]}`: one action per tool call, the message itself as an `AIMessageChunk` (with
 *   the `tool_call_chunks` Python's chunk validates);
 * - a `ToolMessage` becomes `{"steps": [AgentStep], "messages": [FunctionMessage]}`: the step's
 *   action names the tool and its observation is the result; the `FunctionMessage` carries the
 *   result too, and keeps the tool message's own fields (`tool_call_id`, `name`, `artifact`,
 *   `status`) under one `additional_kwargs` key so the row reads back as the same `ToolMessage`.
 *
 * Reading lifts these two shapes back into the tagged `AIMessage` / `ToolMessage` they came from,
 * before the codecs run; every other row is read as the default codec reads it. Writing refuses a
 * value whose JSON holds a `_type` pyhub's decoder would reject (it raises, and the whole
 * conversation stops loading in Django).
 *
 * @internal
 */
import { copyLiterals, isPlainObject, keysOf, objectFromEntries } from "./codecJson.js"
import { Failure } from "./codecRegistry.js"

/** The `_type`s `XJSONDecoder.object_hook` accepts (django-pyhub-ai `json.py`, snapshot 32d7602). @internal */
export const pyhubTypes: ReadonlySet<string> = new Set([
  "bytes",
  "DataFrame",
  "Series",
  "SystemMessage",
  "HumanMessage",
  "AIMessage",
  "AIMessageChunk",
  "FunctionMessage",
  "ToolAgentAction",
  "AgentActionMessageLog",
  "AgentStep"
])

/** The `additional_kwargs` key of a `FunctionMessage` that holds the fields of the `ToolMessage` it stands for. @internal */
export const toolMessageKey = "convo_tool_message"

type Obj = Record<string, unknown>

const isTagged = (u: unknown, type: string): u is { readonly _type: string; readonly _value: Obj } =>
  isPlainObject(u) && u._type === type && isPlainObject(u._value)

const sameKeys = (o: Obj, keys: ReadonlyArray<string>): boolean => {
  const own = keysOf(o)
  return own.length === keys.length && keys.every((key) => own.includes(key))
}

const rebuild = (from: Obj, entries: Array<readonly [string, unknown]>): Obj => {
  const out = objectFromEntries(entries)
  copyLiterals(from, out)
  return out
}

const tagged = (type: string, value: unknown) => ({ _type: type, _value: value })

const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
      ? content
          .map((part) =>
            isPlainObject(part) && part.type === "text" && typeof part.text === "string"
              ? part.text
              : typeof part === "string"
                ? part
                : ""
          )
          .join("")
      : ""

const aiToActions = (value: Obj, calls: ReadonlyArray<unknown>): Obj => {
  const chunkCalls = calls.map((call, index) => {
    const c = isPlainObject(call) ? call : {}
    return {
      name: typeof c.name === "string" ? c.name : null,
      args: JSON.stringify(c.args ?? {}),
      id: typeof c.id === "string" ? c.id : null,
      index,
      type: "tool_call_chunk"
    }
  })
  const chunk = rebuild(value, [
    ...keysOf(value).map((key) => [key, key === "type" ? "AIMessageChunk" : value[key]] as const),
    ["tool_call_chunks", chunkCalls]
  ])
  const said = textOf(value.content)
  const actions = calls.map((call) => {
    const c = isPlainObject(call) ? call : {}
    const name = typeof c.name === "string" ? c.name : ""
    const args = isPlainObject(c.args) ? c.args : {}
    return tagged("ToolAgentAction", {
      tool: name,
      tool_input: args,
      log: `\nInvoking: \`${name}\` with \`${JSON.stringify(args)}\`\n${said.length > 0 ? `responded: ${said}\n` : ""}\n`,
      type: "AgentActionMessageLog",
      message_log: [chunk],
      tool_call_id: typeof c.id === "string" ? c.id : ""
    })
  })
  return { actions, messages: [tagged("AIMessageChunk", chunk)] }
}

const ownFields = ["content", "additional_kwargs", "response_metadata", "type", "id"]

const toolToSteps = (value: Obj): Obj => {
  const name = typeof value.name === "string" ? value.name : ""
  const kept = rebuild(
    value,
    keysOf(value)
      .filter((key) => !ownFields.includes(key))
      .map((key) => [key, value[key]] as const)
  )
  const kwargs = isPlainObject(value.additional_kwargs) ? value.additional_kwargs : {}
  const message = {
    content: value.content ?? "",
    additional_kwargs: { ...kwargs, [toolMessageKey]: kept },
    response_metadata: value.response_metadata ?? {},
    type: "function",
    name,
    id: value.id ?? null
  }
  const step = tagged("AgentStep", {
    action: { tool: name, tool_input: {}, log: "", type: "AgentAction" },
    observation: value.content ?? ""
  })
  return { steps: [step], messages: [tagged("FunctionMessage", message)] }
}

const checkTypes = (json: unknown, path: string): void => {
  if (Array.isArray(json)) {
    json.forEach((item, i) => checkTypes(item, `${path}[${i}]`))
    return
  }
  if (!isPlainObject(json)) return
  if (typeof json._type === "string" && "_value" in json) {
    if (!pyhubTypes.has(json._type)) {
      throw new Failure(
        "encode",
        json._type,
        `django-pyhub-ai's decoder cannot read _type ${JSON.stringify(json._type)}${path === "$" ? "" : ` (at ${path})`}`
      )
    }
    checkTypes(json._value, `${path}._value`)
    return
  }
  for (const key of keysOf(json)) checkTypes(json[key], `${path}.${key}`)
}

/**
 * An encoded row as pyhub's decoder reads it: tool turns in agent-step shapes. Throws `Failure`
 * when the row holds a `_type` pyhub cannot read.
 *
 * @internal
 */
export const toPyhub = (json: unknown): unknown => {
  let out = json
  if (isTagged(json, "AIMessage") && Array.isArray(json._value.tool_calls) && json._value.tool_calls.length > 0) {
    out = aiToActions(json._value, json._value.tool_calls)
  } else if (isTagged(json, "ToolMessage")) {
    out = toolToSteps(json._value)
  }
  checkTypes(out, "$")
  return out
}

/**
 * A stored row before decoding: the agent-step shapes `toPyhub` writes lifted back into the
 * tagged `AIMessage` / `ToolMessage`. Any other JSON is returned as it is.
 *
 * @internal
 */
export const fromPyhub = (json: unknown): unknown => {
  if (!isPlainObject(json) || !Array.isArray(json.messages) || json.messages.length !== 1) return json
  const message: unknown = json.messages[0]
  if (sameKeys(json, ["actions", "messages"]) && Array.isArray(json.actions) && isTagged(message, "AIMessageChunk")) {
    const value = message._value
    const calls = value.tool_calls
    if (!Array.isArray(calls) || calls.length === 0 || calls.length !== json.actions.length) return json
    const entries = keysOf(value)
      .filter((key) => key !== "tool_call_chunks")
      .map((key) => [key, key === "type" ? "ai" : value[key]] as const)
    return tagged("AIMessage", rebuild(value, entries))
  }
  if (
    sameKeys(json, ["steps", "messages"]) &&
    Array.isArray(json.steps) &&
    json.steps.length === 1 &&
    isTagged(message, "FunctionMessage")
  ) {
    const value = message._value
    const kwargs = value.additional_kwargs
    if (!isPlainObject(kwargs) || !isPlainObject(kwargs[toolMessageKey])) return json
    const kept = kwargs[toolMessageKey] as Obj
    const rest = rebuild(
      kwargs,
      keysOf(kwargs)
        .filter((key) => key !== toolMessageKey)
        .map((key) => [key, kwargs[key]] as const)
    )
    const keptKeys = keysOf(kept)
    const entries: Array<readonly [string, unknown]> = [
      ["content", value.content],
      ["additional_kwargs", rest],
      ["response_metadata", value.response_metadata],
      ["type", "tool"],
      ...(keptKeys.includes("name") ? [["name", kept.name] as const] : []),
      ["id", value.id],
      ...keptKeys.filter((key) => key !== "name").map((key) => [key, kept[key]] as const)
    ]
    return tagged("ToolMessage", rebuild(kept, entries))
  }
  return json
}
