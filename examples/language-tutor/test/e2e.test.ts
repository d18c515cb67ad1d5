/**
 * The app end to end, as a new user runs it: the real server on port 0 with a fresh database, a
 * browser-like HTTP client and a real `ws` WebSocket — once on SQLite (the embedded default) and
 * once on PostgreSQL (skipped with a message when no server answers, unless CI=true).
 */
import * as Databases from "@convo/testing/Databases"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Browser, csrfOf } from "./support/Browser.js"
import { newUserFlow, signUp } from "./support/Flow.js"
import * as TestApp from "./support/TestApp.js"

/** A row whose content is valid JSON but not a message: the history still loads and the admin shows it. */
const insertUndecodable = (env: Record<string, string>) => async (conversationId: number) => {
  await TestApp.withDatabase(
    env,
    (sql) =>
      sql`INSERT INTO convo_message (conversation_id, seq, turn_id, kind, status, content)
          VALUES (${conversationId}, 1000, 'hand-written', 'human', 'complete', ${JSON.stringify({ _type: "HumanMessage", _value: "not a message" })})`
  )
}

const freshSqliteFile = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "convo-tutor-"))),
  (directory) => Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true }))
).pipe(Effect.map((directory) => NodePath.join(directory, "nested", "convo.sqlite")))

describe("language tutor on SQLite", () => {
  it.scopedLive("a new user signs up, chats with the tutor, comes back to the history; others are kept out", () =>
    Effect.gen(function* () {
      const file = yield* freshSqliteFile
      const env = { DATABASE_URL: `sqlite:${file}` }
      const app = yield* TestApp.start(env)
      yield* Effect.promise(() => newUserFlow(app.baseUrl, { insertUndecodable: insertUndecodable(env) }))
    })
  )
})

const pg = await Databases.pgTestsEnabled()

describe.skipIf(!pg)("language tutor on PostgreSQL", () => {
  it.scopedLive("the same flow on a fresh PostgreSQL database", () =>
    Effect.gen(function* () {
      const context = yield* Layer.build(Databases.postgresFresh({ migrate: false }))
      const database = Context.get(context, Databases.TestDatabase)
      const server = Databases.pgServer()
      const credentials =
        server.password === undefined ? server.user : `${server.user}:${encodeURIComponent(server.password)}`
      const env = { DATABASE_URL: `postgres://${credentials}@${server.host}:${server.port}/${database.name}` }
      const app = yield* TestApp.start(env)
      yield* Effect.promise(() => newUserFlow(app.baseUrl, { insertUndecodable: insertUndecodable(env) }))
    })
  )
})

describe("accounts and sessions", () => {
  it.scopedLive("the session secret is kept in the database: a session survives a restart", () =>
    Effect.gen(function* () {
      const env = { DATABASE_URL: `sqlite:${yield* freshSqliteFile}` }
      const cookie = yield* Effect.scoped(
        Effect.gen(function* () {
          const app = yield* TestApp.start(env)
          const browser = new Browser(app.baseUrl)
          assert.strictEqual((yield* Effect.promise(() => signUp(browser, "alice"))).status, 303)
          return browser.cookies.get("convo_session")!
        })
      )
      const app = yield* TestApp.start(env)
      const browser = new Browser(app.baseUrl)
      browser.cookies.set("convo_session", cookie)
      const profile = yield* Effect.promise(() => browser.get("/accounts/profile/"))
      assert.strictEqual(profile.status, 200)
      assert.include(profile.body, "alice")
      // a forged cookie of the right shape is nobody
      browser.cookies.set("convo_session", "A".repeat(43))
      assert.strictEqual((yield* Effect.promise(() => browser.get("/accounts/profile/"))).status, 303)
    })
  )

  it.scopedLive("ADMIN_USERNAME / ADMIN_PASSWORD make a staff user at start; later sign-ups are not staff", () =>
    Effect.gen(function* () {
      const env = {
        DATABASE_URL: `sqlite:${yield* freshSqliteFile}`,
        ADMIN_USERNAME: "root",
        ADMIN_PASSWORD: "a long admin password"
      }
      const app = yield* TestApp.start(env)
      const admin = new Browser(app.baseUrl)
      const loggedIn = yield* Effect.promise(() =>
        admin.submit("/accounts/login/", "/accounts/login/", { username: "root", password: "a long admin password" })
      )
      assert.strictEqual(loggedIn.status, 303)
      assert.strictEqual((yield* Effect.promise(() => admin.get("/admin/"))).status, 200)
      const user = new Browser(app.baseUrl)
      assert.strictEqual((yield* Effect.promise(() => signUp(user, "alice"))).status, 303)
      assert.strictEqual((yield* Effect.promise(() => user.get("/admin/"))).status, 403)
    })
  )

  it.scopedLive("the session cookie is Secure behind an https proxy, and log-in only redirects to local paths", () =>
    Effect.gen(function* () {
      const app = yield* TestApp.start({ DATABASE_URL: `sqlite:${yield* freshSqliteFile}` })
      const plain = yield* Effect.promise(() => new Browser(app.baseUrl).get("/accounts/signup/"))
      assert.notMatch(plain.headers.getSetCookie().join("\n"), /Secure/)
      const proxied = yield* Effect.promise(() =>
        new Browser(app.baseUrl).request("/accounts/signup/", { headers: { "x-forwarded-proto": "https" } })
      )
      assert.match(proxied.headers.getSetCookie().join("\n"), /^__Host-convo_csrf=.*; Secure/)

      const browser = new Browser(app.baseUrl)
      yield* Effect.promise(() => signUp(browser, "alice"))
      yield* Effect.promise(() => browser.submit("/accounts/profile/", "/accounts/logout/", {}))
      const page = yield* Effect.promise(() => browser.get("/accounts/login/"))
      const loggedIn = yield* Effect.promise(() =>
        browser.post("/accounts/login/", {
          csrf_token: csrfOf(page.body),
          next: "//evil.example/",
          username: "alice",
          password: "correct horse battery"
        })
      )
      assert.strictEqual(loggedIn.location, "/")
    })
  )
})
