/**
 * @convo/adapter-http — the HTTP transport of a convo chat agent (server-sent event turns, JSON
 * history, clearing), the Vercel AI SDK's UI message stream endpoint for `useChat`, and the ready
 * chat page with its static client.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AiSdkChat from "./AiSdkChat.js"
/** @since 0.1.0 */
export * as ChatPage from "./ChatPage.js"
/** @since 0.1.0 */
export * as HttpChat from "./HttpChat.js"
/** @since 0.1.0 */
export * as NodeChatPage from "./NodeChatPage.js"
