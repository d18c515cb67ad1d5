import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Protocol from "../src/Protocol.js"

const reasonOf = (result: Either.Either<unknown, Protocol.FrameError>) =>
  Either.isLeft(result) ? result.left.reason : "decoded"

describe("Protocol", () => {
  it("decodes every client message", () => {
    assert.deepStrictEqual(Either.getOrThrow(Protocol.decodeClientFrame('{"type":"ping","id":"1"}')), {
      type: "ping",
      id: "1"
    })
    assert.deepStrictEqual(
      Either.getOrThrow(Protocol.decodeClientFrame('{"type":"user_message","text":"hi","clientId":"c1"}')),
      { type: "user_message", text: "hi", clientId: "c1" }
    )
    assert.deepStrictEqual(Either.getOrThrow(Protocol.decodeClientFrame('{"type":"stop"}')), { type: "stop" })
    assert.deepStrictEqual(Either.getOrThrow(Protocol.decodeClientFrame('{"type":"load_history","before":9}')), {
      type: "load_history",
      before: 9
    })
  })

  it("accepts pyhub's user_text frame and splits images__base64 on ||", () => {
    const frame = JSON.stringify({
      user_text: "이 그림",
      images__base64: "data:image/png;base64,AA==||data:image/png;base64,AQ=="
    })
    assert.deepStrictEqual(Either.getOrThrow(Protocol.decodeClientFrame(frame)), {
      type: "user_message",
      text: "이 그림",
      images: ["data:image/png;base64,AA==", "data:image/png;base64,AQ=="]
    })
    assert.deepStrictEqual(Either.getOrThrow(Protocol.decodeClientFrame('{"user_text":"hi","images__base64":""}')), {
      type: "user_message",
      text: "hi"
    })
  })

  it("refuses bad frames with a typed reason", () => {
    assert.strictEqual(reasonOf(Protocol.decodeClientFrame("{not json")), "MalformedJson")
    assert.strictEqual(reasonOf(Protocol.decodeClientFrame("[1,2]")), "InvalidFields")
    assert.strictEqual(reasonOf(Protocol.decodeClientFrame("null")), "InvalidFields")
    assert.strictEqual(reasonOf(Protocol.decodeClientFrame('{"type":"launch_missiles"}')), "UnknownType")
    assert.strictEqual(reasonOf(Protocol.decodeClientFrame('{"text":"no type"}')), "UnknownType")
    assert.strictEqual(reasonOf(Protocol.decodeClientFrame('{"type":"user_message","text":42}')), "InvalidFields")
    assert.strictEqual(reasonOf(Protocol.decodeClientFrame('{"type":"load_history","before":-1}')), "InvalidFields")
    assert.strictEqual(reasonOf(Protocol.decodeClientFrame('{"user_text":5}')), "InvalidFields")
    const detail = Protocol.decodeClientFrame('{"type":"user_message","text":42}')
    assert.isTrue(Either.isLeft(detail) && detail.left.detail.includes("text"))
  })

  it("server events round-trip through the schema", () => {
    const events: Array<Protocol.ServerEvent> = [
      { type: "turn_start", turnId: "t" },
      { type: "message_delta", id: "m", text: "你好" },
      { type: "usage", turnId: "t", messageId: "m", usage: { inputTokens: 139, outputTokens: 14, totalTokens: 153 } },
      Protocol.errorEvent("too_large", "message too long")
    ]
    for (const event of events) {
      assert.deepStrictEqual(Either.getOrThrow(Protocol.decodeServerEvent(JSON.parse(JSON.stringify(event)))), event)
    }
    assert.isTrue(Either.isLeft(Protocol.decodeServerEvent({ type: "usage", usage: "139 tokens" })))
  })
})
