/**
 * Conversation store benchmark: `SqlConversationStore` on SQLite (a file in a temp dir, as
 * `@effect/sql-sqlite-node` opens it by default: WAL) and PostgreSQL (a fresh database on
 * 127.0.0.1:5432), at stored histories of 10, 100, 1,000 and 10,000 turns, against the same
 * operations done with the raw drivers (the floor, see floor.ts). See bench/results/store.md.
 *
 *   npx tsx bench/store/run.ts              # full run; writes bench/results/store.{json,md}
 *   npx tsx bench/store/run.ts --quick      # fewer samples, up to 1,000 turns; prints only
 *   npx tsx bench/store/run.ts --backends=sqlite --out=/tmp/x   # one backend, results elsewhere
 *
 * `BENCH_CORE=<dir>` runs the store, codec and migrations from another copy of packages/core/src
 * (how the fixes proposed in bench/store/ANALYSIS.md were measured).
 */
import type * as ConversationStoreModule from "@convo/core/ConversationStore"
import type * as MessageCodecModule from "@convo/core/MessageCodec"
import type * as SqlConversationStoreModule from "@convo/core/SqlConversationStore"
import * as Databases from "@convo/testing/Databases"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg, totalmem } from "node:os"
import { join, relative, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { distinctTurns, turn, type Turn } from "./data.js"
import { type EncodedTurn, type Floor, pgFloor, sqliteFloor } from "./floor.js"
import { compare, compareMany, type Plan, sample, type Summary, timeSync } from "./measure.js"
import { type PeerResult, runPeers } from "./peers.js"
import { peerRows } from "./reportPeers.js"
import { type Backend, type Piece, type Result, render, type RunInfo } from "./report.js"

const args = process.argv.slice(2)
const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const quick = args.includes("--quick")
/** Only the peers' workload (peers.ts): a quicker loop while working on the store. */
const peersOnly = args.includes("--peers-only")
const backends = (flag("backends") ?? "sqlite,pg").split(",") as Array<Backend>
const out = flag("out") ?? (quick || peersOnly ? undefined : "bench/results")
const sizes = quick ? [10, 100, 1_000] : [10, 100, 1_000, 10_000]
const coreDir = process.env["BENCH_CORE"]

const load = <M>(name: string): Promise<M> =>
  import(coreDir === undefined ? `@convo/core/${name}` : pathToFileURL(resolve(coreDir, `${name}.ts`)).href)
const ConversationStore = await load<typeof ConversationStoreModule>("ConversationStore")
const MessageCodec = await load<typeof MessageCodecModule>("MessageCodec")
const SqlConversationStore = await load<typeof SqlConversationStoreModule>("SqlConversationStore")

const userId = "bench-user"
const lastLimit = 50

const fullPlan = (turns: number): Plan =>
  quick
    ? { warmup: 2, samples: 10 }
    : turns <= 10
      ? { warmup: 30, samples: 300 }
      : turns <= 100
        ? { warmup: 20, samples: 200 }
        : turns <= 1_000
          ? { warmup: 5, samples: 40 }
          : { warmup: 1, samples: 30 }
const fastPlan: Plan = quick ? { warmup: 20, samples: 60 } : { warmup: 30, samples: 300 }
const piecePlan: Plan = quick ? { warmup: 2, samples: 10 } : { warmup: 3, samples: 20 }

/** The columns and order the store reads (SqlConversationStore.history), for the pieces. */
const columns =
  "id, conversation_id, seq, turn_id, user_id, client_id, kind, status, input_tokens, output_tokens, created_at"

const fail = (message: string) => Effect.die(new Error(message))

/** The benchmark on one backend: the store and the floor on the same database. */
const runBackend = (backend: Backend) =>
  Effect.gen(function* () {
    const store = yield* ConversationStore.ConversationStore
    const codec = yield* MessageCodec.MessageCodec
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const database = yield* Databases.TestDatabase

    const turns: Array<Turn> = Array.from({ length: distinctTurns }, (_, i) => turn(i))
    const encoded: Array<EncodedTurn> = []
    for (const t of turns) {
      encoded.push({
        human: yield* codec.encodeString(t.human),
        ai: yield* codec.encodeString(t.ai),
        inputTokens: t.inputTokens,
        outputTokens: t.outputTokens
      })
    }
    const server = Databases.pgServer()
    const floor: Floor =
      backend === "pg"
        ? yield* Effect.promise(() =>
            pgFloor({
              host: server.host,
              port: server.port,
              user: server.user,
              database: database.name,
              ...(server.password === undefined ? {} : { password: server.password })
            })
          )
        : sqliteFloor(database.name)
    yield* Effect.addFinalizer(() => Effect.promise(async () => floor.close()))

    const settings =
      backend === "pg"
        ? {
            version: String(((yield* sql`SHOW server_version`)[0] as { server_version: string }).server_version),
            synchronous_commit: String(
              ((yield* sql`SHOW synchronous_commit`)[0] as { synchronous_commit: string }).synchronous_commit
            )
          }
        : {
            version: String(((yield* sql`SELECT sqlite_version() AS v`)[0] as { v: string }).v),
            journal_mode: String(((yield* sql`PRAGMA journal_mode`)[0] as { journal_mode: string }).journal_mode),
            synchronous: ["OFF", "NORMAL", "FULL", "EXTRA"][
              Number(((yield* sql`PRAGMA synchronous`)[0] as { synchronous: number }).synchronous)
            ]!
          }
    console.log(`\n${backend}: ${JSON.stringify(settings)}`)

    const results: Array<Result> = []
    const record = (turnsStored: number, op: Result["op"], measured: { store: Summary; floor: Summary }) => {
      const result: Result = { backend, turns: turnsStored, op, store: measured.store, floor: measured.floor }
      results.push(result)
      console.log(
        `${backend.padEnd(6)} ${String(turnsStored).padStart(6)} ${op.padEnd(11)} p50 ${measured.store.p50.toFixed(3)} p95 ${measured.store.p95.toFixed(3)}  floor p50 ${measured.floor.p50.toFixed(3)} p95 ${measured.floor.p95.toFixed(3)}  ratio ${(measured.store.p50 / measured.floor.p50).toFixed(2)}`
      )
    }
    const pieces: Array<Piece> = []

    // Two conversations per size (store, floor), filled by the bulk path and checked once, untimed:
    // both sides must read back the same complete history.
    const conversations: Array<{ readonly size: number; readonly store: number; readonly floor: number }> = []
    for (const size of sizes) {
      const ids: Array<number> = []
      for (const side of ["store", "floor"]) {
        const conversation = yield* store.create({ userId, title: `${side} ${size}` })
        yield* Effect.promise(async () => floor.fill(conversation.id, userId, size, (i) => encoded[i % distinctTurns]!))
        ids.push(conversation.id)
      }
      conversations.push({ size, store: ids[0]!, floor: ids[1]! })
    }
    // A live PostgreSQL has statistics (autovacuum analyzes a growing table); a bulk-filled fresh
    // one has none, and then the planner sorts the whole conversation for "last 50".
    if (backend === "pg") yield* sql`ANALYZE`
    for (const c of conversations) {
      const check = yield* store.history(c.store)
      const floorCheck = yield* Effect.promise(async () => floor.full(c.floor))
      const decoded = check.entries.filter(
        (e) => e._tag === "Decoded" && (e.value instanceof HumanMessage || e.value instanceof AIMessage)
      )
      if (decoded.length !== 2 * c.size || floorCheck.length !== 2 * c.size) {
        return yield* fail(`${backend} ${c.size}: store read ${decoded.length} messages, floor ${floorCheck.length}`)
      }
      const last = yield* store.history(c.store, { limit: lastLimit })
      const lastCount = Math.min(lastLimit, 2 * c.size)
      if (last.entries.length !== lastCount || last.entries[lastCount - 1]!.seq !== 2 * c.size) {
        return yield* fail(`${backend} ${c.size}: last ${lastLimit} read ${last.entries.length} entries`)
      }
    }

    // (b) Full loads, size by size.
    for (const c of conversations) {
      record(
        c.size,
        "load_full",
        yield* compare(
          fullPlan(c.size),
          () => store.history(c.store),
          () => floor.full(c.floor)
        )
      )
    }

    // (c) The last 50, every size in one round-robin, so that the sizes are compared under the same
    // load from elsewhere on the machine (the flatness target compares them).
    const lasts = yield* compareMany(
      fastPlan,
      conversations.map((c) => ({
        store: () => store.history(c.store, { limit: lastLimit }),
        floor: () => floor.last(c.floor, lastLimit)
      }))
    )
    conversations.forEach((c, k) => record(c.size, "load_last50", lasts[k]!))

    // Where the time of a full load and of an append goes, at 1,000 turns, through public APIs.
    const thousand = conversations.find((c) => c.size === 1_000)
    if (thousand !== undefined) {
      const content = backend === "pg" ? "content::text AS content" : "content"
      const select = sql.unsafe<{ content: string }>(
        `SELECT ${columns}, ${content} FROM convo_message WHERE conversation_id = ${thousand.store} ORDER BY seq ASC`
      )
      const texts = (yield* select).map((row) => row.content)
      const piece = (name: string, summary: Summary) => {
        pieces.push({ backend, name, p50: summary.p50 })
        console.log(`${backend.padEnd(6)} piece  ${name.padEnd(66)} p50 ${summary.p50.toFixed(3)}`)
      }
      piece("load_full: the SELECT alone, through SqlClient", yield* sample(piecePlan, () => select))
      piece(
        "load_full: codec.decodeString of each row (Effect.forEach)",
        yield* sample(piecePlan, () => Effect.forEach(texts, (text) => codec.decodeString(text)))
      )
      piece(
        "load_full: JSON.parse of each row (the entry's `content`)",
        yield* sample(piecePlan, () => timeSync(() => texts.map((text) => JSON.parse(text))))
      )
      piece(
        "append: codec.encodeString of the turn's two messages",
        yield* sample(fastPlan, (i) => {
          const t = turns[i % distinctTurns]!
          return Effect.zip(codec.encodeString(t.human), codec.encodeString(t.ai))
        })
      )
      piece(
        "append: @effect/sql, an empty transaction",
        yield* sample(fastPlan, () => sql.withTransaction(Effect.void))
      )
      const now = sql.literal(backend === "pg" ? "now()" : "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
      piece(
        "append: @effect/sql, the store's transaction (UPDATE, INSERT … RETURNING)",
        yield* sample(fastPlan, (i) =>
          sql.withTransaction(
            Effect.gen(function* () {
              const [bumped] = yield* sql<{
                last_seq: number | string
              }>`UPDATE convo_conversation SET last_seq = last_seq + ${2}, updated_at = ${now} WHERE id = ${thousand.floor} RETURNING last_seq`
              const first = Number(bumped!.last_seq) - 1
              const e = encoded[i % distinctTurns]!
              const turnId = globalThis.crypto.randomUUID()
              const row = (seq: number, kind: string, text: string, input: number | null, output: number | null) => ({
                conversation_id: thousand.floor,
                seq,
                turn_id: turnId,
                user_id: userId,
                client_id: null,
                kind,
                status: "complete",
                content: text,
                input_tokens: input,
                output_tokens: output
              })
              yield* sql`INSERT INTO convo_message ${sql.insert([
                row(first, "human", e.human, null, null),
                row(first + 1, "ai", e.ai, e.inputTokens, e.outputTokens)
              ])} RETURNING ${sql.literal(columns)}`
            })
          )
        )
      )
    }

    // (a) Appends, size by size, last: they add turns to the conversations.
    for (const c of conversations) {
      record(
        c.size,
        "append",
        yield* compare(
          fastPlan,
          (i) => {
            const t = turns[i % distinctTurns]!
            return store.append({ conversationId: c.store, userId, messages: [{ value: t.human }, { value: t.ai }] })
          },
          (i) => floor.append(c.floor, userId, encoded[i % distinctTurns]!)
        )
      )
    }
    return { results, pieces, settings }
  })

const layerFor = (backend: Backend) =>
  SqlConversationStore.layer().pipe(
    Layer.provideMerge(
      Layer.merge(backend === "pg" ? Databases.postgresFresh() : Databases.sqliteTemp(), MessageCodec.layer)
    )
  )

const started = Date.now()
const loadBefore = loadavg()[0]!
const results: Array<Result> = []
const pieces: Array<Piece> = []
const peerResults: Array<PeerResult> = []
let langchain: string | undefined
const settings: Partial<Record<Backend, Record<string, string>>> = {}
const skipped: Array<string> = []
for (const backend of backends) {
  if (backend === "pg" && !(await Databases.pgTestsEnabled())) {
    skipped.push("pg: no PostgreSQL server answered")
    continue
  }
  if (!peersOnly) {
    const run = await Effect.runPromise(Effect.scoped(Effect.provide(runBackend(backend), layerFor(backend))))
    results.push(...run.results)
    pieces.push(...run.pieces)
    settings[backend] = run.settings
  }
  const peers = await Effect.runPromise(
    Effect.scoped(
      Effect.provide(
        Effect.flatMap(ConversationStore.ConversationStore, (store) => runPeers(backend, { quick }, store)),
        layerFor(backend)
      )
    )
  )
  peerResults.push(...peers.results)
  langchain ??= peers.langchain
}
const seconds = (Date.now() - started) / 1000
console.log(`\n${seconds.toFixed(0)} s`)

const git = (command: string) => {
  try {
    return execSync(`git ${command}`, { stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim()
  } catch {
    return "unknown"
  }
}
const info: RunInfo = {
  date: new Date().toISOString(),
  commit: git("rev-parse --short HEAD"),
  dirty:
    git(
      "status --porcelain -- packages/core/src bench/store/run.ts bench/store/data.ts bench/store/floor.ts bench/store/measure.ts bench/store/report.ts bench/store/peers.ts bench/store/reportPeers.ts"
    ) !== "",
  cpu: `${cpus()[0]?.model ?? "unknown"} × ${cpus().length}`,
  memoryGb: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  core: coreDir === undefined ? "packages/core/src" : coreDir,
  analysis: relative(out ?? "bench/results", "bench/store/ANALYSIS.md"),
  seconds,
  load: [loadBefore, loadavg()[0]!],
  settings,
  skipped,
  plans: {
    full: sizes.map((size) => ({ turns: size, ...fullPlan(size) })),
    fast: fastPlan,
    pieces: piecePlan
  }
}

if (out !== undefined) {
  mkdirSync(out, { recursive: true })
  const json = results.map((r) => ({
    backend: r.backend,
    turns: r.turns,
    op: r.op,
    p50_ms: round(r.store.p50),
    p95_ms: round(r.store.p95),
    floor_p50_ms: round(r.floor.p50),
    ratio: Math.round((r.store.p50 / r.floor.p50) * 100) / 100
  }))
  const peersJson = peerRows(peerResults).map((r) => ({
    workload: "peers",
    backend: r.backend,
    turns: r.turns,
    op: r.op,
    side: r.side,
    p50: round(r.p50),
    p95: round(r.p95),
    unit: r.op === "turns_per_s" ? "turns/s" : "ms",
    samples: r.samples,
    ...(r.ratio === undefined ? {} : { baseline: r.baseline, ratio: Math.round(r.ratio * 100) / 100 })
  }))
  writeFileSync(join(out, "store.json"), JSON.stringify([...json, ...peersJson], null, 2) + "\n")
  writeFileSync(join(out, "store.md"), render(results, pieces, info, { results: peerResults, langchain }))
  console.log(`wrote ${join(out, "store.json")} and ${join(out, "store.md")}`)
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
