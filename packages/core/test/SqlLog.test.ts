import * as SqlLog from "@convo/core/SqlLog"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { mkdtempSync, rmSync } from "node:fs"
import { createConnection } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { vi } from "vitest"

const CYAN = "\x1b[36m"
const YELLOW = "\x1b[33m"
const RED = "\x1b[31m"
const RESET = "\x1b[0m"
// [ISO timestamp] (seconds with 4 decimals)
const HEAD = /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] \(\d+\.\d{4}s\) /

interface Captured {
  readonly line: string
  readonly entry: SqlLog.Entry
}

const capture = () => {
  const lines: Array<Captured> = []
  return { lines, sink: (line: string, entry: SqlLog.Entry) => lines.push({ line, entry }) }
}

const statementLines = (lines: ReadonlyArray<Captured>, sql: string) =>
  lines.filter((c) => c.entry._tag === "Statement" && c.entry.sql === sql)

/** Strips the colour of a line and checks it had exactly that colour. */
const uncolor = (line: string, color: string): string => {
  assert.isTrue(line.startsWith(color), `expected colour ${JSON.stringify(color)}: ${JSON.stringify(line)}`)
  assert.isTrue(line.endsWith(RESET), `expected a reset at the end: ${JSON.stringify(line)}`)
  return line.slice(color.length, -RESET.length)
}

// A tracer that records every span it makes, to prove the SQL log forwards them all.
interface Recorded {
  readonly name: string
  readonly spanId: string
  readonly parentId: string | undefined
  readonly parentIsOwn: boolean
  readonly attributes: Map<string, unknown>
  ended: boolean
}

const recordingTracer = () => {
  const spans: Array<Recorded> = []
  const own = new WeakSet<object>()
  let next = 0
  const tracer = Tracer.make({
    span(name, parent, context, links, startTime, kind) {
      const record: Recorded = {
        name,
        spanId: `span-${++next}`,
        parentId: Option.isSome(parent) ? parent.value.spanId : undefined,
        parentIsOwn: Option.isSome(parent) && own.has(parent.value),
        attributes: new Map(),
        ended: false
      }
      spans.push(record)
      let status: Tracer.SpanStatus = { _tag: "Started", startTime }
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: record.spanId,
        traceId: "trace",
        parent,
        context,
        get status() {
          return status
        },
        attributes: record.attributes,
        links,
        sampled: true,
        kind,
        end(endTime, exit) {
          status = { _tag: "Ended", startTime, endTime, exit }
          record.ended = true
        },
        attribute(key, value) {
          record.attributes.set(key, value)
        },
        event() {},
        addLinks() {}
      }
      own.add(span)
      return span
    },
    context: (f) => f()
  })
  return { tracer, spans }
}

