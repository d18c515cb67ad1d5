/**
 * The new user's flow, end to end, against a running app: the same steps on SQLite and on
 * PostgreSQL. Each step says what a user does and checks what they must see.
 */
import { LABEL as offlineLabel } from "@convo/core/OfflineModel"
import { assert } from "@effect/vitest"
import { Browser, csrfOf, wsUrlOf } from "./Browser.js"

export interface FlowOptions {
  /** Writes a stored message whose content does not decode into a conversation (to see the admin list it). */
  readonly insertUndecodable: (conversationId: number) => Promise<void>
}

const password = "correct horse battery"

/** The tutorial's room, as the index page's form starts. */
export const tutorialRoom = { language: "중국어", situation: "스타벅스에서 커피를 주문하는 상황", level: "초급" }

/** Creates a room with the index page's form; gives the room page's path. */
export const createRoom = async (browser: Browser, fields: Record<string, string> = tutorialRoom): Promise<string> => {
  const created = await browser.submit("/", "/example/chat/new/", fields)
  assert.strictEqual(created.status, 303, created.body.slice(0, 300))
  assert.match(created.location ?? "", /^\/example\/chat\/[1-9][0-9]*\/$/)
  return created.location!
}

/** Signs up a new user with the browser; returns the response of the sign-up POST. */
export const signUp = (browser: Browser, username: string) =>
  browser.submit("/accounts/signup/", "/accounts/signup/", { username, password, password2: password })

