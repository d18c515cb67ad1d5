/**
 * A runtime-neutral table of named routes, WebSocket and HTTP, with path parameters (S17), that
 * both adapters share. `match` finds the route of a request path; `reverse` builds a path from a
 * route name and its parameters (S18: the seed reverses HTTP routes only and builds `ws_url` by
 * hand; here both kinds reverse).
 *
 * A pattern is a path whose segments are literals or `:name` parameters. A parameter always
 * takes a whole segment and must be non-empty. A trailing `/` is part of the pattern:
 * `/chat/:pk/` matches `/chat/1/` and not `/chat/1`. Parameter values are URL-decoded by `match`
 * and URL-encoded with `encodeURIComponent` by `reverse`, so a value such as `a/b` or `한국어`
 * cannot break the path. A converter (`int`, `slug`, `uuid` or your own) restricts what a
 * parameter accepts, as Django's `<int:pk>` does: a path whose value it rejects does not match,
 * and `reverse` refuses such a value.
 *
 * Parameter names are inferred from the pattern's type, so `reverse` is type-checked.
 *
 * @example
 * import * as Routes from "@convo/core/Routes"
 * import * as Effect from "effect/Effect"
 *
 * const routes = Routes.make([
 *   Routes.ws("example-chat", "/ws/example/chat/:conversation_pk/", {
 *     params: { conversation_pk: Routes.int }
 *   }),
 *   Routes.http("example-room", "/example/chat/:room_pk/")
 * ])
 *
 * // Effect<string, RouteError>: "/ws/example/chat/100/"
 * const url = Routes.reverse(routes, "example-chat", { conversation_pk: 100 })
 *
 * // Option<{ name, route, params: { conversation_pk: string } }>
 * const found = Routes.match(routes, "ws", "/ws/example/chat/100/")
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { isPublicId } from "./internal/store.js"
import * as internal from "./internal/routes.js"

/**
 * The transport a route serves.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "ws" | "http"

/**
 * Restricts the values a parameter accepts, by testing the decoded value.
 *
 * @since 0.1.0
 * @category models
 */
export interface Converter {
  readonly name: string
  readonly test: (value: string) => boolean
}

/**
 * Makes a converter from a name (used in error messages) and a test of the decoded value.
 *
 * @since 0.1.0
 * @category converters
 */
export const converter = (name: string, test: (value: string) => boolean): Converter => ({ name, test })

/**
 * Any non-empty string: the default for a parameter without a converter.
 *
 * @since 0.1.0
 * @category converters
 */
export const string: Converter = converter("string", (value) => value.length > 0)

/**
 * Digits only (`[0-9]+`), as Django's `int` converter.
 *
 * @since 0.1.0
 * @category converters
 */
export const int: Converter = converter("int", (value) => /^[0-9]+$/.test(value))

/**
 * ASCII letters, digits, `-` and `_` (`[-a-zA-Z0-9_]+`), as Django's `slug` converter.
 *
 * @since 0.1.0
 * @category converters
 */
export const slug: Converter = converter("slug", (value) => /^[-a-zA-Z0-9_]+$/.test(value))

/**
 * A lowercase hyphenated UUID, as Django's `uuid` converter.
 *
 * @since 0.1.0
 * @category converters
 */
export const uuid: Converter = converter("uuid", (value) =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)
)

/**
 * A conversation's public id (`ConversationStore.PublicId`: 1 to 255 characters, no control
 * characters, not only digits). For routes that name conversations only by public id, so the
 * enumerable integer ids never appear in URLs.
 *
 * @since 0.2.0
 * @category converters
 */
export const publicId: Converter = converter("publicId", (value) => isPublicId(value))

/**
 * A conversation by integer id or public id, as the default `getConversationId` hook reads a
 * route value.
 *
 * @since 0.2.0
 * @category converters
 */
export const conversation: Converter = converter(
  "conversation",
  (value) => /^[1-9][0-9]{0,15}$/.test(value) || isPublicId(value)
)

type SegmentsOf<P extends string> = P extends `${infer Head}/${infer Rest}` ? Head | SegmentsOf<Rest> : P
type ParamOf<S extends string> = S extends `:${infer Name}` ? Name : never

/**
 * The parameter names of a pattern: `ParamNames<"/chat/:room/:pk/">` is `"room" | "pk"`.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ParamNames<P extends string> = ParamOf<SegmentsOf<P>>

/**
 * The parameters `match` gives for a pattern: `PathParams<"/ws/chat/:conversation_pk/">` is
 * `{ readonly conversation_pk: string }`. A pattern typed only as `string` gives a string record.
 *
 * @since 0.1.0
 * @category type-level
 */
export type PathParams<P extends string> = string extends P
  ? { readonly [name: string]: string }
  : { readonly [K in ParamNames<P>]: string }

/**
 * A value `reverse` accepts for a parameter. Numbers must be finite and are written with `String`.
 *
 * @since 0.1.0
 * @category models
 */
export type ParamValue = string | number

