import * as Authenticator from "@convo/core/Authenticator"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as Handshake from "@convo/core/Handshake"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"

const info = (headers: Record<string, string>): Authenticator.RequestInfo => ({
  url: "/ws/chat/1/",
  headers,
  cookies: Authenticator.parseCookies(headers["cookie"])
})

const cookieAuth = Authenticator.layer((request) =>
  Effect.succeed(request.cookies["session"] === undefined ? null : { id: request.cookies["session"] })
)

describe("Handshake", () => {
  it("reads a platform request: original URL, lower-cased headers, cookies", () => {
    const request = HttpServerRequest.fromWeb(
      new Request("http://chat.example.com/ws/chat/1/?x=1", {
        headers: { Cookie: "session=alice; theme=dark", Origin: "http://chat.example.com" }
      })
    )
    const read = Handshake.requestInfo(request)
    // a web `Request` knows its absolute URL (Node's requests give the path and query)
    assert.strictEqual(read.url, "http://chat.example.com/ws/chat/1/?x=1")
    assert.strictEqual(read.headers["origin"], "http://chat.example.com")
    assert.deepStrictEqual(read.cookies, { session: "alice", theme: "dark" })
  })

  it.effect("verify: the authenticated user, anonymous without an Authenticator", () =>
    Effect.gen(function* () {
      const request = info({ host: "chat.example.com", origin: "http://chat.example.com", cookie: "session=alice" })
      assert.deepStrictEqual(yield* Handshake.verify(request).pipe(Effect.provide(cookieAuth)), { id: "alice" })
      assert.isNull(yield* Handshake.verify(request))
    })
  )

  it.effect("verify: a foreign Origin is Forbidden, before the authenticator runs", () =>
    Effect.gen(function* () {
      let asked = 0
      const counting = Authenticator.layer(() => Effect.sync(() => (asked++, { id: "alice" })))
      const request = info({ host: "chat.example.com", origin: "https://evil.example", cookie: "session=alice" })
      const result = yield* Effect.either(Handshake.verify(request).pipe(Effect.provide(counting)))
      assert.isTrue(Either.isLeft(result) && result.left.reason === "Forbidden")
      assert.strictEqual(asked, 0)
      const allowed = yield* Handshake.verify(request, { allowedOrigins: ["https://evil.example"] }).pipe(
        Effect.provide(counting)
      )
      assert.deepStrictEqual(allowed, { id: "alice" })
    })
  )

  it.effect("an authenticator that dies counts as anonymous", () =>
    Effect.gen(function* () {
      const dying = Layer.succeed(Authenticator.Authenticator, { authenticate: () => Effect.die("boom") })
      assert.isNull(yield* Handshake.verify(info({})).pipe(Effect.provide(dying)))
    })
  )

  it("maps each rejection to an HTTP status and a JSON body", () => {
    const cases = [
      ["Unauthenticated", 401, "unauthenticated"],
      ["Forbidden", 403, "forbidden"],
      ["NotFound", 404, "not_found"],
      ["Unavailable", 503, "unavailable"]
    ] as const
    for (const [reason, status, error] of cases) {
      const rejection = new ChatAgent.ConnectionRejected({ reason, detail: "why" })
      assert.strictEqual(Handshake.httpStatus(reason), status)
      assert.deepStrictEqual(Handshake.refusalBody(rejection), { error: { code: error, message: "why" } })
      assert.strictEqual(Handshake.refusalResponse(rejection).status, status)
    }
  })

  it("reads a reconnecting client's last event id from Last-Event-ID or ?lastEventId=", () => {
    const info = (url: string, headers: Record<string, string> = {}) => ({ url, headers, cookies: {} })
    assert.strictEqual(Handshake.lastEventId(info("/ws/chat/1/?lastEventId=42")), 42)
    assert.strictEqual(Handshake.lastEventId(info("/sse", { "last-event-id": "7" })), 7)
    assert.strictEqual(Handshake.lastEventId(info("/ws/chat/1/?lastEventId=0")), 0)
    for (const bad of ["-1", "1.5", "abc", "", "99999999999999999999"]) {
      assert.strictEqual(Handshake.lastEventId(info(`/ws/chat/1/?lastEventId=${bad}`)), undefined)
    }
    assert.strictEqual(Handshake.lastEventId(info("/ws/chat/1/")), undefined)
  })
})
