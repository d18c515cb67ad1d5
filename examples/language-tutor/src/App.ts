/**
 * The whole app as one layer: configuration, database (migrated), convo's SQL conversation store,
 * the chat model, the account, room and admin pages, the chat page's assets, and the tutor agent
 * mounted on its WebSocket route with `@convo/adapter-ws` — served by a Node HTTP server.
 * `main.ts` launches it; the tests start it on port 0 against a fresh database.
 */
import * as ChatSocket from "@convo/adapter-ws/ChatSocket"
import * as ChatSocketNode from "@convo/adapter-ws/ChatSocketNode"
import * as NodeChatPage from "@convo/adapter-http/NodeChatPage"
import * as Authenticator from "@convo/core/Authenticator"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import { OfflineModel } from "@convo/core/OfflineModel"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqlLog from "@convo/core/SqlLog"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as NodeHttp from "node:http"
import * as AccountsHttp from "./accounts/Http.js"
import { cookieName, secureRequest, Sessions } from "./accounts/Sessions.js"
import { LoginThrottle } from "./accounts/Throttle.js"
import { Users } from "./accounts/Users.js"
import * as AdminHttp from "./admin/Http.js"
import { AppConfig, type ConfigInvalid, describeDatabase, describeLlm, type Settings } from "./Config.js"
import * as Database from "./Database.js"
import { NotFound } from "./lib/HttpErrors.js"
import * as Page from "./Page.js"
import * as RoomsHttp from "./rooms/Http.js"
import { Rooms } from "./rooms/Rooms.js"
import * as Tutor from "./rooms/Tutor.js"
import { routes } from "./Routes.js"

/** Ways to change the app for tests and embedding. */
export interface Options {
  /** Replaces the chat model chosen from the configuration (tests: a scripted model). */
  readonly chatModel?: Layer.Layer<LlmModels.ChatModelFactory> | undefined
  /** Pause between the offline model's words, in milliseconds. Default 25 (the demo looks alive). */
  readonly offlineDelayMillis?: number | undefined
}

/** The chat model the configuration asks for: OpenAI (or a compatible server), else the offline demo model. */
export const chatModelLayer = (config: Settings, options?: Options): Layer.Layer<LlmModels.ChatModelFactory> => {
  const llm = config.llm
  if (llm._tag === "Offline") {
    return LlmModels.layerFixed(new OfflineModel({ delayMillis: options?.offlineDelayMillis ?? 25 }))
  }
  const factory = LlmModels.make({
    // a compatible server without a key still needs one for the client; it ignores it
    openAiApiKey: Option.getOrElse(llm.apiKey, () => Redacted.make("not-needed")),
    openAiBaseUrl: Option.getOrUndefined(llm.baseUrl)
  })
  return Layer.succeed(LlmModels.ChatModelFactory, {
    make: (settings) => factory.make({ ...settings, model: { ...settings.model, name: llm.model } })
  })
}

// #region authenticator
/**
 * The user of a request is the user of its session cookie: the same for pages and the chat socket
 * (S19). An open chat socket is checked again before each message and every 30 seconds, so it
 * closes (4401) once its session is logged out or expires.
 */
export const authenticator: Layer.Layer<Authenticator.Authenticator, never, Sessions | AppConfig> = Authenticator.layer(
  (request) =>
    Effect.gen(function* () {
      const { cookieSecure } = yield* AppConfig
      const token = request.cookies[cookieName(secureRequest(request.headers, { cookieSecure }))]
      if (token === undefined) return null
      const session = yield* (yield* Sessions).get(token)
      if (Option.isNone(session) || session.value.user === null) return null
      const user = session.value.user
      return { id: String(user.id), name: user.username, isStaff: user.isStaff }
    }),
  { recheck: "30 seconds" }
)
// #endregion

const notFound = Page.handle(Effect.fail(new NotFound({ message: "There is no such page." })))

