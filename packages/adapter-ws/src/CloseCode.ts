/**
 * The WebSocket close codes a chat socket uses, each sent with a readable reason. Codes 4400–4404
 * mirror the HTTP statuses (a browser cannot read the status of a refused upgrade, but it can read
 * a close code); 1009 and 1011 are the standard "message too big" and "internal error".
 *
 * @since 0.1.0
 */
import type * as ChatAgent from "@convo/core/ChatAgent"

/**
 * A binary (or otherwise non-text) frame: the protocol is JSON text frames. A malformed JSON text
 * frame does not close the socket; it is answered with an `error` event.
 *
 * @since 0.1.0
 * @category codes
 */
export const badFrame = 4400

/**
 * No user where the agent requires one (`ConnectionRejected` reason `Unauthenticated`).
 *
 * @since 0.1.0
 * @category codes
 */
export const unauthenticated = 4401

/**
 * A user who may not open this chat or conversation, or an Origin that is not allowed.
 *
 * @since 0.1.0
 * @category codes
 */
export const forbidden = 4403

/**
 * An unknown conversation (or a conversation id that is not one).
 *
 * @since 0.1.0
 * @category codes
 */
export const notFound = 4404

/**
 * A frame larger than the socket's `maxFrameBytes` (RFC 6455 "message too big").
 *
 * @since 0.1.0
 * @category codes
 */
export const frameTooLarge = 1009

/**
 * The server failed (RFC 6455 "internal error").
 *
 * @since 0.1.0
 * @category codes
 */
export const internalError = 1011

/**
 * The server is shutting down (a graceful shutdown ended the session's turns first): reconnect.
 *
 * @since 0.2.0
 * @category codes
 */
export const goingAway = 1001

/**
 * The client stopped reading: more than the socket's `maxBufferedBytes` of frames waited for it
 * (RFC 6455 "policy violation"). Reconnect with the last event id to get what was missed.
 *
 * @since 0.3.0
 * @category codes
 */
export const notReading = 1008

/**
 * The conversation store or the model is unavailable; try again later (RFC 6455 "try again later").
 *
 * @since 0.1.0
 * @category codes
 */
export const tryAgainLater = 1013

/**
 * The close code of a rejected connection.
 *
 * @since 0.1.0
 * @category mapping
 */
export const ofRejection = (reason: ChatAgent.ConnectionRejected["reason"]): number => {
  switch (reason) {
    case "Unauthenticated":
      return unauthenticated
    case "Forbidden":
      return forbidden
    case "NotFound":
      return notFound
    case "Unavailable":
      return tryAgainLater
  }
}

/**
 * A close reason cut to the 123 bytes a close frame allows (on a character boundary).
 *
 * @since 0.1.0
 * @category mapping
 */
export const reason = (text: string): string => {
  const encoder = new TextEncoder()
  if (encoder.encode(text).byteLength <= 123) return text
  let out = ""
  let bytes = 0
  for (const char of text) {
    const size = encoder.encode(char).byteLength
    if (bytes + size > 120) break
    out += char
    bytes += size
  }
  return `${out}...`
}
