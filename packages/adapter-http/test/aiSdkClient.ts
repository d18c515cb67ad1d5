/**
 * The Vercel AI SDK's own client in Node: `AbstractChat` from the `ai` package with a plain
 * in-memory state (what `@ai-sdk/react`'s `Chat` adds is React's change notification), and its
 * `DefaultChatTransport` sending a `session` cookie.
 */
import { AbstractChat, type ChatInit, type ChatState, type ChatStatus, DefaultChatTransport, type UIMessage } from "ai"

class NodeChatState implements ChatState<UIMessage> {
  status: ChatStatus = "ready"
  error: Error | undefined = undefined
  messages: Array<UIMessage>
  constructor(messages: Array<UIMessage>) {
    this.messages = messages
  }
  pushMessage = (message: UIMessage) => {
    this.messages = [...this.messages, message]
  }
  popMessage = () => {
    this.messages = this.messages.slice(0, -1)
  }
  replaceMessage = (index: number, message: UIMessage) => {
    this.messages = [...this.messages.slice(0, index), this.snapshot(message), ...this.messages.slice(index + 1)]
  }
  snapshot = <T>(thing: T): T => structuredClone(thing)
}

export class NodeChat extends AbstractChat<UIMessage> {
  constructor(init: ChatInit<UIMessage>) {
    super({ ...init, state: new NodeChatState(init.messages ?? []) })
  }
}

/** A chat of `user` (a `session` cookie) on the endpoint under `base` (`<base>/api/chat`). */
export const chatOf = (
  base: string,
  chatId: string,
  user: string | null,
  options: { readonly messages?: Array<UIMessage> } = {}
): NodeChat =>
  new NodeChat({
    id: chatId,
    ...(options.messages !== undefined ? { messages: options.messages } : {}),
    transport: new DefaultChatTransport({
      api: `${base}/api/chat`,
      headers: user === null ? {} : { cookie: `session=${user}` }
    })
  })

/** The text parts of a message, joined. */
export const textOf = (message: UIMessage | undefined): string =>
  (message?.parts ?? []).map((part) => (part.type === "text" ? part.text : "")).join("")

/** A value as it would be after a JSON round trip (drops `undefined` fields the client leaves in parts). */
export const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T

/** Polls until `condition` holds; a guard against hangs, not a timing assertion. */
export const until = async (condition: () => boolean | Promise<boolean>, what: string, patience = 20_000) => {
  const deadline = Date.now() + patience
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
