import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import type * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as Protocol from "@convo/core/Protocol"
import * as Routes from "@convo/core/Routes"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { assert, describe, it } from "@effect/vitest"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as HttpChat from "../src/HttpChat.js"
import * as Support from "./support.js"

const agent = ChatAgent.make({ name: "http-test", model: LlmModels.openAiGpt4oMini })
const table = Routes.make([...HttpChat.routes({ base: "/api" })])

interface Harness extends Support.Env {
  readonly base: string
  readonly messagesUrl: (id: number | string) => string
  readonly historyUrl: (id: number | string, query?: string) => string
}

const harness = (options?: {
  readonly agent?: ChatAgent.ChatAgent
  readonly replies?: ReadonlyArray<ScriptedReply.ScriptedReply>
  readonly http?: HttpChat.Options
  readonly hooks?: Partial<ChatAgentHooks.Hooks>
}) =>
  Effect.gen(function* () {
    const env = yield* Support.makeEnv(options?.replies)
    const app = HttpChat.router(options?.agent ?? agent, { routes: table, heartbeat: null, ...options?.http })
    // hooks are read from the server's context when a session opens
    const { base } = yield* Support.serve(app).pipe(
      Effect.provide(env.context),
      Effect.provide(ChatAgentHooks.layer(options?.hooks ?? {}))
    )
    const path = (name: "convo-messages" | "convo-history", id: number | string) =>
      Effect.runSync(Routes.reverse(table, name, { conversation_pk: id }))
    const result: Harness = {
      ...env,
      base,
      messagesUrl: (id) => `${base}${path("convo-messages", id)}`,
      historyUrl: (id, query) => `${base}${path("convo-history", id)}${query === undefined ? "" : `?${query}`}`
    }
    return result
  })

const decodeEvents = (text: string): ReadonlyArray<Protocol.ServerEvent> =>
  Support.parseSse(text).events.map((event) => {
    const decoded = Protocol.decodeServerEvent(JSON.parse(event.data))
    if (Either.isLeft(decoded)) throw new Error(`not a server event: ${event.data}`)
    assert.strictEqual(event.event, decoded.right.type, "the SSE event name is the event's type")
    return decoded.right
  })

const errorOf = (text: string) => Schema.decodeUnknownSync(HttpChat.ErrorBody)(JSON.parse(text)).error

const storedTurn = (store: ConversationStore.Service, conversationId: number, user: string, n: number) =>
  store.append({
    conversationId,
    userId: user,
    messages: [
      { value: new HumanMessage({ id: `h${n}`, content: `question ${n}` }) },
      { value: new AIMessage({ id: `a${n}`, content: `answer ${n}` }) }
    ]
  })

