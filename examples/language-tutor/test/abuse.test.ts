/**
 * The example app as an attacker tries it, on the real server (port 0, a fresh SQLite database;
 * PostgreSQL where a race needs it): rooms, redirects, sockets, sessions and log-ins.
 */
import * as Databases from "@convo/testing/Databases"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Browser, csrfOf, wsUrlOf } from "./support/Browser.js"
import { createRoom, signUp } from "./support/Flow.js"
import * as RawSocket from "./support/RawSocket.js"
import * as TestApp from "./support/TestApp.js"

const password = "correct horse battery"

const freshSqlite = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "convo-abuse-"))),
  (directory) => Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true }))
).pipe(Effect.map((directory) => ({ DATABASE_URL: `sqlite:${NodePath.join(directory, "convo.sqlite")}` })))

const startSqlite = Effect.flatMap(freshSqlite, (env) => Effect.map(TestApp.start(env), (app) => ({ ...app, env })))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

describe("rooms: ids are the server's", () => {
  it.scopedLive("a GET never creates a room; unknown and foreign rooms are the same 404; ids stay small", () =>
    Effect.gen(function* () {
      const app = yield* startSqlite
      const alice = new Browser(app.baseUrl)
      const bob = new Browser(app.baseUrl)
      yield* promise(() => signUp(alice, "alice"))
      yield* promise(() => signUp(bob, "bob"))

      // squatting the largest id: nothing is created, for anyone
      const squat = yield* promise(() => bob.get("/example/chat/9007199254740991/"))
      assert.strictEqual(squat.status, 404)
      assert.strictEqual((yield* promise(() => bob.get("/example/chat/99999999999999999999/"))).status, 404)

      // rooms made by the form get the next ids, and their redirects work
      const first = yield* promise(() => createRoom(alice))
      const second = yield* promise(() => createRoom(bob))
      assert.deepStrictEqual([first, second], ["/example/chat/1/", "/example/chat/2/"])
      assert.strictEqual((yield* promise(() => alice.get(first))).status, 200)
      assert.strictEqual((yield* promise(() => bob.get(second))).status, 200)

      // bob cannot tell alice's room from a room that does not exist
      const foreign = yield* promise(() => bob.get(first))
      const unknown = yield* promise(() => bob.get("/example/chat/3/"))
      assert.strictEqual(foreign.status, 404)
      assert.strictEqual(foreign.body, unknown.body)

      // the index lists each user's rooms once
      const index = yield* promise(() => alice.get("/"))
      assert.strictEqual(index.body.split(`href="${first}"`).length - 1, 1)
      assert.notInclude(index.body, `href="${second}"`)
    })
  )
})

describe("log-in redirects", () => {
  it.scopedLive("next must be a path of this site that survives the URL parser; nothing else, and never a 500", () =>
    Effect.gen(function* () {
      const app = yield* startSqlite
      const browser = new Browser(app.baseUrl)
      yield* promise(() => signUp(browser, "alice"))
      const logInWith = (next: string) =>
        promise(async () => {
          await browser.submit("/accounts/profile/", "/accounts/logout/", {})
          const page = await browser.get(`/accounts/login/?next=${encodeURIComponent(next)}`)
          assert.strictEqual(page.status, 200)
          const hidden = /name="next" value="([^"]*)"/.exec(page.body)![1]
          const posted = await browser.post("/accounts/login/", {
            csrf_token: csrfOf(page.body),
            next,
            username: "alice",
            password
          })
          return { hidden, status: posted.status, location: posted.location }
        })
      for (const next of [
        "/\t/evil.example",
        "/\\evil.example",
        "//evil.example",
        "/\n/x",
        "/\r\nSet-Cookie: x=1",
        "/\u3000x",
        "http://evil.example/",
        "evil"
      ]) {
        const result = yield* logInWith(next)
        assert.deepStrictEqual(result, { hidden: "/", status: 303, location: "/" }, JSON.stringify(next))
        // what a browser would make of it stays on this site
        assert.strictEqual(new URL(result.location!, app.baseUrl).origin, app.baseUrl)
      }
      const local = yield* logInWith("/accounts/profile/?tab=1#top")
      assert.strictEqual(local.location, "/accounts/profile/?tab=1#top")
    })
  )
})

