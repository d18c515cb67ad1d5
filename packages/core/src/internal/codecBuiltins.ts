/**
 * The built-in non-message codecs, each as django-pyhub-ai's `XJSONEncoder` wrote its type:
 * `bytes` as base64 text, pandas tables as `to_dict()`, and the agent step records as pydantic's
 * `model_dump()` (an `AgentStep`'s action with `AgentAction`'s fields only, `type` "AgentAction").
 *
 * @internal
 */
import type { BaseMessage } from "@langchain/core/messages"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Schema from "effect/Schema"
import { AgentAction, AgentActionMessageLog, AgentStep, ToolAgentAction } from "../AgentStep.js"
import { DataFrame, Series } from "../Table.js"
import { copyLiterals, isPlainObject, keysOf, objectFromEntries } from "./codecJson.js"
import { check, decodeUntagged, describe, encodeUntagged } from "./codecMessages.js"
import type { InternalCodec } from "./codecMessages.js"
import { recall, remember, writeRecord } from "./codecStored.js"

/** @internal */
export const BytesCodec: InternalCodec<Uint8Array> = {
  type: "bytes",
  is: (u): u is Uint8Array => u instanceof Uint8Array,
  encode: (bytes) => Encoding.encodeBase64(bytes),
  decode: (u) => {
    if (typeof u !== "string") return Either.left(`expected base64 text, got ${describe(u)}`)
    const bytes = Encoding.decodeBase64(u)
    // Only canonical text (padded, no line breaks) reads back into the same stored text.
    if (Either.isLeft(bytes) || Encoding.encodeBase64(bytes.right) !== u) {
      return Either.left("expected canonical base64 text (padded, no whitespace)")
    }
    return Either.right(bytes.right)
  }
}

const seriesRecord = (series: Series): Record<string, unknown> => {
  const record = objectFromEntries(series.data)
  copyLiterals(series.data, record)
  return record
}

const seriesOf = (record: Record<string, unknown>): Series => {
  const series = new Series(keysOf(record).map((label) => [label, record[label]] as const))
  copyLiterals(record, series.data)
  return series
}

/** @internal */
export const SeriesCodec: InternalCodec<Series> = {
  type: "Series",
  is: (u): u is Series => u instanceof Series,
  encode: seriesRecord,
  decode: (u) =>
    isPlainObject(u)
      ? Either.right(seriesOf(u))
      : Either.left(`expected an object of values by index label, got ${describe(u)}`)
}

/** @internal */
export const DataFrameCodec: InternalCodec<DataFrame> = {
  type: "DataFrame",
  is: (u): u is DataFrame => u instanceof DataFrame,
  encode: (frame) =>
    objectFromEntries(Array.from(frame.data, ([name, column]) => [name, seriesRecord(column)] as const)),
  decode: (u) => {
    if (!isPlainObject(u)) return Either.left(`expected an object of columns, got ${describe(u)}`)
    const columns: Array<readonly [string, Series]> = []
    for (const name of keysOf(u)) {
      const column = u[name]
      if (!isPlainObject(column)) {
        return Either.left(
          `column ${JSON.stringify(name)}: expected an object of values by index label, got ${describe(column)}`
        )
      }
      columns.push([name, seriesOf(column)])
    }
    return Either.right(new DataFrame(columns))
  }
}

// ---------------------------------------------------------------------------------------------
// Agent step records
// ---------------------------------------------------------------------------------------------

const Dict = Schema.Record({ key: Schema.String, value: Schema.Unknown })
const ActionFields = {
  tool: Schema.String,
  tool_input: Schema.Union(Schema.String, Dict),
  log: Schema.String,
  type: Schema.optional(Schema.String)
}
const ActionSchema = Schema.Struct(ActionFields)
const MessageLogSchema = Schema.Struct({ ...ActionFields, message_log: Schema.Array(Schema.Unknown) })
const ToolActionSchema = Schema.Struct({
  ...ActionFields,
  message_log: Schema.Array(Schema.Unknown),
  tool_call_id: Schema.NullOr(Schema.String)
})

type ActionClass = "AgentAction" | "AgentActionMessageLog" | "ToolAgentAction"

const classOf = (action: AgentAction): ActionClass =>
  action instanceof ToolAgentAction
    ? "ToolAgentAction"
    : action instanceof AgentActionMessageLog
      ? "AgentActionMessageLog"
      : "AgentAction"

/** Where an action was read or is written: on its own, or as an `AgentStep`'s action. */
type ActionContext = "action" | "step-action"

const actionFields = ["tool", "tool_input", "log"]
const canonicalOf: Record<ActionClass, ReadonlyArray<string>> = {
  AgentAction: [...actionFields, "type"],
  AgentActionMessageLog: [...actionFields, "type", "message_log"],
  ToolAgentAction: [...actionFields, "type", "message_log", "tool_call_id"]
}
const modelledOf: Record<ActionClass, ReadonlySet<string>> = {
  AgentAction: new Set(actionFields),
  AgentActionMessageLog: new Set([...actionFields, "message_log"]),
  ToolAgentAction: new Set([...actionFields, "message_log", "tool_call_id"])
}