/**
 * The parameters `reverse` needs for a pattern.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ReverseParams<P extends string> = string extends P
  ? { readonly [name: string]: ParamValue }
  : [ParamNames<P>] extends [never]
    ? { readonly [name: string]: never }
    : { readonly [K in ParamNames<P>]: ParamValue }

/**
 * A named route. Build one with `ws` or `http`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Route<Name extends string = string, K extends Kind = Kind, P extends string = string> {
  readonly name: Name
  readonly kind: K
  readonly pattern: P
  /** Converters by parameter name; parameters not listed accept any non-empty string. */
  readonly params: { readonly [param: string]: Converter }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RouteOptions<P extends string> {
  readonly params?: { readonly [K in ParamNames<P>]?: Converter } | undefined
}

const route = <const Name extends string, K extends Kind, const P extends string>(
  kind: K,
  name: Name,
  pattern: P,
  options?: RouteOptions<P>
): Route<Name, K, P> => ({
  name,
  kind,
  pattern,
  params: { ...(options?.params as { readonly [param: string]: Converter } | undefined) }
})

/**
 * A WebSocket route.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ws = <const Name extends string, const P extends string>(
  name: Name,
  pattern: P,
  options?: RouteOptions<P>
): Route<Name, "ws", P> => route("ws", name, pattern, options)

/**
 * An HTTP route.
 *
 * @since 0.1.0
 * @category constructors
 */
export const http = <const Name extends string, const P extends string>(
  name: Name,
  pattern: P,
  options?: RouteOptions<P>
): Route<Name, "http", P> => route("http", name, pattern, options)

/**
 * A route table problem. Definition problems (`DuplicateRoute`, `InvalidPattern`) are thrown by
 * `make`; `reverse` fails with `UnknownRoute`, `MissingParam`, `ExtraParam` (a parameter the
 * pattern does not have: an error, not ignored, so a misspelt name is caught) or `InvalidParam`
 * (empty, rejected by the converter, a non-finite number, or a string that is not well-formed
 * Unicode).
 *
 * @since 0.1.0
 * @category errors
 */
