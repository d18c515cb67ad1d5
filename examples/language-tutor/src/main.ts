/**
 * `npm run example`: starts the language tutor on http://127.0.0.1:8000/ (SQLite file, offline
 * model unless OPENAI_API_KEY is set; see `Config.ts` for every variable). Stops cleanly on
 * Ctrl-C (SIGINT) or SIGTERM: open chats are closed, a running turn is stored as `aborted`, the
 * database is closed.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as App from "./App.js"

const main = Layer.launch(
  Layer.effectDiscard(Effect.flatMap(App.banner, Console.log)).pipe(Layer.provide(App.layer()))
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
