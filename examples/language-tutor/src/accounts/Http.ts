/**
 * The account pages (tutorial #02's auth part, S25): sign up, log in, profile, log out (POST).
 * Every form carries the session's CSRF token and every POST checks it first.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { html } from "../lib/Html.js"
import * as Forms from "../lib/Forms.js"
import * as Layout from "../Layout.js"
import * as Page from "../Page.js"
import { pattern, url } from "../Routes.js"
import * as Credentials from "./Credentials.js"
import { LoginThrottle } from "./Throttle.js"
import { Users } from "./Users.js"
import { requireUser, Visit } from "./Visit.js"

const nextOf = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  const query = request.url.includes("?") ? request.url.slice(request.url.indexOf("?")) : ""
  return new URLSearchParams(query).get("next") ?? undefined
})

const seeOther = (location: string) => HttpServerResponse.redirect(location, { status: 303 })

const signupForm = (options: { readonly username?: string; readonly problem?: string; readonly status?: number }) =>
  Effect.gen(function* () {
    return yield* Layout.render({
      title: "Sign up",
      status: options.status ?? 200,
      body: html` ${options.problem === undefined ? null : html`<p class="error">${options.problem}</p>`}
        <form method="post" action="${url("signup")}">
          ${yield* Layout.csrfField}
          <label for="username">User name</label>
          <input
            type="text"
            id="username"
            name="username"
            value="${options.username ?? ""}"
            autocomplete="username"
            required
          />
          <label for="password">Password (${Credentials.minPasswordLength}+ characters)</label>
          <input type="password" id="password" name="password" autocomplete="new-password" required />
          <label for="password2">Password again</label>
          <input type="password" id="password2" name="password2" autocomplete="new-password" required />
          <p><button type="submit">Sign up</button></p>
        </form>
        <p class="note">The first user to sign up becomes staff and sees the admin pages.</p>
        <p>Have an account? <a href="${url("login")}">Log in</a>.</p>`
    })
  })

const loginForm = (options: {
  readonly username?: string
  readonly next?: string | undefined
  readonly problem?: string
  readonly status?: number
}) =>
  Effect.gen(function* () {
    return yield* Layout.render({
      title: "Log in",
      status: options.status ?? 200,
      body: html` ${options.problem === undefined ? null : html`<p class="error">${options.problem}</p>`}
        <form method="post" action="${url("login")}">
          ${yield* Layout.csrfField}
          <input type="hidden" name="next" value="${Page.safeNext(options.next)}" />
          <label for="username">User name</label>
          <input
            type="text"
            id="username"
            name="username"
            value="${options.username ?? ""}"
            autocomplete="username"
            required
          />
          <label for="password">Password</label>
          <input type="password" id="password" name="password" autocomplete="current-password" required />
          <p><button type="submit">Log in</button></p>
        </form>
        <p>No account yet? <a href="${url("signup")}">Sign up</a>.</p>`
    })
  })

const signupPage = Page.handle(signupForm({}))

const signup = Page.handle(
  Effect.gen(function* () {
    const visit = yield* Visit
    const form = yield* Forms.read
    yield* visit.checkCsrf(form)
    const username = Forms.field(form, "username")
    const password = form["password"] ?? ""
    const problem =
      Credentials.usernameProblem(username) ??
      Credentials.passwordProblem(password) ??
      (password === form["password2"] ? undefined : "The two passwords differ.")
    if (problem !== undefined) return yield* signupForm({ username, problem, status: 400 })
    const users = yield* Users
    const created = yield* users.create({ username, password }).pipe(Effect.either)
    if (created._tag === "Left") {
      return yield* signupForm({ username, problem: `The user name ${username} is taken.`, status: 400 })
    }
    yield* visit.logIn(created.right)
    return seeOther(url("home"))
  })
)

const loginPage = Page.handle(Effect.flatMap(nextOf, (next) => loginForm({ next })))

/** The client's address, as the socket sees it (a proxy in front would need its `X-Forwarded-For` trusted). */
const clientAddress = Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
  Option.getOrElse(request.remoteAddress, () => "unknown")
)

const login = Page.handle(
  Effect.gen(function* () {
    const visit = yield* Visit
    const form = yield* Forms.read
    yield* visit.checkCsrf(form)
    const username = Forms.field(form, "username")
    const next = form["next"]
    // throttled before any password is hashed: per user name and per address, with backoff
    const decision = yield* (yield* LoginThrottle).begin(username, yield* clientAddress)
    if (decision._tag === "Throttled") {
      const page = yield* loginForm({
        username,
        next,
        problem: `Too many log-in attempts. Try again in ${decision.retryAfterSeconds} seconds.`,
        status: 429
      })
      return HttpServerResponse.setHeader(page, "retry-after", String(decision.retryAfterSeconds))
    }
    const users = yield* Users
    const user = yield* users
      .authenticate(username, form["password"] ?? "")
      .pipe(Effect.onExit((exit) => decision.attempt.end(exit._tag === "Success" && Option.isSome(exit.value))))
    if (Option.isNone(user)) {
      return yield* loginForm({ username, next, problem: "Wrong user name or password.", status: 400 })
    }
    yield* visit.logIn(user.value)
    return seeOther(Page.safeNext(next))
  })
)

const logout = Page.handle(
  Effect.gen(function* () {
    const visit = yield* Visit
    const form = yield* Forms.read
    yield* visit.checkCsrf(form)
    yield* visit.logOut
    return seeOther(url("login"))
  })
)

const profile = Page.handle(
  Effect.gen(function* () {
    const user = yield* requireUser
    return yield* Layout.render({
      title: "Profile",
      body: html` <table>
        <tr>
          <th>User name</th>
          <td>${user.username}</td>
        </tr>
        <tr>
          <th>User id</th>
          <td>${user.id}</td>
        </tr>
        <tr>
          <th>Staff</th>
          <td>${user.isStaff ? "yes" : "no"}</td>
        </tr>
        <tr>
          <th>Joined</th>
          <td>${new Date(user.createdAt).toISOString()}</td>
        </tr>
      </table>`
    })
  })
)

/** The account routes. */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get(pattern("signup"), signupPage),
  HttpRouter.post(pattern("signup"), signup),
  HttpRouter.get(pattern("login"), loginPage),
  HttpRouter.post(pattern("login"), login),
  HttpRouter.post(pattern("logout"), logout),
  HttpRouter.get(pattern("profile"), profile)
)
