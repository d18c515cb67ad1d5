/**
 * The app's configuration, read once at start from the environment (or any `ConfigProvider`):
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | `PORT` | `8000` | port to listen on (`0`: any free port) |
 * | `HOST` | `127.0.0.1` | interface to listen on |
 * | `DATABASE_URL` | unset: SQLite file `examples/language-tutor/data/convo.sqlite` | `postgres://user:pass@host:5432/db` for PostgreSQL, `sqlite:<file>` for another SQLite file |
 * | `OPENAI_API_KEY` | unset: the offline demo model | key for OpenAI (gpt-4o) |
 * | `OPENAI_BASE_URL` | unset | an OpenAI-compatible server (Ollama, vLLM, a proxy) |
 * | `OPENAI_MODEL` | `gpt-4o` | the model name to ask that server for |
 * | `DEBUG` | off | `1`: print every SQL statement, coloured by level |
 * | `NO_COLOR` | unset | set: the SQL log without colours |
 * | `SESSION_SECRET` | generated once and stored in the database | key for session ids and CSRF tokens (32+ characters) |
 * | `COOKIE_SECURE` | off (on behind `X-Forwarded-Proto: https`) | `1`: always mark the session cookie `Secure` |
 * | `ADMIN_USERNAME`, `ADMIN_PASSWORD` | unset (the first user to sign up is staff) | create or promote this staff user at start |
 * | `ALLOWED_ORIGINS` | same origin | comma-separated origins that may open the chat socket |
 *
 * A missing or bad value fails the start with one sentence that names the variable and says what
 * is expected (`ConfigInvalid`); `main.ts` prints just that sentence.
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import * as SqlLog from "@convo/core/SqlLog"
import * as Credentials from "./accounts/Credentials.js"

/** Where the conversations live. `display` is safe to print (no password). */
export type Database =
  | { readonly _tag: "Sqlite"; readonly filename: string; readonly display: string }
  | { readonly _tag: "Pg"; readonly url: Redacted.Redacted<string>; readonly display: string }

/** Which chat model answers. */
export type Llm =
  | { readonly _tag: "Offline" }
  | {
      readonly _tag: "OpenAi"
      readonly apiKey: Option.Option<Redacted.Redacted<string>>
      readonly baseUrl: Option.Option<string>
      readonly model: string
    }

/** The whole configuration. */
export interface Settings {
  readonly port: number
  readonly host: string
  readonly database: Database
  readonly llm: Llm
  readonly debug: boolean
  /** ANSI colours in the SQL log: on unless `NO_COLOR` is set. */
  readonly colors: boolean
  readonly sessionSecret: Option.Option<Redacted.Redacted<string>>
  readonly cookieSecure: boolean
  readonly admin: Option.Option<{ readonly username: string; readonly password: Redacted.Redacted<string> }>
  readonly allowedOrigins: ReadonlyArray<string>
}

/** A configuration problem, said in one sentence. */
export class ConfigInvalid extends Data.TaggedError("ConfigInvalid")<{ readonly message: string }> {}

/** The SQLite file used when `DATABASE_URL` is unset: `examples/language-tutor/data/convo.sqlite`. */
export const defaultSqliteFile: string = NodeUrl.fileURLToPath(new URL("../data/convo.sqlite", import.meta.url))

const fail = (message: string) => Effect.fail(new ConfigInvalid({ message }))

/** A URL with its password replaced by `***`, for messages and logs. */
export const hidePassword = (url: string): string =>
  url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:)[^@/?#]*@/i, "$1***@")

const quoted = (value: string): string => JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)

/** A path as the user would type it from where they ran the command (npm's INIT_CWD under `npm run`). */
const relativeToCwd = (file: string): string => {
  const relative = NodePath.relative(process.env.INIT_CWD ?? process.cwd(), file)
  return relative.startsWith("..") || NodePath.isAbsolute(relative) ? file : relative
}

/** Reads a variable; empty or blank counts as unset. */
const variable = (name: string): Effect.Effect<Option.Option<string>> =>
  Config.option(Config.string(name)).pipe(
    Effect.map(Option.map((value) => value.trim())),
    Effect.map(Option.filter((value) => value.length > 0)),
    Effect.orElseSucceed(() => Option.none<string>())
  )

const flag = (name: string, value: Option.Option<string>): Effect.Effect<boolean, ConfigInvalid> => {
  if (Option.isNone(value)) return Effect.succeed(false)
  const v = value.value.toLowerCase()
  if (["1", "true", "yes", "on"].includes(v)) return Effect.succeed(true)
  if (["0", "false", "no", "off"].includes(v)) return Effect.succeed(false)
  return fail(`${name} must be 1 or 0 (true or false), got ${quoted(value.value)}`)
}

/** Parses `DATABASE_URL`. */
export const parseDatabaseUrl = (value: Option.Option<string>): Effect.Effect<Database, ConfigInvalid> => {
  if (Option.isNone(value)) {
    return Effect.succeed({ _tag: "Sqlite", filename: defaultSqliteFile, display: relativeToCwd(defaultSqliteFile) })
  }
  const text = value.value
  if (/^sqlite:/i.test(text)) {
    const path = text.replace(/^sqlite:(\/\/)?/i, "")
    if (path.length === 0) return fail(`DATABASE_URL must name a file after "sqlite:", got ${quoted(text)}`)
    const filename = path === ":memory:" ? path : NodePath.resolve(process.env.INIT_CWD ?? process.cwd(), path)
    return Effect.succeed({ _tag: "Sqlite", filename, display: relativeToCwd(filename) })
  }
  if (/^postgres(ql)?:\/\//i.test(text)) {
    let url: URL
    try {
      url = new URL(text)
    } catch {
      return fail(`DATABASE_URL is not a valid URL: ${quoted(hidePassword(text))}`)
    }
    if (url.hostname.length === 0) return fail(`DATABASE_URL must name a host, got ${quoted(hidePassword(text))}`)
    return Effect.succeed({ _tag: "Pg", url: Redacted.make(text), display: hidePassword(text) })
  }
  return fail(`DATABASE_URL must be a postgres:// URL (or sqlite:<file>), got ${quoted(hidePassword(text))}`)
}

