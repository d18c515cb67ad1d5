/**
 * The example page in a real browser (Debian's chromium through playwright-core): the page is
 * built with esbuild, served by the example's server with the offline model, and driven like a
 * user: type, watch the answer stream, reload mid-stream and see it resume, reload after and see
 * the history, call the tool, stop a reply.
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import { assert, describe, it } from "@effect/vitest"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { existsSync } from "node:fs"
import { createServer } from "node:http"
import { chromium, type Page } from "playwright-core"
import { app, services } from "../src/App.js"
import { build } from "../src/build.js"

const chromiumPath = "/usr/bin/chromium"
const hasChromium = existsSync(chromiumPath)
const inCi = process.env["CI"] === "true"
if (!hasChromium && !inCi) {
  console.warn(`skipping the AI SDK page browser test: ${chromiumPath} is missing (apt-get install -y chromium)`)
}

const shown = (page: Page) =>
  page.$$eval("#messages .msg", (items) =>
    items.map((item) => ({
      role: (item as HTMLElement).dataset["role"] ?? "",
      text: Array.from(item.querySelectorAll(".text"))
        .map((p) => p.textContent ?? "")
        .join(""),
      tools: Array.from(item.querySelectorAll(".tool")).map((p) => (p as HTMLElement).dataset["state"] ?? "")
    }))
  )

const status = (page: Page) => page.locator("#status").getAttribute("data-status")

const send = async (page: Page, text: string) => {
  await page.locator("#input").fill(text)
  await page.locator("#input").press("Enter")
}

describe.skipIf(!hasChromium && !inCi)("the useChat page in chromium", () => {
  it.scopedLive(
    "streams, resumes after a reload mid-stream, shows the history after a reload, calls the tool, stops",
    () =>
      Effect.gen(function* () {
        assert.isTrue(hasChromium, `${chromiumPath} is missing: CI must install chromium`)
        const dist = yield* Effect.promise(() => build())
        const context = yield* Layer.build(services({ delayMillis: 120 }))
        const store = Context.get(context, ConversationStore.ConversationStore)
        const server = yield* Layer.build(
          NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })
        ).pipe(Effect.orDie)
        yield* HttpServer.serveEffect(app(dist)).pipe(Effect.provide(server), Effect.provide(context))
        const address = Context.get(server, HttpServer.HttpServer).address
        const base = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""

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

        const conversationId = yield* Effect.promise(async () => {
          const tab = await (await browser.newContext()).newPage()
          const errors: Array<string> = []
          tab.on("pageerror", (error) => errors.push(String(error)))
          await tab.goto(`${base}/`)
          await tab.waitForURL(/\/chat\/\d+$/)
          await tab.locator("#input").waitFor()

          // type, and see the answer stream in
          await send(tab, "Hello there")
          await tab.waitForFunction(() => {
            const text = document.querySelector("#messages .assistant .text")?.textContent ?? ""
            return text.length > 15 && !text.includes("You said")
          })
          assert.strictEqual(await status(tab), "streaming")

          // reload mid-stream: the page resumes the running reply, and it completes
          await tab.reload()
          await tab.waitForFunction(() =>
            (document.querySelector("#messages .assistant .text")?.textContent ?? "").includes(
              'You said: "Hello there"'
            )
          )
          await tab.waitForFunction(() => document.querySelector("#status")?.getAttribute("data-status") === "ready")
          const resumed = await shown(tab)
          assert.deepStrictEqual(
            resumed.map((m) => m.role),
            ["user", "assistant"]
          )
          assert.strictEqual(resumed[0]!.text, "Hello there")

          // reload after: the same messages, from the stored history
          await tab.reload()
          await tab.waitForFunction(() => document.querySelectorAll("#messages .msg").length === 2)
          assert.deepStrictEqual(await shown(tab), resumed)

          // the tool: a dynamic tool part with its output, then the answer
          await send(tab, "What is the time in Seoul?")
          await tab.waitForFunction(
            () =>
              document.querySelector('#messages .tool[data-state="output-available"]') !== null &&
              (document.querySelectorAll("#messages .assistant")[1]?.textContent ?? "").includes("The clock says") &&
              document.querySelector("#status")?.getAttribute("data-status") === "ready"
          )
          const withTool = await shown(tab)
          assert.deepStrictEqual(withTool[3]!.tools, ["output-available"])

          // stop: the server stops the turn
          await send(tab, "Please talk for a while")
          await tab.waitForFunction(
            () => (document.querySelectorAll("#messages .assistant")[2]?.textContent ?? "").length > 15
          )
          await tab.locator("#stop").click()
          await tab.waitForFunction(() => document.querySelector("#status")?.getAttribute("data-status") === "ready")
          assert.deepStrictEqual(errors, [])
          return Number(new URL(tab.url()).pathname.split("/").at(-1))
        })

        // stored once each: the resumed turn, the tool turn, the stopped turn (aborted)
        const deadline = Date.now() + 10_000
        let page = yield* store.history(conversationId)
        while (page.entries.length < 8 && Date.now() < deadline) {
          yield* Effect.sleep("50 millis")
          page = yield* store.history(conversationId)
        }
        assert.deepStrictEqual(
          page.entries.map((entry) => [entry.kind, entry.status]),
          [
            ["human", "complete"],
            ["ai", "complete"],
            ["human", "complete"],
            ["ai", "complete"],
            ["tool", "complete"],
            ["ai", "complete"],
            ["human", "aborted"],
            ["ai", "aborted"]
          ]
        )
      }),
    120_000
  )
})
