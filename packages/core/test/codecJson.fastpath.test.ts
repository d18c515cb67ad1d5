import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { parse, parseExact, quote, stringify } from "../src/internal/codecJson.js"

// Python-written text: floats keep ".0", keys may be array indexes, NaN appears, strings hold anything.
const pyText: fc.Arbitrary<string> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom(
      "null",
      "true",
      "false",
      "NaN",
      "-Infinity",
      "1.0",
      "-0.0",
      "0",
      "-0",
      "1e-05",
      "12345678901234567890",
      "2.50",
      "7"
    ),
    fc.integer().map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.stringify(x)),
    fc.string({ unit: "binary" }).map((s) => JSON.stringify(s)),
    fc.array(tie("value") as fc.Arbitrary<string>, { maxLength: 4 }).map((xs) => `[${xs.join(", ")}]`),
    fc
      .array(
        fc.tuple(
          fc.oneof(fc.string(), fc.nat().map(String), fc.constantFrom("0", "10", "2", "01", "__proto__")),
          tie("value") as fc.Arbitrary<string>
        ),
        { maxLength: 4 }
      )
      .map((es) => `{${es.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(", ")}}`)
  )
})).value

describe("codecJson: the JSON.parse fast path", () => {
  it("the fast path gives what the exact parser gives, text form included", () => {
    fc.assert(
      fc.property(pyText, (text) => {
        let exact: unknown
        try {
          exact = parseExact(text)
        } catch (e) {
          assert.throws(() => parse(text))
          return
        }
        const fast = parse(text)
        assert.strictEqual(stringify(fast), stringify(exact))
        assert.deepStrictEqual(fast, exact)
      }),
      { numRuns: 50000 }
    )
  })
  it("parse keeps what Python wrote: stringify(parse(x)) is stable and parse agrees with JSON.parse where JSON.parse reads", () => {
    fc.assert(
      fc.property(pyText, (text) => {
        let value: unknown
        try {
          value = parse(text)
        } catch {
          return
        }
        const once = stringify(value)
        assert.strictEqual(stringify(parse(once)), once)
        let js: unknown
        try {
          js = JSON.parse(text)
        } catch {
          return
        }
        assert.deepStrictEqual(JSON.parse(JSON.stringify(value)), JSON.parse(JSON.stringify(js)))
      }),
      { numRuns: 20000 }
    )
  })

  it("quote writes what Python's json.dumps writes for any string, short or past the reused buffer", () => {
    // Python's ensure_ascii: every UTF-16 unit outside ' '..'~' escaped, the short escapes for " \\ and controls
    const python = (text: string): string => {
      const short: Record<number, string> = {
        0x22: '\\"',
        0x5c: "\\\\",
        0x0a: "\\n",
        0x0d: "\\r",
        0x09: "\\t",
        0x08: "\\b",
        0x0c: "\\f"
      }
      let out = '"'
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i)
        out += short[c] ?? (c >= 0x20 && c <= 0x7e ? text[i] : "\\u" + c.toString(16).padStart(4, "0"))
      }
      return out + '"'
    }
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
        assert.strictEqual(quote(text), python(text))
      }),
      { numRuns: 5000 }
    )
    const long = '오늘 café 😀 "quoted" \\ \n'.repeat(4_000)
    assert.isAbove(long.length * 6, 65_536)
    assert.strictEqual(quote(long), python(long))
    assert.strictEqual(quote("after a long one: 한"), python("after a long one: 한"))
  })
})
