/**
 * The example's server: convo's `AiSdkChat` endpoint under `/api` for the React page, the page's
 * static files (built by `build.ts`), and a demo login: the first visit gets a cookie naming a new
 * user and a new conversation owned by that user, and is sent to `/chat/<conversation id>`.
 */
import * as AiSdkChat from "@convo/adapter-http/AiSdkChat"
import * as Authenticator from "@convo/core/Authenticator"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as LlmModels from "@convo/core/LlmModels"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { tool } from "@langchain/core/tools"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { readFileSync } from "node:fs"
import { DemoModel } from "./DemoModel.js"

const cookieName = "convo_demo"

/** The demo's one tool: the time in a city (the server's clock, in UTC; it is a demo). */
export const clock = tool(
  async ({ city }: { city: string }) => `${new Date().toISOString().slice(11, 16)} UTC, wherever ${city} is`,
  {
    name: "clock",
    description: "tells the current time in a city",
    schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
  }
)

// #region server
/** The agent: the offline demo model and the clock tool. */
export const agent = ChatAgent.make({ name: "ai-sdk-chat", model: LlmModels.openAiGpt4oMini, tools: [clock] })

/** The routes of `useChat`'s endpoint: `/api/chat`, `/api/chat/:id/stream`, `/api/chat/:id/messages`, `/api/chat/:id/stop`. */
export const api = AiSdkChat.router(agent, {
  routes: AiSdkChat.table({ base: "/api" }),
  // a reload must not stop the reply: the page resumes it; its Stop button posts to .../stop
  disconnect: "detach"
})
// #endregion

/** The user named by the demo cookie. */
export const authenticator = Authenticator.layer((request) =>
  Effect.succeed(request.cookies[cookieName] ? { id: request.cookies[cookieName] } : null)
)

/** The page's routes; `dist` holds what `build.ts` built. */
export const pages = (dist: string) => {
  const html = readFileSync(`${dist}index.html`, "utf8")
  const script = readFileSync(`${dist}app.js`)
  return HttpRouter.empty.pipe(
    HttpRouter.get(
      "/",
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const cookies = Authenticator.parseCookies(request.headers["cookie"])
        const user = cookies[cookieName] ?? `demo-${globalThis.crypto.randomUUID()}`
        const store = yield* ConversationStore.ConversationStore
        const conversation = yield* store.create({ userId: user, title: "useChat demo" }).pipe(Effect.orDie)
        return HttpServerResponse.redirect(`/chat/${conversation.id}`, {
          headers: { "set-cookie": `${cookieName}=${user}; Path=/; HttpOnly; SameSite=Lax` }
        })
      })
    ),
    HttpRouter.get("/chat/:id", Effect.succeed(HttpServerResponse.text(html, { contentType: "text/html" }))),
    HttpRouter.get(
      "/assets/app.js",
      Effect.succeed(
        HttpServerResponse.uint8Array(script, {
          contentType: "text/javascript",
          headers: { "cache-control": "no-cache" }
        })
      )
    )
  )
}

/** The whole app's router. */
export const app = (dist: string) => HttpRouter.concat(pages(dist), api)

/** Storage (in memory: a demo), the offline model, the demo login. */
export const services = (options: { readonly delayMillis?: number } = {}) =>
  Layer.mergeAll(
    ConversationStore.layerMemory.pipe(Layer.provide(MessageCodec.layer)),
    LlmModels.layerFixed(new DemoModel({ delayMillis: options.delayMillis ?? 40 })),
    authenticator
  )