export class RouteError extends Schema.TaggedError<RouteError>("@convo/core/Routes/RouteError")("RouteError", {
  reason: Schema.Literal(
    "UnknownRoute",
    "MissingParam",
    "ExtraParam",
    "InvalidParam",
    "DuplicateRoute",
    "InvalidPattern"
  ),
  route: Schema.String,
  param: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return `route "${this.route}"${this.param === undefined ? "" : ` param "${this.param}"`}: ${this.reason}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isRouteError = (u: unknown): u is RouteError => u instanceof RouteError

/**
 * A table of routes with unique names. Build one with `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Table<R extends Route = Route> {
  readonly routes: ReadonlyArray<R>
}

interface Compiled {
  readonly route: Route
  readonly segments: ReadonlyArray<internal.Segment>
  readonly paramNames: ReadonlySet<string>
}

class TableImpl<R extends Route> implements Table<R> {
  constructor(
    readonly routes: ReadonlyArray<R>,
    readonly compiled: ReadonlyArray<Compiled>,
    readonly byName: ReadonlyMap<string, Compiled>
  ) {}
}

const impl = <R extends Route>(table: Table<R>): TableImpl<R> => table as TableImpl<R>

/**
 * Builds a route table. Routes are tried in order, so the first matching route wins. Throws a
 * `RouteError` when two routes share a name (`DuplicateRoute`) or a pattern is malformed
 * (`InvalidPattern`: not starting with `/`, an empty `//` segment, `?` or `#`, a bad or repeated
 * parameter name, or a converter for a parameter the pattern does not have). Tables are
 * defined once at startup, so a definition error stops the program where it is written.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Routes extends ReadonlyArray<Route>>(routes: Routes): Table<Routes[number]> => {
  const compiled: Array<Compiled> = []
  const byName = new Map<string, Compiled>()
  for (const r of routes) {
    if (byName.has(r.name)) {
      throw new RouteError({ reason: "DuplicateRoute", route: r.name, detail: "two routes have this name" })
    }
    const result = internal.compile(r.pattern)
    if ("error" in result) {
      throw new RouteError({ reason: "InvalidPattern", route: r.name, detail: `${r.pattern}: ${result.error}` })
    }
    const paramNames = new Set<string>()
    for (const segment of result.segments) if (segment._tag === "Param") paramNames.add(segment.name)
    for (const param of Object.keys(r.params)) {
      if (!paramNames.has(param)) {
        throw new RouteError({
          reason: "InvalidPattern",
          route: r.name,
          param,
          detail: `${r.pattern}: a converter is given for a parameter the pattern does not have`
        })
      }
    }
    const entry: Compiled = { route: r, segments: result.segments, paramNames }
    compiled.push(entry)
    byName.set(r.name, entry)
  }
  return new TableImpl(routes, compiled, byName)
}

/**
 * The route of that name, if any.
 *
 * @since 0.1.0
 * @category getters
 */
export const get = <R extends Route>(table: Table<R>, name: string): Option.Option<R> => {
  const entry = impl(table).byName.get(name)
  return entry === undefined ? Option.none() : Option.some(entry.route as R)
}

/**
 * A successful match: the route, its name, and its decoded parameters typed by the route's
 * pattern. Narrow on `name` to get the parameters of that route.
 *
 * @since 0.1.0
 * @category models
 */
export type Match<R extends Route> = R extends Route
  ? { readonly name: R["name"]; readonly route: R; readonly params: PathParams<R["pattern"]> }
  : never

const converterOf = (r: Route, name: string): Converter => r.params[name] ?? string

/**
 * Finds the first route of that kind whose pattern matches the pathname (the path only: no query
 * string or fragment). Segments are URL-decoded; a malformed escape, an empty parameter or a
 * value its converter rejects means no match.
 *
 * @since 0.1.0
 * @category matching
 */
export const match = <R extends Route, K extends Kind>(
  table: Table<R>,
  kind: K,
  pathname: string
): Option.Option<Match<Extract<R, { readonly kind: K }>>> => {
  for (const entry of impl(table).compiled) {
    if (entry.route.kind !== kind) continue
    const params = internal.matchSegments(entry.segments, pathname, (name, value) =>
      converterOf(entry.route, name).test(value)
    )
    if (params !== undefined) {
      return Option.some({ name: entry.route.name, route: entry.route, params } as unknown as Match<
        Extract<R, { readonly kind: K }>
      >)
    }
  }
  return Option.none()
}

/**
 * The route of table `T` named `N` (any route when the table's names are not literal types).
 *
 * @since 0.1.0
 * @category type-level
 */
export type RouteNamed<R extends Route, N extends string> = R extends Route ? (N extends R["name"] ? R : never) : never

/**
 * The arguments after the name in `reverse`: the parameters, optional when the pattern has none.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ReverseArgs<R extends Route> = string extends R["pattern"]
  ? [params?: ReverseParams<R["pattern"]>]
  : [ParamNames<R["pattern"]>] extends [never]
    ? [params?: ReverseParams<R["pattern"]>]
    : [params: ReverseParams<R["pattern"]>]

type ReverseParamsAny = { readonly [name: string]: ParamValue } | undefined

const reverseEither = (table: Table, name: string, params: ReverseParamsAny): Either.Either<string, RouteError> => {
  const entry = impl(table).byName.get(name)
  if (entry === undefined) {
    return Either.left(new RouteError({ reason: "UnknownRoute", route: name, detail: "no route has this name" }))
  }
  const given = params ?? {}
  for (const param of Object.keys(given)) {
    if (!entry.paramNames.has(param)) {
      return Either.left(
        new RouteError({
          reason: "ExtraParam",
          route: name,
          param,
          detail: `${entry.route.pattern} has no such parameter`
        })
      )
    }
  }
  let path = ""
  for (const segment of entry.segments) {
    path += "/"
    if (segment._tag === "Literal") {
      path += segment.value
      continue
    }
    const invalid = (detail: string) =>
      Either.left(new RouteError({ reason: "InvalidParam", route: name, param: segment.name, detail }))
    const value: unknown = Object.prototype.hasOwnProperty.call(given, segment.name) ? given[segment.name] : undefined
    if (value === undefined) {
      return Either.left(
        new RouteError({ reason: "MissingParam", route: name, param: segment.name, detail: "no value given" })
      )
    }
    let text: string
    if (typeof value === "string") text = value
    else if (typeof value === "number" && Number.isFinite(value)) text = String(value)
    else return invalid(`expected a string or a finite number, got ${typeof value === "number" ? value : typeof value}`)
    if (text === "") return invalid("empty value")
    const conv = converterOf(entry.route, segment.name)
    if (!conv.test(text)) return invalid(`rejected by the ${conv.name} converter`)
    const encoded = internal.safeEncode(text)
    if (encoded === undefined) return invalid("not well-formed Unicode (lone surrogate)")
    path += encoded
  }
  return Either.right(path)
}

/**
 * Builds the path of a named route from its parameters, each URL-encoded with
 * `encodeURIComponent`. Fails with `RouteError`: `UnknownRoute`, `MissingParam`, `ExtraParam` or
 * `InvalidParam`. For any route and valid parameters, `match` of the result gives back the same
 * route and the parameters as strings.
 *
 * @since 0.1.0
 * @category reversing
 */
export const reverse = <R extends Route, const N extends R["name"]>(
  table: Table<R>,
  name: N,
  ...args: ReverseArgs<RouteNamed<R, N>>
): Effect.Effect<string, RouteError> => reverseEither(table, name, args[0] as ReverseParamsAny)

/**
 * `reverse` for places that need a string synchronously (a template, a constant). Throws the
 * `RouteError`.
 *
 * @since 0.1.0
 * @category reversing
 */
export const reverseUnsafe = <R extends Route, const N extends R["name"]>(
  table: Table<R>,
  name: N,
  ...args: ReverseArgs<RouteNamed<R, N>>
): string => {
  const result = reverseEither(table, name, args[0] as ReverseParamsAny)
  if (Either.isLeft(result)) throw result.left
  return result.right
}
