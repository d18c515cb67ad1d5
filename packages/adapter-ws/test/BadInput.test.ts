/**
 * Hostile frames on a real socket: a deeply nested value, an oversized echo, images whose bytes
 * are not what they claim. Each is answered with an error event; the socket stays open.
 */
import * as Protocol from "@convo/core/Protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Client from "./support/client.js"
import { browser, Harness, layer } from "./support/harness.js"

const nested = (depth: number, leaf: string): string => "[".repeat(depth) + leaf + "]".repeat(depth)

const openClient = Effect.gen(function* () {
  const harness = yield* Harness
  const client = yield* Client.connect(harness.url("/ws/open/"), browser(harness.origin, "alice"))
  yield* client.until((events) => events.some((event) => event.type === "history"))
  return client
})

/** Sends a frame, then a ping; gives the events between them. */
const answerTo = (client: Client.Client, frame: string) =>
  Effect.gen(function* () {
    const before = client.events().length
    yield* client.send(frame)
    const id = `p-${before}`
    yield* client.send({ type: "ping", id })
    const events = yield* client.until((all) => all.some((event) => event.type === "pong" && event.id === id))
    return events.slice(before).filter((event) => event.type !== "pong")
  })

describe("ChatSocket: hostile input", () => {
  it.scopedLive("a value nested 5,000 levels deep inside a known field is a bad_frame; the socket stays open", () =>
    Effect.gen(function* () {
      const client = yield* openClient
      for (const frame of [
        `{"type":"user_message","text":${nested(5000, '"x"')}}`,
        `{"type":"user_message","text":"hi","images":${nested(5000, "1")}}`,
        `{"user_text":${nested(5000, "0")}}`,
        `{"type":"load_history","before":${nested(100_000, "1")}}`
      ]) {
        const events = yield* answerTo(client, frame)
        assert.strictEqual(events.length, 1)
        const error = events[0] as Protocol.ServerEventOf<"error">
        assert.strictEqual(error.code, "bad_frame")
        assert.include(error.message, "nest deeper than 32 levels")
      }
      assert.isTrue(client.isOpen())
      assert.strictEqual(client.ofType("turn_start").length, 0)
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("an error event never echoes more than a short piece of the input", () =>
    Effect.gen(function* () {
      const client = yield* openClient
      const big = "t".repeat(900 * 1024)
      for (const frame of [
        JSON.stringify({ type: big }),
        JSON.stringify({ type: "user_message", text: 1, clientId: [big] }),
        JSON.stringify({ type: "user_message", text: big.slice(0, 200_000).split("") }),
        JSON.stringify({ type: "user_message", text: "hi", images: [`data:image/${big};base64,AAAA`] })
      ]) {
        const events = yield* answerTo(client, frame)
        assert.strictEqual(events.length, 1)
        const error = events[0] as Protocol.ServerEventOf<"error">
        assert.isBelow(JSON.stringify(error).length, 1024, JSON.stringify(error).slice(0, 300))
      }
      assert.isTrue(client.isOpen())
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("an image is checked by its bytes: a data URL of another type's bytes is invalid_image", () =>
    Effect.gen(function* () {
      const client = yield* openClient
      const png =
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
      for (const image of [
        "data:IMAGE/PNG;base64,AAAA",
        `data:image/png;base64,${"A".repeat(800 * 1024)}`,
        "data:image/jpeg;base64,iVBORw0KGgo=" // a PNG signature declared as JPEG
      ]) {
        const events = yield* answerTo(client, JSON.stringify({ type: "user_message", text: "look", images: [image] }))
        assert.deepStrictEqual(
          events.map((event) => (event as Protocol.ServerEventOf<"error">).code),
          ["invalid_image"]
        )
      }
      // an image of each default type with its signature (GIF87a, RIFF....WEBP, FF D8 FF) is accepted: the turn runs
      yield* client.send({
        type: "user_message",
        text: "look",
        images: [
          png,
          "data:image/gif;base64,R0lGODdh",
          "data:image/webp;base64,UklGRgAAAABXRUJQ",
          "data:image/jpeg;base64,/9j/4AAQ"
        ]
      })
      yield* client.until((events) => events.some((event) => event.type === "turn_end"))
      assert.strictEqual(client.ofType("error").length, 3)
    }).pipe(Effect.provide(layer()))
  )
})
