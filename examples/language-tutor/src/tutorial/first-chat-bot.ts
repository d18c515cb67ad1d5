/**
 * Runs tutorial #01's app: `npx tsx examples/language-tutor/src/tutorial/first-chat-bot.ts`, then
 * open http://127.0.0.1:8000/example/chat/language-tutor/.
 */
// #region main
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Layer from "effect/Layer"
import * as FirstChatBot from "./FirstChatBot.js"

const main = Layer.effectDiscard(Console.log("open http://127.0.0.1:8000/example/chat/language-tutor/")).pipe(
  Layer.provide(FirstChatBot.layer(8000)),
  Layer.launch
)

NodeRuntime.runMain(main)
// #endregion