describe("chat sockets", () => {
  it.scopedLive(
    "anonymous sockets announcing 90 MiB frames are closed with 1009 and grow the server by a bounded amount",
    () =>
      Effect.gen(function* () {
        const app = yield* startSqlite
        const url = `${app.baseUrl.replace("http", "ws")}/ws/example/chat/1/`
        const MiB = 1024 * 1024
        const raws = yield* promise(() =>
          Promise.all(Array.from({ length: 10 }, () => RawSocket.upgrade(url, { Origin: app.baseUrl })))
        )
        const before = process.memoryUsage().rss
        yield* promise(() => Promise.all(raws.map((raw) => RawSocket.stall(raw, 90 * MiB, 16 * MiB))))
        const grown = process.memoryUsage().rss - before
        const codes = yield* promise(() => Promise.all(raws.map((raw) => RawSocket.within(raw.closeCode, 10_000, -1))))
        for (const raw of raws) raw.socket.destroy()
        // refused (4401) at once, and a frame past the refused socket's tiny limit is cut off (1009)
        assert.isTrue(
          codes.every((code) => code === 4401 || code === 1009),
          JSON.stringify(codes)
        )
        assert.isBelow(grown, 64 * MiB, `the server grew by ${Math.round(grown / MiB)} MiB for 160 MiB sent`)
      })
  )

  it.scopedLive("a socket does not outlive its session: after log-out the next message closes it with 4401", () =>
    Effect.gen(function* () {
      const app = yield* startSqlite
      const alice = new Browser(app.baseUrl)
      yield* promise(() => signUp(alice, "alice"))
      const room = yield* promise(() => createRoom(alice).then((path) => alice.get(path)))
      const socket = alice.socket(wsUrlOf(room.body))
      yield* promise(() => socket.turnEnded(1))
      // log out in another tab
      assert.strictEqual(
        (yield* promise(() => alice.submit("/accounts/profile/", "/accounts/logout/", {}))).status,
        303
      )
      socket.send({ type: "user_message", text: "am I still here?", clientId: "after-logout" })
      const closed = yield* promise(() => socket.closed)
      assert.strictEqual(closed.code, 4401)
      assert.strictEqual(socket.ofType("turn_start").length, 1)
      const rows = yield* promise(() =>
        TestApp.withDatabase(
          app.env,
          (sql) => sql<{ n: number }>`SELECT count(*) AS n FROM convo_message WHERE client_id = 'after-logout'`
        )
      )
      assert.strictEqual(Number(rows[0]!.n), 0)
    })
  )
})

