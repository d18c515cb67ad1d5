/**
 * The configuration: defaults, and one clear sentence for each bad value.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Config from "../src/Config.js"

const load = (env: Record<string, string>) =>
  Config.load.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

const problem = (env: Record<string, string>) => Effect.flip(load(env)).pipe(Effect.map((error) => error.message))

describe("Config", () => {
  it.effect("defaults: port 8000 on 127.0.0.1, the SQLite file in the example's data folder, the offline model", () =>
    Effect.gen(function* () {
      const settings = yield* load({})
      assert.strictEqual(settings.port, 8000)
      assert.strictEqual(settings.host, "127.0.0.1")
      assert.strictEqual(settings.database._tag, "Sqlite")
      assert.match(
        settings.database._tag === "Sqlite" ? settings.database.filename : "",
        /examples\/language-tutor\/data\/convo\.sqlite$/
      )
      assert.deepStrictEqual(settings.llm, { _tag: "Offline" })
      assert.strictEqual(settings.debug, false)
      assert.isTrue(Option.isNone(settings.sessionSecret))
      assert.deepStrictEqual(settings.allowedOrigins, ["same-origin"])
      assert.strictEqual(Config.describeLlm(settings.llm), "offline demo (set OPENAI_API_KEY for gpt-4o)")
    })
  )

  it.effect("reads PostgreSQL URLs, keys, DEBUG and the admin; passwords never reach a printable string", () =>
    Effect.gen(function* () {
      const settings = yield* load({
        PORT: "0",
        DATABASE_URL: "postgres://app:s3cret@db.internal:5432/convo",
        OPENAI_API_KEY: "sk-test",
        OPENAI_BASE_URL: "http://127.0.0.1:11434/v1",
        OPENAI_MODEL: "llama3.2",
        DEBUG: "1",
        SESSION_SECRET: "x".repeat(32),
        ADMIN_USERNAME: "root",
        ADMIN_PASSWORD: "a long password",
        ALLOWED_ORIGINS: "https://chat.example.com, same-origin"
      })
      assert.strictEqual(settings.port, 0)
      assert.strictEqual(settings.database._tag, "Pg")
      assert.strictEqual(
        Config.describeDatabase(settings.database),
        "PostgreSQL: postgres://app:***@db.internal:5432/convo"
      )
      assert.strictEqual(settings.llm._tag, "OpenAi")
      assert.strictEqual(Config.describeLlm(settings.llm), "llama3.2 at http://127.0.0.1:11434/v1")
      assert.isTrue(settings.debug)
      assert.strictEqual(Option.map(settings.admin, (a) => a.username).pipe(Option.getOrNull), "root")
      assert.strictEqual(
        Option.map(settings.admin, (a) => Redacted.value(a.password)).pipe(Option.getOrNull),
        "a long password"
      )
      assert.deepStrictEqual(settings.allowedOrigins, ["https://chat.example.com", "same-origin"])
      assert.notInclude(JSON.stringify(settings), "s3cret")
    })
  )

  it.effect("sqlite:<file> picks another SQLite file", () =>
    Effect.gen(function* () {
      const settings = yield* load({ DATABASE_URL: "sqlite:/tmp/elsewhere.sqlite" })
      assert.deepInclude(settings.database, { _tag: "Sqlite", filename: "/tmp/elsewhere.sqlite" })
    })
  )

  it.effect("each bad value fails with one sentence naming the variable", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [
          { DATABASE_URL: "mysql://root:hunter2@localhost/db" },
          'DATABASE_URL must be a postgres:// URL (or sqlite:<file>), got "mysql://root:***@localhost/db"'
        ],
        [{ DATABASE_URL: "sqlite:" }, 'DATABASE_URL must name a file after "sqlite:", got "sqlite:"'],
        [{ PORT: "eighty" }, 'PORT must be a whole number from 0 to 65535, got "eighty"'],
        [{ PORT: "70000" }, 'PORT must be a whole number from 0 to 65535, got "70000"'],
        [{ HOST: "a b" }, 'HOST must be a host name or an IP address, got "a b"'],
        [
          { OPENAI_BASE_URL: "localhost:11434" },
          'OPENAI_BASE_URL must be an http:// or https:// URL, got "localhost:11434"'
        ],
        [
          { SESSION_SECRET: "short" },
          "SESSION_SECRET must be at least 32 characters long (got 5); generate one with: openssl rand -hex 32"
        ],
        [{ COOKIE_SECURE: "maybe" }, 'COOKIE_SECURE must be 1 or 0 (true or false), got "maybe"'],
        [{ ADMIN_USERNAME: "root" }, "ADMIN_PASSWORD must be set when ADMIN_USERNAME is"],
        [{ ADMIN_PASSWORD: "a long password" }, "ADMIN_USERNAME must be set when ADMIN_PASSWORD is"],
        [
          { ADMIN_USERNAME: "root", ADMIN_PASSWORD: "short" },
          "ADMIN_PASSWORD is too weak: A password has at least 8 characters."
        ],
        [
          { ALLOWED_ORIGINS: "https://chat.example.com/path" },
          'ALLOWED_ORIGINS must list origins such as https://chat.example.com (no path), got "https://chat.example.com/path"'
        ]
      ]
      for (const [env, message] of cases) {
        assert.strictEqual(yield* problem(env), message)
        assert.notInclude(message, "\n")
      }
    })
  )
})
