import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { parse, parseExact, stringify } from "../src/internal/codecJson.js"

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
})
