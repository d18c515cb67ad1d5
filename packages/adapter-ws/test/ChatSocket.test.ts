import * as CloseCode from "@convo/adapter-ws/CloseCode"
import type * as Authenticator from "@convo/core/Authenticator"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as Routes from "@convo/core/Routes"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { assert, describe, it } from "@effect/vitest"
import { AIMessage, HumanMessage, SystemMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Client from "./support/client.js"
import { browser, eventually, Harness, layer, routes, smallFrameBytes } from "./support/harness.js"

const store = ConversationStore.ConversationStore

const newConversation = (userId: string | null) => Effect.flatMap(store, (s) => s.create({ userId }))

const stored = (conversationId: number) =>
  Effect.map(
    Effect.flatMap(store, (s) => s.history(conversationId)),
    (page) => page.entries
  )

const chatUrl = (conversationId: number) =>
  Effect.flatMap(Harness, (harness) =>
    Effect.map(Routes.reverse(routes, "example-chat", { conversation_pk: conversationId }), harness.url)
  )

/** Connects as `user` to a new conversation of that user on `example-chat`. */
const openChat = (user: string) =>
  Effect.gen(function* () {
    const harness = yield* Harness
    const conversation = yield* newConversation(user)
    const client = yield* Client.connect(yield* chatUrl(conversation.id), browser(harness.origin, user))
    yield* client.until((events) => events.some((event) => event.type === "history"))
    return { harness, conversation, client }
  })

const textOf = (value: unknown): string => {
  const content = (value as { content?: unknown }).content
  return typeof content === "string" ? content : JSON.stringify(content)
}

describe("ChatSocket: routing and the handshake", () => {
  it.scopedLive("Routes.reverse builds the URL, and route params reach the agent's connection", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const conversation = yield* newConversation("alice")
      const path = yield* Routes.reverse(routes, "room-chat", { room: "한국어 1/2", conversation_pk: conversation.id })
      assert.strictEqual(path, `/ws/rooms/${encodeURIComponent("한국어 1/2")}/chat/${conversation.id}/`)
      const client = yield* Client.connect(harness.url(path), browser(harness.origin, "alice"))

      const [history] = yield* client.until((events) => events.length > 0)
      assert.deepStrictEqual(history, {
        type: "history",
        conversationId: conversation.id,
        publicId: conversation.publicId,
        messages: [],
        hasMore: false,
        initial: true
      })
      harness.model.enqueue(ScriptedReply.text(["ok"]))
      yield* client.send({ type: "user_message", text: "hi" })
      yield* client.until((events) => events.some((event) => event.type === "turn_end"))
      const call = harness.model.calls.at(-1)!
      assert.isTrue(call.messages[0] instanceof SystemMessage)
      assert.strictEqual(call.messages[0]!.content, "Room 한국어 1/2.")
      // the conversation comes from `conversation_pk`: the turn is stored there
      const entries = yield* eventually(Effect.map(stored(conversation.id), (e) => (e.length === 2 ? e : undefined)))
      assert.deepStrictEqual(
        entries.map((entry) => [entry.kind, entry.userId]),
        [
          ["human", "alice"],
          ["ai", "alice"]
        ]
      )
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("an unauthenticated upgrade is refused with 401 before upgrading", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const conversation = yield* newConversation(null)
      const refusal = yield* Client.refusal(yield* chatUrl(conversation.id), browser(harness.origin))
      assert.deepStrictEqual(refusal, {
        status: 401,
        body: { error: { code: "unauthenticated", message: "log in to use this chat" } }
      })
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("a foreign Origin is refused with 403 before upgrading, even for a logged-in user", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const conversation = yield* newConversation("alice")
      const url = yield* chatUrl(conversation.id)
      const refusal = yield* Client.refusal(url, { origin: "https://evil.example", cookie: "session=alice" })
      assert.strictEqual(refusal.status, 403)
      assert.deepStrictEqual((refusal.body as { error: unknown }).error, {
        code: "forbidden",
        message: 'origin "https://evil.example" is not allowed'
      })
      // the same user from the page's own origin, or from a non-browser client without an Origin, connects
      yield* Client.connect(url, browser(harness.origin, "alice"))
      yield* Client.connect(url, { cookie: "session=alice" })
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("allowedOrigins lists the origins a route accepts", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const conversation = yield* newConversation("alice")
      const url = harness.url(
        Routes.reverseUnsafe(routes, "room-chat", { room: "lobby", conversation_pk: conversation.id })
      )
      yield* Client.connect(url, { origin: "https://chat.example.com", cookie: "session=alice" })
      const refusal = yield* Client.refusal(url, { origin: "https://other.example.com", cookie: "session=alice" })
      assert.strictEqual(refusal.status, 403)
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("another user's conversation is refused with 403; an unknown one with 404", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const bobs = yield* newConversation("bob")
      const forbidden = yield* Client.refusal(yield* chatUrl(bobs.id), browser(harness.origin, "alice"))
      assert.deepStrictEqual(forbidden, {
        status: 403,
        body: { error: { code: "forbidden", message: "this conversation belongs to another user" } }
      })
      const missing = yield* Client.refusal(yield* chatUrl(bobs.id + 1000), browser(harness.origin, "alice"))
      assert.strictEqual(missing.status, 404)
      assert.strictEqual((missing.body as { error: { code: string } }).error.code, "not_found")
      // a parameter the route's converter rejects does not match the route
      const bad = yield* Client.refusal(harness.url("/ws/example/chat/abc/"), browser(harness.origin, "alice"))
      assert.strictEqual(bad.status, 404)
      // bob opens his own conversation
      yield* Client.connect(yield* chatUrl(bobs.id), browser(harness.origin, "bob"))
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("with rejectWith: close, a refused connection is upgraded and closed with a code and a reason", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const bobs = yield* newConversation("bob")
      const url = (id: number) => harness.url(Routes.reverseUnsafe(routes, "closing-chat", { conversation_pk: id }))

      const anonymous = yield* Client.connect(url(bobs.id), browser(harness.origin))
      assert.deepStrictEqual(yield* anonymous.closed, {
        code: CloseCode.unauthenticated,
        reason: "log in to use this chat"
      })
      const alice = yield* Client.connect(url(bobs.id), browser(harness.origin, "alice"))
      assert.deepStrictEqual(yield* alice.closed, {
        code: CloseCode.forbidden,
        reason: "this conversation belongs to another user"
      })
      const missing = yield* Client.connect(url(bobs.id + 1000), browser(harness.origin, "alice"))
      assert.strictEqual((yield* missing.closed).code, CloseCode.notFound)
      // nothing but the close frame was sent
      assert.deepStrictEqual(
        [anonymous, alice, missing].map((client) => client.events().length),
        [0, 0, 0]
      )
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("a plain HTTP request on a socket route gets 426 Upgrade Required", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const response = yield* Effect.promise(() => fetch(`http://${harness.origin}/ws/open/`))
      assert.strictEqual(response.status, 426)
      assert.strictEqual(response.headers.get("upgrade"), "websocket")
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("hooks see the request (headers, cookies, URL) in the connection's data", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const url = harness.url("/ws/open/?lang=ko")
      yield* Client.connect(url, { ...browser(harness.origin, "alice"), "x-team": "blue" })
      const refusal = yield* Client.refusal(url, { ...browser(harness.origin, "alice"), "x-team": "red" })
      assert.deepStrictEqual(refusal.body, { error: { code: "forbidden", message: "this user may not use this chat" } })
    }).pipe(
      Effect.provide(
        layer({
          hooks: {
            canAccept: (connection) => {
              const request = connection.data?.["request"] as Authenticator.RequestInfo | undefined
              return Effect.succeed(
                connection.data?.["transport"] === "ws" &&
                  request?.url === "/ws/open/?lang=ko" &&
                  request.cookies["session"] === "alice" &&
                  request.headers["x-team"] === "blue"
              )
            }
          }
        })
      )
    )
  )

  it.scopedLive("anonymous clients connect when canAccept accepts them", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const client = yield* Client.connect(harness.url("/ws/open/"), browser(harness.origin))
      const [history] = yield* client.until((events) => events.length > 0)
      assert.deepStrictEqual(history, {
        type: "history",
        conversationId: null,
        publicId: null,
        messages: [],
        hasMore: false,
        initial: true
      })
    }).pipe(Effect.provide(layer({ hooks: { canAccept: () => Effect.succeed(true) } })))
  )
})

describe("ChatSocket: frames", () => {
  it.scopedLive("protocol ping is answered with pong, in order; WebSocket-level pings are answered too", () =>
    Effect.gen(function* () {
      const { client } = yield* openChat("alice")
      for (let i = 0; i < 50; i++) yield* client.send({ type: "ping", id: `p${i}` })
      yield* client.until((events) => events.filter((event) => event.type === "pong").length === 50)
      assert.deepStrictEqual(
        client.ofType("pong").map((pong) => pong.id),
        Array.from({ length: 50 }, (_, i) => `p${i}`)
      )
      const payload = yield* Effect.async<string>((resume) => {
        client.ws.once("pong", (data) => resume(Effect.succeed(data.toString("utf8"))))
        client.ws.ping("are you there")
      })
      assert.strictEqual(payload, "are you there")
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("malformed JSON, an unknown type and wrong field types give error events; the socket stays open", () =>
    Effect.gen(function* () {
      const { client } = yield* openChat("alice")
      yield* client.send("{not json")
      yield* client.send({ type: "dance" })
      yield* client.send({ type: "user_message", text: 42 })
      yield* client.send("[1, 2]")
      yield* client.send({ type: "ping", id: "after" })
      const events = yield* client.until((events) => events.some((event) => event.type === "pong"))
      const errors = events.filter((event) => event.type === "error")
      assert.deepStrictEqual(
        errors.map((error) => error.code),
        ["bad_frame", "bad_frame", "bad_frame", "bad_frame"]
      )
      assert.match(errors[0]!.message, /MalformedJson/)
      assert.match(errors[1]!.message, /UnknownType: unknown message type "dance"/)
      assert.match(errors[2]!.message, /InvalidFields: text/)
      assert.isTrue(client.isOpen())
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("a frame over maxFrameBytes (counted in UTF-8 bytes) closes the socket with 1009", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const headers = browser(harness.origin, "alice")
      const okClient = yield* Client.connect(harness.url("/ws/small/"), headers)
      // exactly at the limit: accepted (an error event for the unknown type; the socket stays open)
      const atLimit = JSON.stringify({ type: "x", pad: "" })
      yield* okClient.send(JSON.stringify({ type: "x", pad: "a".repeat(smallFrameBytes - atLimit.length) }))
      yield* okClient.send({ type: "ping" })
      yield* okClient.until((events) => events.some((event) => event.type === "pong"))
      assert.isTrue(okClient.isOpen())

      // 400 Hangul syllables: 400 UTF-16 units, but 1,200 UTF-8 bytes
      const client = yield* Client.connect(harness.url("/ws/small/"), headers)
      yield* client.until((events) => events.length > 0)
      yield* client.send({ type: "user_message", text: "한".repeat(400) })
      const closed = yield* client.closed
      // refused by the receiving socket (ReceiveLimit) as soon as the frame's header announces its length
      assert.strictEqual(closed.code, CloseCode.frameTooLarge)
      assert.isFalse(client.events().some((event) => event.type === "turn_start"))
    }).pipe(Effect.provide(layer({ hooks: { canAccept: () => Effect.succeed(true) } })))
  )

  it.scopedLive("the default limit is 1 MiB", () =>
    Effect.gen(function* () {
      const { client } = yield* openChat("alice")
      yield* client.send({ type: "user_message", text: "a".repeat(1024 * 1024) })
      assert.strictEqual((yield* client.closed).code, CloseCode.frameTooLarge)
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("a binary frame closes the socket with 4400", () =>
    Effect.gen(function* () {
      const { client } = yield* openChat("alice")
      yield* client.send(new TextEncoder().encode(JSON.stringify({ type: "ping" })))
      const closed = yield* client.closed
      assert.strictEqual(closed.code, CloseCode.badFrame)
      assert.strictEqual(closed.reason, "binary frames are not supported; send JSON text frames")
    }).pipe(Effect.provide(layer()))
  )
})

describe("ChatSocket: turns", () => {
  it.scopedLive("the stored history is sent on connect", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const conversation = yield* newConversation("alice")
      yield* Effect.flatMap(store, (s) =>
        s.append({
          conversationId: conversation.id,
          userId: "alice",
          messages: [{ value: new HumanMessage("你好") }, { value: new AIMessage("你好！欢迎光临。") }]
        })
      )
      const client = yield* Client.connect(yield* chatUrl(conversation.id), browser(harness.origin, "alice"))
      const [history] = yield* client.until((events) => events.length > 0)
      assert.strictEqual(history?.type, "history")
      if (history?.type !== "history") return
      assert.strictEqual(history.conversationId, conversation.id)
      assert.isTrue(history.initial)
      assert.deepStrictEqual(
        history.messages.map((message) => [message.role, message.text, message.seq, message.status]),
        [
          ["human", "你好", 1, "complete"],
          ["ai", "你好！欢迎光临。", 2, "complete"]
        ]
      )
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("a turn streams its deltas as frames, ends with turn_end, and is stored", () =>
    Effect.gen(function* () {
      const { harness, conversation, client } = yield* openChat("alice")
      harness.model.enqueue(
        ScriptedReply.text(["你好", "！欢迎", "光临。"], { usage: { inputTokens: 10, outputTokens: 5 } })
      )
      yield* client.send({ type: "user_message", text: "hello", clientId: "c-1" })
      const events = yield* client.until((events) => events.some((event) => event.type === "turn_end"))
      // the model's chunks come at once: coalesced into one delta or more (the agent's deltaWindow)
      assert.deepStrictEqual(
        events
          .map((event) => event.type)
          .filter((type, i, all) => type !== "message_delta" || all[i - 1] !== "message_delta"),
        [
          "history",
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
      assert.strictEqual(
        client
          .ofType("message_delta")
          .map((delta) => delta.text)
          .join(""),
        "你好！欢迎光临。"
      )
      const [end] = client.ofType("turn_end")
      assert.deepStrictEqual(
        { ...end, eventId: undefined },
        {
          type: "turn_end",
          eventId: undefined,
          turnId: client.ofType("turn_start")[0]!.turnId,
          status: "complete",
          usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 }
        }
      )
      // live events carry increasing event ids, for a client that reconnects and resumes
      const ids = events.flatMap((event) => ("eventId" in event && event.eventId !== undefined ? [event.eventId] : []))
      assert.isAbove(ids.length, 0)
      assert.deepStrictEqual(
        ids,
        [...ids].sort((a, b) => a - b)
      )
      const entries = yield* stored(conversation.id)
      assert.deepStrictEqual(
        entries.map((entry) => [
          entry.kind,
          entry.status,
          entry.clientId,
          entry._tag === "Decoded" && textOf(entry.value)
        ]),
        [
          ["human", "complete", "c-1", "hello"],
          ["ai", "complete", null, "你好！欢迎光临。"]
        ]
      )
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("the agent speaks first on an empty conversation; the greeting is sent over the socket", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const conversation = yield* newConversation("alice")
      harness.model.enqueue(ScriptedReply.text(["Hello", " there"]))
      const url = harness.url(Routes.reverseUnsafe(routes, "greeting-chat", { conversation_pk: conversation.id }))
      const client = yield* Client.connect(url, browser(harness.origin, "alice"))
      yield* client.until((events) => events.some((event) => event.type === "turn_end"))
      assert.deepStrictEqual(
        client.ofType("message_start").map((start) => [start.role, start.text]),
        [
          ["human", "Start the conversation."],
          ["ai", ""]
        ]
      )
      assert.strictEqual(
        client
          .ofType("message_delta")
          .map((delta) => delta.text)
          .join(""),
        "Hello there"
      )
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("stop aborts the running turn, which is stored as aborted", () =>
    Effect.gen(function* () {
      const { harness, conversation, client } = yield* openChat("alice")
      harness.model.enqueue(
        ScriptedReply.text(
          Array.from({ length: 200 }, (_, i) => `w${i} `),
          { chunkDelay: "20 millis" }
        )
      )
      yield* client.send({ type: "user_message", text: "tell me a long story" })
      yield* client.until((events) => events.some((event) => event.type === "message_delta"))
      yield* client.send({ type: "stop" })
      yield* client.until((events) => events.some((event) => event.type === "turn_end"))
      const [end] = client.ofType("turn_end")
      assert.strictEqual(end!.status, "aborted")
      const deltas = client.ofType("message_delta").map((delta) => delta.text)
      assert.isBelow(deltas.length, 200)
      const entries = yield* stored(conversation.id)
      assert.deepStrictEqual(
        entries.map((entry) => [entry.kind, entry.status]),
        [
          ["human", "aborted"],
          ["ai", "aborted"]
        ]
      )
      // what the model produced before the stop is kept, and no more than was sent
      const aiText = entries[1]!._tag === "Decoded" ? textOf(entries[1]!.value) : ""
      assert.isTrue(aiText.startsWith(deltas.join("")) || deltas.join("").startsWith(aiText))
      assert.isTrue(aiText.startsWith("w0 "))
      // the socket stays usable
      yield* client.send({ type: "ping", id: "after-stop" })
      yield* client.until((events) => events.some((event) => event.type === "pong"))
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("a disconnect in the middle of a turn still stores the turn, as aborted", () =>
    Effect.gen(function* () {
      const { harness, conversation, client } = yield* openChat("alice")
      harness.model.enqueue(
        ScriptedReply.text(
          Array.from({ length: 200 }, (_, i) => `w${i} `),
          { chunkDelay: "20 millis" }
        )
      )
      yield* client.send({ type: "user_message", text: "tell me a long story", clientId: "gone-1" })
      yield* client.until((events) => events.filter((event) => event.type === "message_delta").length >= 2)
      client.ws.terminate()
      const entries = yield* eventually(
        Effect.map(stored(conversation.id), (entries) => (entries.length === 2 ? entries : undefined))
      )
      assert.deepStrictEqual(
        entries.map((entry) => [entry.kind, entry.status, entry.clientId]),
        [
          ["human", "aborted", "gone-1"],
          ["ai", "aborted", null]
        ]
      )
      assert.isTrue(entries[1]!._tag === "Decoded" && textOf(entries[1]!.value).startsWith("w0 w1 "))
      // the model was not asked for the rest of the story: the call was aborted
      assert.strictEqual(harness.model.calls.length, 1)
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("a clean close in the middle of a turn also stores it as aborted", () =>
    Effect.gen(function* () {
      const { harness, conversation, client } = yield* openChat("alice")
      harness.model.enqueue(ScriptedReply.text(["a ", "b ", "c ", "d "], { chunkDelay: "1 second" }))
      yield* client.send({ type: "user_message", text: "slowly" })
      yield* client.until((events) => events.some((event) => event.type === "message_delta"))
      client.ws.close(1000, "bye")
      const entries = yield* eventually(
        Effect.map(stored(conversation.id), (entries) => (entries.length === 2 ? entries : undefined))
      )
      assert.deepStrictEqual(
        entries.map((entry) => entry.status),
        ["aborted", "aborted"]
      )
    }).pipe(Effect.provide(layer()))
  )
})
