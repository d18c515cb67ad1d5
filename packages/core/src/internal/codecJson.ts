/**
 * JSON text exactly as CPython's `json.dumps` writes it (default options) and `json.loads` reads it.
 *
 * JavaScript values lose three things Python's text keeps: the order of object keys that look like
 * array indexes ("10" before "2"), the form of a number literal (`1.0` is a float in Python, `1` in
 * JavaScript) and integers past 2^53. `parse` records what would be lost in a side table keyed by
 * the container (a `WeakMap`, so values stay plain JSON), and `stringify` reads it back, so text that
 * Python wrote comes back byte-for-byte. Containers built by the codec copy that information along.
 *
 * @internal
 */

/** Nesting deeper than this fails, as CPython's recursion limit makes `json.loads` and `json.dumps` fail. */
export const maxDepth = 1000

interface Meta {
  /** Key order when it differs from `Object.keys` (only for plain objects). */
  order?: ReadonlyArray<string>
  /** Number literals whose default text differs from the source, by key (array index as text). */
  literals?: Map<string, string>
}

const metas = new WeakMap<object, Meta>()

/** @internal */
export class JsonSyntaxError extends Error {
  constructor(message: string, position: number) {
    super(`${message} at position ${position}`)
  }
}

/** @internal */
export const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/** Keys of a plain object in their recorded (source) order. */
export const keysOf = (obj: object): ReadonlyArray<string> => {
  const keys = Object.keys(obj)
  const order = metas.get(obj)?.order
  if (order === undefined || order.length !== keys.length) return keys
  for (const key of order) if (!Object.prototype.hasOwnProperty.call(obj, key)) return keys
  return order
}

const setOwn = (obj: Record<string, unknown>, key: string, value: unknown) => {
  if (key === "__proto__") {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
  } else {
    obj[key] = value
  }
}

const sameOrder = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A plain object with these entries, remembering their order when JavaScript would reorder them. */
export const objectFromEntries = (entries: Iterable<readonly [string, unknown]>): Record<string, unknown> => {
  const obj: Record<string, unknown> = {}
  const order: Array<string> = []
  for (const [key, value] of entries) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) order.push(key)
    setOwn(obj, key, value)
  }
  if (!sameOrder(Object.keys(obj), order)) metaFor(obj).order = order
  return obj
}

const metaFor = (container: object): Meta => {
  let meta = metas.get(container)
  if (meta === undefined) {
    meta = {}
    metas.set(container, meta)
  }
  return meta
}

/**
 * Copies the recorded number literals of `from` (an object, array or `Map`) to `to`, renaming keys
 * with `rename` (for a container whose keys moved, e.g. an object rebuilt as a `Map`).
 */
export const copyLiterals = (from: object, to: object, rename?: (key: string) => string | undefined) => {
  const literals = metas.get(from)?.literals
  if (literals === undefined || literals.size === 0) return
  const target = (metaFor(to).literals ??= new Map())
  for (const [key, literal] of literals) {
    const renamed = rename === undefined ? key : rename(key)
    if (renamed !== undefined) target.set(renamed, literal)
  }
}

const literalOf = (container: object, key: string, value: number): string | undefined => {
  const literal = metas.get(container)?.literals?.get(key)
  return literal !== undefined && Object.is(Number(literal), value) ? literal : undefined
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

const plainAscii = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

const hexDigits = [0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66]
const asciiDecoder = new TextDecoder()
// The quoted text is ASCII: it is written as bytes into one reused buffer and decoded once
// (appending `\uXXXX` strings one character at a time was most of an append's encoding time for
// Korean or Chinese text). Texts past 64 KiB get a buffer of their own, so none is kept that large.
const sharedBytes = { buffer: new Uint8Array(4096) }

/** A string as Python's `json.dumps` (ensure_ascii) quotes it: every UTF-16 unit outside ' '..'~' escaped. */
export const quote = (s: string): string => {
  if (plainAscii.test(s)) return `"${s}"`
  const need = s.length * 6 + 2
  let b = sharedBytes.buffer
  if (b.length < need) {
    b = new Uint8Array(need)
    if (need <= 65_536) sharedBytes.buffer = b
  }
  let j = 0
  b[j++] = 0x22
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) {
      b[j++] = c
      continue
    }
    b[j++] = 0x5c
    switch (c) {
      case 0x22:
      case 0x5c:
        b[j++] = c
        break
      case 0x0a:
        b[j++] = 0x6e // n
        break
      case 0x0d:
        b[j++] = 0x72 // r
        break
      case 0x09:
        b[j++] = 0x74 // t
        break
      case 0x08:
        b[j++] = 0x62 // b
        break
      case 0x0c:
        b[j++] = 0x66 // f
        break
      default:
        b[j++] = 0x75 // u, then four lower-case hex digits
        b[j++] = hexDigits[c >> 12]!
        b[j++] = hexDigits[(c >> 8) & 15]!
        b[j++] = hexDigits[(c >> 4) & 15]!
        b[j++] = hexDigits[c & 15]!
    }
  }
  b[j++] = 0x22
  return asciiDecoder.decode(b.subarray(0, j))
}