describe("HttpChat POST messages", () => {
  it.scopedLive("streams one turn as server-sent events and stores it", () =>
    Effect.gen(function* () {
      const h = yield* harness({
        replies: [ScriptedReply.text(["Hel", "lo, ", "Alice!"], { usage: { inputTokens: 12, outputTokens: 5 } })]
      })
      const conversation = yield* h.store.create({ userId: "alice" })
      const response = yield* Support.postJson(
        h.messagesUrl(conversation.id),
        { type: "user_message", text: "hi", clientId: "c-1" },
        "alice"
      )
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
      assert.strictEqual(response.headers.get("x-accel-buffering"), "no")
      assert.strictEqual(response.headers.get("cache-control"), "no-cache")

      const raw = Support.parseSse(response.text)
      assert.strictEqual(raw.rest, "", "the stream ends with a complete event")
      assert.deepStrictEqual(
        raw.events.map((event) => event.id),
        raw.events.map((_, index) => String(index + 1)),
        "ids count up from 1"
      )
      const events = decodeEvents(response.text)
      // the model's chunks come at once: coalesced into one delta or more (the agent's deltaWindow)
      assert.deepStrictEqual(
        events
          .map((event) => event.type)
          .filter((type, i, all) => type !== "message_delta" || all[i - 1] !== "message_delta"),
        [
          "received",
          "turn_start",
          "message_start",
          "message_start",
          "message_delta",
          "usage",
          "message_end",
          "message_end",
          "turn_end"
        ]
      )
      const [, , human, ai] = events as [
        unknown,
        unknown,
        Protocol.ServerEventOf<"message_start">,
        Protocol.ServerEventOf<"message_start">
      ]
      assert.strictEqual(human.role, "human")
      assert.strictEqual(human.text, "hi")
      assert.strictEqual(human.clientId, "c-1")
      assert.strictEqual(ai.role, "ai")
      const deltas = events.filter(
        (event): event is Protocol.ServerEventOf<"message_delta"> => event.type === "message_delta"
      )
      assert.strictEqual(deltas.map((delta) => delta.text).join(""), "Hello, Alice!")
      assert.isTrue(deltas.every((delta) => delta.id === ai.id))
      const end = events.at(-1) as Protocol.ServerEventOf<"turn_end">
      assert.strictEqual(end.status, "complete")
      assert.deepStrictEqual(end.usage, { inputTokens: 12, outputTokens: 5, totalTokens: 17 })

      const stored = yield* h.store.history(conversation.id)
      assert.deepStrictEqual(
        stored.entries.map((entry) => [entry.kind, entry.status, entry.clientId]),
        [
          ["human", "complete", "c-1"],
          ["ai", "complete", null]
        ]
      )
    })
  )

  it.scopedLive("keeps a slow stream alive with comment lines that parsers skip", () =>
    Effect.gen(function* () {
      const h = yield* harness({
        replies: [ScriptedReply.text(["slow ", "reply"], { firstByteDelay: "300 millis" })],
        http: { routes: table, heartbeat: "10 millis" }
      })
      const conversation = yield* h.store.create({ userId: "alice" })
      const response = yield* Support.postJson(
        h.messagesUrl(conversation.id),
        { type: "user_message", text: "hi" },
        "alice"
      )
      assert.include(response.text, ": keep-alive\n\n")
      const events = decodeEvents(response.text)
      assert.strictEqual(events.at(-1)?.type, "turn_end")
      assert.strictEqual(
        events
          .filter((event) => event.type === "message_delta")
          .map((event) => (event as { text: string }).text)
          .join(""),
        "slow reply"
      )
    })
  )

  it.scopedLive("accepts pyhub's {user_text, images__base64} body", () =>
    Effect.gen(function* () {
      const h = yield* harness({ replies: [ScriptedReply.text("안녕하세요")] })
      const conversation = yield* h.store.create({ userId: "alice" })
      const response = yield* Support.postJson(
        h.messagesUrl(conversation.id),
        { user_text: "你好", images__base64: "" },
        "alice"
      )
      assert.strictEqual(response.status, 200)
      const events = decodeEvents(response.text)
      const human = events.find(
        (event): event is Protocol.ServerEventOf<"message_start"> =>
          event.type === "message_start" && event.role === "human"
      )
      assert.strictEqual(human?.text, "你好")
      assert.strictEqual(events.at(-1)?.type, "turn_end")
      assert.strictEqual(h.model.calls.length, 1)
    })
  )

  it.scopedLive("includes the agent's first turn when the conversation is empty", () =>
    Effect.gen(function* () {
      const h = yield* harness({
        agent: ChatAgent.make({ model: LlmModels.openAiGpt4oMini, firstUserMessage: "Start, please." }),
        replies: [ScriptedReply.text("First!"), ScriptedReply.text("Second!")]
      })
      const conversation = yield* h.store.create({ userId: "alice" })
      const response = yield* Support.postJson(
        h.messagesUrl(conversation.id),
        { type: "user_message", text: "hi" },
        "alice"
      )
      const events = decodeEvents(response.text)
      const humans = events
        .filter(
          (event): event is Protocol.ServerEventOf<"message_start"> =>
            event.type === "message_start" && event.role === "human"
        )
        .map((event) => event.text)
      assert.deepStrictEqual(humans, ["Start, please.", "hi"])
      assert.strictEqual(events.filter((event) => event.type === "turn_end").length, 2)
      assert.strictEqual(events.at(-1)?.type, "turn_end")
    })
  )

  it.scopedLive("a client that disconnects mid-turn stops the turn, which is stored as aborted", () =>
    Effect.gen(function* () {
      const words = Array.from({ length: 200 }, (_, i) => `w${i} `)
      const h = yield* harness({ replies: [ScriptedReply.text(words, { chunkDelay: "30 millis" })] })
      const conversation = yield* h.store.create({ userId: "alice" })
      const controller = new AbortController()
      const seen = yield* Effect.promise(async () => {
        const response = await fetch(h.messagesUrl(conversation.id), {
          method: "POST",
          headers: { "content-type": "application/json", cookie: "session=alice" },
          body: JSON.stringify({ type: "user_message", text: "tell me a long story" }),
          signal: controller.signal
        })
        const reader = response.body!.getReader()
        const decoder = new TextDecoder()
        let text = ""
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          text += decoder.decode(value, { stream: true })
          const deltas = Support.parseSse(text).events.filter((event) => event.event === "message_delta")
          if (deltas.length >= 2) break
        }
        controller.abort()
        return Support.parseSse(text).events
      })
      assert.isTrue(seen.some((event) => event.event === "message_delta"))
      assert.isFalse(seen.some((event) => event.event === "turn_end"))

      // the turn stores itself once the server sees the disconnect
      const stored = yield* h.store.history(conversation.id).pipe(
        Effect.filterOrFail((page) => page.entries.length > 0),
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.timeout("20 seconds")
      )
      assert.deepStrictEqual(
        stored.entries.map((entry) => [entry.kind, entry.status]),
        [
          ["human", "aborted"],
          ["ai", "aborted"]
        ]
      )
      const ai = stored.entries[1]!
      assert.strictEqual(ai._tag, "Decoded")
      const text = ai._tag === "Decoded" ? String((ai.value as AIMessage).content) : ""
      assert.isTrue(text.startsWith("w0 w1 "), `partial text kept: ${text.slice(0, 40)}`)
      assert.isBelow(text.length, words.join("").length, "the turn stopped before the end")
    })
  )

  it.scopedLive("answers 401, 403 and 404 with JSON error bodies", () =>
    Effect.gen(function* () {
      const h = yield* harness()
      const owned = yield* h.store.create({ userId: "alice" })
      const message = { type: "user_message", text: "hi" }

      const anonymous = yield* Support.postJson(h.messagesUrl(owned.id), message, null)
      assert.strictEqual(anonymous.status, 401)
      assert.strictEqual(errorOf(anonymous.text).code, "unauthenticated")

      const other = yield* Support.postJson(h.messagesUrl(owned.id), message, "bob")
      assert.strictEqual(other.status, 403)
      assert.strictEqual(errorOf(other.text).code, "forbidden")

      const missing = yield* Support.postJson(h.messagesUrl(99_999), message, "alice")
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(errorOf(missing.text).code, "not_found")

      const notAnId = yield* Support.postJson(h.messagesUrl("abc"), message, "alice")
      assert.strictEqual(notAnId.status, 404)
      assert.strictEqual(errorOf(notAnId.text).code, "not_found")

      assert.strictEqual(h.model.calls.length, 0, "no refused request reaches the model")
      assert.strictEqual((yield* h.store.history(owned.id)).entries.length, 0)
    })
  )

  it.scopedLive("answers 400 for malformed JSON, wrong fields and messages the session refuses", () =>
    Effect.gen(function* () {
      const h = yield* harness()
      const conversation = yield* h.store.create({ userId: "alice" })
      const url = h.messagesUrl(conversation.id)
      const cases: ReadonlyArray<readonly [unknown, number, string]> = [
        ["{not json", 400, "bad_request"],
        [[1, 2], 400, "bad_request"],
        [{ type: "user_message", text: 5 }, 400, "bad_request"],
        [{ type: "dance" }, 400, "bad_request"],
        [{ type: "ping" }, 400, "bad_request"],
        [{ type: "user_message", text: "   " }, 400, "empty_message"],
        [{ type: "user_message", text: "x".repeat(32_001) }, 413, "too_large"],
        [{ type: "user_message", text: "look", images: ["not a data url"] }, 400, "invalid_image"]
      ]
      for (const [body, status, code] of cases) {
        const response = yield* Support.postJson(url, body, "alice")
        assert.strictEqual(response.status, status, JSON.stringify(body).slice(0, 60))
        const error = errorOf(response.text)
        assert.strictEqual(error.code, code)
        assert.isAbove(error.message.length, 0)
      }
      assert.strictEqual(h.model.calls.length, 0)
      assert.strictEqual((yield* h.store.history(conversation.id)).entries.length, 0)
    })
  )

  it.scopedLive("answers 413 past maxBodyBytes, with or without Content-Length, and 415 for non-JSON", () =>
    Effect.gen(function* () {
      const h = yield* harness({ http: { routes: table, maxBodyBytes: 1024, heartbeat: null } })
      const conversation = yield* h.store.create({ userId: "alice" })
      const url = h.messagesUrl(conversation.id)
      const big = JSON.stringify({ type: "user_message", text: "y".repeat(2000) })

      const declared = yield* Support.postJson(url, big, "alice")
      assert.strictEqual(declared.status, 413)
      assert.strictEqual(errorOf(declared.text).code, "too_large")

      const streamed = yield* Support.request(url, {
        method: "POST",
        headers: { "content-type": "application/json", cookie: "session=alice" },
        body: new ReadableStream({
          start(controller) {
            const bytes = new TextEncoder().encode(big)
            controller.enqueue(bytes.slice(0, 600))
            controller.enqueue(bytes.slice(600))
            controller.close()
          }
        }),
        duplex: "half"
      } as RequestInit)
      assert.strictEqual(streamed.status, 413)
      assert.strictEqual(errorOf(streamed.text).code, "too_large")

      const plain = yield* Support.request(url, {
        method: "POST",
        headers: { "content-type": "text/plain", cookie: "session=alice" },
        body: JSON.stringify({ type: "user_message", text: "hi" })
      })
      assert.strictEqual(plain.status, 415)
      assert.strictEqual(errorOf(plain.text).code, "unsupported_media_type")
      assert.strictEqual(h.model.calls.length, 0)
    })
  )

  it.scopedLive("refuses a POST or DELETE from another origin, accepts its own", () =>
    Effect.gen(function* () {
      const h = yield* harness({ replies: [ScriptedReply.text("ok")] })
      const conversation = yield* h.store.create({ userId: "alice" })
      yield* storedTurn(h.store, conversation.id, "alice", 1)
      const url = h.messagesUrl(conversation.id)
      const message = { type: "user_message", text: "hi" }

      const evil = yield* Support.postJson(url, message, "alice", { origin: "http://evil.example" })
      assert.strictEqual(evil.status, 403)
      assert.strictEqual(errorOf(evil.text).code, "forbidden_origin")
      const evilDelete = yield* Support.request(url, {
        method: "DELETE",
        headers: { origin: "http://evil.example", cookie: "session=alice" }
      })
      assert.strictEqual(evilDelete.status, 403)
      assert.strictEqual((yield* h.store.history(conversation.id)).entries.length, 2, "nothing cleared")
      assert.strictEqual(h.model.calls.length, 0)

      const own = yield* Support.postJson(url, message, "alice", { origin: h.base })
      assert.strictEqual(own.status, 200)
      assert.strictEqual(decodeEvents(own.text).at(-1)?.type, "turn_end")
    })
  )
})

