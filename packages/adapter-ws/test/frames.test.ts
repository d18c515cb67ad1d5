import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { classify, utf8Exceeds } from "../src/internal/frames.js"

const utf8Bytes = (text: string) => new TextEncoder().encode(text).byteLength

describe("frame size", () => {
  it("counts UTF-8 bytes as TextEncoder does, for any text and limit", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), fc.nat({ max: 1200 }), (text, limit) => {
        assert.strictEqual(utf8Exceeds(text, limit), utf8Bytes(text) > limit)
      })
    )
  })

  it("counts a surrogate pair as 4 bytes and a lone surrogate as 3", () => {
    assert.isFalse(utf8Exceeds("😀", 4))
    assert.isTrue(utf8Exceeds("😀😀", 7))
    assert.isFalse(utf8Exceeds("\ud800", 3))
    assert.isTrue(utf8Exceeds("\ud800", 2))
  })

  it("classifies text, binary and oversized frames", () => {
    assert.deepStrictEqual(classify('{"type":"ping"}', 100), { _tag: "Text", text: '{"type":"ping"}' })
    assert.deepStrictEqual(classify(new Uint8Array(10), 100), { _tag: "Binary" })
    assert.deepStrictEqual(classify(new Uint8Array(101), 100), { _tag: "TooLarge" })
    assert.deepStrictEqual(classify("한".repeat(34), 100), { _tag: "TooLarge" })
  })
})
