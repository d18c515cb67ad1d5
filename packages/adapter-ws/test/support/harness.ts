/**
 * A real chat socket server on 127.0.0.1, port 0, for the adapter tests: an in-memory store, a
 * scripted model, and a cookie authenticator (`session=<user id>`).
 */
import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
import * as ChatSocketNode from "@convo/adapter-ws/ChatSocketNode"
import * as Authenticator from "@convo/core/Authenticator"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as Routes from "@convo/core/Routes"
import { ScriptedChatModel } from "@convo/testing/ScriptedChatModel"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export const routes = Routes.make([
  Routes.ws("example-chat", "/ws/example/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } }),
  Routes.ws("room-chat", "/ws/rooms/:room/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } }),
  Routes.ws("open-chat", "/ws/open/"),
  Routes.ws("thread-chat", "/ws/threads/:conversation_id/", { params: { conversation_id: Routes.publicId } }),
  Routes.ws("small-frames", "/ws/small/"),
  Routes.ws("closing-chat", "/ws/closing/chat/:conversation_pk/"),
  Routes.ws("greeting-chat", "/ws/greeting/chat/:conversation_pk/"),
  Routes.ws("slow-reader", "/ws/slow/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } }),
  Routes.http("example-room", "/example/chat/:room_pk/")
])

type Route = (typeof routes.routes)[number]

/** Default `canAccept`: only an authenticated user. The system prompt shows the `room` parameter. */
export const strictAgent = ChatAgent.make({
  name: "strict",
  model: LlmModels.openAiGpt4o,
  systemPrompt: "Room {room}.",
  promptContext: (connection) => ({ room: connection.params["room"] ?? "none" })
})

/** Speaks first: its first user message runs as a turn when the history is empty. */
export const greetingAgent = ChatAgent.make({
  name: "greeting",
  model: LlmModels.openAiGpt4o,
  firstUserMessage: "Start the conversation."
})

export const smallFrameBytes = 1024

export const smallBufferBytes = 64 * 1024

const mounts: ReadonlyArray<ChatSocket.Mount<Route>> = [
  { route: "example-chat", agent: strictAgent },
  { route: "room-chat", agent: strictAgent, options: { allowedOrigins: ["same-origin", "https://chat.example.com"] } },
  { route: "open-chat", agent: strictAgent },
  { route: "thread-chat", agent: strictAgent },
  { route: "small-frames", agent: strictAgent, options: { maxFrameBytes: smallFrameBytes } },
  { route: "closing-chat", agent: strictAgent, options: { rejectWith: "close" } },
  { route: "greeting-chat", agent: greetingAgent },
  { route: "slow-reader", agent: strictAgent, options: { maxBufferedBytes: smallBufferBytes } }
]

export class Harness extends Context.Tag("test/Harness")<
  Harness,
  {
    readonly origin: string
    readonly url: (path: string) => string
    readonly model: ScriptedChatModel
  }
>() {}

/** A user from the `session` cookie; anonymous without one. */
const CookieAuth = Authenticator.layer((request) => {
  const id = request.cookies["session"]
  return Effect.succeed(id === undefined ? null : { id })
})

/**
 * The server with its store and scripted model. `hooks` replaces agent hooks for the whole server
 * (e.g. `canAccept: () => true` to accept anonymous clients).
 */
export const layer = (
  options: {
    readonly hooks?: Partial<ChatAgentHooks.Hooks>
    readonly authenticator?: Layer.Layer<Authenticator.Authenticator>
    /** Wraps the memory store (e.g. to make it slow). */
    readonly store?: (store: ConversationStore.Service) => ConversationStore.Service
  } = {}
) => {
  const model = new ScriptedChatModel({})
  const Memory = ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer))
  const wrap = options.store
  const Store =
    wrap === undefined
      ? Memory
      : Layer.effect(ConversationStore.ConversationStore, Effect.map(ConversationStore.ConversationStore, wrap)).pipe(
          Layer.provide(Memory)
        )
  const Server = ChatSocketNode.layer(routes, mounts, { host: "127.0.0.1" }).pipe(
    Layer.provide(options.authenticator ?? CookieAuth),
    Layer.provide(ChatAgentHooks.layer(options.hooks ?? {})),
    Layer.provide(LlmModels.layerFixed(model)),
    Layer.provideMerge(Store)
  )
  const Info = Layer.effect(
    Harness,
    Effect.map(HttpServer.HttpServer, (server) => {
      const address = server.address
      const origin = address._tag === "TcpAddress" ? `127.0.0.1:${address.port}` : "unix"
      return { origin, url: (path: string) => `ws://${origin}${path}`, model }
    })
  )
  return Info.pipe(Layer.provideMerge(Server))
}

/** Headers of a browser logged in as `user` on the server's own origin. */
export const browser = (origin: string, user?: string): Record<string, string> => ({
  origin: `http://${origin}`,
  ...(user === undefined ? {} : { cookie: `session=${user}` })
})

/** Polls until `check` gives a value (for effects that finish after the socket is gone). */
export const eventually = <A, E, R>(
  check: Effect.Effect<A | undefined, E, R>,
  attempts = 200
): Effect.Effect<A, E | string, R> =>
  Effect.flatMap(check, (value) =>
    value !== undefined
      ? Effect.succeed(value)
      : attempts <= 0
        ? Effect.fail("the condition never held")
        : Effect.zipRight(Effect.sleep("25 millis"), eventually(check, attempts - 1))
  )
