/**
 * The AI SDK's resume across server processes: two real OS processes (`support/aiSdkServer.ts`,
 * `AiSdkChat` with `disconnect: "detach"`) on one PostgreSQL database. A turn starts on one; the
 * page "reloads" (its request goes away; the turn runs on) and resumes on the other with `ai`'s
 * own `Chat` and `DefaultChatTransport`, getting the whole reply once.
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as Databases from "@convo/testing/Databases"
import { assert, describe, it } from "@effect/vitest"
import type { UIMessage } from "ai"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { chatOf, plain, textOf, until } from "../../adapter-http/test/aiSdkClient.js"
import * as PgMigrations from "../src/PgMigrations.js"

const pg = await Databases.pgTestsEnabled()

const serverScript = fileURLToPath(new URL("./support/aiSdkServer.ts", import.meta.url))
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

/** Starts a server process on the database; it is stopped with the scope. Gives its base URL. */
const startServer = (database: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ child: ChildProcess; base: string }>((resolve, reject) => {
          const child = spawn(process.execPath, ["--import", "tsx", serverScript], {
            cwd: repoRoot,
            env: { ...process.env, CONVO_DATABASE: database },
            stdio: ["ignore", "pipe", "pipe"]
          })
          let output = ""
          const timer = setTimeout(() => reject(new Error(`the server did not start: ${output}`)), 30_000)
          const onData = (chunk: Buffer) => {
            output += chunk.toString("utf8")
            const found = /PORT (\d+) PID/.exec(output)
            if (found !== null) {
              clearTimeout(timer)
              resolve({ child, base: `http://127.0.0.1:${found[1]}` })
            }
          }
          child.stdout!.on("data", onData)
          child.stderr!.on("data", onData)
          child.once("exit", (code) => {
            clearTimeout(timer)
            reject(new Error(`the server exited with ${code}: ${output}`))
          })
        })
    ),
    ({ child }) =>
      Effect.promise(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = new Promise((done) => child.once("exit", done))
        child.kill("SIGTERM")
        const timer = setTimeout(() => child.kill("SIGKILL"), 3_000)
        await exited
        clearTimeout(timer)
      })
  ).pipe(Effect.map(({ base }) => base))

const database = Databases.postgresFresh().pipe(
  Layer.tap((context) => PgMigrations.run().pipe(Effect.provide(context)))
)
const TestLayer = Layer.merge(
  database,
  SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer), Layer.provide(database))
)

const messagesOf = (base: string, chatId: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${base}/api/chat/${chatId}/messages`, { headers: { cookie: "session=alice" } })
    return (await response.json()) as Array<UIMessage>
  })

describe.skipIf(!pg)("AiSdkChat resume across processes (PostgreSQL)", () => {
  it.scopedLive(
    "a turn started on one process is resumed on another mid-stream: the whole reply, once, then the same history",
    () =>
      Effect.gen(function* () {
        const name = (yield* Databases.TestDatabase).name
        const store = yield* ConversationStore.ConversationStore
        const conversation = yield* store.create({ userId: "alice", title: "resume" })
        const chatId = String(conversation.id)
        const [a, b] = yield* Effect.all([startServer(name), startServer(name)], { concurrency: 2 })

        const words = Array.from({ length: 40 }, (_, i) => `s${i} `).join("")
        const first = chatOf(a, chatId, "alice")
        const sent = first.sendMessage({ text: "slow 40 50" })
        yield* Effect.promise(() => until(() => textOf(first.messages[1]).length > 12, "text streaming on A"))
        // the page goes away: its request ends, the turn runs on on process A
        yield* Effect.promise(() => first.stop())
        yield* Effect.promise(() => sent)
        const seenBefore = textOf(first.messages[1])
        assert.isTrue(seenBefore.length < words.length, "the reload came mid-turn")

        // the new page loads its history and resumes from process B
        const history = yield* messagesOf(b, chatId)
        assert.deepStrictEqual(
          history.map((message) => [message.role, textOf(message)]),
          [["user", "slow 40 50"]]
        )
        const second = chatOf(b, chatId, "alice", { messages: history })
        yield* Effect.promise(() => second.resumeStream())
        assert.strictEqual(second.status, "ready", String(second.error))
        assert.strictEqual(second.messages.length, 2)
        assert.strictEqual(textOf(second.messages[1]), words)
        assert.strictEqual((second.messages[1]!.metadata as { status?: string }).status, "complete")

        // stored once, by process A, and read back the same from either process
        const page = yield* store.history(conversation.id)
        assert.deepStrictEqual(
          page.entries.map((entry) => [entry.kind, entry.status]),
          [
            ["human", "complete"],
            ["ai", "complete"]
          ]
        )
        assert.deepStrictEqual(yield* messagesOf(a, chatId), plain(second.messages))
        assert.deepStrictEqual(yield* messagesOf(b, chatId), plain(second.messages))

        // nothing runs now: resume answers 204 from either process
        for (const base of [a, b]) {
          const response = yield* Effect.promise(() =>
            fetch(`${base}/api/chat/${chatId}/stream`, { headers: { cookie: "session=alice" } })
          )
          assert.strictEqual(response.status, 204)
        }
      }).pipe(Effect.provide(TestLayer)),
    90_000
  )
})