/** Reads and checks the whole configuration. */
export const load: Effect.Effect<Settings, ConfigInvalid> = Effect.gen(function* () {
  const portText = yield* variable("PORT")
  let port = 8000
  if (Option.isSome(portText)) {
    const n = Number(portText.value)
    if (!/^[0-9]{1,5}$/.test(portText.value) || n > 65535) {
      return yield* fail(`PORT must be a whole number from 0 to 65535, got ${quoted(portText.value)}`)
    }
    port = n
  }
  const host = Option.getOrElse(yield* variable("HOST"), () => "127.0.0.1")
  if (/\s|\//.test(host)) return yield* fail(`HOST must be a host name or an IP address, got ${quoted(host)}`)

  const database = yield* parseDatabaseUrl(yield* variable("DATABASE_URL"))

  const apiKey = Option.map(yield* variable("OPENAI_API_KEY"), Redacted.make)
  const baseUrl = yield* variable("OPENAI_BASE_URL")
  if (Option.isSome(baseUrl) && !/^https?:\/\/[^\s/]+/i.test(baseUrl.value)) {
    return yield* fail(`OPENAI_BASE_URL must be an http:// or https:// URL, got ${quoted(baseUrl.value)}`)
  }
  const model = Option.getOrElse(yield* variable("OPENAI_MODEL"), () => "gpt-4o")
  const llm: Llm =
    Option.isNone(apiKey) && Option.isNone(baseUrl) ? { _tag: "Offline" } : { _tag: "OpenAi", apiKey, baseUrl, model }

  const debug = yield* Effect.orElseSucceed(SqlLog.debugEnabled, () => false)
  const colors = yield* Effect.orElseSucceed(SqlLog.colorsEnabled, () => true)

  const sessionSecret = yield* variable("SESSION_SECRET")
  if (Option.isSome(sessionSecret) && sessionSecret.value.length < 32) {
    return yield* fail(
      `SESSION_SECRET must be at least 32 characters long (got ${sessionSecret.value.length}); generate one with: openssl rand -hex 32`
    )
  }
  const cookieSecure = yield* flag("COOKIE_SECURE", yield* variable("COOKIE_SECURE"))

  const adminName = yield* variable("ADMIN_USERNAME")
  const adminPassword = yield* Config.option(Config.string("ADMIN_PASSWORD")).pipe(
    Effect.map(Option.filter((p) => p.length > 0)),
    Effect.orElseSucceed(() => Option.none<string>())
  )
  let admin: Settings["admin"] = Option.none()
  if (Option.isSome(adminName) || Option.isSome(adminPassword)) {
    if (Option.isNone(adminName)) return yield* fail("ADMIN_USERNAME must be set when ADMIN_PASSWORD is")
    if (Option.isNone(adminPassword)) return yield* fail("ADMIN_PASSWORD must be set when ADMIN_USERNAME is")
    const nameProblem = Credentials.usernameProblem(adminName.value)
    if (nameProblem !== undefined) return yield* fail(`ADMIN_USERNAME is not a valid user name: ${nameProblem}`)
    const passwordProblem = Credentials.passwordProblem(adminPassword.value)
    if (passwordProblem !== undefined) return yield* fail(`ADMIN_PASSWORD is too weak: ${passwordProblem}`)
    admin = Option.some({ username: adminName.value, password: Redacted.make(adminPassword.value) })
  }

  const originsText = yield* variable("ALLOWED_ORIGINS")
  const allowedOrigins = Option.match(originsText, {
    onNone: () => ["same-origin"],
    onSome: (text) =>
      text
        .split(",")
        .map((origin) => origin.trim())
        .filter((origin) => origin.length > 0)
  })
  for (const origin of allowedOrigins) {
    if (origin !== "same-origin" && origin !== "*" && !/^https?:\/\/[^\s/]+$/i.test(origin)) {
      return yield* fail(
        `ALLOWED_ORIGINS must list origins such as https://chat.example.com (no path), got ${quoted(origin)}`
      )
    }
  }

  return {
    port,
    host,
    database,
    llm,
    debug,
    colors,
    sessionSecret: Option.map(sessionSecret, Redacted.make),
    cookieSecure,
    admin,
    allowedOrigins
  } satisfies Settings
})

/** The configuration as a service. */
export class AppConfig extends Context.Tag("@convo/example-language-tutor/AppConfig")<AppConfig, Settings>() {
  /** Reads the configuration from the current `ConfigProvider` (the environment by default). */
  static readonly Live: Layer.Layer<AppConfig, ConfigInvalid> = Layer.effect(AppConfig, load)
}

/** One line for the start banner: which model answers. */
export const describeLlm = (llm: Llm): string =>
  llm._tag === "Offline"
    ? "offline demo (set OPENAI_API_KEY for gpt-4o)"
    : Option.match(llm.baseUrl, {
        onNone: () => llm.model,
        onSome: (url) => `${llm.model} at ${hidePassword(url)}`
      })

/** One line for the start banner: which database. */
export const describeDatabase = (database: Database): string =>
  database._tag === "Sqlite" ? `SQLite: ${database.display}` : `PostgreSQL: ${database.display}`
