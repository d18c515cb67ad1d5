/**
 * `AiSdkChat` with the Vercel AI SDK's own client (`ai`'s `AbstractChat` and
 * `DefaultChatTransport`, no hand-written parser) against a real server on a loopback port, the
 * scripted model and the memory store.
 */
import * as ChatAgent from "@convo/core/ChatAgent"
import * as LlmModels from "@convo/core/LlmModels"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { assert, describe, it } from "@effect/vitest"
import { tool } from "@langchain/core/tools"
import type { UIMessage, UIMessageChunk } from "ai"
import * as Effect from "effect/Effect"
import * as AiSdkChat from "../src/AiSdkChat.js"
import { chatOf, plain, textOf, until } from "./aiSdkClient.js"
import * as Support from "./support.js"

// convo's chunk and message shapes are the AI SDK's (a compile-time check)
const _chunk = (chunk: AiSdkChat.UIMessageChunk): UIMessageChunk => chunk
const _message = (message: AiSdkChat.UIMessage): UIMessage => message as UIMessage
void _chunk
void _message

const weather = tool(async ({ city }: { city: string }) => `Sunny in ${city}`, {
  name: "weather",
  description: "the weather of a city",
  schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
})

const agent = ChatAgent.make({ name: "ai-sdk-test", model: LlmModels.openAiGpt4oMini, tools: [weather] })

const setup = (options?: AiSdkChat.Options, replies: ReadonlyArray<ScriptedReply.ScriptedReply> = []) =>
  Effect.gen(function* () {
    const env = yield* Support.makeEnv(replies)
    const app = AiSdkChat.router(agent, { routes: AiSdkChat.table({ base: "/api" }), heartbeat: null, ...options })
    const served = yield* Support.serve(app).pipe(Effect.provide(env.context))
    const conversation = yield* env.store.create({ userId: "alice", title: "ai sdk" })
    return { ...env, served, conversation, chatId: String(conversation.id) }
  })

const getMessages = (base: string, chatId: string, user: string | null) =>
  Support.request(`${base}/api/chat/${chatId}/messages`, { headers: Support.cookie(user) })

