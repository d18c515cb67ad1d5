/**
 * The page frame every server-rendered page shares: a header with the user's links (and the
 * log-out button, a POST form with the CSRF token), the page's body, and security headers.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { Visit } from "./accounts/Visit.js"
import { type Html, html, raw } from "./lib/Html.js"
import type { Unavailable } from "./lib/HttpErrors.js"
import { url } from "./Routes.js"

/** Headers for every server-rendered page. */
export const securityHeaders = {
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cache-control": "no-store"
} as const

const style = raw(`
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 56rem; margin: 0 auto; padding: 0 1rem 3rem; color: #1d2430; }
  header { display: flex; gap: 1rem; align-items: center; border-bottom: 1px solid #dde; padding: .75rem 0; margin-bottom: 1.5rem; flex-wrap: wrap; }
  header .brand { font-weight: 700; margin-right: auto; text-decoration: none; color: inherit; }
  header form { display: inline; margin: 0; }
  button, input[type=submit] { font: inherit; padding: .35rem .8rem; border-radius: .4rem; border: 1px solid #889; background: #f4f5fb; cursor: pointer; }
  button.danger { border-color: #c33; color: #a00; }
  label { display: block; margin: .6rem 0 .2rem; }
  input[type=text], input[type=password], select { font: inherit; padding: .35rem; width: 100%; max-width: 24rem; box-sizing: border-box; }
  .error { background: #fee; border: 1px solid #e99; padding: .6rem .8rem; border-radius: .4rem; }
  .note { color: #556; font-size: .9rem; }
  table { border-collapse: collapse; width: 100%; font-size: .9rem; }
  th, td { border-bottom: 1px solid #e3e3ec; padding: .35rem .5rem; text-align: left; vertical-align: top; }
  td.content { white-space: pre-wrap; word-break: break-word; max-width: 28rem; }
  .undecodable { color: #a00; }
  code { background: #f1f1f6; padding: 0 .25rem; border-radius: .2rem; }
`)

/** A hidden field with the session's CSRF token, for every POST form. */
export const csrfField: Effect.Effect<Html, Unavailable, Visit> = Effect.flatMap(Visit, (visit) =>
  Effect.map(visit.csrfToken, (token) => html`<input type="hidden" name="csrf_token" value="${token}" />`)
)

/** A page in the frame, as an HTML response. */
export const render = (options: {
  readonly title: string
  readonly body: Html
  readonly status?: number
}): Effect.Effect<HttpServerResponse.HttpServerResponse, Unavailable, Visit> =>
  Effect.gen(function* () {
    const visit = yield* Visit
    const user = visit.user
    const nav =
      user === null
        ? html`<a href="${url("login")}">Log in</a> <a href="${url("signup")}">Sign up</a>`
        : html`<a href="${url("home")}">Rooms</a>
            ${user.isStaff ? html`<a href="${url("admin")}">Admin</a>` : null}
            <a href="${url("profile")}">${user.username}</a>
            <form method="post" action="${url("logout")}">
              ${yield* csrfField}<button type="submit">Log out</button>
            </form>`
    const page = html`<!doctype html>
      <html lang="ko">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>${options.title} · convo language tutor</title>
          <style>
            ${style}
          </style>
        </head>
        <body>
          <header><a class="brand" href="${url("home")}">convo language tutor</a> ${nav}</header>
          <main>
            <h1>${options.title}</h1>
            ${options.body}
          </main>
        </body>
      </html>`
    return HttpServerResponse.text(page.value, {
      status: options.status ?? 200,
      contentType: "text/html; charset=utf-8",
      headers: securityHeaders
    })
  })
