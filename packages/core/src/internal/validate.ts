/**
 * Checks a user message against an agent's limits before a turn runs.
 */
import type { Limits } from "../ChatAgent.js"
import type * as Protocol from "../Protocol.js"

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
    if (!limits.imageTypes.includes(match[1]!.toLowerCase())) {
      return {
        code: "invalid_image",
        message: `Image ${index + 1} is ${match[1]}; accepted types: ${limits.imageTypes.join(", ")}.`
      }
    }
    if (decodedLength(match[2]!) > limits.maxImageBytes) {
      return { code: "too_large", message: `Image ${index + 1} is larger than ${limits.maxImageBytes} bytes.` }
    }
  }
  return undefined
}
