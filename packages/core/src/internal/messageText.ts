/**
 * Reading LangChain message content: the text of a message whose content is a string or an
 * array of content parts, and the image URLs among those parts.
 */
import type { MessageContent } from "@langchain/core/messages"

/** @internal */
export const textOf = (content: MessageContent | unknown): string => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return ""
  let text = ""
  for (const part of content) {
    if (typeof part === "string") text += part
    else if (typeof part === "object" && part !== null && (part as { type?: unknown }).type === "text") {
      const value = (part as { text?: unknown }).text
      if (typeof value === "string") text += value
    }
  }
  return text
}

/** @internal */
export const imagesOf = (content: MessageContent | unknown): ReadonlyArray<string> => {
  if (!Array.isArray(content)) return []
  const urls: Array<string> = []
  for (const part of content) {
    if (typeof part !== "object" || part === null) continue
    const { type, image_url } = part as { type?: unknown; image_url?: unknown }
    if (type !== "image_url") continue
    if (typeof image_url === "string") urls.push(image_url)
    else if (typeof image_url === "object" && image_url !== null) {
      const url = (image_url as { url?: unknown }).url
      if (typeof url === "string") urls.push(url)
    }
  }
  return urls
}
