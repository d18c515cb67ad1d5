// Snippets of docs/guides/without-effect.md: convo from an app written with promises. Type-checked
// in CI; scripts/check-docs.mjs checks that each region appears verbatim in the guide, and
// packages/testing/test/WithoutEffectDoc.test.ts runs them.
import * as HttpChat from "@convo/adapter-http/HttpChat"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ChatAgentHooks from "@convo/core/ChatAgentHooks"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as Routes from "@convo/core/Routes"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqlMigrations from "@convo/core/SqlMigrations"
import * as HttpApp from "@effect/platform/HttpApp"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"

// #region runtime
// the layers, built once for the life of the app: here the SQLite store
export const StoreLayer = (filename: string) =>
  SqlConversationStore.layer().pipe(
    Layer.provideMerge(SqlMigrations.layer()),
    Layer.provide([MessageCodec.layer, SqliteClient.layer({ filename })])
  )

export const makeConvo = (filename: string) => {
  const runtime = ManagedRuntime.make(StoreLayer(filename))
  // an Effect as a promise that rejects with the Effect's own error (ConversationNotFound, StoreError, ...)
  const run = <A, E>(effect: Effect.Effect<A, E, ConversationStore.ConversationStore>): Promise<A> =>
    runtime
      .runPromiseExit(effect)
      .then((exit) => (Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause))))
  return {
    run,
    store: () => run(ConversationStore.ConversationStore),
    // closes the database; call it when the app stops
    dispose: () => runtime.dispose()
  }
}

export type Convo = ReturnType<typeof makeConvo>
// #endregion runtime

// #region store
export const saveTurn = async (convo: Convo, userId: string, question: string, answer: string) => {
  const store = await convo.store()
  const conversation = await convo.run(store.create({ userId, title: question.slice(0, 40) }))
  await convo.run(
    store.append({
      conversationId: conversation.id,
      userId,
      messages: [{ value: new HumanMessage(question) }, { value: new AIMessage(answer) }]
    })
  )
  const page = await convo.run(store.history(conversation.id))
  return { id: conversation.id, seqs: page.entries.map((entry) => entry.seq) }
}
// #endregion store

// #region errors
export const titleOf = async (convo: Convo, id: number): Promise<string | null> => {
  const store = await convo.store()
  try {
    return (await convo.run(store.get(id))).title
  } catch (error) {
    // the store's tagged error itself, with its fields (here the missing id)
    if (ConversationStore.isConversationStoreError(error) && error._tag === "ConversationNotFound") return null
    throw error
  }
}
// #endregion errors

// #region web-handler
// the HTTP transport as a fetch-style handler, Request → Promise<Response>: mount it in Hono,
// Next.js route handlers, Bun.serve or Deno.serve
const agent = ChatAgent.make({ model: LlmModels.openAiGpt4oMini, systemPrompt: "You are a friendly tutor." })
const routes = Routes.make(HttpChat.routes({ base: "/api" }))

export const makeChatHandler = (filename: string) =>
  HttpApp.toWebHandlerLayer(
    HttpChat.router(agent, { routes }),
    Layer.mergeAll(
      ChatAgentHooks.layer({ canAccept: () => Effect.succeed(true) }),
      LlmModels.layerOfflineFallback
    ).pipe(Layer.provideMerge(StoreLayer(filename)))
  )
// const { handler, dispose } = makeChatHandler("chat.sqlite")
// POST /api/conversations/1/messages → text/event-stream; GET .../history → JSON
// #endregion web-handler
