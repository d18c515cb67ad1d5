/**
 * The page: a plain `useChat` from `@ai-sdk/react` with `DefaultChatTransport`, pointed at convo's
 * `AiSdkChat` endpoint. Nothing convo-specific but the URLs: the chat id is the conversation id
 * from the page's path, the initial messages come from `GET /api/chat/:id/messages`, `resume: true`
 * reattaches to a running reply after a reload, and Stop asks the server to stop the turn (a
 * reload only disconnects).
 */
import { useChat } from "@ai-sdk/react"
import { DefaultChatTransport, type UIMessage } from "ai"
import { createElement as h, type FormEvent, useState } from "react"
import { createRoot } from "react-dom/client"

const chatId = location.pathname.split("/").filter(Boolean).at(-1) ?? ""

function Chat(props: { readonly initial: Array<UIMessage> }) {
  // #region use-chat
  const { messages, sendMessage, status, stop, error } = useChat({
    id: chatId, // the conversation id
    messages: props.initial, // GET /api/chat/:id/messages
    resume: true, // GET /api/chat/:id/stream on mount
    transport: new DefaultChatTransport({ api: "/api/chat" })
  })
  // #endregion
  const [input, setInput] = useState("")
  const busy = status === "submitted" || status === "streaming"
  const submit = (event: FormEvent) => {
    event.preventDefault()
    if (input.trim() === "") return
    void sendMessage({ text: input })
    setInput("")
  }
  // #region stop
  // with disconnect: "detach", stop() alone only disconnects: ask the server to stop the turn
  const stopTurn = () => {
    void fetch(`/api/chat/${chatId}/stop`, { method: "POST" }).then(() => stop())
  }
  // #endregion
  return h(
    "main",
    null,
    h(
      "ol",
      { id: "messages" },
      messages.map((message) =>
        h(
          "li",
          { key: message.id, className: `msg ${message.role}`, "data-role": message.role },
          message.parts.map((part, i) =>
            part.type === "text"
              ? h("p", { key: i, className: "text" }, part.text)
              : part.type === "dynamic-tool"
                ? h(
                    "p",
                    { key: i, className: "tool", "data-state": part.state },
                    `🔧 ${part.toolName}(${JSON.stringify(part.input)})`,
                    part.state === "output-available" ? ` → ${String(part.output)}` : ""
                  )
                : null
          )
        )
      )
    ),
    error !== undefined ? h("p", { id: "error", role: "alert" }, error.message) : null,
    h(
      "form",
      { onSubmit: submit },
      h("input", {
        id: "input",
        value: input,
        placeholder: "Say something, or ask for the time in Seoul",
        onChange: (event: { target: { value: string } }) => setInput(event.target.value)
      }),
      busy
        ? h("button", { id: "stop", type: "button", onClick: stopTurn }, "Stop")
        : h("button", { id: "send", type: "submit" }, "Send")
    ),
    h("p", { id: "status", "data-status": status }, status)
  )
}

// #region initial
const initial = (await (await fetch(`/api/chat/${chatId}/messages`)).json()) as Array<UIMessage>
createRoot(document.getElementById("root")!).render(h(Chat, { initial }))
// #endregion
