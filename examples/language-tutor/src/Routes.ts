/**
 * The app's route table (convo's `Routes`): every page and the chat socket, by name. Pages link
 * to each other with `url(name, params)`, and the chat page's `ws_url` is reversed from the
 * WebSocket route — the step the seed did by hand (`f"/ws/example/chat/{conversation_pk}/"`).
 */
import * as Routes from "@convo/core/Routes"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { NotFound } from "./lib/HttpErrors.js"

// #region routes
export const routes = Routes.make([
  Routes.http("home", "/"),
  Routes.http("signup", "/accounts/signup/"),
  Routes.http("login", "/accounts/login/"),
  Routes.http("logout", "/accounts/logout/"),
  Routes.http("profile", "/accounts/profile/"),
  Routes.http("room-new", "/example/chat/new/"),
  Routes.http("example-room", "/example/chat/:room_pk/", { params: { room_pk: Routes.int } }),
  Routes.ws("example-chat", "/ws/example/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } }),
  Routes.http("admin", "/admin/"),
  Routes.http("admin-conversation", "/admin/conversations/:conversation_pk/", {
    params: { conversation_pk: Routes.int }
  }),
  Routes.http("admin-conversation-clear", "/admin/conversations/:conversation_pk/clear/", {
    params: { conversation_pk: Routes.int }
  })
])
// #endregion

/** The table's type, for handlers that take it. */
export type AppRoutes = typeof routes

/** The path of a named route (the names and parameters are type-checked). */
export const url: <const N extends AppRoutes["routes"][number]["name"]>(
  name: N,
  ...params: Routes.ReverseArgs<Routes.RouteNamed<AppRoutes["routes"][number], N>>
) => string = (name, ...params) => Routes.reverseUnsafe(routes, name, ...params)

/** The pattern of a named route, as `HttpRouter` takes it (the same `:param` syntax). */
export const pattern = (name: AppRoutes["routes"][number]["name"]): `/${string}` => {
  const route = routes.routes.find((r) => r.name === name)
  if (route === undefined) throw new Error(`no route named ${name}`)
  return route.pattern as `/${string}`
}

const singles = new Map<string, Routes.Table<Routes.Route<string, "http">>>()
/** A table holding only the named route, to match a request against that route alone. */
const single = (name: string): Routes.Table<Routes.Route<string, "http">> => {
  let table = singles.get(name)
  if (table === undefined) {
    table = Routes.make(
      routes.routes.filter((r): r is Extract<typeof r, { kind: "http" }> => r.name === name && r.kind === "http")
    )
    singles.set(name, table)
  }
  return table
}

/** The parameters of the current request for a named route, checked by the route's converters. */
export const params = <const N extends AppRoutes["routes"][number]["name"]>(
  name: N
): Effect.Effect<
  Routes.PathParams<Routes.RouteNamed<AppRoutes["routes"][number], N>["pattern"]>,
  NotFound,
  HttpServerRequest.HttpServerRequest
> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const path = request.url.split(/[?#]/)[0]!
    const found = Routes.match(single(name), "http", path)
    return Option.isSome(found)
      ? Effect.succeed(found.value.params as never)
      : Effect.fail(new NotFound({ message: "There is no such page." }))
  })

/** A positive whole number from a path parameter (a row id), or `NotFound`. */
export const idParam = (value: string): Effect.Effect<number, NotFound> => {
  const n = Number(value)
  return /^[1-9][0-9]*$/.test(value) && Number.isSafeInteger(n)
    ? Effect.succeed(n)
    : Effect.fail(new NotFound({ message: "There is no such page." }))
}
