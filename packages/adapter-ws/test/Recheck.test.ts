/**
 * A socket does not outlive its session: with an authenticator that rechecks, a socket whose
 * session was logged out is closed with 4401 before its next frame runs anything, and while idle.
 */
import * as CloseCode from "@convo/adapter-ws/CloseCode"
import * as Authenticator from "@convo/core/Authenticator"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as Routes from "@convo/core/Routes"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Client from "./support/client.js"
import { browser, Harness, layer, routes } from "./support/harness.js"

/** Logged-in sessions: the `session` cookie names a user while it is in the set. */
const live = new Set<string>()
const sessions = Authenticator.layer(
  (request) => {
    const id = request.cookies["session"]
    return Effect.succeed(id !== undefined && live.has(id) ? { id } : null)
  },
  { recheck: "300 millis" }
)

const open = (user: string) =>
  Effect.gen(function* () {
    const harness = yield* Harness
    const store = yield* ConversationStore.ConversationStore
    const conversation = yield* store.create({ userId: user })
    const path = yield* Routes.reverse(routes, "example-chat", { conversation_pk: conversation.id })
    const client = yield* Client.connect(harness.url(path), browser(harness.origin, user))
    yield* client.until((events) => events.some((event) => event.type === "history"))
    return { client, conversation, store }
  })

describe("ChatSocket: the user is rechecked", () => {
  it.scopedLive("after a log-out the next frame closes the socket with 4401 and runs nothing", () =>
    Effect.gen(function* () {
      live.add("alice")
      const { client, conversation, store } = yield* open("alice")
      yield* client.send({ type: "ping", id: "before" })
      yield* client.until((events) => events.some((event) => event.type === "pong"))
      live.delete("alice")
      yield* client.send({ type: "user_message", text: "still here?" })
      const closed = yield* client.closed
      assert.strictEqual(closed.code, CloseCode.unauthenticated)
      assert.strictEqual(client.ofType("turn_start").length, 0)
      assert.strictEqual((yield* store.history(conversation.id)).entries.length, 0)
    }).pipe(Effect.provide(layer({ authenticator: sessions })))
  )

  it.scopedLive("an idle socket is closed with 4401 once its session is gone", () =>
    Effect.gen(function* () {
      live.add("bob")
      const { client } = yield* open("bob")
      live.delete("bob")
      // no frame sent: the interval recheck closes it (the client's patience is the only bound)
      assert.strictEqual((yield* client.closed).code, CloseCode.unauthenticated)
    }).pipe(Effect.provide(layer({ authenticator: sessions })))
  )

  it.scopedLive("a session that still holds keeps its socket", () =>
    Effect.gen(function* () {
      live.add("carol")
      const { client } = yield* open("carol")
      yield* Effect.sleep("1 second")
      yield* client.send({ type: "ping", id: "after" })
      yield* client.until((events) => events.some((event) => event.type === "pong"))
      assert.isTrue(client.isOpen())
    }).pipe(Effect.provide(layer({ authenticator: sessions })))
  )
})