const dir = mkdtempSync(join(tmpdir(), "convo-sqllog-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let fileCount = 0
const sqliteLayer = () => SqliteClient.layer({ filename: join(dir, `db-${++fileCount}.sqlite`) })

/** The statements the brief asks for: create, insert with parameters, select, a failure, transactions. */
const workload = (table: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE ${sql(table)} (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`
    yield* sql`INSERT INTO ${sql(table)} (id, name) VALUES (${1}, ${"hello"})`
    const rows = yield* sql<{ name: string }>`SELECT name FROM ${sql(table)} WHERE id = ${1}`
    assert.deepStrictEqual(
      rows.map((r) => r.name),
      ["hello"]
    )
    const failed = yield* Effect.exit(sql`SELEC broken`)
    assert.isTrue(Exit.isFailure(failed))
    yield* sql.withTransaction(sql`INSERT INTO ${sql(table)} (id, name) VALUES (${2}, ${"in tx"})`)
    const rolledBack = yield* Effect.exit(
      sql.withTransaction(
        Effect.zipRight(sql`INSERT INTO ${sql(table)} (id, name) VALUES (${3}, ${"undone"})`, Effect.fail("boom"))
      )
    )
    assert.isTrue(Exit.isFailure(rolledBack))
    const count = yield* sql<{ n: number | string }>`SELECT count(*) AS n FROM ${sql(table)}`
    assert.strictEqual(Number(count[0]!.n), 2)
  })

/** What the workload must have logged, whatever the dialect (`p(i)` is its placeholder). */
const checkWorkload = (lines: ReadonlyArray<Captured>, table: string, p: (i: number) => string) => {
  const q = (s: string) => s.replaceAll("{T}", `"${table}"`)
  const insert = statementLines(lines, q(`INSERT INTO {T} (id, name) VALUES (${p(1)}, ${p(2)})`))
  assert.strictEqual(insert.length, 3, "three inserts, each logged once")
  assert.match(uncolor(insert[0]!.line, CYAN), HEAD)
  assert.isTrue(insert[0]!.line.includes(`VALUES (${p(1)}, ${p(2)}); args=[1, "hello"]`), insert[0]!.line)
  assert.deepStrictEqual(insert[0]!.entry._tag === "Statement" && insert[0]!.entry.params, [1, "hello"])
  assert.isTrue(insert[1]!.line.includes(`args=[2, "in tx"]`), insert[1]!.line)
  assert.isTrue(insert[2]!.line.includes(`args=[3, "undone"]`), insert[2]!.line)

  const create = statementLines(lines, q(`CREATE TABLE {T} (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`))
  assert.strictEqual(create.length, 1)
  assert.match(uncolor(create[0]!.line, CYAN), new RegExp(HEAD.source + "CREATE TABLE .*; args=\\[\\]$"))

  const select = statementLines(lines, q(`SELECT name FROM {T} WHERE id = ${p(1)}`))
  assert.strictEqual(select.length, 1)
  assert.isTrue(uncolor(select[0]!.line, CYAN).endsWith(`WHERE id = ${p(1)}; args=[1]`), select[0]!.line)

  const failed = statementLines(lines, "SELEC broken")
  assert.strictEqual(failed.length, 1)
  const failedLine = uncolor(failed[0]!.line, RED)
  assert.match(failedLine, new RegExp(HEAD.source + "SELEC broken; args=\\[\\]; error=SqlError: .*syntax error"))
  assert.strictEqual(failed[0]!.entry.level, "error")
  assert.isDefined(failed[0]!.entry.cause)

  const transactions = lines.filter((c) => c.entry._tag === "Transaction")
  assert.deepStrictEqual(
    transactions.map((c) => c.entry._tag === "Transaction" && c.entry.action),
    ["COMMIT", "ROLLBACK"]
  )
  assert.match(uncolor(transactions[0]!.line, CYAN), new RegExp(HEAD.source + "COMMIT$"))
  assert.match(uncolor(transactions[1]!.line, RED), new RegExp(HEAD.source + "ROLLBACK; error=boom$"))
  // the transaction line comes after the statements it contains
  assert.isTrue(lines.indexOf(insert[1]!) < lines.indexOf(transactions[0]!))
  assert.isTrue(lines.indexOf(insert[2]!) < lines.indexOf(transactions[1]!))

  // real durations even though it.effect runs on the TestClock, which never moves here
  for (const c of lines) assert.isTrue(c.entry.durationMs >= 0 && Number.isFinite(c.entry.durationMs))
  assert.isTrue(
    lines.some((c) => c.entry.durationMs > 0),
    "durations come from a monotonic clock, not the TestClock"
  )
}

describe("SqlLog on SQLite", () => {
  it.effect("logs every statement once with its SQL, parameters, duration and colour", () =>
    Effect.gen(function* () {
      const { lines, sink } = capture()
      yield* workload("items").pipe(
        Effect.provide(Layer.mergeAll(sqliteLayer(), SqlLog.layer({ sink, slowMs: Number.POSITIVE_INFINITY })))
      )
      checkWorkload(lines, "items", () => "?")
    })
  )

  it.effect("prints nothing when disabled, and the statements still run", () =>
    Effect.gen(function* () {
      const { lines, sink } = capture()
      yield* workload("items").pipe(
        Effect.provide(Layer.mergeAll(sqliteLayer(), SqlLog.layer({ enabled: false, sink })))
      )
      assert.strictEqual(lines.length, 0)
    })
  )

  it.effect("marks slow statements yellow", () =>
    Effect.gen(function* () {
      const { lines, sink } = capture()
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`SELECT ${42} AS answer`
        yield* Effect.exit(sql`SELEC broken`)
      }).pipe(Effect.provide(Layer.mergeAll(sqliteLayer(), SqlLog.layer({ sink, slowMs: 0 }))))
      const ok = statementLines(lines, "SELECT ? AS answer")
      assert.strictEqual(ok.length, 1)
      assert.strictEqual(ok[0]!.entry.level, "warning")
      assert.isTrue(uncolor(ok[0]!.line, YELLOW).endsWith("SELECT ? AS answer; args=[42]"))
      // a failure stays red however slow it was
      assert.strictEqual(statementLines(lines, "SELEC broken")[0]!.entry.level, "error")
      uncolor(statementLines(lines, "SELEC broken")[0]!.line, RED)
    })
  )

  it.effect("truncates long parameters and shows binary data by size", () =>
    Effect.gen(function* () {
      const { lines, sink } = capture()
      const big = "x".repeat(1_000_000)
      const image = new Uint8Array(1_048_576)
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE blobs (name TEXT, data BLOB)`
        yield* sql`INSERT INTO blobs ${sql.insert({ name: big, data: image })}`
      }).pipe(Effect.provide(Layer.mergeAll(sqliteLayer(), SqlLog.layer({ sink, maxParamLength: 10, colors: false }))))
      const insert = statementLines(lines, `INSERT INTO blobs ("name","data") VALUES (?,?)`)
      assert.strictEqual(insert.length, 1)
      assert.isTrue(
        insert[0]!.line.endsWith(`; args=["xxxxxxxxxx"…(+999990 chars), <Uint8Array 1048576 bytes>]`),
        insert[0]!.line
      )
      assert.isBelow(insert[0]!.line.length, 200)
      // the entry keeps the values themselves for sinks that want them
      const entry = insert[0]!.entry
      assert.isTrue(entry._tag === "Statement" && entry.params?.[0] === big)
    })
  )

  it.effect("colors: false prints plain text", () =>
    Effect.gen(function* () {
      const { lines, sink } = capture()
      yield* workload("items").pipe(
        Effect.provide(Layer.mergeAll(sqliteLayer(), SqlLog.layer({ sink, colors: false })))
      )
      assert.isAbove(lines.length, 5)
      for (const c of lines) {
        assert.isFalse(c.line.includes("\x1b"), c.line)
        assert.match(c.line, HEAD)
      }
    })
  )

  it.effect("the wrapped tracer still sees every span, correctly parented, without the parameters", () =>
    Effect.gen(function* () {
      const { lines, sink } = capture()
      const recording = recordingTracer()
      const logLayer = SqlLog.layer({ sink }).pipe(Layer.provide(Layer.setTracer(recording.tracer)))
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (id INTEGER)`
        yield* sql.withTransaction(sql`INSERT INTO t (id) VALUES (${7})`).pipe(Effect.withSpan("outer"))
      }).pipe(Effect.provide(Layer.mergeAll(sqliteLayer(), logLayer)))

      const executes = recording.spans.filter((s) => s.name === "sql.execute")
      assert.deepStrictEqual(
        executes.map((s) => s.attributes.get("db.query.text")),
        ["CREATE TABLE t (id INTEGER)", "INSERT INTO t (id) VALUES (?)"]
      )
      assert.isTrue(recording.spans.every((s) => s.ended))
      const outer = recording.spans.find((s) => s.name === "outer")!
      const transaction = recording.spans.find((s) => s.name === "sql.transaction")!
      assert.strictEqual(transaction.parentId, outer.spanId)
      assert.isTrue(transaction.parentIsOwn, "the inner tracer gets its own span as parent, not the wrapper")
      assert.strictEqual(executes[1]!.parentId, transaction.spanId)
      assert.isTrue(executes[1]!.parentIsOwn)
      // parameters are printed, never put on the exported spans
      for (const s of recording.spans) for (const v of s.attributes.values()) assert.notStrictEqual(v, 7)
      assert.strictEqual(statementLines(lines, "INSERT INTO t (id) VALUES (?)").length, 1)
      assert.isTrue(statementLines(lines, "INSERT INTO t (id) VALUES (?)")[0]!.line.includes("args=[7]"))
    })
  )

  it.effect("installed twice, logs once", () =>
    Effect.gen(function* () {
      const { lines, sink } = capture()
      const twice = SqlLog.layer({ sink }).pipe(Layer.provide(SqlLog.layer({ sink })))
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`SELECT ${1} AS one`
      }).pipe(Effect.provide(Layer.mergeAll(sqliteLayer(), twice)))
      assert.strictEqual(statementLines(lines, "SELECT ? AS one").length, 1)
    })
  )

  it.effect("keeps a statement transformer that was already installed", () =>
    Effect.gen(function* () {
      const { lines, sink } = capture()
      let calls = 0
      const existing = Statement.setTransformer((self) => Effect.sync(() => (calls++, self)))
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`SELECT ${1} AS one`
      }).pipe(Effect.provide(Layer.mergeAll(sqliteLayer(), SqlLog.layer({ sink }).pipe(Layer.provide(existing)))))
      assert.strictEqual(calls, 1)
      assert.isTrue(statementLines(lines, "SELECT ? AS one")[0]!.line.includes("args=[1]"))
    })
  )

  it.effect("a sink that throws does not fail the query", () =>
    Effect.gen(function* () {
      const rows = yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        return yield* sql<{ one: number }>`SELECT ${1} AS one`
      }).pipe(
        Effect.provide(
          Layer.mergeAll(
            sqliteLayer(),
            SqlLog.layer({
              sink: () => {
                throw new Error("sink broke")
              }
            })
          )
        )
      )
      assert.deepStrictEqual(rows, [{ one: 1 }])
    })
  )

  it.effect("writes to console.log by default", () =>
    Effect.gen(function* () {
      const printed: Array<string> = []
      const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
        printed.push(String(line))
      })
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`SELECT ${"default sink"} AS s`
      }).pipe(
        Effect.provide(Layer.mergeAll(sqliteLayer(), SqlLog.layer())),
        Effect.ensuring(Effect.sync(() => spy.mockRestore()))
      )
      assert.isTrue(
        printed.some((line) => line.startsWith(CYAN) && line.includes(`SELECT ? AS s; args=["default sink"]`)),
        JSON.stringify(printed)
      )
    })
  )
})

describe("SqlLog.layerConfig", () => {
  const run = (env: ReadonlyArray<readonly [string, string]>) =>
    Effect.gen(function* () {
      const { lines, sink } = capture()
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`SELECT ${1} AS one`
      }).pipe(
        Effect.provide(Layer.mergeAll(sqliteLayer(), SqlLog.layerConfig({ sink }))),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(env)))
      )
      return lines
    })

  it.effect("is on when DEBUG is 1 or true", () =>
    Effect.gen(function* () {
      for (const value of ["1", "true", "TRUE", " yes "]) {
        const lines = yield* run([["DEBUG", value]])
        assert.strictEqual(statementLines(lines, "SELECT ? AS one").length, 1, value)
        uncolor(lines[0]!.line, CYAN)
      }
    })
  )

  it.effect("is off otherwise", () =>
    Effect.gen(function* () {
      for (const env of [[], [["DEBUG", "0"]], [["DEBUG", "false"]], [["DEBUG", "*"]], [["DEBUG", ""]]] as const) {
        assert.strictEqual((yield* run(env)).length, 0, JSON.stringify(env))
      }
    })
  )

  it.effect("NO_COLOR turns colours off", () =>
    Effect.gen(function* () {
      const lines = yield* run([
        ["DEBUG", "1"],
        ["NO_COLOR", "1"]
      ])
      assert.strictEqual(lines.length, 1)
      assert.isFalse(lines[0]!.line.includes("\x1b"))
    })
  )
})

describe("SqlLog.formatEntry", () => {
  const at = new Date("2025-01-02T03:04:05.678Z")
  const entry = (params: ReadonlyArray<unknown>): SqlLog.Entry => ({
    _tag: "Statement",
    level: "debug",
    timestamp: at,
    durationMs: 1.23456,
    sql: "SELECT ?",
    params,
    operation: "execute",
    cause: undefined
  })

  it("formats parameters of every kind", () => {
    const line = SqlLog.formatEntry(
      entry([null, undefined, true, 1.5, 10n, new Date(0), { a: [1, "b"], n: 2n }, new ArrayBuffer(3), 'q"uote']),
      { colors: false }
    )
    assert.strictEqual(
      line,
      `[2025-01-02T03:04:05.678Z] (0.0012s) SELECT ?; args=[null, undefined, true, 1.5, 10n, 1970-01-01T00:00:00.000Z, {"a":[1,"b"],"n":"2n"}, <ArrayBuffer 3 bytes>, "q\\"uote"]`
    )
  })

  it("survives values JSON cannot print", () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    const line = SqlLog.formatEntry(entry([circular, new Date(Number.NaN)]), { colors: false })
    assert.isTrue(line.endsWith("args=[[object Object], Invalid Date]"), line)
  })

  it("names an interruption and includes the error's cause", () => {
    const base = { _tag: "Transaction", level: "error", timestamp: at, durationMs: 0, action: "ROLLBACK" } as const
    assert.isTrue(
      SqlLog.formatEntry({ ...base, cause: Cause.interrupt(FiberId.none) }, { colors: false }).endsWith(
        "ROLLBACK; error=interrupted"
      )
    )
    const error = new Error("outer", { cause: new Error("inner reason") })
    assert.isTrue(
      SqlLog.formatEntry({ ...base, cause: Cause.fail(error) }).endsWith(
        `ROLLBACK; error=Error: outer (inner reason)${RESET}`
      )
    )
  })
})