describe("HttpChat GET history", () => {
  it.scopedLive("pages the history with before, limit and hasMore", () =>
    Effect.gen(function* () {
      const h = yield* harness()
      const conversation = yield* h.store.create({ userId: "alice" })
      for (let n = 1; n <= 7; n++) yield* storedTurn(h.store, conversation.id, "alice", n)
      const page = (query?: string) =>
        Effect.map(
          Support.request(h.historyUrl(conversation.id, query), { headers: Support.cookie("alice") }),
          (response) => {
            assert.strictEqual(response.status, 200, response.text)
            assert.strictEqual(response.headers.get("content-type"), "application/json")
            return Schema.decodeUnknownSync(HttpChat.HistoryResponse)(JSON.parse(response.text))
          }
        )

      const all = yield* page()
      assert.strictEqual(all.conversationId, conversation.id)
      assert.deepStrictEqual(
        all.messages.map((message) => message.seq),
        Array.from({ length: 14 }, (_, i) => i + 1)
      )
      assert.isFalse(all.hasMore)
      assert.strictEqual(all.messages[0]?.text, "question 1")
      assert.strictEqual(all.messages[0]?.role, "human")
      assert.strictEqual(all.messages[1]?.role, "ai")
      assert.strictEqual(all.messages[1]?.id, "a1")

      const newest = yield* page("limit=5")
      assert.deepStrictEqual(
        newest.messages.map((message) => message.seq),
        [10, 11, 12, 13, 14]
      )
      assert.isTrue(newest.hasMore)
      assert.strictEqual(newest.nextBefore, 10)

      const older = yield* page(`before=${newest.nextBefore}&limit=5`)
      assert.deepStrictEqual(
        older.messages.map((message) => message.seq),
        [5, 6, 7, 8, 9]
      )
      assert.isTrue(older.hasMore)

      const oldest = yield* page(`before=${older.nextBefore}&limit=5`)
      assert.deepStrictEqual(
        oldest.messages.map((message) => message.seq),
        [1, 2, 3, 4]
      )
      assert.isFalse(oldest.hasMore)
      assert.isNull(oldest.nextBefore)
    })
  )

  it.scopedLive("refuses bad cursors and other users, and never starts the agent's first turn", () =>
    Effect.gen(function* () {
      const h = yield* harness({
        agent: ChatAgent.make({ model: LlmModels.openAiGpt4oMini, firstUserMessage: "Start, please." })
      })
      const conversation = yield* h.store.create({ userId: "alice" })
      for (const query of ["before=abc", "before=0", "limit=0", "limit=501", "before=1.5", "limit=-1"]) {
        const response = yield* Support.request(h.historyUrl(conversation.id, query), {
          headers: Support.cookie("alice")
        })
        assert.strictEqual(response.status, 400, query)
        assert.strictEqual(errorOf(response.text).code, "bad_request")
      }
      const anonymous = yield* Support.request(h.historyUrl(conversation.id))
      assert.strictEqual(anonymous.status, 401)
      const other = yield* Support.request(h.historyUrl(conversation.id), { headers: Support.cookie("bob") })
      assert.strictEqual(other.status, 403)
      const missing = yield* Support.request(h.historyUrl(424242), { headers: Support.cookie("alice") })
      assert.strictEqual(missing.status, 404)

      const empty = yield* Support.request(h.historyUrl(conversation.id), { headers: Support.cookie("alice") })
      assert.strictEqual(empty.status, 200)
      assert.deepStrictEqual(JSON.parse(empty.text), {
        conversationId: conversation.id,
        publicId: conversation.publicId,
        messages: [],
        hasMore: false,
        nextBefore: null
      })
      assert.strictEqual(h.model.calls.length, 0, "reading the history runs no turn")
      assert.strictEqual((yield* h.store.history(conversation.id)).entries.length, 0)
    })
  )
})

