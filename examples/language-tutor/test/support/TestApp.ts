/**
 * The real app for the end-to-end tests: `App.layer` with a configuration given as a map (a fresh
 * database, port 0), started in the test's scope; its base URL is read from the server's address.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as SqlClient from "@effect/sql/SqlClient"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as App from "../../src/App.js"
import { AppConfig } from "../../src/Config.js"
import * as Database from "../../src/Database.js"

export interface Running {
  readonly baseUrl: string
}

/** Starts the app with this environment (plus `PORT=0`) for the rest of the scope. */
export const start = (env: Record<string, string>, options: App.Options = { offlineDelayMillis: 0 }) =>
  Effect.gen(function* () {
    const provider = ConfigProvider.fromMap(new Map(Object.entries({ PORT: "0", HOST: "127.0.0.1", ...env })))
    const context = yield* Layer.build(App.layer(options).pipe(Layer.provide(Layer.setConfigProvider(provider))))
    const server = Context.get(context, HttpServer.HttpServer)
    if (server.address._tag !== "TcpAddress") return yield* Effect.dieMessage("the server has no TCP address")
    const running: Running = { baseUrl: `http://127.0.0.1:${server.address.port}` }
    return running
  })

/** A second client on the app's database (as an operator would open one), for the time of `f`. */
export const withDatabase = <A>(
  env: Record<string, string>,
  f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>
): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const context = yield* Layer.build(
          Database.layer.pipe(
            Layer.provide(AppConfig.Live),
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
          )
        )
        return yield* f(Context.get(context, SqlClient.SqlClient))
      })
    )
  )