/**
 * A number as Python writes it: safe integers as ints, other numbers as `repr(float)` (shortest
 * round-trip digits; exponent form below 1e-4 and from 1e16 on, with a sign and at least two
 * exponent digits).
 */
export const formatNumber = (x: number): string => {
  if (Number.isNaN(x)) return "NaN"
  if (x === Infinity) return "Infinity"
  if (x === -Infinity) return "-Infinity"
  if (Object.is(x, -0)) return "-0.0"
  // A safe integer is written as a Python int; past 2^53 a JavaScript number is a float's value.
  if (Number.isSafeInteger(x)) return String(x)
  const sign = x < 0 ? "-" : ""
  const [mantissa, exponent] = Math.abs(x).toExponential().split("e") as [string, string]
  const digits = mantissa.replace(".", "")
  const decpt = Number(exponent) + 1
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`
    if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}.0`
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`
  }
  const exp = decpt - 1
  const frac = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits
  return `${sign}${frac}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`
}

/**
 * Python's `json.dumps(value)` text of a JSON value (separators ", " and ": ", ensure_ascii,
 * allow_nan). Throws on a value that is not JSON: callers pass the codec's own output.
 */
export const stringify = (value: unknown): string => {
  const parts: Array<string> = []
  const write = (v: unknown, container: object | undefined, key: string, depth: number): void => {
    if (v === null) {
      parts.push("null")
      return
    }
    switch (typeof v) {
      case "string":
        parts.push(quote(v))
        return
      case "boolean":
        parts.push(v ? "true" : "false")
        return
      case "number": {
        const literal = container === undefined ? undefined : literalOf(container, key, v)
        parts.push(literal ?? formatNumber(v))
        return
      }
      case "object": {
        if (depth >= maxDepth) throw new Error(`nesting deeper than ${maxDepth} levels`)
        if (Array.isArray(v)) {
          if (v.length === 0) {
            parts.push("[]")
            return
          }
          parts.push("[")
          for (let i = 0; i < v.length; i++) {
            if (i > 0) parts.push(", ")
            write(v[i], v, String(i), depth + 1)
          }
          parts.push("]")
          return
        }
        if (!isPlainObject(v)) break
        const keys = keysOf(v)
        if (keys.length === 0) {
          parts.push("{}")
          return
        }
        parts.push("{")
        let first = true
        for (const k of keys) {
          if (!first) parts.push(", ")
          first = false
          parts.push(quote(k), ": ")
          write(v[k], v, k, depth + 1)
        }
        parts.push("}")
        return
      }
    }
    throw new Error(`not a JSON value: ${typeof v}`)
  }
  write(value, undefined, "", 0)
  return parts.join("")
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

const isDigit = (c: number) => c >= 0x30 && c <= 0x39

/**
 * Parses JSON text as Python's `json.loads` does (it also reads NaN, Infinity and -Infinity, and
 * rejects raw control characters in strings), recording key order and number forms for `stringify`.
 * Throws `JsonSyntaxError`.
 */
export const parse = (text: string): unknown => {
  if (plainJson(text)) {
    try {
      return JSON.parse(text)
    } catch {
      // NaN, Infinity, or a syntax error: the exact parser below reads the first and reports the other.
    }
  }
  return parseExact(text)
}

/**
 * True when `JSON.parse` reads `text` exactly as `parseExact` does: outside strings, no number
 * JavaScript would write back differently (a fraction or exponent, `-0`, 16 or more digits) and no
 * nesting 1000 deep; no object key JavaScript reorders (an array index such as "0" or "12").
 * Strings are skipped with `indexOf`, so the text of a message costs almost nothing to check.
 */
const plainJson = (text: string): boolean => {
  const n = text.length
  let depth = 0
  let i = 0
  while (i < n) {
    const quote = text.indexOf('"', i)
    const end = quote === -1 ? n : quote
    for (let j = i; j < end; j++) {
      const c = text.charCodeAt(j)
      if (c === 0x5b || c === 0x7b) {
        if (++depth >= maxDepth) return false
      } else if (c === 0x5d || c === 0x7d) {
        depth--
      } else if (c === 0x2d) {
        if (text.charCodeAt(j + 1) === 0x30) return false
      } else if (isDigit(c)) {
        const start = j
        while (j + 1 < end && isDigit(text.charCodeAt(j + 1))) j++
        if (j + 1 - start >= 16) return false
        const next = text.charCodeAt(j + 1)
        if (next === 0x2e || next === 0x65 || next === 0x45) return false
      }
    }
    if (quote === -1) return true
    // The closing quote: the next one not escaped by an odd run of backslashes.
    let close = quote
    for (;;) {
      close = text.indexOf('"', close + 1)
      if (close === -1) return true
      let backslashes = 0
      while (text.charCodeAt(close - 1 - backslashes) === 0x5c) backslashes++
      if (backslashes % 2 === 0) break
    }
    i = close + 1
    // A key that is an array index (JavaScript puts those first, in numeric order).
    const first = text.charCodeAt(quote + 1)
    if (isDigit(first) && (first !== 0x30 || close === quote + 2)) {
      let k = quote + 1
      while (k < close && isDigit(text.charCodeAt(k))) k++
      if (k === close) {
        let after = close + 1
        while (after < n && isSpace(text.charCodeAt(after))) after++
        if (text.charCodeAt(after) === 0x3a) return false
      }
    }
  }
  return true
}

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

/** The exact parser alone (the fast path is checked against it). @internal */
export const parseExact = (text: string): unknown => {
  let i = 0
  let lastLiteral: string | undefined

  const fail = (message: string): never => {
    throw new JsonSyntaxError(message, i)
  }
  const skipWhitespace = () => {
    for (;;) {
      const c = text.charCodeAt(i)
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++
      else return
    }
  }
  const expectWord = (word: string) => {
    if (text.startsWith(word, i)) i += word.length
    else fail("Expecting value")
  }

  const parseString = (): string => {
    // text[i] is the opening quote
    i++
    let out = ""
    let start = i
    for (;;) {
      if (i >= text.length) fail("Unterminated string")
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        out += text.slice(start, i)
        i++
        return out
      }
      if (c < 0x20) fail("Invalid control character")
      if (c !== 0x5c) {
        i++
        continue
      }
      out += text.slice(start, i)
      const e = text[i + 1]
      switch (e) {
        case '"':
          out += '"'
          break
        case "\\":
          out += "\\"
          break
        case "/":
          out += "/"
          break
        case "b":
          out += "\b"
          break
        case "f":
          out += "\f"
          break
        case "n":
          out += "\n"
          break
        case "r":
          out += "\r"
          break
        case "t":
          out += "\t"
          break
        case "u": {
          const digits = text.slice(i + 2, i + 6)
          if (!/^[0-9a-fA-F]{4}$/.test(digits)) fail("Invalid \\uXXXX escape")
          out += String.fromCharCode(parseInt(digits, 16))
          i += 4
          break
        }
        default:
          fail("Invalid \\escape")
      }
      i += 2
      start = i
    }
  }

  const parseNumber = (): number => {
    const start = i
    if (text.charCodeAt(i) === 0x2d) i++
    if (text.startsWith("Infinity", i)) {
      i += 8
      lastLiteral = text.slice(start, i)
      return -Infinity
    }
    const first = text.charCodeAt(i)
    if (first === 0x30) i++
    else if (isDigit(first)) while (isDigit(text.charCodeAt(i))) i++
    else fail("Expecting value")
    if (text.charCodeAt(i) === 0x2e && isDigit(text.charCodeAt(i + 1))) {
      i++
      while (isDigit(text.charCodeAt(i))) i++
    }
    const e = text.charCodeAt(i)
    if (e === 0x65 || e === 0x45) {
      let j = i + 1
      const sign = text.charCodeAt(j)
      if (sign === 0x2b || sign === 0x2d) j++
      if (isDigit(text.charCodeAt(j))) {
        i = j
        while (isDigit(text.charCodeAt(i))) i++
      }
    }
    lastLiteral = text.slice(start, i)
    return Number(lastLiteral)
  }

  /** Records `literal` for `value` at `key` when `stringify` would otherwise write it differently. */
  const noteLiteral = (container: object, key: string, value: unknown, literal: string | undefined) => {
    const existing = metas.get(container)?.literals
    existing?.delete(key)
    if (typeof value !== "number" || literal === undefined || formatNumber(value) === literal) return
    ;(metaFor(container).literals ??= new Map()).set(key, literal)
  }

  const parseValue = (depth: number): unknown => {
    skipWhitespace()
    lastLiteral = undefined
    const c = text.charCodeAt(i)
    switch (c) {
      case 0x22:
        return parseString()
      case 0x7b:
        return parseObject(depth)
      case 0x5b:
        return parseArray(depth)
      case 0x74:
        expectWord("true")
        return true
      case 0x66:
        expectWord("false")
        return false
      case 0x6e:
        expectWord("null")
        return null
      case 0x4e:
        expectWord("NaN")
        lastLiteral = "NaN"
        return NaN
      case 0x49:
        expectWord("Infinity")
        lastLiteral = "Infinity"
        return Infinity
      default:
        if (c === 0x2d || isDigit(c)) return parseNumber()
        return fail("Expecting value")
    }
  }

  const parseArray = (depth: number): Array<unknown> => {
    if (depth >= maxDepth) fail(`Nesting deeper than ${maxDepth} levels`)
    i++
    const out: Array<unknown> = []
    skipWhitespace()
    if (text.charCodeAt(i) === 0x5d) {
      i++
      return out
    }
    for (;;) {
      const value = parseValue(depth + 1)
      noteLiteral(out, String(out.length), value, lastLiteral)
      out.push(value)
      skipWhitespace()
      const c = text.charCodeAt(i)
      if (c === 0x2c) {
        i++
        continue
      }
      if (c === 0x5d) {
        i++
        return out
      }
      fail("Expecting ',' delimiter")
    }
  }

  const parseObject = (depth: number): Record<string, unknown> => {
    if (depth >= maxDepth) fail(`Nesting deeper than ${maxDepth} levels`)
    i++
    const out: Record<string, unknown> = {}
    const order: Array<string> = []
    skipWhitespace()
    if (text.charCodeAt(i) === 0x7d) {
      i++
      return out
    }
    for (;;) {
      skipWhitespace()
      if (text.charCodeAt(i) !== 0x22) fail("Expecting property name enclosed in double quotes")
      const key = parseString()
      skipWhitespace()
      if (text.charCodeAt(i) !== 0x3a) fail("Expecting ':' delimiter")
      i++
      const value = parseValue(depth + 1)
      if (!Object.prototype.hasOwnProperty.call(out, key)) order.push(key)
      setOwn(out, key, value)
      noteLiteral(out, key, value, lastLiteral)
      skipWhitespace()
      const c = text.charCodeAt(i)
      if (c === 0x2c) {
        i++
        continue
      }
      if (c === 0x7d) {
        i++
        break
      }
      fail("Expecting ',' delimiter")
    }
    if (!sameOrder(Object.keys(out), order)) metaFor(out).order = order
    return out
  }

  const value = parseValue(0)
  skipWhitespace()
  if (i < text.length) fail("Extra data")
  return value
}

/**
 * Copies what `parse` recorded about `from` to `to`, a rebuilt copy of the same object or array
 * (same keys), so rebuilding a container on the way keeps its text form.
 */
export const copyMeta = (from: object, to: object) => {
  const meta = metas.get(from)
  if (meta === undefined) return
  const target = metaFor(to)
  if (meta.order !== undefined) target.order = meta.order
  if (meta.literals !== undefined) target.literals = new Map(meta.literals)
}