describe("HttpChat DELETE messages", () => {
  it.scopedLive("clears the owner's conversation and nothing else", () =>
    Effect.gen(function* () {
      const h = yield* harness()
      const mine = yield* h.store.create({ userId: "alice" })
      const other = yield* h.store.create({ userId: "alice" })
      yield* storedTurn(h.store, mine.id, "alice", 1)
      yield* storedTurn(h.store, other.id, "alice", 1)

      const bob = yield* Support.request(h.messagesUrl(mine.id), { method: "DELETE", headers: Support.cookie("bob") })
      assert.strictEqual(bob.status, 403)
      assert.strictEqual(errorOf(bob.text).code, "forbidden")
      const anonymous = yield* Support.request(h.messagesUrl(mine.id), { method: "DELETE" })
      assert.strictEqual(anonymous.status, 401)
      assert.strictEqual((yield* h.store.history(mine.id)).entries.length, 2)

      const cleared = yield* Support.request(h.messagesUrl(mine.id), {
        method: "DELETE",
        headers: Support.cookie("alice")
      })
      assert.strictEqual(cleared.status, 204)
      assert.strictEqual((yield* h.store.history(mine.id)).entries.length, 0)
      assert.strictEqual((yield* h.store.history(other.id)).entries.length, 2, "another conversation is untouched")
      yield* h.store.get(mine.id) // the conversation itself remains

      const history = yield* Support.request(h.historyUrl(mine.id), { headers: Support.cookie("alice") })
      assert.deepStrictEqual(JSON.parse(history.text).messages, [])
    })
  )

  it.scopedLive("lets an accepted user clear an unowned conversation", () =>
    Effect.gen(function* () {
      const h = yield* harness({ hooks: { canAccept: () => Effect.succeed(true) } })
      const unowned = yield* h.store.create({})
      yield* h.store.append({
        conversationId: unowned.id,
        userId: null,
        messages: [{ value: new HumanMessage("hello") }, { value: new AIMessage("hi") }]
      })
      const cleared = yield* Support.request(h.messagesUrl(unowned.id), { method: "DELETE" })
      assert.strictEqual(cleared.status, 204)
      assert.strictEqual((yield* h.store.history(unowned.id)).entries.length, 0)
    })
  )
})

describe("HttpChat and core", () => {
  it.scopedLive("a POST retried with the same clientId does not run the turn again", () =>
    Effect.gen(function* () {
      const h = yield* harness({ replies: [ScriptedReply.text("first"), ScriptedReply.text("second")] })
      const conversation = yield* h.store.create({ userId: "alice" })
      const message = { type: "user_message", text: "hi", clientId: "retry-1" }
      const first = yield* Support.postJson(h.messagesUrl(conversation.id), message, "alice")
      assert.strictEqual(first.status, 200)
      const again = yield* Support.postJson(h.messagesUrl(conversation.id), message, "alice")
      // the retry is refused before any turn: 409 with the usual error body
      assert.strictEqual(again.status, 409)
      assert.strictEqual((JSON.parse(again.text) as { error: { code: string } }).error.code, "duplicate")
      assert.strictEqual((yield* h.store.history(conversation.id)).entries.length, 2, "stored once")
      assert.strictEqual(h.model.calls.length, 1, "the model is called once")
    })
  )
})
