/**
 * The chat page (S20; pyhub's template `pyhub_ai/chat_room_ws.html` rendered with `ws_url`): a
 * ready web page that connects to a chat agent's WebSocket, shows the history, streams replies,
 * renders AI markdown safely (`marked`, then `DOMPurify`; human text is never parsed as HTML), shows
 * the input and output tokens of each turn, stops a turn, attaches images, loads older history and
 * reconnects with backoff without duplicating messages.
 *
 * `html` renders the page (every value escaped); `response` adds a strict Content-Security-Policy
 * (scripts only from the page's origin, no inline script: the configuration is a JSON data block);
 * `router` serves the page and its static assets. The assets are files (the client script, its
 * stylesheet, and the browser builds of `marked` and `DOMPurify`); `NodeChatPage` locates them on
 * Node.
 *
 * @example
 * import * as ChatPage from "@convo/adapter-http/ChatPage"
 *
 * // the page of one conversation, with the socket URL from the route table
 * const html = ChatPage.html({ wsUrl: "/ws/example/chat/7/", title: "Language tutor" })
 *
 * @since 0.1.0
 */
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Template from "./internal/pageTemplate.js"

/**
 * The texts of the page, for translation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Labels {
  readonly connecting: string
  readonly connected: string
  readonly reconnecting: string
  readonly disconnected: string
  readonly loadOlder: string
  readonly attach: string
  readonly message: string
  readonly send: string
  readonly stop: string
  readonly noscript: string
  readonly totalTokens: string
  /** `{in}` and `{out}` are replaced by the token counts. */
  readonly tokens: string
  readonly stopped: string
  readonly failed: string
  readonly empty: string
  readonly removeImage: string
  readonly imageRejected: string
  readonly toolCall: string
  readonly toolResult: string
  readonly tooLarge: string
  /** The line where the model's context window starts (older messages are not sent). */
  readonly windowStart: string
}

/**
 * @since 0.1.0
 * @category defaults
 */
export const defaultLabels: Labels = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  disconnected: "Disconnected",
  loadOlder: "Load older messages",
  attach: "Attach images",
  message: "Message",
  send: "Send",
  stop: "Stop",
  noscript: "This chat needs JavaScript.",
  totalTokens: "Tokens used in this session",
  tokens: "{in} in · {out} out tokens",
  stopped: "stopped",
  failed: "failed",
  empty: "No messages yet.",
  removeImage: "Remove image",
  imageRejected: "Only PNG, JPEG, GIF or WebP images up to 5 MB can be attached.",
  toolCall: "Tool call",
  toolResult: "Tool result",
  tooLarge: "The message is too large to send.",
  windowStart: "Earlier messages are not sent to the model"
}

/**
 * What the page shows and where it connects.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The chat's WebSocket URL: absolute (`wss://...`), or a path on this host (`ws`/`wss` by the page's protocol). */
  readonly wsUrl: string
  /** The page title and heading. Default `"Chat"`. */
  readonly title?: string | undefined
  /** The page language (`<html lang>`). Default `"en"`. */
  readonly lang?: string | undefined
  /** Where the static assets are served. Default `defaultAssetsPath`. */
  readonly assetsPath?: string | undefined
  /** The input's placeholder. */
  readonly placeholder?: string | undefined
  /** Older messages asked per `load_history`. Default 50. */
  readonly historyPageSize?: number | undefined
  /** Texts of the page. */
  readonly labels?: Partial<Labels> | undefined
}

/**
 * @since 0.1.0
 * @category defaults
 */
export const defaultAssetsPath = "/convo/static"

/**
 * Renders the page. Every value is escaped; the client reads its configuration (the socket URL,
 * the labels) from a `<script type="application/json">` block, so the page runs under a CSP with no
 * inline script.
 *
 * @since 0.1.0
 * @category rendering
 */
export const html = (options: Options): string => {
  const labels: Labels = { ...defaultLabels, ...options.labels }
  const pageSize = options.historyPageSize ?? 50
  return Template.render({
    title: options.title ?? "Chat",
    lang: options.lang ?? "en",
    assetsPath: trimSlash(options.assetsPath ?? defaultAssetsPath),
    placeholder: options.placeholder ?? "",
    labels: { ...labels },
    config: {
      wsUrl: options.wsUrl,
      historyPageSize: Number.isInteger(pageSize) && pageSize >= 1 && pageSize <= 500 ? pageSize : 50,
      labels
    }
  })
}

const trimSlash = (path: string): string => (path.endsWith("/") ? path.slice(0, -1) : path)

// The origin of an absolute socket URL as a CSP source, e.g. `wss://chat.example.com`.
const socketSource = (wsUrl: string): string | undefined => {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(wsUrl)) return undefined
  try {
    const url = new URL(wsUrl)
    const protocol = url.protocol === "https:" ? "wss:" : url.protocol === "http:" ? "ws:" : url.protocol
    return protocol === "ws:" || protocol === "wss:" ? `${protocol}//${url.host}` : undefined
  } catch {
    return undefined
  }
}

