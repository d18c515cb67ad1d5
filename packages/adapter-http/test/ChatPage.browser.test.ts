/**
 * The chat page in a real browser (Debian's chromium through playwright-core), on a real server:
 * the page from `NodeChatPage.router`, its socket from `@convo/adapter-ws` (tests may use it; the
 * adapter's sources may not), the scripted model and the memory store.
 */
import { ChatSocket } from "@convo/adapter-ws"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as LlmModels from "@convo/core/LlmModels"
import * as Routes from "@convo/core/Routes"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import { assert, describe, it } from "@effect/vitest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import { existsSync } from "node:fs"
import { chromium, type Page } from "playwright-core"
import * as HttpChat from "../src/HttpChat.js"
import * as NodeChatPage from "../src/NodeChatPage.js"
import * as Support from "./support.js"

const chromiumPath = "/usr/bin/chromium"
const hasChromium = existsSync(chromiumPath)
const inCi = process.env["CI"] === "true"
if (!hasChromium && !inCi) {
  console.warn(`skipping the chat page browser test: ${chromiumPath} is missing (apt-get install -y chromium)`)
}

const routes = Routes.make([
  Routes.ws("chat", "/ws/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } }),
  ...HttpChat.routes({ base: "/api" })
])
const agent = ChatAgent.make({ name: "page-test", model: LlmModels.openAiGpt4oMini, historyPageSize: 4 })

const page = Effect.gen(function* () {
  const { conversation_pk } = yield* HttpRouter.params
  const wsUrl = yield* Routes.reverse(routes, "chat", { conversation_pk: conversation_pk ?? "" })
  return { wsUrl, title: "Language tutor", historyPageSize: 4, placeholder: "Write a message" }
}).pipe(Effect.orDie)

const app = HttpRouter.concatAll(
  HttpRouter.empty.pipe(ChatSocket.route(routes, "chat", agent, { rejectWith: "close" })),
  NodeChatPage.router({ path: "/chat/:conversation_pk/", page }),
  HttpChat.router(agent, { routes })
)

// an agent that sends the model only the last 4 history messages (two turns)
const windowAgent = ChatAgent.make({
  name: "window-test",
  model: LlmModels.openAiGpt4oMini,
  historyPageSize: 20,
  context: { maxMessages: 4 }
})
const windowApp = HttpRouter.concatAll(
  HttpRouter.empty.pipe(ChatSocket.route(routes, "chat", windowAgent, { rejectWith: "close" })),
  NodeChatPage.router({
    path: "/chat/:conversation_pk/",
    page: Effect.map(page, (options) => ({ ...options, historyPageSize: 20 }))
  })
)

const xss = "<img src=x onerror=alert(1)> and **bold**"

// what the page shows, read in the page
const shown = (page: Page) =>
  page.$$eval("#convo-messages .convo-msg", (items) =>
    items.map((item) => ({
      id: (item as HTMLElement).dataset["id"] ?? "",
      role: (item as HTMLElement).dataset["role"] ?? "",
      text: (item.querySelector(".convo-bubble")?.textContent ?? "").trim(),
      foot: item.querySelector(".convo-foot")?.textContent ?? ""
    }))
  )

const messageCount = (page: Page, count: number) =>
  page.waitForFunction((n) => document.querySelectorAll("#convo-messages .convo-msg").length === n, count)

const connected = (page: Page) => page.locator('#convo-status[data-state="open"]').waitFor()

const send = async (page: Page, text: string) => {
  await page.locator("#convo-input").fill(text)
  await page.locator("#convo-input").press("Enter")
}

describe.skipIf(!hasChromium && !inCi)("ChatPage in chromium", () => {
  it.scopedLive("connects, pages history, streams markdown safely, shows tokens, stops, reloads and reconnects", () =>
    Effect.gen(function* () {
      assert.isTrue(hasChromium, `${chromiumPath} is missing: CI must install chromium`)
      const env = yield* Support.makeEnv()
      const served = yield* Support.serve(app).pipe(Effect.provide(env.context))
      const conversation = yield* env.store.create({ userId: "alice", title: "tutor" })
      for (let n = 1; n <= 3; n++) {
        yield* env.store.append({
          conversationId: conversation.id,
          userId: "alice",
          messages: [
            { value: new HumanMessage({ id: `old-h${n}`, content: `old question ${n}` }) },
            { value: new AIMessage({ id: `old-a${n}`, content: `old answer ${n}` }) }
          ]
        })
      }
      const url = `${served.base}/chat/${conversation.id}/`

      const browser = yield* Effect.acquireRelease(
        Effect.promise(() =>
          chromium.launch({
            executablePath: chromiumPath,
            args: [
              "--headless",
              "--no-sandbox",
              "--disable-gpu",
              "--disable-quic",
              "--no-first-run",
              "--disable-background-networking",
              "--disable-component-update",
              "--disable-sync"
            ]
          })
        ),
        (browser) => Effect.promise(() => browser.close())
      )

      yield* Effect.promise(async () => {
        const context = await browser.newContext({ viewport: { width: 900, height: 760 } })
        await context.addCookies([{ name: "session", value: "alice", url: served.base }])
        const tab = await context.newPage()
        const dialogs: Array<string> = []
        const cspErrors: Array<string> = []
        const pageErrors: Array<string> = []
        tab.on("dialog", (dialog) => {
          dialogs.push(dialog.message())
          void dialog.dismiss()
        })
        tab.on("console", (message) => {
          if (message.type() === "error" && /Content Security Policy/i.test(message.text()))
            cspErrors.push(message.text())
        })
        tab.on("pageerror", (error) => pageErrors.push(error.message))

        // the page loads with its CSP and shows the newest history page
        const response = await tab.goto(url)
        assert.strictEqual(response?.status(), 200)
        assert.include(response?.headers()["content-security-policy"] ?? "", "script-src 'self'")
        await connected(tab)
        await messageCount(tab, 4)
        assert.deepStrictEqual(
          (await shown(tab)).map((message) => message.text),
          ["old question 2", "old answer 2", "old question 3", "old answer 3"]
        )

        // older history on demand, prepended in order
        await tab.locator("#convo-older").click()
        await messageCount(tab, 6)
        assert.deepStrictEqual(
          (await shown(tab)).map((message) => message.id),
          ["old-h1", "old-a1", "old-h2", "old-a2", "old-h3", "old-a3"]
        )
        assert.isTrue(await tab.locator("#convo-older").isHidden(), "no more history: the button hides")

        // a streamed reply, rendered as markdown, with its token counts
        env.model.enqueue(
          ScriptedReply.text(["Hello ", "**there**", "!"], {
            chunkDelay: "20 millis",
            usage: { inputTokens: 11, outputTokens: 7 }
          })
        )
        await send(tab, "hi")
        await tab.locator(".convo-msg--ai .convo-foot", { hasText: "11 in · 7 out tokens" }).waitFor()
        const afterHi = await shown(tab)
        assert.strictEqual(afterHi.length, 8)
        assert.deepStrictEqual(
          afterHi.slice(-2).map((message) => [message.role, message.text]),
          [
            ["human", "hi"],
            ["ai", "Hello there!"]
          ]
        )
        assert.strictEqual(await tab.locator(".convo-msg--ai").last().locator("strong").textContent(), "there")
        assert.strictEqual(await tab.locator("#convo-total").textContent(), "11 in · 7 out tokens")

        // HTML in a message is inert text; markdown in the reply renders
        env.model.enqueue(
          ScriptedReply.text([xss.slice(0, 10), xss.slice(10)], { usage: { inputTokens: 21, outputTokens: 9 } })
        )
        await send(tab, xss)
        await tab.locator(".convo-msg--ai").last().locator("strong", { hasText: "bold" }).waitFor()
        await tab.locator(".convo-msg--ai .convo-foot", { hasText: "21 in · 9 out tokens" }).waitFor()
        const afterXss = await shown(tab)
        assert.deepStrictEqual(
          afterXss.slice(-2).map((message) => [message.role, message.text]),
          [
            ["human", xss],
            ["ai", "<img src=x onerror=alert(1)> and bold"]
          ]
        )
        assert.strictEqual(await tab.locator("#convo-messages img").count(), 0, "no img element is created")
        assert.strictEqual(await tab.locator(".convo-msg--human").last().locator("strong").count(), 0)
        await tab.screenshot({ path: "/tmp/convo-chat-page.png" })

        // the stop button stops a running turn; its reply is marked stopped
        const story = Array.from({ length: 300 }, (_, i) => `word${i} `)
        env.model.enqueue(ScriptedReply.text(story, { chunkDelay: "25 millis" }))
        await send(tab, "tell me a long story")
        await tab.locator("#convo-stop").waitFor({ state: "visible" })
        await tab.waitForFunction(() =>
          (document.querySelector(".convo-msg--ai:last-child")?.textContent ?? "").includes("word3")
        )
        await tab.locator("#convo-stop").click()
        await tab.locator(".convo-msg--ai").last().locator(".convo-badge", { hasText: "stopped" }).waitFor()
        await tab.locator("#convo-stop").waitFor({ state: "hidden" })
        const stored = await Effect.runPromise(env.store.history(conversation.id))
        assert.deepStrictEqual(
          stored.entries.slice(-2).map((entry) => [entry.kind, entry.status]),
          [
            ["human", "aborted"],
            ["ai", "aborted"]
          ]
        )

        // a reload shows the stored history once, tokens included
        await tab.reload()
        await connected(tab)
        await messageCount(tab, 4)
        const reloaded = await shown(tab)
        assert.deepStrictEqual(
          reloaded.map((message) => message.role),
          ["human", "ai", "human", "ai"]
        )
        assert.strictEqual(reloaded[0]?.text, xss)
        assert.include(reloaded[1]?.foot ?? "", "21 in · 9 out tokens")
        assert.include(reloaded[3]?.foot ?? "", "stopped")
        await tab.locator("#convo-older").click()
        await messageCount(tab, 8)
        const ids = (await shown(tab)).map((message) => message.id)
        assert.strictEqual(new Set(ids).size, ids.length, "no message is shown twice")

        // a dropped connection reconnects and replaces what is shown with the server's page
        const newest = reloaded.map((message) => message.id)
        assert.strictEqual(served.dropSockets(), 1)
        await tab.waitForFunction(() => document.getElementById("convo-status")?.dataset["state"] !== "open")
        await connected(tab)
        await messageCount(tab, 4)
        assert.deepStrictEqual(
          (await shown(tab)).map((message) => message.id),
          newest
        )

        // and the new socket works
        env.model.enqueue(ScriptedReply.text("Welcome back."))
        await send(tab, "still there?")
        await tab.locator(".convo-msg--ai", { hasText: "Welcome back." }).waitFor()
        const final = (await shown(tab)).map((message) => message.id)
        assert.strictEqual(new Set(final).size, final.length)
        assert.strictEqual(final.length, 6)

        assert.deepStrictEqual(dialogs, [], "no dialog fired")
        assert.deepStrictEqual(cspErrors, [], "nothing was blocked by the CSP")
        assert.deepStrictEqual(pageErrors, [], "no script error")
        await context.close()
      })
    })
  )

  it.scopedLive("shows where the model's context window starts", () =>
    Effect.gen(function* () {
      const env = yield* Support.makeEnv()
      const served = yield* Support.serve(windowApp).pipe(Effect.provide(env.context))
      const conversation = yield* env.store.create({ userId: "alice", title: "window" })
      for (let n = 1; n <= 4; n++) {
        yield* env.store.append({
          conversationId: conversation.id,
          userId: "alice",
          messages: [
            { value: new HumanMessage({ id: `w-h${n}`, content: `question ${n}` }) },
            { value: new AIMessage({ id: `w-a${n}`, content: `answer ${n}` }) }
          ]
        })
      }
      const browser = yield* Effect.acquireRelease(
        Effect.promise(() =>
          chromium.launch({ executablePath: chromiumPath, args: ["--headless", "--no-sandbox", "--disable-gpu"] })
        ),
        (browser) => Effect.promise(() => browser.close())
      )
      yield* Effect.promise(async () => {
        const context = await browser.newContext()
        await context.addCookies([{ name: "session", value: "alice", url: served.base }])
        const tab = await context.newPage()
        const pageErrors: Array<string> = []
        tab.on("pageerror", (error) => pageErrors.push(error.message))
        await tab.goto(`${served.base}/chat/${conversation.id}/`)
        await connected(tab)
        await messageCount(tab, 8)
        assert.strictEqual(await tab.locator(".convo-window-start").count(), 0, "no line before a turn says where")
        env.model.enqueue(ScriptedReply.text("fine"))
        await send(tab, "next")
        await tab.locator(".convo-msg--ai", { hasText: "fine" }).waitFor()
        const marker = tab.locator(".convo-window-start")
        await marker.waitFor()
        assert.strictEqual(await marker.textContent(), "Earlier messages are not sent to the model")
        // the line sits right before the oldest message the model was sent: turn 3's question
        const next = await marker.evaluate((line) => (line.nextElementSibling as HTMLElement | null)?.dataset["id"])
        assert.strictEqual(next, "w-h3")
        assert.strictEqual(env.model.calls[0]?.messages.length, 5, "turns 3 and 4, then the new message")
        assert.deepStrictEqual(pageErrors, [])
        await context.close()
      })
    })
  )
})