/** The fields each record class models (the rest of a stored record are extras). @internal */
export const modelledRecordFields = (u: unknown): ReadonlySet<string> | undefined =>
  u instanceof AgentAction
    ? modelledOf[classOf(u)]
    : u instanceof AgentStep
      ? new Set(["action", "observation"])
      : undefined

const encodeMessageLog = (messages: ReadonlyArray<BaseMessage>) =>
  messages.map((message, i) => {
    const record = encodeUntagged(message)
    if (Either.isLeft(record)) throw new Error(`message_log[${i}]: ${record.left}`)
    return record.right
  })

const actionRecord = (action: AgentAction, context: ActionContext): Record<string, unknown> => {
  const cls = classOf(action)
  return writeRecord(
    {
      // pydantic dumps an AgentStep's action with AgentAction's fields, and pyhub renames its type.
      canonical: context === "action" ? canonicalOf[cls] : canonicalOf.AgentAction,
      modelled: modelledOf[cls],
      current: (key) => {
        switch (key) {
          case "tool":
            return action.tool
          case "tool_input":
            return action.toolInput
          case "log":
            return action.log
          case "message_log":
            return encodeMessageLog((action as AgentActionMessageLog).messageLog)
          case "tool_call_id":
            return (action as ToolAgentAction).toolCallId
        }
        return undefined
      },
      defaults: { type: context === "action" && cls !== "AgentAction" ? "AgentActionMessageLog" : "AgentAction" }
    },
    recall(action, context)
  )
}

const decodeAction = (
  u: unknown,
  wanted: ActionClass | undefined,
  context: ActionContext
): Either.Either<AgentAction, string> => {
  if (!isPlainObject(u)) return Either.left(`expected an object of action fields, got ${describe(u)}`)
  // In an AgentStep the class is not named: it follows from the fields present.
  const cls: ActionClass =
    wanted ?? ("tool_call_id" in u ? "ToolAgentAction" : "message_log" in u ? "AgentActionMessageLog" : "AgentAction")
  const valid = check(
    cls === "ToolAgentAction" ? ToolActionSchema : cls === "AgentActionMessageLog" ? MessageLogSchema : ActionSchema,
    u
  )
  if (Either.isLeft(valid)) return Either.left(valid.left)
  const v = u as Record<string, any>
  const base = {
    tool: v.tool as string,
    toolInput: v.tool_input as string | Record<string, unknown>,
    log: v.log as string
  }
  let action: AgentAction
  if (cls === "AgentAction") {
    action = new AgentAction(base)
  } else {
    const messageLog: Array<BaseMessage> = []
    for (const [i, entry] of (v.message_log as ReadonlyArray<unknown>).entries()) {
      const message = decodeUntagged(entry)
      if (Either.isLeft(message)) return Either.left(`message_log.${i}: ${message.left}`)
      messageLog.push(message.right)
    }
    action =
      cls === "ToolAgentAction"
        ? new ToolAgentAction({ ...base, messageLog, toolCallId: v.tool_call_id as string | null })
        : new AgentActionMessageLog({ ...base, messageLog })
  }
  remember(action, v, context)
  return Either.right(action)
}

const actionCodec = <A extends AgentAction>(cls: ActionClass, is: (u: unknown) => u is A): InternalCodec<A> => ({
  type: cls,
  is,
  encode: (action) => actionRecord(action, "action"),
  decode: (u) => decodeAction(u, cls, "action") as Either.Either<A, string>
})

/** @internal */
export const ToolAgentActionCodec = actionCodec(
  "ToolAgentAction",
  (u): u is ToolAgentAction => u instanceof ToolAgentAction
)

/** @internal */
export const AgentActionMessageLogCodec = actionCodec(
  "AgentActionMessageLog",
  (u): u is AgentActionMessageLog => u instanceof AgentActionMessageLog && !(u instanceof ToolAgentAction)
)

/** @internal */
export const AgentActionCodec = actionCodec(
  "AgentAction",
  (u): u is AgentAction => u instanceof AgentAction && classOf(u) === "AgentAction"
)

/** @internal */
export const AgentStepCodec: InternalCodec<AgentStep> = {
  type: "AgentStep",
  is: (u): u is AgentStep => u instanceof AgentStep,
  encode: (step) =>
    writeRecord(
      {
        canonical: ["action", "observation"],
        modelled: new Set(["action", "observation"]),
        current: (key) => (key === "action" ? actionRecord(step.action, "step-action") : step.observation),
        defaults: {}
      },
      recall(step, "step")
    ),
  decode: (u) => {
    if (!isPlainObject(u)) return Either.left(`expected an object with action and observation, got ${describe(u)}`)
    if (!("action" in u)) return Either.left("action: is missing")
    if (!("observation" in u)) return Either.left("observation: is missing")
    const action = decodeAction(u.action, undefined, "step-action")
    if (Either.isLeft(action)) return Either.left(`action: ${action.left}`)
    const step = new AgentStep({ action: action.right, observation: u.observation })
    remember(step, u, "step")
    return Either.right(step)
  }
}
