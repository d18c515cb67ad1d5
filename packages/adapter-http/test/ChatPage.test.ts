import { assert, describe, it } from "@effect/vitest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Effect from "effect/Effect"
import * as ChatPage from "../src/ChatPage.js"
import * as NodeChatPage from "../src/NodeChatPage.js"
import * as Support from "./support.js"

const hostile = `</script><script>alert("x")</script> & 'quotes' "double"`

// the JSON configuration block of a rendered page
const configOf = (html: string): unknown => {
  const match = /<script type="application\/json" id="convo-config">([\s\S]*?)<\/script>/.exec(html)
  assert.isNotNull(match, "the page has a JSON configuration block")
  return JSON.parse(match![1]!)
}

describe("ChatPage.html", () => {
  it("escapes every value it interpolates", () => {
    const html = ChatPage.html({
      wsUrl: `/ws/chat/${hostile}/`,
      title: hostile,
      placeholder: hostile,
      labels: { send: hostile }
    })
    assert.notInclude(html, `<script>alert("x")</script>`)
    assert.notInclude(html, `"double"`, "quotes in attributes and text are escaped")
    assert.include(
      html,
      "<title>&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;"
    )
    // the configuration survives intact as data
    const config = configOf(html) as { wsUrl: string; labels: { send: string } }
    assert.strictEqual(config.wsUrl, `/ws/chat/${hostile}/`)
    assert.strictEqual(config.labels.send, hostile)
    // exactly one closing tag per script element: nothing broke out of the data block
    assert.strictEqual(html.split("</script>").length - 1, html.split("<script").length - 1)
  })

  it("has no inline script: only external scripts and the JSON data block", () => {
    const html = ChatPage.html({ wsUrl: "/ws/chat/1/" })
    const tags = html.match(/<script[^>]*>/g) ?? []
    assert.strictEqual(tags.length, 4)
    for (const tag of tags) {
      assert.isTrue(/\ssrc="/.test(tag) || tag.includes(`type="application/json"`), tag)
    }
    assert.notMatch(html, /\son[a-z]+=/i, "no inline event handlers")
    assert.notMatch(html, /\sstyle=/i, "no inline styles")
    assert.include(html, `src="/convo/static/chat.js"`)
    assert.include(html, `href="/convo/static/chat.css"`)
  })

  it("uses the assets path and page size it is given", () => {
    const html = ChatPage.html({ wsUrl: "/ws/", assetsPath: "/static/chat/", historyPageSize: 20, lang: "ko" })
    assert.include(html, `src="/static/chat/marked.umd.js"`)
    assert.include(html, `src="/static/chat/purify.min.js"`)
    assert.include(html, `<html lang="ko">`)
    assert.strictEqual((configOf(html) as { historyPageSize: number }).historyPageSize, 20)
    const invalid = ChatPage.html({ wsUrl: "/ws/", historyPageSize: 0 })
    assert.strictEqual((configOf(invalid) as { historyPageSize: number }).historyPageSize, 50)
  })
})

describe("ChatPage.contentSecurityPolicy", () => {
  it("allows scripts from the page's origin only, and the socket's origin", () => {
    const relative = ChatPage.contentSecurityPolicy({ wsUrl: "/ws/chat/1/" })
    assert.include(relative, "script-src 'self'")
    assert.include(relative, "default-src 'none'")
    assert.include(relative, "frame-ancestors 'none'")
    assert.notInclude(relative, "unsafe-inline")
    assert.notInclude(relative, "unsafe-eval")
    assert.include(relative, "connect-src 'self';")
    assert.include(
      ChatPage.contentSecurityPolicy({ wsUrl: "wss://chat.example.com/ws/1/" }),
      "connect-src 'self' wss://chat.example.com;"
    )
    assert.include(
      ChatPage.contentSecurityPolicy({ wsUrl: "https://chat.example.com:8443/ws/" }),
      "connect-src 'self' wss://chat.example.com:8443;"
    )
    assert.include(ChatPage.contentSecurityPolicy({ wsUrl: "javascript:alert(1)" }), "connect-src 'self';")
  })
})

describe("ChatPage.router", () => {
  it.scopedLive("serves the page with its headers, and the static assets", () =>
    Effect.gen(function* () {
      const router = NodeChatPage.router({
        path: "/chat/:conversation_pk/",
        page: Effect.map(HttpRouter.params, (params) => ({
          wsUrl: `/ws/chat/${params["conversation_pk"]}/`,
          title: "Tutor"
        }))
      })
      const { base } = yield* Support.serve(router)

      const page = yield* Support.request(`${base}/chat/5/`)
      assert.strictEqual(page.status, 200)
      assert.strictEqual(page.headers.get("content-type"), "text/html; charset=utf-8")
      assert.strictEqual(
        page.headers.get("content-security-policy"),
        ChatPage.contentSecurityPolicy({ wsUrl: "/ws/chat/5/" })
      )
      assert.strictEqual(page.headers.get("x-content-type-options"), "nosniff")
      assert.strictEqual(page.headers.get("x-frame-options"), "DENY")
      assert.strictEqual((configOf(page.text) as { wsUrl: string }).wsUrl, "/ws/chat/5/")

      const assets: ReadonlyArray<readonly [string, string, string]> = [
        ["chat.js", "text/javascript; charset=utf-8", "DOMPurify.sanitize"],
        ["chat.css", "text/css; charset=utf-8", ".convo-msg"],
        ["marked.umd.js", "text/javascript; charset=utf-8", "marked v"],
        ["purify.min.js", "text/javascript; charset=utf-8", "DOMPurify"]
      ]
      for (const [name, type, content] of assets) {
        const response = yield* Support.request(`${base}/convo/static/${name}`)
        assert.strictEqual(response.status, 200, name)
        assert.strictEqual(response.headers.get("content-type"), type, name)
        assert.include(response.text, content, name)
      }
      const missing = yield* Support.request(`${base}/convo/static/other.js`)
      assert.strictEqual(missing.status, 404)
    })
  )
})
