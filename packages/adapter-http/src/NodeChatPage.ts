/**
 * The chat page on Node: where its static files are (the client script and stylesheet shipped in
 * this package, `marked` and `DOMPurify` resolved from `node_modules`), and the page's router with
 * those files. The only Node-specific part of the chat page.
 *
 * @example
 * import * as NodeChatPage from "@convo/adapter-http/NodeChatPage"
 *
 * const router = NodeChatPage.router({ path: "/chat", page: { wsUrl: "/ws/chat/" } })
 *
 * @since 0.1.0
 */
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import type * as Effect from "effect/Effect"
import { createRequire } from "node:module"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as ChatPage from "./ChatPage.js"

const require = createRequire(import.meta.url)

/**
 * The page's static files, located from this module.
 *
 * @since 0.1.0
 * @category assets
 */
export const files: ChatPage.AssetFiles = {
  chatJs: fileURLToPath(new URL("./static/chat.js", import.meta.url)),
  chatCss: fileURLToPath(new URL("./static/chat.css", import.meta.url)),
  // marked's package exports do not list its browser build: find the package, then the file
  marked: Path.join(Path.dirname(require.resolve("marked/package.json")), "lib", "marked.umd.js"),
  dompurify: require.resolve("dompurify/dist/purify.min.js")
}

/**
 * Serves the static assets (see `ChatPage.assetsRouter`) from `files`.
 *
 * @since 0.1.0
 * @category routing
 */
export const assetsRouter = (options?: {
  readonly assetsPath?: string | undefined
}): HttpRouter.HttpRouter<never, HttpPlatform.HttpPlatform> => ChatPage.assetsRouter(files, options)

/**
 * Serves the page at `path` and its assets (see `ChatPage.router`) from `files`.
 *
 * @since 0.1.0
 * @category routing
 */
export const router = <E, R>(options: {
  readonly path: HttpRouter.PathInput
  readonly page: ChatPage.Options | Effect.Effect<ChatPage.Options, E, R>
  readonly assetsPath?: string | undefined
}): HttpRouter.HttpRouter<E, HttpPlatform.HttpPlatform | HttpRouter.HttpRouter.ExcludeProvided<R>> =>
  ChatPage.router({ ...options, files })
