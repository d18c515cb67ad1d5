/**
 * The importer command as a real process on SQLite files: a pyhub database in, convo's tables
 * out, the summary printed; a second run imports nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { bar } from "../src/report.js"

const BetterSqlite = createRequire(import.meta.url)("better-sqlite3") as new (filename: string) => {
  exec(sql: string): void
  prepare(sql: string): { run(...args: ReadonlyArray<unknown>): void; all(): ReadonlyArray<Record<string, unknown>> }
  close(): void
}

const root = fileURLToPath(new URL("../../..", import.meta.url))
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

const human = (text: string) =>
  JSON.stringify({ _type: "HumanMessage", _value: { content: text, additional_kwargs: {}, type: "human" } })
const ai = (text: string) =>
  JSON.stringify({ _type: "AIMessage", _value: { content: text, additional_kwargs: {}, type: "ai" } })

const run = (args: ReadonlyArray<string>) =>
  execFileSync(process.execPath, ["--import", "tsx", main, ...args], { cwd: root, encoding: "utf8" })

describe("import-history command", () => {
  it("draws a progress bar that fits the terminal", () => {
    assert.strictEqual(
      bar({ conversations: 1, of: 4, messages: 1234 }, 80),
      "[##########------------------------------] 1/4 conversations, 1,234 messages"
    )
    assert.strictEqual(bar({ conversations: 0, of: 0, messages: 0 }, 20).startsWith("[##########]"), true)
  })

  it("imports a pyhub SQLite database into convo's tables, once, and prints a summary", () => {
    const dir = mkdtempSync(join(tmpdir(), "convo-import-"))
    try {
      const source = join(dir, "pyhub.sqlite3")
      const db = new BetterSqlite(source)
      db.exec(`CREATE TABLE pyhub_ai_conversation (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id integer NULL);
        CREATE TABLE pyhub_ai_conversationmessage (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id integer NOT NULL, user_id integer NULL, content text NOT NULL);
        INSERT INTO pyhub_ai_conversation (user_id) VALUES (1), (2);`)
      const insert = db.prepare(
        "INSERT INTO pyhub_ai_conversationmessage (conversation_id, user_id, content) VALUES (?, ?, ?)"
      )
      for (let i = 0; i < 5; i++) {
        insert.run(1, 1, human(`q${i}`))
        insert.run(1, 1, ai(`a${i}`))
        insert.run(2, 2, human(`q${i}`))
      }
      db.close()
      const target = `sqlite:${join(dir, "convo.sqlite")}`
      const first = run(["--from", "pyhub", "--source", `sqlite:${source}`, "--target", target])
      assert.include(first, "conversations: 2 in the source, 2 created")
      assert.include(first, "messages: 15 read, 15 imported, 0 already imported")
      assert.include(first, "skipped: 0")
      const second = run(["--from", "pyhub", "--source", `sqlite:${source}`, "--target", target])
      assert.include(second, "messages: 15 read, 0 imported, 15 already imported")
      const convo = new BetterSqlite(join(dir, "convo.sqlite"))
      const rows = convo
        .prepare(
          "SELECT c.public_id, c.user_id, m.seq, m.content FROM convo_message m JOIN convo_conversation c ON c.id = m.conversation_id ORDER BY c.id, m.seq"
        )
        .all()
      convo.close()
      assert.strictEqual(rows.length, 15)
      assert.deepStrictEqual(rows[0], { public_id: "pyhub-1", user_id: "1", seq: 1, content: human("q0") })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
