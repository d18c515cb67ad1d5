import * as CloseCode from "@convo/adapter-ws/CloseCode"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as Routes from "@convo/core/Routes"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Client from "./support/client.js"
import { browser, Harness, layer, routes } from "./support/harness.js"

const chatUrl = (conversationId: number) =>
  Effect.flatMap(Harness, (harness) =>
    Effect.map(Routes.reverse(routes, "slow-reader", { conversation_pk: conversationId }), harness.url)
  )

/** A reply of about `bytes` characters in 64 chunks, in short words (a long run of one letter is slow to tokenize). */
const bigReply = (bytes: number, turn: number) =>
  ScriptedReply.text(Array.from({ length: 64 }, (_, i) => `${turn}:${i} ` + "ab ".repeat(bytes / 64 / 3)))

describe("ChatSocket: a client that stops reading", () => {
  it.scopedLive(
    "is closed with 1008 once maxBufferedBytes of frames wait for it; the other clients go on, and it resumes exactly",
    () =>
      Effect.gen(function* () {
        const harness = yield* Harness
        const conversation = yield* Effect.flatMap(ConversationStore.ConversationStore, (store) =>
          store.create({ userId: "alice" })
        )
        const url = yield* chatUrl(conversation.id)
        const writer = yield* Client.connect(url, browser(harness.origin, "alice"))
        const reader = yield* Client.connect(url, browser(harness.origin, "alice"))
        yield* reader.until((events) => events.some((event) => event.type === "history"))
        // the reader speaks once (the server learns its socket), then stops reading
        yield* reader.send({ type: "ping" })
        yield* reader.until((events) => events.some((event) => event.type === "pong"))
        reader.ws.pause()
        // 12 MiB of replies: more than the loopback's socket buffers and the 64 KiB bound
        for (let turn = 1; turn <= 6; turn++) {
          harness.model.enqueue(bigReply(2 * 1024 * 1024, turn))
          yield* writer.send({ type: "user_message", text: `turn ${turn}` })
          yield* writer.until((events) => events.filter((event) => event.type === "turn_end").length === turn)
        }
        reader.ws.resume()
        const closed = yield* reader.closed
        assert.strictEqual(closed.code, CloseCode.notReading)
        assert.isTrue(writer.isOpen())
        // what the reader got is a prefix of what the writer got; reconnecting with its last id gives the rest
        const ids = (client: Client.Client) =>
          client.events().flatMap((event) => ("eventId" in event && event.eventId !== undefined ? [event.eventId] : []))
        const seen = ids(reader)
        const all = ids(writer)
        assert.isBelow(seen.length, all.length)
        assert.deepStrictEqual(seen, all.slice(0, seen.length))
        const last = seen[seen.length - 1] ?? 0
        const again = yield* Client.connect(`${url}?lastEventId=${last}`, browser(harness.origin, "alice"))
        yield* again.until((events) =>
          events.some((event) => "eventId" in event && event.eventId === all[all.length - 1])
        )
        assert.deepStrictEqual(ids(again), all.slice(seen.length))
      }).pipe(Effect.provide(layer())),
    60_000
  )
})

describe("ChatSocket: a client that sends faster than its frames are handled", () => {
  it.scopedLive("is closed with 1008 once maxBufferedBytes of its frames wait", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const conversation = yield* Effect.flatMap(ConversationStore.ConversationStore, (store) =>
        store.create({ userId: "alice" })
      )
      const client = yield* Client.connect(yield* chatUrl(conversation.id), browser(harness.origin, "alice"))
      yield* client.until((events) => events.some((event) => event.type === "history"))
      // 200 messages of 30,000 characters in one burst: 6 MB, far past the 64 KiB bound
      for (let i = 0; i < 200; i++) client.ws.send(JSON.stringify({ type: "user_message", text: "ab ".repeat(10_000) }))
      const closed = yield* client.closed
      assert.strictEqual(closed.code, CloseCode.notReading)
    }).pipe(
      // a store that takes 20 ms to accept a message: the frames wait meanwhile
      Effect.provide(
        layer({
          store: (store) => ({
            ...store,
            accept: (...args) => Effect.zipRight(Effect.sleep("20 millis"), store.accept(...args))
          })
        })
      )
    )
  )
})
