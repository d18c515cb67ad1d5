/**
 * `npm run example`: starts the language tutor on http://127.0.0.1:8000/ (SQLite file, offline
 * model unless OPENAI_API_KEY is set; see `Config.ts` for every variable). Turns that an earlier
 * run left behind (a crash, kill -9) are recovered at start-up. Stops gracefully on Ctrl-C
 * (SIGINT) or SIGTERM (`ChatAgent.shutdown`): no new chats or messages, queued messages stored as
 * `aborted`, running turns get 10 seconds to finish and are then stored as `aborted`, every client
 * gets its `turn_end`, sockets close with 1001; then the server and the database close.
 */
import * as ChatAgent from "@convo/core/ChatAgent"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as App from "./App.js"

const main = Effect.scoped(
  Effect.gen(function* () {
    yield* Layer.build(Layer.effectDiscard(Effect.flatMap(App.banner, Console.log)).pipe(Layer.provide(App.layer())))
    // released first on SIGTERM: turns end and clients are told while the server still runs
    yield* Effect.addFinalizer(() => ChatAgent.shutdown({ grace: "10 seconds" }))
    return yield* Effect.never
  })
).pipe(
  // a configuration or start problem is one sentence, not a stack trace
  Effect.catchTags({
    ConfigInvalid: (error) =>
      Effect.zipRight(
        Console.error(`convo language tutor: ${error.message}`),
        Effect.sync(() => (process.exitCode = 1))
      ),
    StartFailed: (error) =>
      Effect.zipRight(
        Console.error(`convo language tutor: ${error.message}`),
        Effect.sync(() => (process.exitCode = 1))
      )
  })
)

NodeRuntime.runMain(main, { disablePrettyLogger: false })