describe("sessions and cookies", () => {
  it.scopedLive("cookieless GETs of the forms store no session rows; their signed CSRF token still works", () =>
    Effect.gen(function* () {
      const app = yield* startSqlite
      const countSessions = promise(() =>
        TestApp.withDatabase(app.env, (sql) => sql<{ n: number }>`SELECT count(*) AS n FROM example_session`)
      ).pipe(Effect.map((rows) => Number(rows[0]!.n)))
      yield* promise(() =>
        Promise.all(
          Array.from({ length: 300 }, (_, i) =>
            new Browser(app.baseUrl).get(i % 2 === 0 ? "/accounts/signup/" : "/accounts/login/")
          )
        )
      )
      assert.strictEqual(yield* countSessions, 0)

      // the form still works with the visitor cookie's token, and not with another visitor's
      const alice = new Browser(app.baseUrl)
      const mallory = new Browser(app.baseUrl)
      const malloryToken = csrfOf((yield* promise(() => mallory.get("/accounts/signup/"))).body)
      yield* promise(() => alice.get("/accounts/signup/"))
      const forged = yield* promise(() =>
        alice.post("/accounts/signup/", { csrf_token: malloryToken, username: "alice", password, password2: password })
      )
      assert.strictEqual(forged.status, 403)
      assert.strictEqual((yield* promise(() => signUp(alice, "alice"))).status, 303)
      assert.strictEqual(yield* countSessions, 1)
    })
  )

  it.scopedLive("a Secure session cookie is named __Host-, and only that name is read over https", () =>
    Effect.gen(function* () {
      const app = yield* startSqlite
      const viaProxy = { "x-forwarded-proto": "https" }
      const browser = new Browser(app.baseUrl)
      const page = yield* promise(() => browser.request("/accounts/signup/", { headers: viaProxy }))
      const signedUp = yield* promise(() =>
        browser.request("/accounts/signup/", {
          method: "POST",
          headers: { ...viaProxy, "content-type": "application/x-www-form-urlencoded", origin: browser.origin },
          body: new URLSearchParams({
            csrf_token: csrfOf(page.body),
            username: "alice",
            password,
            password2: password
          }).toString()
        })
      )
      assert.strictEqual(signedUp.status, 303)
      const line = signedUp.headers.getSetCookie().find((c) => c.includes("convo_session="))!
      assert.match(line, /^__Host-convo_session=[A-Za-z0-9_-]{43}; /)
      assert.match(line, /; Secure/)
      assert.match(line, /; Path=\//)
      assert.notMatch(line, /Domain=/i)
      const token = browser.cookies.get("__Host-convo_session")!
      const profile = (cookie: string, headers: Record<string, string>) =>
        promise(() =>
          fetch(`${app.baseUrl}/accounts/profile/`, { headers: { cookie, ...headers }, redirect: "manual" })
        )
      assert.strictEqual((yield* profile(`__Host-convo_session=${token}`, viaProxy)).status, 200)
      // the unprefixed name (which a sibling subdomain could set) is not read on an https site
      assert.strictEqual((yield* profile(`convo_session=${token}`, viaProxy)).status, 303)
      // the socket's authenticator reads the same name
      const room = yield* promise(() =>
        fetch(`${app.baseUrl}/example/chat/1/`, {
          headers: { cookie: `convo_session=${token}`, ...viaProxy },
          redirect: "manual"
        })
      )
      assert.strictEqual(room.status, 303)
    })
  )
})

describe("log-in throttling", () => {
  it.scopedLive("wrong passwords for one user name back off; a correct one waits too; Retry-After says how long", () =>
    Effect.gen(function* () {
      const app = yield* startSqlite
      yield* promise(() => signUp(new Browser(app.baseUrl), "alice"))
      const browser = new Browser(app.baseUrl)
      const token = csrfOf((yield* promise(() => browser.get("/accounts/login/"))).body)
      const attempt = (pw: string) =>
        promise(() => browser.post("/accounts/login/", { csrf_token: token, username: "alice", password: pw }))
      for (let i = 0; i < 5; i++) assert.strictEqual((yield* attempt("wrong password")).status, 400)
      const throttled = yield* attempt("wrong password")
      assert.strictEqual(throttled.status, 429)
      assert.match(throttled.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/)
      assert.include(throttled.body, "Too many log-in attempts")
      assert.strictEqual((yield* attempt(password)).status, 429)
      // another user name from the same address is not held up by alice's
      const other = yield* promise(() =>
        browser.post("/accounts/login/", { csrf_token: token, username: "bob", password: "wrong password" })
      )
      assert.strictEqual(other.status, 400)
    })
  )

  it.scopedLive("a flood of parallel wrong log-ins is throttled and does not hold up static files", () =>
    Effect.gen(function* () {
      const app = yield* startSqlite
      const asset = `${app.baseUrl}/convo/static/chat.js`
      // the time of one GET of the chat script, at most 5 s (a guard: past it the request is dropped)
      const timeStatic = promise(async () => {
        const start = performance.now()
        try {
          const response = await fetch(asset, { signal: AbortSignal.timeout(5_000) })
          await response.arrayBuffer()
          assert.strictEqual(response.status, 200)
        } catch {
          return 5_000
        }
        return performance.now() - start
      })
      const browser = new Browser(app.baseUrl)
      const token = csrfOf((yield* promise(() => browser.get("/accounts/login/"))).body)
      yield* timeStatic // warm: the file is read once before
      // 48 wrong log-ins at once, each for another user name, from one address; while they are
      // answered, the chat script is fetched three times
      const flood = Promise.all(
        Array.from({ length: 48 }, (_, i) =>
          browser.post("/accounts/login/", { csrf_token: token, username: `guess${i}`, password: "wrong password" })
        )
      )
      const latencies: Array<number> = []
      for (const delay of ["100 millis", "200 millis", "200 millis"] as const) {
        yield* Effect.sleep(delay)
        latencies.push(yield* timeStatic)
      }
      const statuses = (yield* promise(() => flood)).map((page) => page.status)
      latencies.sort((a, b) => a - b)
      // unthrottled, the 48 scrypt hashes queue ahead of every file read on libuv's thread pool:
      // seconds; throttled, at most one hash runs and the rest are refused at once
      assert.isBelow(
        latencies[1]!,
        1_000,
        `static file latencies during the flood: ${latencies.map(Math.round).join(", ")} ms`
      )
      // past the address's free attempts, the rest were refused without hashing
      const hashed = statuses.filter((status) => status === 400).length
      assert.isAtMost(hashed, 20, `${hashed} of ${statuses.length} attempts were checked`)
      assert.isAbove(statuses.filter((status) => status === 429).length, 0)
    })
  )
})

const pg = await Databases.pgTestsEnabled()

/** The app on a fresh PostgreSQL database. */
const startPg = Effect.gen(function* () {
  const context = yield* Layer.build(Databases.postgresFresh({ migrate: false }))
  const database = Context.get(context, Databases.TestDatabase)
  const server = Databases.pgServer()
  const credentials =
    server.password === undefined ? server.user : `${server.user}:${encodeURIComponent(server.password)}`
  const env = { DATABASE_URL: `postgres://${credentials}@${server.host}:${server.port}/${database.name}` }
  return { ...(yield* TestApp.start(env)), env }
})

describe.skipIf(!pg)("the first user is staff, atomically (PostgreSQL)", () => {
  it.scopedLive("8 simultaneous sign-ups on a fresh database make exactly one staff user, every time", () =>
    Effect.gen(function* () {
      for (let round = 0; round < 3; round++) {
        const app = yield* startPg
        const browsers = Array.from({ length: 8 }, () => new Browser(app.baseUrl))
        // every form first; then every POST while the test holds a lock that stops inserts into
        // example_user, so that all sign-ups reach their INSERT together once it is released
        const pages = yield* promise(() => Promise.all(browsers.map((b) => b.get("/accounts/signup/"))))
        let posts: Promise<ReadonlyArray<{ readonly status: number }>> = Promise.resolve([])
        yield* promise(() =>
          TestApp.withDatabase(app.env, (sql) =>
            sql.withTransaction(
              Effect.gen(function* () {
                yield* sql`LOCK TABLE example_user IN SHARE MODE`
                posts = Promise.all(
                  browsers.map((b, i) =>
                    b.post("/accounts/signup/", {
                      csrf_token: csrfOf(pages[i]!.body),
                      username: `user${i}`,
                      password,
                      password2: password
                    })
                  )
                )
                // until every sign-up waits on a lock (or 10 s: then the race is merely likely)
                for (let i = 0; i < 200; i++) {
                  const [row] = yield* sql<{
                    n: string
                  }>`SELECT count(DISTINCT pid) AS n FROM pg_locks WHERE NOT granted`
                  if (Number(row!.n) >= browsers.length) break
                  yield* Effect.sleep("50 millis")
                }
              })
            )
          )
        )
        const results = yield* promise(() => posts)
        assert.deepStrictEqual(
          results.map((r) => r.status),
          Array(8).fill(303)
        )
        const rows = yield* promise(() =>
          TestApp.withDatabase(
            app.env,
            (sql) => sql<{ n: string }>`SELECT count(*) AS n FROM example_user WHERE is_staff = 1`
          )
        )
        assert.strictEqual(Number(rows[0]!.n), 1, `round ${round + 1}`)
      }
    })
  )
})
