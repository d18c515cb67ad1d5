/**
 * Incoming frames, classified as they arrive (synchronously, in arrival order) before anything
 * decodes them.
 *
 * @internal
 */

/** @internal */
export type Inbound =
  { readonly _tag: "Text"; readonly text: string } | { readonly _tag: "Binary" } | { readonly _tag: "TooLarge" }

/**
 * Whether the UTF-8 encoding of `text` exceeds `limit` bytes, without encoding it: a UTF-16 code
 * unit takes 1 to 3 bytes (a surrogate pair, two units, takes 4), so only lengths between
 * `limit / 3` and `limit` need counting, and counting stops past the limit.
 *
 * @internal
 */
export const utf8Exceeds = (text: string, limit: number): boolean => {
  const units = text.length
  if (units > limit) return true
  if (units * 3 <= limit) return false
  let bytes = 0
  for (let i = 0; i < units; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < units) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4
        i++
      } else bytes += 3
    } else bytes += 3
    if (bytes > limit) return true
  }
  return false
}

const tooLarge: Inbound = { _tag: "TooLarge" }
const binary: Inbound = { _tag: "Binary" }

/** @internal */
export const classify = (data: string | Uint8Array, maxBytes: number): Inbound => {
  if (typeof data === "string") {
    return utf8Exceeds(data, maxBytes) ? tooLarge : { _tag: "Text", text: data }
  }
  return data.byteLength > maxBytes ? tooLarge : binary
}