// #region mount
/** Every route of the app: the pages, the chat page's scripts, and the tutor on its socket. */
export const router = Effect.gen(function* () {
  const config = yield* AppConfig
  const tutor = yield* Tutor.Tutor
  return HttpRouter.empty.pipe(
    HttpRouter.concat(AccountsHttp.router),
    HttpRouter.concat(RoomsHttp.router),
    HttpRouter.concat(AdminHttp.router),
    HttpRouter.concat(NodeChatPage.assetsRouter()),
    ChatSocket.route(routes, "example-chat", tutor.agent, {
      allowedOrigins: config.allowedOrigins,
      // browsers cannot read the status of a refused upgrade; the chat page reads close codes
      rejectWith: "close"
    })
  )
})
// #endregion

// #region data
/** convo's conversation store on the app's database (SQLite or PostgreSQL, migrated at start). */
const data = SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer), Layer.provideMerge(Database.layer))
// #endregion

/** Turns a crashed earlier run left behind are stored as `interrupted` at start-up. */
const recovery = ChatAgent.layerRecovery

const services = Layer.mergeAll(
  Users.Default,
  LoginThrottle.Default,
  Sessions.Default,
  Tutor.Tutor.Default.pipe(Layer.provideMerge(Rooms.Default))
)

const createAdmin = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    if (Option.isNone(config.admin)) return
    const { password, username } = config.admin.value
    yield* (yield* Users)
      .ensureStaff(username, Redacted.value(password))
      .pipe(
        Effect.mapError(
          (error) => new Database.StartFailed({ message: `cannot create the admin user: ${error.message}` })
        )
      )
  })
)

const server = Layer.unwrapEffect(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const app = (yield* router).pipe(Effect.catchTag("RouteNotFound", () => notFound))
    return HttpServer.serve(app).pipe(
      // the chat socket's frame limit, enforced while a frame arrives (not after buffering it)
      Layer.provide(ChatSocketNode.layerReceiveLimit),
      Layer.provideMerge(
        NodeHttpServer.layer(() => NodeHttp.createServer(), { port: config.port, host: config.host }).pipe(
          Layer.mapError(
            (error) =>
              new Database.StartFailed({
                message: `cannot listen on ${config.host}:${config.port}: ${
                  (error.cause as Error | undefined)?.message ?? String(error)
                } (set PORT to another port)`
              })
          )
        )
      )
    )
  })
)

/**
 * The app: a running server (its address is the `HttpServer`'s) and its configuration, read from
 * the current `ConfigProvider`.
 */
export const layer = (
  options?: Options
): Layer.Layer<HttpServer.HttpServer | AppConfig, ConfigInvalid | Database.StartFailed> =>
  Layer.unwrapEffect(
    Effect.map(AppConfig, (config) => {
      const model = options?.chatModel ?? chatModelLayer(config, options)
      return server.pipe(
        Layer.provide(Layer.mergeAll(authenticator, Tutor.hooks, model, createAdmin, recovery)),
        Layer.provideMerge(services),
        Layer.provideMerge(data),
        // #region sql-log
        // DEBUG=1: every SQL statement, with its duration and parameters, coloured by level (S26)
        Layer.provide(SqlLog.layer({ enabled: config.debug, colors: config.colors })),
        // #endregion
        Layer.provideMerge(Layer.succeed(AppConfig, config))
      )
    })
  ).pipe(Layer.provide(AppConfig.Live))

/** The line printed at start: where to open the app, the database and the model. */
export const banner: Effect.Effect<string, never, HttpServer.HttpServer | AppConfig> = Effect.gen(function* () {
  const config = yield* AppConfig
  const address = (yield* HttpServer.HttpServer).address
  const where =
    address._tag === "TcpAddress"
      ? `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}/`
      : address.path
  return `convo language tutor: ${where}  (${describeDatabase(config.database)}, model: ${describeLlm(config.llm)}${
    config.debug ? ", SQL log on" : ""
  })`
})
