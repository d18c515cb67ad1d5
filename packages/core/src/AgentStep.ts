/**
 * The agent step records django-pyhub-ai stored with a tool-calling turn: LangChain's
 * `AgentAction` family (what the model asked a tool to do) and `AgentStep` (an action with the
 * tool's observation). Field names are TypeScript's; the codec writes them in LangChain Python's
 * snake_case (`tool_input`, `message_log`, `tool_call_id`).
 *
 * @since 0.1.0
 */
import type { BaseMessage } from "@langchain/core/messages"

/**
 * A tool call the agent decided on (LangChain's `AgentAction`).
 *
 * @since 0.1.0
 * @category models
 */
export class AgentAction {
  /** The tool's name. */
  readonly tool: string
  /** The tool's input: text or named arguments. */
  readonly toolInput: string | Readonly<Record<string, unknown>>
  /** What the model produced around the decision. */
  readonly log: string

  constructor(fields: {
    readonly tool: string
    readonly toolInput: string | Readonly<Record<string, unknown>>
    readonly log: string
  }) {
    this.tool = fields.tool
    this.toolInput = fields.toolInput
    this.log = fields.log
  }
}

/**
 * An action with the messages the chat model produced for it (`AgentActionMessageLog`).
 *
 * @since 0.1.0
 * @category models
 */
export class AgentActionMessageLog extends AgentAction {
  readonly messageLog: ReadonlyArray<BaseMessage>

  constructor(
    fields: ConstructorParameters<typeof AgentAction>[0] & { readonly messageLog: ReadonlyArray<BaseMessage> }
  ) {
    super(fields)
    this.messageLog = fields.messageLog
  }
}

/**
 * An action from a tool call, with the call's id (`ToolAgentAction`).
 *
 * @since 0.1.0
 * @category models
 */
export class ToolAgentAction extends AgentActionMessageLog {
  /** The id of the tool call this action answers. */
  readonly toolCallId: string | null

  constructor(fields: ConstructorParameters<typeof AgentActionMessageLog>[0] & { readonly toolCallId: string | null }) {
    super(fields)
    this.toolCallId = fields.toolCallId
  }
}

/**
 * An executed action and what the tool returned (`AgentStep`). The observation is any value the
 * codec can store: text, bytes (a chart image), a `DataFrame`, ...
 *
 * @since 0.1.0
 * @category models
 */
export class AgentStep {
  readonly action: AgentAction
  readonly observation: unknown

  constructor(fields: { readonly action: AgentAction; readonly observation: unknown }) {
    this.action = fields.action
    this.observation = fields.observation
  }
}
