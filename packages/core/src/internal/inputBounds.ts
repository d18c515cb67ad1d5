/**
 * Bounds on untrusted input before it reaches a decoder or an error message: the nesting depth of
 * a parsed JSON value (Effect's error formatting recurses into the value it reports, so a deeply
 * nested one overflows the stack), and the length of any piece of input echoed back.
 *
 * @internal
 */

/** The deepest nesting a client frame may have; the protocol's own frames need 3. @internal */
export const maxDepth = 32

/** The longest piece of input an error message repeats. @internal */
export const maxEcho = 64

/** The longest error detail sent to a client. @internal */
export const maxDetail = 500

/**
 * Whether a parsed JSON value nests arrays and objects deeper than `limit` (a value that is neither
 * has depth 0). Iterative, and stops at the first path past the limit, so it is safe on any value
 * `JSON.parse` gives.
 *
 * @internal
 */
export const depthExceeds = (value: unknown, limit: number): boolean => {
  const stack: Array<readonly [unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!
    if (typeof current !== "object" || current === null) continue
    if (depth + 1 > limit) return true
    const children = Array.isArray(current) ? current : Object.values(current)
    for (const child of children) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1])
    }
  }
  return false
}

/** Cuts a text to `max` characters (on a code point boundary), marking the cut. @internal */
export const truncate = (text: string, max: number): string => {
  if (text.length <= max) return text
  let end = max
  const code = text.charCodeAt(end - 1)
  if (code >= 0xd800 && code <= 0xdbff) end -= 1
  return `${text.slice(0, end)}... (${text.length} characters)`
}

/** A value as an error message quotes it: a string as JSON, cut to `maxEcho` characters. @internal */
export const quote = (value: unknown): string => {
  if (typeof value === "string") {
    return value.length <= maxEcho
      ? JSON.stringify(value)
      : `${JSON.stringify(value.slice(0, maxEcho))}... (${value.length} characters)`
  }
  if (Array.isArray(value)) return "an array"
  if (typeof value === "object" && value !== null) return "an object"
  return String(value)
}
