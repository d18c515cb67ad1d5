/**
 * A conversation without an owner opens for any accepted user, each seeing only their own messages:
 * the history, the live events and a replay from `?lastEventId=0` all keep to that rule, in both
 * directions. A conversation with an owner streams to every socket of its owner.
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import type * as Protocol from "@convo/core/Protocol"
import * as Routes from "@convo/core/Routes"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Client from "./support/client.js"
import { browser, Harness, layer, routes } from "./support/harness.js"

const chatUrl = (conversationId: number, query = "") =>
  Effect.flatMap(Harness, (harness) =>
    Effect.map(
      Routes.reverse(routes, "example-chat", { conversation_pk: conversationId }),
      (path) => harness.url(path) + query
    )
  )

const connect = (conversationId: number, user: string, query = "") =>
  Effect.gen(function* () {
    const harness = yield* Harness
    const client = yield* Client.connect(yield* chatUrl(conversationId, query), browser(harness.origin, user))
    yield* client.until((events) => events.some((event) => event.type === "history"))
    return client
  })

/** Everything a client received up to the pong of a ping sent now. */
const settled = (client: Client.Client, id: string) =>
  Effect.gen(function* () {
    yield* client.send({ type: "ping", id })
    return yield* client.until((events) => events.some((event) => event.type === "pong" && event.id === id))
  })

const texts = (events: ReadonlyArray<Protocol.ServerEvent>): Array<string> =>
  events.flatMap((event) =>
    event.type === "message_start" ? [event.text] : event.type === "message_delta" ? [event.text] : []
  )

const turnEvents = (events: ReadonlyArray<Protocol.ServerEvent>) =>
  events.filter((event) => event.type !== "history" && event.type !== "pong")

describe("ChatSocket: a conversation without an owner", () => {
  it.scopedLive("live events and a replay from lastEventId=0 reach only the user whose turn it is, both ways", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const store = yield* ConversationStore.ConversationStore
      const shared = yield* store.create({ userId: null })
      const alice = yield* connect(shared.id, "alice")
      const bob = yield* connect(shared.id, "bob")

      harness.model.enqueue(ScriptedReply.text(["for alice"]))
      yield* alice.send({ type: "user_message", text: "alice's secret" })
      yield* alice.until((events) => events.some((event) => event.type === "turn_end"))
      assert.deepStrictEqual(texts(alice.events()), ["alice's secret", "", "for alice"])
      yield* settled(bob, "b1")
      assert.deepStrictEqual(turnEvents(bob.events()), [])

      harness.model.enqueue(ScriptedReply.text(["for bob"]))
      yield* bob.send({ type: "user_message", text: "bob's secret" })
      yield* bob.until((events) => events.some((event) => event.type === "turn_end"))
      assert.deepStrictEqual(texts(bob.events()), ["bob's secret", "", "for bob"])
      yield* settled(alice, "a1")
      assert.notInclude(JSON.stringify(alice.events()), "bob")

      // replaying everything retained gives each user their own turn only
      const bobAgain = yield* connect(shared.id, "bob", "?lastEventId=0")
      yield* settled(bobAgain, "b2")
      assert.notInclude(JSON.stringify(bobAgain.events()), "alice")
      assert.deepStrictEqual(texts(bobAgain.events()), ["bob's secret", "", "for bob"])
      const aliceAgain = yield* connect(shared.id, "alice", "?lastEventId=0")
      yield* settled(aliceAgain, "a2")
      assert.notInclude(JSON.stringify(aliceAgain.events()), "bob")
      assert.deepStrictEqual(texts(aliceAgain.events()), ["alice's secret", "", "for alice"])
      // ... and so does resuming on an open socket
      yield* aliceAgain.send({ type: "resume", lastEventId: 0 })
      yield* settled(aliceAgain, "a3")
      assert.notInclude(JSON.stringify(aliceAgain.events()), "bob")
      // the internal audience tag never reaches a client
      assert.notInclude(JSON.stringify([...alice.events(), ...bob.events(), ...aliceAgain.events()]), "Audience")

      // the history on connect keeps to the rule too
      const [history] = bobAgain.ofType("history")
      assert.deepStrictEqual(
        history!.messages.map((message) => message.text),
        ["bob's secret", "for bob"]
      )
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("an owned conversation streams to every socket of its owner", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const store = yield* ConversationStore.ConversationStore
      const owned = yield* store.create({ userId: "alice" })
      const first = yield* connect(owned.id, "alice")
      const second = yield* connect(owned.id, "alice")
      harness.model.enqueue(ScriptedReply.text(["both tabs"]))
      yield* first.send({ type: "user_message", text: "hello" })
      yield* second.until((events) => events.some((event) => event.type === "turn_end"))
      assert.deepStrictEqual(texts(second.events()), ["hello", "", "both tabs"])
    }).pipe(Effect.provide(layer()))
  )
})