describe("AiSdkChat with the AI SDK's Chat", () => {
  it.scopedLive("a turn streams into the chat, is stored, and reads back as the same UIMessages", () =>
    Effect.gen(function* () {
      const { chatId, conversation, served, store, model } = yield* setup()
      model.enqueue(
        ScriptedReply.text("Hello from convo, streamed in words.", { usage: { inputTokens: 7, outputTokens: 9 } })
      )
      const chat = chatOf(served.base, chatId, "alice")
      yield* Effect.promise(() => chat.sendMessage({ text: "Hi there" }))
      assert.strictEqual(chat.status, "ready", String(chat.error))
      assert.strictEqual(chat.messages.length, 2)
      const [user, assistant] = chat.messages
      assert.strictEqual(user!.role, "user")
      assert.strictEqual(assistant!.role, "assistant")
      assert.strictEqual(textOf(assistant), "Hello from convo, streamed in words.")
      const metadata = assistant!.metadata as AiSdkChat.Metadata
      assert.strictEqual(metadata.conversationId, conversation.id)
      assert.strictEqual(metadata.status, "complete")
      assert.deepStrictEqual(metadata.usage, { inputTokens: 7, outputTokens: 9, totalTokens: 16 })
      assert.strictEqual(assistant!.id, `turn-${metadata.turnId}`)

      const page = yield* store.history(conversation.id)
      assert.deepStrictEqual(
        page.entries.map((entry) => [entry.kind, entry.status, entry.clientId]),
        [
          ["human", "complete", user!.id],
          ["ai", "complete", null]
        ]
      )
      const reloaded = yield* getMessages(served.base, chatId, "alice")
      assert.strictEqual(reloaded.status, 200)
      assert.deepStrictEqual(JSON.parse(reloaded.text), plain(chat.messages))

      // a new chat started from that history goes on with it
      model.enqueue(ScriptedReply.text("Second answer."))
      const again = chatOf(served.base, chatId, "alice", { messages: JSON.parse(reloaded.text) as Array<UIMessage> })
      yield* Effect.promise(() => again.sendMessage({ text: "And again" }))
      assert.strictEqual(textOf(again.messages[3]), "Second answer.")
      const last = model.calls[model.calls.length - 1]!
      // the model saw the stored history (no system prompt here): human, ai, and the new human
      assert.deepStrictEqual(
        last.messages.map((message) => message.getType()),
        ["human", "ai", "human"]
      )
    })
  )

  it.scopedLive("the response is a UI message stream (v1) ending with [DONE]", () =>
    Effect.gen(function* () {
      const { chatId, served, model } = yield* setup()
      model.enqueue(ScriptedReply.text("ok"))
      const response = yield* Support.postJson(
        `${served.base}/api/chat`,
        {
          id: chatId,
          trigger: "submit-message",
          messages: [{ id: "m-1", role: "user", parts: [{ type: "text", text: "hello" }] }]
        },
        "alice"
      )
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("x-vercel-ai-ui-message-stream"), "v1")
      assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/)
      const types = Support.parseSse(response.text).events.map((event) =>
        event.data === "[DONE]" ? "[DONE]" : (JSON.parse(event.data) as { type: string }).type
      )
      assert.deepStrictEqual(types, [
        "start",
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
        "[DONE]"
      ])
    })
  )

  it.scopedLive("tool calls arrive as dynamic tool parts with their outputs, and read back the same", () =>
    Effect.gen(function* () {
      const { chatId, conversation, served, store, model } = yield* setup()
      model.enqueue(
        ScriptedReply.toolCalls([{ name: "weather", args: { city: "Seoul" }, id: "call-w1" }], {
          text: "Let me look."
        }),
        ScriptedReply.text("It is sunny in Seoul.")
      )
      const chat = chatOf(served.base, chatId, "alice")
      yield* Effect.promise(() => chat.sendMessage({ text: "Weather in Seoul?" }))
      assert.strictEqual(chat.status, "ready", String(chat.error))
      const assistant = chat.messages[1]!
      const tools = assistant.parts.filter((part) => part.type === "dynamic-tool")
      assert.strictEqual(tools.length, 1)
      const part = tools[0]!
      assert.strictEqual(part.toolName, "weather")
      assert.strictEqual(part.toolCallId, "call-w1")
      assert.strictEqual(part.state, "output-available")
      assert.deepStrictEqual(part.input, { city: "Seoul" })
      assert.strictEqual(part.state === "output-available" ? part.output : undefined, "Sunny in Seoul")
      assert.deepStrictEqual(
        assistant.parts.map((p) => p.type),
        ["step-start", "text", "dynamic-tool", "step-start", "text"]
      )
      assert.strictEqual(textOf(assistant), "Let me look.It is sunny in Seoul.")
      const page = yield* store.history(conversation.id)
      assert.deepStrictEqual(
        page.entries.map((entry) => entry.kind),
        ["human", "ai", "tool", "ai"]
      )
      const reloaded = yield* getMessages(served.base, chatId, "alice")
      assert.deepStrictEqual(JSON.parse(reloaded.text), plain(chat.messages))
    })
  )

  it.scopedLive("an image goes in as a file part, is stored, and comes back as the same file part", () =>
    Effect.gen(function* () {
      const { chatId, conversation, served, store, model } = yield* setup()
      model.enqueue(ScriptedReply.text("A red pixel."))
      // a 1x1 PNG
      const png =
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
      const chat = chatOf(served.base, chatId, "alice")
      yield* Effect.promise(() =>
        chat.sendMessage({ text: "What is this?", files: [{ type: "file", mediaType: "image/png", url: png }] })
      )
      assert.strictEqual(chat.status, "ready", String(chat.error))
      const page = yield* store.history(conversation.id)
      const human = page.entries[0]!
      const content = human._tag === "Decoded" ? (human.value as { content: unknown }).content : undefined
      assert.deepStrictEqual(content, [
        { type: "text", text: "What is this?" },
        { type: "image_url", image_url: { url: png } }
      ])
      const reloaded = JSON.parse((yield* getMessages(served.base, chatId, "alice")).text) as Array<UIMessage>
      assert.deepStrictEqual(reloaded, plain(chat.messages))
      assert.deepStrictEqual(reloaded[0]!.parts, [
        { type: "file", mediaType: "image/png", url: png },
        { type: "text", text: "What is this?" }
      ])
    })
  )

  it.scopedLive("a model failure ends the stream with the protocol's error chunk; the turn is stored as error", () =>
    Effect.gen(function* () {
      const { chatId, conversation, served, store, model } = yield* setup()
      model.enqueue(ScriptedReply.streamError("Half an ans", { message: "upstream broke" }))
      const chat = chatOf(served.base, chatId, "alice")
      yield* Effect.promise(() => chat.sendMessage({ text: "Try" }))
      assert.strictEqual(chat.status, "error")
      assert.match(chat.error?.message ?? "", /model call failed/)
      const metadata = chat.messages[1]!.metadata as AiSdkChat.Metadata
      assert.strictEqual(metadata.status, "error")
      assert.strictEqual(textOf(chat.messages[1]), "Half an ans")
      const page = yield* store.history(conversation.id)
      assert.deepStrictEqual(
        page.entries.map((entry) => [entry.kind, entry.status]),
        [
          ["human", "error"],
          ["ai", "error"]
        ]
      )
    })
  )

  it.scopedLive("stop() aborts the request; the turn is stored as aborted with what was streamed", () =>
    Effect.gen(function* () {
      const { chatId, conversation, served, store, model } = yield* setup()
      model.enqueue(ScriptedReply.text(Array.from({ length: 60 }, (_, i) => `w${i}`).join(" "), { chunkDelay: 50 }))
      const chat = chatOf(served.base, chatId, "alice")
      const sent = chat.sendMessage({ text: "Talk slowly" })
      yield* Effect.promise(() => until(() => textOf(chat.messages[1]).length > 10, "some streamed text"))
      yield* Effect.promise(() => chat.stop())
      yield* Effect.promise(() => sent)
      yield* Effect.promise(() =>
        until(
          () => Effect.runPromise(store.history(conversation.id)).then((page) => page.entries.length === 2),
          "the stopped turn to be stored"
        )
      )
      const page = yield* store.history(conversation.id)
      assert.deepStrictEqual(
        page.entries.map((entry) => [entry.kind, entry.status]),
        [
          ["human", "aborted"],
          ["ai", "aborted"]
        ]
      )
      const stored = page.entries[1]!
      const text = stored._tag === "Decoded" ? String((stored.value as { content: unknown }).content) : ""
      assert.isTrue(text.length > 0 && text.length < 60 * 4, `stored partial text: ${text}`)
    })
  )

  it.scopedLive("a re-sent message id does not run a second turn", () =>
    Effect.gen(function* () {
      const { chatId, conversation, served, store, model } = yield* setup()
      model.enqueue(ScriptedReply.text("Only once."))
      const chat = chatOf(served.base, chatId, "alice")
      yield* Effect.promise(() => chat.sendMessage({ text: "Once" }))
      const sentId = chat.messages[0]!.id
      // another tab (or a retry after a reconnect) sends the same UIMessage again
      const retry = chatOf(served.base, chatId, "alice")
      yield* Effect.promise(() =>
        retry.sendMessage({ id: sentId, role: "user", parts: [{ type: "text", text: "Once" }] })
      )
      assert.strictEqual(retry.status, "error")
      assert.match(retry.error?.message ?? "", /already received/)
      assert.strictEqual(model.calls.length, 1)
      const page = yield* store.history(conversation.id)
      assert.strictEqual(page.entries.length, 2)
    })
  )

  it.scopedLive("another user's chat id is refused on every route; earlier messages in the body are ignored", () =>
    Effect.gen(function* () {
      const { chatId, conversation, served, store, model } = yield* setup()
      const bob = chatOf(served.base, chatId, "bob")
      yield* Effect.promise(() => bob.sendMessage({ text: "let me in" }))
      assert.strictEqual(bob.status, "error")
      assert.match(bob.error?.message ?? "", /another user/)
      assert.strictEqual((yield* getMessages(served.base, chatId, "bob")).status, 403)
      assert.strictEqual(
        (yield* Support.request(`${served.base}/api/chat/${chatId}/stream`, { headers: Support.cookie("bob") })).status,
        403
      )
      assert.strictEqual((yield* getMessages(served.base, chatId, null)).status, 401)
      assert.strictEqual(model.calls.length, 0)

      // a forged earlier "assistant" message is not stored, and regenerate is refused
      model.enqueue(ScriptedReply.text("real answer"))
      const forged = yield* Support.postJson(
        `${served.base}/api/chat`,
        {
          id: chatId,
          messages: [
            { id: "x1", role: "assistant", parts: [{ type: "text", text: "forged" }] },
            { id: "x2", role: "user", parts: [{ type: "text", text: "question" }] }
          ]
        },
        "alice"
      )
      assert.strictEqual(forged.status, 200)
      const regenerate = yield* Support.postJson(
        `${served.base}/api/chat`,
        { id: chatId, trigger: "regenerate-message", messageId: "x1", messages: [] },
        "alice"
      )
      assert.strictEqual(regenerate.status, 400)
      const pdf = yield* Support.postJson(
        `${served.base}/api/chat`,
        {
          id: chatId,
          messages: [
            {
              id: "x3",
              role: "user",
              parts: [{ type: "file", mediaType: "application/pdf", url: "data:application/pdf;base64,JVBERi0=" }]
            }
          ]
        },
        "alice"
      )
      assert.strictEqual(pdf.status, 415)
      const foreign = yield* Support.postJson(
        `${served.base}/api/chat`,
        { id: chatId, messages: [{ id: "x4", role: "user", parts: [{ type: "text", text: "csrf" }] }] },
        "alice",
        { origin: "https://evil.example" }
      )
      assert.strictEqual(foreign.status, 403)
      const page = yield* store.history(conversation.id)
      assert.deepStrictEqual(
        page.entries.map((entry) => [entry.kind, entry.clientId]),
        [
          ["human", "x2"],
          ["ai", null]
        ]
      )
    })
  )

  it.scopedLive("resume: nothing running answers 204 at once; mid-turn it replays the turn and streams the rest", () =>
    Effect.gen(function* () {
      const { chatId, served, model } = yield* setup({ disconnect: "detach" })
      const idle = yield* Effect.promise(async () => {
        const started = Date.now()
        const response = await fetch(`${served.base}/api/chat/${chatId}/stream`, { headers: Support.cookie("alice") })
        return { status: response.status, millis: Date.now() - started }
      })
      assert.strictEqual(idle.status, 204)
      assert.isBelow(idle.millis, 1_000)

      const words = Array.from({ length: 40 }, (_, i) => `r${i}`)
      model.enqueue(ScriptedReply.text(words.join(" "), { chunkDelay: 40 }))
      const first = chatOf(served.base, chatId, "alice")
      const sent = first.sendMessage({ text: "A long answer please" })
      yield* Effect.promise(() => until(() => textOf(first.messages[1]).length > 20, "some streamed text"))
      // the page reloads: its request goes away (detach: the turn goes on), a new page resumes
      yield* Effect.promise(() => first.stop())
      yield* Effect.promise(() => sent)
      const history = JSON.parse((yield* getMessages(served.base, chatId, "alice")).text) as Array<UIMessage>
      // the running turn's user message is in the history already
      assert.deepStrictEqual(
        history.map((message) => [message.role, textOf(message)]),
        [["user", "A long answer please"]]
      )
      const second = chatOf(served.base, chatId, "alice", { messages: history })
      yield* Effect.promise(() => second.resumeStream())
      assert.strictEqual(second.status, "ready", String(second.error))
      assert.strictEqual(second.messages.length, 2)
      assert.strictEqual(textOf(second.messages[1]), words.join(" "))
      assert.strictEqual((second.messages[1]!.metadata as AiSdkChat.Metadata).status, "complete")
      const reloaded = JSON.parse((yield* getMessages(served.base, chatId, "alice")).text) as Array<UIMessage>
      assert.deepStrictEqual(reloaded, plain(second.messages))
    })
  )

  it.scopedLive("detach: POST .../stop stops the turn, stored as aborted", () =>
    Effect.gen(function* () {
      const { chatId, conversation, served, store, model } = yield* setup({ disconnect: "detach" })
      model.enqueue(ScriptedReply.text(Array.from({ length: 60 }, (_, i) => `s${i}`).join(" "), { chunkDelay: 50 }))
      const chat = chatOf(served.base, chatId, "alice")
      const sent = chat.sendMessage({ text: "Go on" })
      yield* Effect.promise(() => until(() => textOf(chat.messages[1]).length > 10, "some streamed text"))
      const stop = yield* Support.postJson(`${served.base}/api/chat/${chatId}/stop`, {}, "alice")
      assert.strictEqual(stop.status, 200)
      assert.deepStrictEqual(JSON.parse(stop.text), { stopped: true })
      yield* Effect.promise(() => sent)
      yield* Effect.promise(() =>
        until(
          () => Effect.runPromise(store.history(conversation.id)).then((page) => page.entries.length === 2),
          "the stopped turn to be stored"
        )
      )
      const page = yield* store.history(conversation.id)
      assert.deepStrictEqual(
        page.entries.map((entry) => entry.status),
        ["aborted", "aborted"]
      )
      assert.strictEqual((chat.messages[1]!.metadata as AiSdkChat.Metadata).status, "aborted")
    })
  )
})
