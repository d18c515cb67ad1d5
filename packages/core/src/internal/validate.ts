/**
 * Checks a user message against an agent's limits before a turn runs. An image is checked by its
 * bytes, not only its data URL: the decoded bytes must start with the signature of the media type
 * it declares (a type without a known signature is refused).
 */
import type { Limits } from "../ChatAgent.js"
import type * as Protocol from "../Protocol.js"
import { quote } from "./inputBounds.js"

/** A refused user message: an error code and a message safe to show. */
export interface Refusal {
  readonly code: Protocol.ErrorCode
  readonly message: string
}

const dataUrl = /^data:([a-z0-9.+-]+\/[a-z0-9.+-]+);base64,([A-Za-z0-9+/]*={0,2})$/i

const decodedLength = (base64: string): number => {
  const padding = base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0
  return Math.floor((base64.length * 3) / 4) - padding
}

const bytes = (...values: ReadonlyArray<number | string>): ReadonlyArray<number> =>
  values.flatMap((value) => (typeof value === "number" ? [value] : [...value].map((char) => char.charCodeAt(0))))

/** `null` in a signature matches any byte. */
type Signature = ReadonlyArray<number | null>

const ftyp = (brands: ReadonlyArray<string>): ReadonlyArray<Signature> =>
  brands.map((brand) => [null, null, null, null, ...bytes("ftyp", brand)])

/** The leading bytes of each image type convo can check. */
const signatures: Readonly<Record<string, ReadonlyArray<Signature>>> = {
  "image/png": [bytes(0x89, "PNG\r\n", 0x1a, "\n")],
  "image/jpeg": [bytes(0xff, 0xd8, 0xff)],
  "image/gif": [bytes("GIF87a"), bytes("GIF89a")],
  "image/webp": [[...bytes("RIFF"), null, null, null, null, ...bytes("WEBP")]],
  "image/bmp": [bytes("BM")],
  "image/tiff": [bytes("II*", 0), bytes("MM", 0, "*")],
  "image/avif": ftyp(["avif", "avis"]),
  "image/heic": ftyp(["heic", "heix", "heim", "heis"])
}

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/** The first bytes of a base64 text (at most `count`, fewer when it is shorter). */
const leadingBytes = (base64: string, count: number): Array<number> => {
  const out: Array<number> = []
  let buffer = 0
  let bits = 0
  for (let i = 0; i < base64.length && out.length < count; i++) {
    const value = base64Alphabet.indexOf(base64[i]!)
    if (value < 0) break
    buffer = ((buffer << 6) | value) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out.push((buffer >> bits) & 0xff)
    }
  }
  return out
}

/** Whether decoded bytes start with one of the type's signatures; `undefined` for a type without one. */
const hasSignature = (mediaType: string, base64: string): boolean | undefined => {
  const known = signatures[mediaType]
  if (known === undefined) return undefined
  const head = leadingBytes(base64, 16)
  return known.some(
    (signature) => head.length >= signature.length && signature.every((byte, i) => byte === null || byte === head[i])
  )
}

/** @internal */
export const validateUserMessage = (
  message: Protocol.UserMessage,
  limits: Limits,
  multimodal: boolean
): Refusal | undefined => {
  const images = message.images ?? []
  if (message.text.trim().length === 0 && images.length === 0) {
    return { code: "empty_message", message: "The message is empty." }
  }
  if (message.text.length > limits.maxTextLength) {
    return {
      code: "too_large",
      message: `The message is ${message.text.length} characters long; the limit is ${limits.maxTextLength}.`
    }
  }
  if (images.length === 0) return undefined
  if (!multimodal) {
    return { code: "not_multimodal", message: "This model does not accept images." }
  }
  if (images.length > limits.maxImages) {
    return { code: "too_large", message: `At most ${limits.maxImages} images can be sent with one message.` }
  }
  for (const [index, image] of images.entries()) {
    const match = dataUrl.exec(image)
    if (match === null || match[2]!.length % 4 !== 0) {
      return { code: "invalid_image", message: `Image ${index + 1} is not a base64 data URL.` }
    }
    const mediaType = match[1]!.toLowerCase()
    if (!limits.imageTypes.includes(mediaType)) {
      return {
        code: "invalid_image",
        message: `Image ${index + 1} is ${quote(match[1])}; accepted types: ${limits.imageTypes.join(", ")}.`
      }
    }
    if (decodedLength(match[2]!) > limits.maxImageBytes) {
      return { code: "too_large", message: `Image ${index + 1} is larger than ${limits.maxImageBytes} bytes.` }
    }
    const signed = hasSignature(mediaType, match[2]!)
    if (signed === undefined) {
      return { code: "invalid_image", message: `Image ${index + 1} is ${mediaType}, whose bytes cannot be checked.` }
    }
    if (!signed) {
      return {
        code: "invalid_image",
        message: `Image ${index + 1} is not a ${mediaType} image: its bytes say otherwise.`
      }
    }
  }
  return undefined
}
