/**
 * @convo/adapter-http — the HTTP transport of a convo chat agent (server-sent event turns, JSON
 * history, clearing) and the ready chat page with its static client.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ChatPage from "./ChatPage.js"
/** @since 0.1.0 */
export * as HttpChat from "./HttpChat.js"
/** @since 0.1.0 */
export * as NodeChatPage from "./NodeChatPage.js"
