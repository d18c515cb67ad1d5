/**
 * `npm run example` as a new user runs it: `src/main.ts` in its own process. It prints where to
 * open the app, logs SQL with DEBUG=1, stops cleanly on SIGINT with a chat open, and a bad
 * configuration or a failed start is one sentence on stderr and exit code 1, never a stack trace.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { Browser, wsUrlOf } from "./support/Browser.js"
import { createRoom, signUp } from "./support/Flow.js"
import * as TestApp from "./support/TestApp.js"

const exampleDir = NodeUrl.fileURLToPath(new URL("..", import.meta.url))
const tsx = NodePath.join(exampleDir, "..", "..", "node_modules", ".bin", "tsx")

/** A guard against hangs, not a timing assertion. */
const patience = 30_000

interface Run {
  readonly child: NodeChild.ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<number | null>
  readonly waitFor: (pattern: RegExp) => Promise<RegExpExecArray>
}

/** Runs `tsx src/main.ts` (the example's `start` script) with only these variables set. */
const run = (env: Record<string, string>): Run => {
  const child = NodeChild.spawn(tsx, ["src/main.ts"], {
    cwd: exampleDir,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NO_COLOR: "", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const waitFor = async (pattern: RegExp) => {
    const deadline = Date.now() + patience
    for (;;) {
      const match = pattern.exec(stdout)
      if (match !== null) return match
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no ${pattern} in the output; stdout:\n${stdout}\nstderr:\n${stderr}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  return { child, stdout: () => stdout, stderr: () => stderr, exited, waitFor }
}

const tempDir = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "convo-main-"))),
  (directory) => Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true }))
)

const stopOnExit = (r: Run) =>
  Effect.addFinalizer(() => Effect.sync(() => (r.child.exitCode === null ? r.child.kill("SIGKILL") : undefined)))

/** The process fails at start: exactly one line on stderr, exit code 1. */
const failsWith = (env: Record<string, string>, expected: string | RegExp) =>
  Effect.gen(function* () {
    const r = run(env)
    yield* stopOnExit(r)
    const code = yield* Effect.promise(() => r.exited)
    assert.strictEqual(code, 1)
    const lines = r.stderr().trim().split("\n")
    assert.strictEqual(lines.length, 1, `stderr: ${r.stderr()}`)
    if (typeof expected === "string") assert.strictEqual(lines[0], expected)
    else assert.match(lines[0]!, expected)
    assert.notMatch(r.stderr() + r.stdout(), /\n\s+at /) // no stack trace
    return lines[0]!
  })

describe("main.ts", () => {
  it.scopedLive("prints the URL, logs SQL in colour with DEBUG=1, and stops cleanly on SIGINT with a chat open", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const env = { DATABASE_URL: `sqlite:${NodePath.join(dir, "data", "convo.sqlite")}` }
      const r = run({ ...env, PORT: "0", DEBUG: "1" })
      yield* stopOnExit(r)
      const [, url] = yield* Effect.promise(() =>
        r.waitFor(
          /convo language tutor: (http:\/\/127\.0\.0\.1:[0-9]+\/) {2}\(SQLite: .+, model: offline demo.*, SQL log on\)\n/
        )
      )
      // the SQL log: the migrations ran, in cyan (debug level), with their parameters
      assert.match(r.stdout(), /\x1b\[36m\[[^\]]+\] \([0-9.]+s\) CREATE TABLE example_chat_room/)

      const browser = new Browser(url!)
      assert.strictEqual((yield* Effect.promise(() => signUp(browser, "alice"))).status, 303)
      assert.match(r.stdout(), /INSERT INTO example_user .*; args=\["alice", "scrypt\$/s)
      const page = yield* Effect.promise(() => createRoom(browser).then((path) => browser.get(path)))
      const socket = browser.socket(wsUrlOf(page.body))
      yield* Effect.promise(() => socket.until((events) => events.some((e) => e.type === "message_delta"), "a reply"))

      r.child.kill("SIGINT")
      assert.strictEqual(yield* Effect.promise(() => r.exited), 0)
      yield* Effect.promise(() => socket.closed)
      assert.strictEqual(r.stderr(), "")
      // the turn that was running is stored, complete or aborted: the human message is never lost
      const rows = yield* Effect.promise(() =>
        TestApp.withDatabase(
          env,
          (sql) => sql<{ kind: string; status: string }>`SELECT kind, status FROM convo_message ORDER BY seq`
        )
      )
      assert.strictEqual(rows[0]?.kind, "human")
      assert.include(["complete", "aborted"], rows[0]?.status)
      assert.isTrue(rows.every((row) => row.status === rows[0]?.status))
    })
  )

  it.scopedLive("a bad DATABASE_URL is one sentence, and its password is not printed", () =>
    Effect.gen(function* () {
      const line = yield* failsWith(
        { DATABASE_URL: "mysql://root:hunter2@localhost/app" },
        'convo language tutor: DATABASE_URL must be a postgres:// URL (or sqlite:<file>), got "mysql://root:***@localhost/app"'
      )
      assert.notInclude(line, "hunter2")
    })
  )

  it.scopedLive("a PostgreSQL server that does not answer is one sentence", () =>
    failsWith(
      { DATABASE_URL: "postgres://postgres:pw@127.0.0.1:1/convo" },
      /^convo language tutor: cannot open the database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/convo: .*ECONNREFUSED/
    )
  )

  it.scopedLive("a port in use is one sentence", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const blocker = yield* Effect.acquireRelease(
        Effect.async<NodeNet.Server>((resume) => {
          const server = NodeNet.createServer()
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const port = (blocker.address() as NodeNet.AddressInfo).port
      yield* failsWith(
        { PORT: String(port), DATABASE_URL: `sqlite:${NodePath.join(dir, "convo.sqlite")}` },
        new RegExp(
          `^convo language tutor: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.* \\(set PORT to another port\\)$`
        )
      )
    })
  )
})
