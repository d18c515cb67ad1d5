/**
 * Test support for the HTTP adapter: a real Node server on an ephemeral port, the store and the
 * scripted model as layers, a cookie authenticator, and an SSE parser.
 */
import * as Authenticator from "@convo/core/Authenticator"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
import type * as ScriptedReply from "@convo/testing/ScriptedReply"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { createServer } from "node:http"
import type { Duplex } from "node:stream"

/** The user named by the `session` cookie; no cookie is anonymous. */
export const cookieAuthenticator: Layer.Layer<Authenticator.Authenticator> = Authenticator.layer((request) =>
  Effect.succeed(request.cookies["session"] ? { id: request.cookies["session"] } : null)
)

export interface Env {
  readonly model: ScriptedChatModel
  readonly store: ConversationStore.Service
  readonly context: Context.Context<
    ConversationStore.ConversationStore | LlmModels.ChatModelFactory | Authenticator.Authenticator
  >
}

/** A memory store, the scripted model (with these replies queued) and the cookie authenticator. */
export const makeEnv = (
  replies: ReadonlyArray<ScriptedReply.ScriptedReply> = []
): Effect.Effect<Env, never, Scope.Scope> =>
  Effect.gen(function* () {
    const model = new ScriptedChatModel({ replies })
    const context = yield* Layer.build(
      Layer.mergeAll(
        ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer)),
        LlmModels.layerFixed(model),
        cookieAuthenticator
      )
    )
    return { model, store: Context.get(context, ConversationStore.ConversationStore), context }
  })

export interface Served {
  readonly base: string
  /** Drops every upgraded (WebSocket) connection at once, as a network failure would; gives how many. */
  readonly dropSockets: () => number
}

type ServerServices = Layer.Layer.Success<ReturnType<typeof NodeHttpServer.layer>>

/** Serves `app` on 127.0.0.1 on an ephemeral port for the life of the scope. */
export const serve = <E, R>(
  app: HttpApp.Default<E, R>
): Effect.Effect<Served, never, Scope.Scope | Exclude<R, ServerServices>> =>
  Effect.gen(function* () {
    const node = createServer()
    const upgraded = new Set<Duplex>()
    node.on("upgrade", (_request, socket) => {
      upgraded.add(socket)
      socket.once("close", () => upgraded.delete(socket))
    })
    const server = yield* Layer.build(NodeHttpServer.layer(() => node, { port: 0, host: "127.0.0.1" })).pipe(
      Effect.orDie
    )
    yield* HttpServer.serveEffect(app).pipe(Effect.provide(server))
    const address = Context.get(server, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
    return {
      base: `http://127.0.0.1:${address.port}`,
      dropSockets: () => {
        const count = upgraded.size
        for (const socket of upgraded) socket.destroy()
        return count
      }
    }
  })

export interface SseEvent {
  readonly id: string | undefined
  readonly event: string | undefined
  readonly data: string
}

/**
 * Parses a `text/event-stream` body into its events (comments skipped), per the HTML standard's
 * rules: blocks separated by a blank line, `field: value` lines, `data` lines joined by newlines.
 * `rest` is an incomplete last block.
 */
export const parseSse = (text: string): { readonly events: ReadonlyArray<SseEvent>; readonly rest: string } => {
  const normalized = text.replace(/\r\n?/g, "\n")
  const blocks = normalized.split("\n\n")
  const rest = blocks.pop() ?? ""
  const events: Array<SseEvent> = []
  for (const block of blocks) {
    let id: string | undefined
    let event: string | undefined
    const data: Array<string> = []
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue
      const colon = line.indexOf(":")
      const field = colon < 0 ? line : line.slice(0, colon)
      let value = colon < 0 ? "" : line.slice(colon + 1)
      if (value.startsWith(" ")) value = value.slice(1)
      if (field === "id") id = value
      else if (field === "event") event = value
      else if (field === "data") data.push(value)
    }
    if (data.length > 0 || event !== undefined) events.push({ id, event, data: data.join("\n") })
  }
  return { events, rest }
}

export interface FetchResult {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

/** `fetch`, reading the whole body as text. */
export const request = (url: string, init?: RequestInit): Effect.Effect<FetchResult> =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

/** A JSON POST with the `session` cookie of `user` (none when `null`). */
export const postJson = (url: string, body: unknown, user: string | null, headers?: Record<string, string>) =>
  request(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(user === null ? {} : { cookie: `session=${user}` }),
      ...headers
    },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })

export const cookie = (user: string | null): Record<string, string> =>
  user === null ? {} : { cookie: `session=${user}` }