// PostgreSQL: skipped with a message when no server answers, a failure under CI.
const pgReachable = await new Promise<boolean>((resolve) => {
  const socket = createConnection({ host: "127.0.0.1", port: 5432 })
  const done = (ok: boolean) => {
    socket.destroy()
    resolve(ok)
  }
  socket.setTimeout(2000, () => done(false))
  socket.once("connect", () => done(true))
  socket.once("error", () => done(false))
})
const runPg = pgReachable || process.env.CI === "true"
if (!runPg) console.warn("SqlLog.test: PostgreSQL at 127.0.0.1:5432 is not reachable: skipping the PostgreSQL test")

describe.skipIf(!runPg)("SqlLog on PostgreSQL", () => {
  it.effect("logs every statement once with its SQL, parameters, duration and colour", () =>
    Effect.gen(function* () {
      const { lines, sink } = capture()
      const table = `sqllog_test_${Date.now()}_${Math.floor(Math.random() * 1e6)}`
      const pg = PgClient.layer({ host: "127.0.0.1", port: 5432, database: "test", username: "postgres" })
      yield* workload(table).pipe(
        Effect.ensuring(
          Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP TABLE IF EXISTS ${sql(table)}`).pipe(Effect.orDie)
        ),
        Effect.provide(Layer.mergeAll(pg, SqlLog.layer({ sink, slowMs: Number.POSITIVE_INFINITY })))
      )
      checkWorkload(lines, table, (i) => `$${i}`)
      assert.strictEqual(statementLines(lines, `DROP TABLE IF EXISTS "${table}"`).length, 1)
    })
  )
})