/**
 * The page's Content-Security-Policy: scripts and styles from the page's origin only (no inline
 * script or style), images from the origin and `data:`/`blob:` URLs (attachments), sockets to the
 * origin and to `wsUrl`'s origin when it is absolute, no framing, no plugins.
 *
 * @since 0.1.0
 * @category security
 */
export const contentSecurityPolicy = (options: Pick<Options, "wsUrl">): string => {
  const socket = socketSource(options.wsUrl)
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    `connect-src 'self'${socket === undefined ? "" : ` ${socket}`}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'"
  ].join("; ")
}

/**
 * The page as a response, with its Content-Security-Policy and other security headers.
 *
 * @since 0.1.0
 * @category rendering
 */
export const response = (options: Options): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(html(options), {
    contentType: "text/html; charset=utf-8",
    headers: {
      "content-security-policy": contentSecurityPolicy(options),
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
      "referrer-policy": "same-origin",
      "cache-control": "no-store"
    }
  })

/**
 * Where the page's static files are on disk.
 *
 * @since 0.1.0
 * @category models
 */
export interface AssetFiles {
  /** The client script (`src/static/chat.js`). */
  readonly chatJs: string
  /** Its stylesheet (`src/static/chat.css`). */
  readonly chatCss: string
  /** `marked`'s browser build (`marked/lib/marked.umd.js`). */
  readonly marked: string
  /** `DOMPurify`'s browser build (`dompurify/dist/purify.min.js`). */
  readonly dompurify: string
}

const javascript = "text/javascript; charset=utf-8"

/**
 * Serves the static assets under `assetsPath` (default `defaultAssetsPath`): `chat.js`,
 * `chat.css`, `marked.umd.js`, `purify.min.js`. Needs the platform's `HttpPlatform` (provided by
 * its server layer).
 *
 * @since 0.1.0
 * @category routing
 */
export const assetsRouter = (
  files: AssetFiles,
  options?: { readonly assetsPath?: string | undefined }
): HttpRouter.HttpRouter<never, HttpPlatform.HttpPlatform> => {
  const base = trimSlash(options?.assetsPath ?? defaultAssetsPath)
  const serve = (name: string, path: string, contentType: string) =>
    HttpRouter.get(
      `${base}/${name}` as HttpRouter.PathInput,
      HttpServerResponse.file(path, {
        headers: {
          "content-type": contentType,
          "cache-control": "public, max-age=300",
          "x-content-type-options": "nosniff"
        }
      }).pipe(
        Effect.catchAll((error) =>
          Effect.logError(`cannot read the chat page asset ${path}`, error).pipe(
            Effect.as(HttpServerResponse.text("not found", { status: 404 }))
          )
        )
      )
    )
  return HttpRouter.empty.pipe(
    serve("chat.js", files.chatJs, javascript),
    serve("chat.css", files.chatCss, "text/css; charset=utf-8"),
    serve("marked.umd.js", files.marked, javascript),
    serve("purify.min.js", files.dompurify, javascript)
  )
}

/**
 * Serves the page at `path` and its assets. `page` gives the page's options per request, e.g.
 * from the route parameters (`HttpRouter.params`) and `Routes.reverse` of the socket route.
 *
 * @since 0.1.0
 * @category routing
 * @example
 * import * as ChatPage from "@convo/adapter-http/ChatPage"
 * import * as NodeChatPage from "@convo/adapter-http/NodeChatPage"
 * import * as Routes from "@convo/core/Routes"
 * import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import * as HttpRouter from "@effect/platform/HttpRouter"
 * import * as Effect from "effect/Effect"
 *
 * const routes = Routes.make([Routes.ws("chat", "/ws/chat/:conversation_pk/")])
 *
 * const router = ChatPage.router({
 *   path: "/chat/:conversation_pk/",
 *   files: NodeChatPage.files,
 *   page: Effect.gen(function* () {
 *     const { conversation_pk } = yield* HttpRouter.params
 *     const wsUrl = yield* Routes.reverse(routes, "chat", { conversation_pk: conversation_pk ?? "" })
 *     return { wsUrl, title: "Chat" }
 *   }).pipe(Effect.orDie)
 * })
 */
export const router = <E, R>(options: {
  readonly path: HttpRouter.PathInput
  readonly page: Options | Effect.Effect<Options, E, R>
  readonly files: AssetFiles
  readonly assetsPath?: string | undefined
}): HttpRouter.HttpRouter<E, HttpPlatform.HttpPlatform | HttpRouter.HttpRouter.ExcludeProvided<R>> => {
  const assetsPath = options.assetsPath ?? defaultAssetsPath
  const page: Effect.Effect<Options, E, R> = Effect.isEffect(options.page) ? options.page : Effect.succeed(options.page)
  return assetsRouter(options.files, { assetsPath }).pipe(
    HttpRouter.get(
      options.path,
      Effect.map(page, (resolved) => response({ ...resolved, assetsPath: resolved.assetsPath ?? assetsPath }))
    )
  )
}
