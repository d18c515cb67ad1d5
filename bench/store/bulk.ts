/**
 * `ConversationStore.bulkAppend` (the importer's write path) against `append` one turn at a
 * time, in the same run on the same database: rows per second and their ratio, on SQLite (a temp
 * file, WAL) and PostgreSQL (a fresh database on 127.0.0.1:5432). Each measurement writes
 * `turns` turns of two messages (human, AI) into a fresh conversation; bulk in batches of
 * `batch` turns (one transaction each). Absolute numbers are noisy on a shared machine: read the
 * ratios, measured back to back, and the load average beside them.
 *
 *   npx tsx bench/store/bulk.ts              # writes bench/results/store-bulk.{json,md}
 *   npx tsx bench/store/bulk.ts --quick      # fewer turns; prints only
 */
import * as ConversationStore from "@convo/core/ConversationStore"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as Databases from "@convo/testing/Databases"
import { AIMessage, HumanMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"

const quick = process.argv.includes("--quick")
const turns = quick ? 400 : 1_500
const batches = [50, 500]
const rounds = quick ? 1 : 3

interface Row {
  readonly backend: "sqlite" | "pg"
  readonly method: string
  readonly rows: number
  readonly seconds: ReadonlyArray<number>
  readonly rowsPerSecond: number
  readonly ratio: number
}

const newTurns = (conversationId: number, tag: string): Array<ConversationStore.NewTurn> =>
  Array.from({ length: turns }, (_, i) => ({
    conversationId,
    userId: "bench",
    turnId: `${tag}-${i}`,
    messages: [
      { value: new HumanMessage(`question ${i}: 오늘 날씨는 어때요?`) },
      { value: new AIMessage(`answer ${i}: It is sunny in Seoul, 21.5 °C, with a light breeze.`) }
    ]
  }))

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const measure = (backend: "sqlite" | "pg") =>
  Effect.gen(function* () {
    const store = yield* ConversationStore.ConversationStore
    const times = new Map<string, Array<number>>()
    // `run` may give the seconds to count itself (the re-run times only its second pass)
    const time = (method: string, run: (conversationId: number, tag: string) => Effect.Effect<unknown, unknown>) =>
      Effect.gen(function* () {
        const conversation = yield* store.create({ userId: "bench" })
        const start = process.hrtime.bigint()
        const own = yield* run(conversation.id, `${method}-${conversation.id}`)
        const list = times.get(method) ?? []
        list.push(typeof own === "number" ? own : seconds(start))
        times.set(method, list)
      })
    // interleaved rounds, so load changes hit every method alike
    for (let round = 0; round < rounds; round++) {
      yield* time("append, one turn at a time", (id, tag) =>
        Effect.forEach(newTurns(id, tag), (turn) => store.append(turn), { discard: true })
      )
      for (const batch of batches) {
        yield* time(`bulkAppend, ${batch} turns a transaction`, (id, tag) => {
          const all = newTurns(id, tag)
          const chunks = Array.from({ length: Math.ceil(all.length / batch) }, (_, i) =>
            all.slice(i * batch, (i + 1) * batch)
          )
          return Effect.forEach(chunks, (chunk) => store.bulkAppend(chunk), { discard: true })
        })
      }
      // a re-run of an import: every turn already stored
      yield* time("bulkAppend re-run (all duplicates), 500 a transaction", (id, tag) =>
        Effect.gen(function* () {
          const all = newTurns(id, tag)
          for (let i = 0; i < all.length; i += 500) yield* store.bulkAppend(all.slice(i, i + 500))
          const start = process.hrtime.bigint()
          for (let i = 0; i < all.length; i += 500) yield* store.bulkAppend(all.slice(i, i + 500))
          return seconds(start)
        })
      )
    }
    const rows = turns * 2
    const baseline = rows / median(times.get("append, one turn at a time")!)
    return Array.from(times, ([method, list]): Row => {
      const rate = rows / median(list)
      return { backend, method, rows, seconds: list, rowsPerSecond: Math.round(rate), ratio: rate / baseline }
    })
  })

const storeOn = <E>(db: Layer.Layer<any, E>) =>
  SqlConversationStore.layer().pipe(Layer.provide(MessageCodec.layer), Layer.provideMerge(db))

const program = Effect.gen(function* () {
  const results: Array<Row> = []
  results.push(...(yield* measure("sqlite").pipe(Effect.provide(storeOn(Databases.sqliteTemp())))))
  if (yield* Effect.promise(() => Databases.pgAvailable())) {
    results.push(...(yield* measure("pg").pipe(Effect.provide(storeOn(Databases.postgresFresh())))))
  }
  return results
})

const startLoad = loadavg()
const results = await Effect.runPromise(Effect.scoped(program))
const endLoad = loadavg()
const commit = execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim()
const info = {
  commit,
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  loadAverage: { start: startLoad.map((x) => +x.toFixed(2)), end: endLoad.map((x) => +x.toFixed(2)) },
  turns,
  rounds
}
const md = [
  "# Bulk append (the importer's write path)",
  "",
  `\`npx tsx bench/store/bulk.ts\` at ${commit}, ${info.date}, Node ${info.node}, ${info.cpus} cores, load average ${info.loadAverage.start.join(" / ")} at the start and ${info.loadAverage.end.join(" / ")} at the end (1 / 5 / 15 min). ${turns.toLocaleString("en")} turns of two messages (${(turns * 2).toLocaleString("en")} rows) per measurement, ${rounds} interleaved rounds, median shown. The ratio is to \`append\` one turn at a time in the same run on the same database; the re-run row times only the second pass over turns already stored.`,
  "",
  "| backend | method | rows/s | × append |",
  "| --- | --- | ---: | ---: |",
  ...results.map(
    (r) => `| ${r.backend} | ${r.method} | ${r.rowsPerSecond.toLocaleString("en")} | ${r.ratio.toFixed(2)} |`
  ),
  ""
].join("\n")
process.stdout.write(md)
if (!quick) {
  mkdirSync("bench/results", { recursive: true })
  writeFileSync("bench/results/store-bulk.json", JSON.stringify({ info, results }, null, 2) + "\n")
  writeFileSync("bench/results/store-bulk.md", md)
}
