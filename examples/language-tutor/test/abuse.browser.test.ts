/**
 * Where the browser is the victim: Chromium (Debian's, through playwright-core) logs in on the real
 * app with a crafted `next`, and must stay on the app's origin, whatever the URL parser makes of it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { chromium } from "playwright-core"
import * as TestApp from "./support/TestApp.js"

const chromiumPath = "/usr/bin/chromium"
const hasChromium = NodeFs.existsSync(chromiumPath)
const inCi = process.env["CI"] === "true"
if (!hasChromium && !inCi) {
  console.warn(`skipping the log-in redirect browser test: ${chromiumPath} is missing (apt-get install -y chromium)`)
}

const password = "correct horse battery"

describe.skipIf(!hasChromium && !inCi)("log-in redirects in chromium", () => {
  it.scopedLive("a crafted next never takes the browser off the app's origin", () =>
    Effect.gen(function* () {
      const directory = yield* Effect.acquireRelease(
        Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "convo-redirect-"))),
        (dir) => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true }))
      )
      const app = yield* TestApp.start({ DATABASE_URL: `sqlite:${NodePath.join(directory, "convo.sqlite")}` })
      const browser = yield* Effect.acquireRelease(
        Effect.promise(() =>
          chromium.launch({
            executablePath: chromiumPath,
            args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
          })
        ),
        (b) => Effect.promise(() => b.close())
      )
      yield* Effect.promise(async () => {
        const context = await browser.newContext()
        const tab = await context.newPage()
        // any request that leaves the app is recorded and refused
        const offsite: Array<string> = []
        await context.route(
          (url) => url.origin !== app.baseUrl,
          (route) => {
            offsite.push(route.request().url())
            return route.abort()
          }
        )
        await tab.goto(`${app.baseUrl}/accounts/signup/`)
        await tab.fill("#username", "alice")
        await tab.fill("#password", password)
        await tab.fill("#password2", password)
        await Promise.all([tab.waitForURL(`${app.baseUrl}/`), tab.click("button[type=submit]")])

        for (const next of ["/\t/evil.example/", "/\\evil.example/", "/\n/evil.example/", "/\u3000evil"]) {
          await Promise.all([tab.waitForURL(/\/accounts\/login\/$/), tab.click("header button[type=submit]")])
          // the crafted value arrives in the query string and, as a page could, straight in the form
          await tab.goto(`${app.baseUrl}/accounts/login/?next=${encodeURIComponent(next)}`)
          assert.strictEqual(await tab.inputValue("input[name=next]"), "/")
          await tab.$eval("input[name=next]", (input, value) => ((input as HTMLInputElement).value = value), next)
          await tab.fill("#username", "alice")
          await tab.fill("#password", password)
          const response = await Promise.all([tab.waitForNavigation(), tab.click("form button[type=submit]")]).then(
            ([r]) => r
          )
          assert.strictEqual(response?.status(), 200, JSON.stringify(next))
          assert.strictEqual(new URL(tab.url()).origin, app.baseUrl, JSON.stringify(next))
          assert.strictEqual(new URL(tab.url()).pathname, "/", JSON.stringify(next))
        }
        assert.deepStrictEqual(offsite, [])
        await context.close()
      })
    })
  )
})