export const newUserFlow = async (baseUrl: string, options: FlowOptions): Promise<void> => {
  const alice = new Browser(baseUrl)

  // the home page invites to sign up
  const home = await alice.get("/")
  assert.strictEqual(home.status, 200)
  assert.include(home.body, "Sign up")
  assert.strictEqual(home.headers.get("content-type"), "text/html; charset=utf-8")

  // the room page needs a logged-in user: a redirect to the log-in page that comes back
  const anonymousRoom = await alice.get("/example/chat/1/")
  assert.strictEqual(anonymousRoom.status, 303)
  assert.strictEqual(anonymousRoom.location, "/accounts/login/?next=%2Fexample%2Fchat%2F1%2F")

  // CSRF: a sign-up POST without the form's token is refused, and creates nobody
  await alice.get("/accounts/signup/")
  const forged = await alice.post("/accounts/signup/", { username: "mallory", password, password2: password })
  assert.strictEqual(forged.status, 403)
  assert.include(forged.body, "security token")
  const wrongToken = await alice.post("/accounts/signup/", {
    csrf_token: "x".repeat(43),
    username: "mallory",
    password,
    password2: password
  })
  assert.strictEqual(wrongToken.status, 403)

  // bad input is a form with a message, not a crash
  const weak = await alice.submit("/accounts/signup/", "/accounts/signup/", {
    username: "alice",
    password: "short",
    password2: "short"
  })
  assert.strictEqual(weak.status, 400)
  assert.include(weak.body, "at least 8 characters")
  const spaced = await alice.submit("/accounts/signup/", "/accounts/signup/", {
    username: "<script>x</script>",
    password,
    password2: password
  })
  assert.strictEqual(spaced.status, 400)
  assert.notInclude(spaced.body, "<script>x</script>")
  assert.include(spaced.body, "&lt;script&gt;x&lt;/script&gt;")

  // sign up: logged in at once, with a new session cookie (HttpOnly, SameSite=Lax, Path=/)
  const anonymousCookie = alice.cookies.get("convo_session")
  const signedUp = await signUp(alice, "alice")
  assert.strictEqual(signedUp.status, 303)
  const setCookie = signedUp.headers.getSetCookie().join("\n")
  assert.match(setCookie, /convo_session=[A-Za-z0-9_-]{43};/)
  assert.match(setCookie, /HttpOnly/)
  assert.match(setCookie, /SameSite=Lax/)
  assert.match(setCookie, /Path=\//)
  assert.notStrictEqual(alice.cookies.get("convo_session"), anonymousCookie)
  const taken = await signUp(new Browser(baseUrl), "alice")
  assert.strictEqual(taken.status, 400)
  assert.include(taken.body, "is taken")

  // log out (a POST), then log in again
  const loggedOut = await alice.submit("/accounts/profile/", "/accounts/logout/", {})
  assert.strictEqual(loggedOut.status, 303)
  assert.strictEqual((await alice.get("/accounts/profile/")).status, 303)
  const wrong = await alice.submit("/accounts/login/", "/accounts/login/", {
    username: "alice",
    password: "not it at all"
  })
  assert.strictEqual(wrong.status, 400)
  assert.include(wrong.body, "Wrong user name or password")
  const loginPage = await alice.get("/accounts/login/?next=%2Fexample%2Fchat%2F1%2F")
  const loggedIn = await alice.post("/accounts/login/", {
    csrf_token: csrfOf(loginPage.body),
    next: "/example/chat/1/",
    username: "alice",
    password
  })
  assert.strictEqual(loggedIn.status, 303)
  assert.strictEqual(loggedIn.location, "/example/chat/1/")
  const profile = await alice.get("/accounts/profile/")
  assert.strictEqual(profile.status, 200)
  assert.match(profile.body, /<th>Staff<\/th>\s*<td>yes<\/td>/) // the first user is staff

  // no room 1 yet: a URL never creates a room
  const missing = await alice.get("/example/chat/1/")
  assert.strictEqual(missing.status, 404)

  // create the tutorial's room: it is created with its conversation, and the page connects to the reversed socket URL
  const roomPath = await createRoom(alice)
  const room = await alice.get(roomPath)
  assert.strictEqual(room.status, 200)
  const wsUrl = wsUrlOf(room.body)
  assert.match(wsUrl, /^\/ws\/example\/chat\/[0-9]+\/$/)
  const conversationId = Number(/([0-9]+)\/$/.exec(wsUrl)![1])
  assert.include(room.body, "중국어 · 스타벅스에서 커피를 주문하는 상황 · 초급")

  // the socket, with the session cookie: the history (empty), then the tutor speaks first
  const first = alice.socket(wsUrl)
  await first.turnEnded(1)
  const [history] = first.ofType("history")
  assert.isString(history?.publicId)
  assert.deepStrictEqual(history, {
    type: "history",
    conversationId,
    publicId: history?.publicId,
    messages: [],
    hasMore: false,
    initial: true
  })
  const firstHuman = first.ofType("message_start").find((e) => e.role === "human")
  assert.strictEqual(firstHuman?.text, "첫 문장으로 대화를 시작해주세요.")
  const opening = first.aiText(1)
  assert.include(opening, offlineLabel) // the offline model says so in every reply
  assert.include(opening, "스타벅스에서 커피를 주문하는 상황") // the room's situation reached the system prompt
  assert.strictEqual(first.ofType("turn_end")[0]?.status, "complete")
  assert.isAbove(first.ofType("turn_end")[0]!.usage.outputTokens, 0)

  // send a message: a streamed reply (in deltas: the offline model's words, coalesced when they
  // come at once, as here without a delay), with its token usage
  first.send({ type: "user_message", text: "你好，我要一杯拿铁。", clientId: "c-1" })
  await first.turnEnded(2)
  const reply = first.aiText(2)
  assert.include(reply, "你好，我要一杯拿铁。")
  const secondTurn = first.ofType("turn_start")[1]!.turnId
  const secondAi = first.ofType("message_start").find((e) => e.turnId === secondTurn && e.role === "ai")!
  assert.isAtLeast(first.ofType("message_delta").filter((e) => e.id === secondAi.id).length, 1)
  assert.strictEqual(first.ofType("usage").filter((e) => e.turnId === secondTurn).length > 0, true)
  assert.strictEqual((await first.close()).code, 1000)

  // reconnect: the whole history, in order, and the tutor does not start again
  const again = alice.socket(wsUrl)
  await again.until((events) => events.some((e) => e.type === "history"), "the history")
  const [replayed] = again.ofType("history")
  assert.deepStrictEqual(
    replayed!.messages.map((m) => [m.role, m.status]),
    [
      ["human", "complete"],
      ["ai", "complete"],
      ["human", "complete"],
      ["ai", "complete"]
    ]
  )
  assert.strictEqual(replayed!.messages[0]!.text, "첫 문장으로 대화를 시작해주세요.")
  assert.strictEqual(replayed!.messages[1]!.text, opening)
  assert.strictEqual(replayed!.messages[2]!.text, "你好，我要一杯拿铁。")
  assert.strictEqual(replayed!.messages[3]!.text, reply)
  assert.deepStrictEqual(
    replayed!.messages.map((m) => m.seq),
    [1, 2, 3, 4]
  )
  assert.strictEqual(again.ofType("turn_start").length, 0)

  // a second user can neither open the room nor the conversation's socket
  const bob = new Browser(baseUrl)
  assert.strictEqual((await signUp(bob, "bob")).status, 303)
  // another user's room is a 404, the same as a room that does not exist
  const bobsRoom = await bob.get(roomPath)
  assert.strictEqual(bobsRoom.status, 404)
  assert.strictEqual(bobsRoom.body, (await bob.get("/example/chat/999999/")).body)
  const bobsSocket = bob.socket(wsUrl)
  const bobClosed = await bobsSocket.closed
  assert.strictEqual(bobClosed.code, 4403)
  assert.strictEqual(bobsSocket.ofType("history").length, 0)
  // ... nor the admin (not staff)
  assert.strictEqual((await bob.get("/admin/")).status, 403)
  // bob's own room gets a conversation of its own
  const bobsNewRoom = await bob.submit("/", "/example/chat/new/", {
    language: "일본어",
    situation: "호텔 체크인",
    level: "중급"
  })
  assert.strictEqual(bobsNewRoom.status, 303)
  const bobsPage = await bob.get(bobsNewRoom.location!)
  assert.strictEqual(bobsPage.status, 200)
  assert.notStrictEqual(wsUrlOf(bobsPage.body), wsUrl)
  assert.strictEqual(
    (await bob.submit("/", "/example/chat/new/", { language: "", situation: "x", level: "초급" })).status,
    400
  )

  // a socket from another site is refused (Origin check), even with the cookie
  const crossSite = alice.socket(wsUrl, { origin: "http://evil.example" })
  assert.strictEqual((await crossSite.closed).code, 4403)

  // the admin lists the rooms, the conversations and the messages, decoded, with kind, status and usage
  await options.insertUndecodable(conversationId)
  const admin = await alice.get("/admin/")
  assert.strictEqual(admin.status, 200)
  assert.include(admin.body, "스타벅스에서 커피를 주문하는 상황")
  assert.include(admin.body, `/admin/conversations/${conversationId}/`)
  const messages = await alice.get(`/admin/conversations/${conversationId}/`)
  assert.strictEqual(messages.status, 200)
  assert.include(messages.body, "Messages (5)")
  assert.match(messages.body, /Owner: alice \([0-9]+\)/)
  assert.include(messages.body, "<td>HumanMessage</td>")
  assert.include(messages.body, "<td>AIMessage</td>")
  assert.include(messages.body, "你好，我要一杯拿铁。")
  assert.include(messages.body, "<td>complete</td>")
  assert.match(messages.body, /<td>[0-9]+ \/ [0-9]+<\/td>/)
  assert.include(messages.body, `<td class="undecodable">undecodable</td>`)
  assert.strictEqual((await alice.get("/admin/conversations/999999/")).status, 404)
  assert.strictEqual((await alice.get("/admin/conversations/abc/")).status, 404)

  // clear needs the CSRF token too; then the conversation is empty
  const clearForged = await alice.post(`/admin/conversations/${conversationId}/clear/`, {})
  assert.strictEqual(clearForged.status, 403)
  const cleared = await alice.submit(
    `/admin/conversations/${conversationId}/`,
    `/admin/conversations/${conversationId}/clear/`,
    {}
  )
  assert.strictEqual(cleared.status, 303)
  assert.include((await alice.get(`/admin/conversations/${conversationId}/`)).body, "Messages (0)")
  await again.close()

  // log out: the same cookie no longer opens the socket
  const staleCookie = alice.cookies.get("convo_session")!
  assert.strictEqual((await alice.submit("/accounts/profile/", "/accounts/logout/", {})).status, 303)
  const replay = new Browser(baseUrl)
  replay.cookies.set("convo_session", staleCookie)
  const refused = replay.socket(wsUrl)
  assert.strictEqual((await refused.closed).code, 4401)
  assert.strictEqual(refused.ofType("history").length, 0)
  assert.strictEqual((await replay.get("/accounts/profile/")).status, 303)
}
