/**
 * @convo/adapter-ws — the WebSocket transport of a convo chat agent.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ChatSocket from "./ChatSocket.js"
/** @since 0.1.0 */
export * as ChatSocketNode from "./ChatSocketNode.js"
/** @since 0.1.0 */
export * as CloseCode from "./CloseCode.js"
/** @since 0.1.0 */
export * as ReceiveLimit from "./ReceiveLimit.js"
