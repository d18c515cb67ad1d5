/**
 * What a turn costs before the model is called, as the history grows: the time from a user
 * message to the model request (accept, history read, decode, trim, prompt build) at 10, 1,000
 * and 10,000 stored turns, on SQLite and PostgreSQL, for the current sources and for a baseline
 * tree (the commit before context windows, which reads the whole history every turn), alternated
 * in one run, each measurement in a process of its own. Then the server's memory with 100
 * sessions open on 10,000-turn conversations, and after one turn in each; then the history part
 * alone (read, decode, cut, prompt) in process, in the current tree.
 *
 *   mkdir /tmp/convo-ctx-base && git archive 67a929b | tar -x -C /tmp/convo-ctx-base
 *   cp -a node_modules /tmp/convo-ctx-base/   # a copy: a symlink would resolve @convo/* to this tree
 *   npx tsx bench/context/run.ts /tmp/convo-ctx-base   # writes bench/results/context.json and context.md
 *
 * `--quick`: one round and 3 runs per read measurement, printed only (nothing written); it took
 * 221 s on the 2-core machine at load average 5. The full run (3 rounds, 5 runs) adds two rounds
 * of the latency part: estimated under 10 minutes there. `--read`: only the history part, added
 * to the last report.
 */
import { execFileSync } from "node:child_process"
import { copyFileSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, "..", "..")
const baseline = process.argv[2]
if (baseline === undefined) throw new Error("usage: tsx bench/context/run.ts <baseline tree>")
// the baseline must run its own sources: its @convo/core must resolve inside it
const baselineCore = realpathSync(join(baseline, "node_modules", "@convo", "core"))
if (!baselineCore.startsWith(`${realpathSync(baseline)}/`)) {
  throw new Error(
    `the baseline's @convo/core resolves to ${baselineCore}: copy node_modules into it (cp -a), do not link it`
  )
}
mkdirSync(join(baseline, "bench", "context"), { recursive: true })
copyFileSync(join(here, "worker.ts"), join(baseline, "bench", "context", "worker.ts"))

interface Latency {
  readonly coldMs: number
  readonly warmMs: number
}
interface Memory {
  readonly connectMsPerSession: number
  readonly before: { readonly heapMiB: number; readonly rssMiB: number }
  readonly connected: { readonly heapMiB: number; readonly rssMiB: number }
  readonly afterTurn: { readonly heapMiB: number; readonly rssMiB: number }
  readonly peakRssMiB: number
}

const measure = <A>(tree: string, args: ReadonlyArray<string>): A => {
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", "--expose-gc", join(tree, "bench", "context", "worker.ts"), ...args],
    { cwd: tree, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 16 * 1024 * 1024 }
  )
  return JSON.parse(out.trim().split("\n").at(-1)!) as A
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const quick = process.argv.includes("--quick")
const rounds = quick ? 1 : 3
const readRuns = quick ? "3" : "5"
// 15 later turns per session: the median of 5 moved by half between runs
const messages = "16"
const sizes = [10, 1_000, 10_000]
const started = Date.now()
const loadStart = loadavg()[0]!
const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim()

interface Read {
  readonly fullMs: number
  readonly floorMs: number
  readonly joinedMs: number
  readonly sharedMs: number
  readonly coldMs: number
  readonly coldUncountedMs: number
}

/** The history part alone (current tree): today's full read against the window's reads. */
const measureRead = () => {
  const read: Record<string, Record<number, Read>> = {}
  for (const backend of ["sqlite", "pg"]) {
    read[backend] = {}
    for (const turns of sizes) {
      read[backend]![turns] = measure<Read>(root, ["read", backend, String(turns), readRuns])
      process.stdout.write(`read ${backend} ${turns}: ${JSON.stringify(read[backend]![turns])}\n`)
    }
  }
  return read
}

const resultsDir = join(root, "bench", "results")
mkdirSync(resultsDir, { recursive: true })

if (process.argv.includes("--read") && !quick) {
  // adds the read measurements to the last full run's report
  const report = JSON.parse(readFileSync(join(resultsDir, "context.json"), "utf8")) as Report
  const readLoadStart = loadavg()[0]!
  const read = measureRead()
  writeReport({ ...report, read, readLoadAverage: { start: readLoadStart, end: loadavg()[0]! } })
} else {
  type Runs = { before: Array<Latency>; after: Array<Latency>; budget: Array<Latency> }
  const latency: Record<string, Record<number, Runs>> = {}
  for (const backend of ["sqlite", "pg"]) {
    latency[backend] = {}
    for (const turns of sizes) {
      const runs: Runs = { before: [], after: [], budget: [] }
      for (let round = 0; round < rounds; round++) {
        // alternated, so drift of the shared machine hits both alike
        runs.before.push(measure<Latency>(baseline, ["latency", backend, String(turns), messages]))
        runs.after.push(measure<Latency>(root, ["latency", backend, String(turns), messages]))
        runs.budget.push(measure<Latency>(root, ["latency", backend, String(turns), messages, "8000"]))
        process.stdout.write(
          `${backend} ${turns} round ${round + 1}: before warm ${runs.before.at(-1)!.warmMs.toFixed(1)} ms, after warm ${runs.after.at(-1)!.warmMs.toFixed(1)} ms, after cold ${runs.after.at(-1)!.coldMs.toFixed(1)} ms\n`
        )
      }
      latency[backend]![turns] = runs
    }
  }
  const memoryArgs = ["memory", "sqlite", "10000", "100", "10"]
  const memory = { after: measure<Memory>(root, memoryArgs), before: measure<Memory>(baseline, memoryArgs) }
  process.stdout.write(`memory: ${JSON.stringify(memory)}\n`)
  const summary = (results: ReadonlyArray<Latency>) => ({
    coldMs: median(results.map((r) => r.coldMs)),
    warmMs: median(results.map((r) => r.warmMs))
  })
  const table: Record<string, Record<number, Record<"before" | "after" | "budget", Latency>>> = {}
  for (const [backend, bySize] of Object.entries(latency)) {
    table[backend] = {}
    for (const [turns, runs] of Object.entries(bySize)) {
      table[backend]![Number(turns)] = {
        before: summary(runs.before),
        after: summary(runs.after),
        budget: summary(runs.budget)
      }
    }
  }
  const readLoadStart = loadavg()[0]!
  const read = measureRead()
  const readLoadAverage = { start: readLoadStart, end: loadavg()[0]! }
  const report = {
    date: new Date().toISOString(),
    commit,
    node: process.version,
    cores: cpus().length,
    loadAverage: { start: loadStart, end: loadavg()[0]! },
    seconds: Math.round((Date.now() - started) / 1000),
    rounds,
    messagesPerSession: Number(messages),
    latency: table,
    raw: latency,
    memory,
    read,
    readLoadAverage,
    pgAnalyzed: true
  }
  if (quick) {
    process.stdout.write(
      `${JSON.stringify({ latency: table, read }, null, 2)}\nquick run: ${report.seconds} s, nothing written\n`
    )
  } else {
    writeReport(report)
  }
}

type Report = {
  readonly date: string
  readonly commit: string
  readonly node: string
  readonly cores: number
  readonly loadAverage: { readonly start: number; readonly end: number }
  readonly seconds: number
  readonly rounds: number
  readonly messagesPerSession: number
  readonly latency: Record<string, Record<number, Record<"before" | "after" | "budget", Latency>>>
  readonly raw: unknown
  readonly memory: { readonly before: Memory; readonly after: Memory }
  readonly read?: Record<string, Record<number, Read>> | undefined
  /** The workers ANALYZE PostgreSQL's table after the bulk seed (absent in reports of runs before they did). */
  readonly pgAnalyzed?: boolean | undefined
  readonly readLoadAverage?: { readonly start: number; readonly end: number } | undefined
}

function writeReport(report: Report): void {
  writeFileSync(join(resultsDir, "context.json"), `${JSON.stringify(report, null, 2)}\n`)
  const table = report.latency
  const memory = report.memory
  const loadStart = report.loadAverage.start
  const loadEnd = report.loadAverage.end
  const commit = report.commit

  const ms = (n: number) => n.toFixed(1)
  const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}×`
  const names: Record<string, string> = { sqlite: "SQLite", pg: "PostgreSQL" }
  const rows = Object.entries(table).flatMap(([backend, bySize]) =>
    sizes.map((turns) => {
      const r = bySize[turns]!
      return `| ${names[backend]} | ${turns.toLocaleString("en")} | ${ms(r.before.warmMs)} | ${ms(r.after.warmMs)} | ${ratio(r.before.warmMs, r.after.warmMs)} | ${ms(r.before.coldMs)} | ${ms(r.after.coldMs)} | ${ms(r.budget.coldMs)} / ${ms(r.budget.warmMs)} |`
    })
  )
  const flat = Object.entries(table).map(([backend, bySize]) => {
    const small = bySize[10]!.after.warmMs
    const large = bySize[10_000]!.after.warmMs
    const today = bySize[1_000]!.before.warmMs / bySize[1_000]!.after.warmMs
    return `- ${names[backend]}: the 10,000-turn turn takes ${ratio(large, small)} the 10-turn one (target ≤ 1.3×: ${large / small <= 1.3 ? "met" : "not met"}); at 1,000 turns it is ${today.toFixed(1)}× below today's full read (target ≥ 10×: ${today >= 10 ? "met" : "not met"}).`
  })
  const mem = (m: Memory) =>
    `${m.before.heapMiB.toFixed(0)} → ${m.connected.heapMiB.toFixed(0)} → ${m.afterTurn.heapMiB.toFixed(0)} MiB heap; ${m.before.rssMiB.toFixed(0)} → ${m.connected.rssMiB.toFixed(0)} → ${m.afterTurn.rssMiB.toFixed(0)} MiB RSS; peak RSS ${m.peakRssMiB.toFixed(0)} MiB; connect ${m.connectMsPerSession.toFixed(0)} ms per session`

  const read = report.read
  const readRows =
    read === undefined
      ? []
      : Object.entries(read).flatMap(([backend, bySize]) =>
          sizes.map((turns) => {
            const r = bySize[turns]!
            return `| ${names[backend]} | ${turns.toLocaleString("en")} | ${ms(r.fullMs)} | ${ms(r.joinedMs)} | ${ratio(r.fullMs, r.joinedMs)} | ${ms(r.sharedMs)} | ${ms(r.coldMs)} / ${ms(r.coldUncountedMs)} | ${ms(r.floorMs)} |`
          })
        )
  const readFlat =
    read === undefined
      ? []
      : Object.entries(read).map(([backend, bySize]) => {
          const small = bySize[10]!.joinedMs
          const large = bySize[10_000]!.joinedMs
          const below = bySize[1_000]!.fullMs / bySize[1_000]!.joinedMs
          return `- ${names[backend]}: at 10,000 turns a turn's read takes ${ratio(large, small)} the 10-turn one (target ≤ 1.3×: ${large / small <= 1.3 ? "met" : "not met"}); at 1,000 turns it is ${below.toFixed(1)}× below today's full read (target ≥ 10×: ${below >= 10 ? "met" : "not met"}).`
        })
  const readSection =
    read === undefined
      ? ""
      : `## The history part alone (ms)

What the issue's target names: reading, decoding, cutting the history and building the prompt, timed
in process in the current tree (\`bench/context/worker.ts read\`). **today** is the default
\`getPreviousMessages\` (every row of the conversation, decoded, tool pairs repaired, put in a prompt),
median of ${report.rounds === 1 ? 3 : 5}; **a later turn** is a session's turn after one new turn was stored (outside the
timing): the 16-row probe, the new turn decoded and counted, the window joined, cut and put in a
prompt, median of 31; **another session** is a new session's first turn while a session of the process
holds the conversation's window (it joins that one); **first session** is the first session of the
process on the conversation: it reads the window newest first and counts it (then with the
tokenizer's piece cache empty too); **SELECT 1** is one round trip through the same client, the
floor every read pays (on a loaded machine it is most of a small read: the database's process and
this one must both be scheduled).${
          report.readLoadAverage === undefined
            ? ""
            : ` Load average ${report.readLoadAverage.start.toFixed(1)} → ${report.readLoadAverage.end.toFixed(1)}.`
        }

| backend | stored turns | today (full read) | a later turn | today ÷ later turn | another session | first session / empty caches | SELECT 1 |
| --- | ---: | ---: | ---: | :--- | ---: | ---: | ---: |
${readRows.join("\n")}

${readFlat.join("\n")}

`
  writeFileSync(
    join(root, "bench", "results", "context.md"),
    `# What a turn costs before the model is called, as the history grows

Generated by \`npx tsx bench/context/run.ts <baseline tree>\` on ${report.date.slice(0, 10)} (this run:
${report.seconds} s, ${report.cores} cores, Node ${report.node}; 1-minute load average ${loadStart.toFixed(1)} at the
start, ${loadEnd.toFixed(1)} at the end: the machine is shared, so read the ratios, taken within one run,
rather than the absolute numbers). Current sources: \`${commit}\`; baseline: \`67a929b\` (before context
windows: every turn reads and decodes the whole history). Numbers: \`context.json\`.

## Setup

One \`ChatAgent\` session (no socket) per process on a conversation of 10, 1,000 or 10,000 stored turns
(seeded in bulk SQL: a question and its answer, every 7th turn a tool call and its result; about
110 tokens a turn), the SQL store on a temporary SQLite file or a fresh PostgreSQL database, the model
spec GPT-4o (default budget 111,616 tokens) with an instant model that streams 3 chunks and keeps nothing. The session sends
${messages} messages one after another; measured is the time from \`send\` to the model's \`stream\` call:
accepting the message (its write-ahead INSERT), reading and decoding the history, cutting it to the
window, building the prompt. **cold** is the session's first message (the window is read from the
store), **warm** the median of the others (the session joins its last window with a 16-row read).
Each measurement runs in a process of its own; baseline and current alternate, ${rounds} rounds;
medians are shown. The last column is the current sources with \`context: { maxTokens: 8000 }\`.${
      report.pgAnalyzed === true
        ? " On PostgreSQL the table is ANALYZEd after the bulk seed, as autovacuum would do."
        : `

**PostgreSQL rows of this table: measured right after the bulk seed, before the workers ANALYZEd
the table.** With the statistics of an empty table PostgreSQL answers "the newest 16 rows of this
conversation" with a bitmap scan and a sort of the whole conversation (132 ms at 23,000 rows on this
machine, 0.06 ms after ANALYZE: a backward scan of the \`(conversation_id, seq)\` index), so the
current sources' PostgreSQL rows grow with the history here; autovacuum analyzes a table after such
a load within a minute. The history-part table below ANALYZEs first.`
    }

## Time from a user message to the model request (ms)

| backend | stored turns | baseline warm | current warm | baseline ÷ current | baseline cold | current cold | current, 8,000-token budget: cold / warm |
| --- | ---: | ---: | ---: | :--- | ---: | ---: | ---: |
${rows.join("\n")}

${flat.join("\n")}

With the default budget (111,616 tokens ≈ 1,000 of these turns) a session's **first** turn reads and
counts the whole window: at 1,000 stored turns that is the whole conversation, so the cold turn costs
about what today's full read costs; past the window's size it stops growing (10,000 turns), and with a
smaller budget it is small at every length. The sessions of a process share a conversation's window,
so another session's first turn on the same conversation joins it with the 16-row read instead.

${readSection}
## Memory: 100 sessions on 10,000-turn conversations (SQLite)

10 conversations of 10,000 turns, 10 sessions on each, opened one after another; heap and RSS after
a full GC: before any session → with the 100 sessions open → after one turn in each.

- baseline: ${mem(memory.before)}
- current: ${mem(memory.after)}

Connect reads one page (50 messages) instead of the whole history. After a turn the process keeps
the conversation's window (slim copies of its messages: kind, content, ids, tool calls; never above
4 MiB of content) with the token counts, shared by the sessions on that conversation and held only
while one of them is open, so the next turn reads 16 rows instead of the window: here about 2,200
messages (the default budget holds about 1,000 of these short turns), some 3 MiB per conversation,
10 windows for the 100 sessions. That is the price of the flat later turn; a smaller
\`context.maxTokens\` shrinks it in proportion. The current heap also holds the \`o200k_base\`
ranks, loaded once per process (about 25 MiB: only the encoding table is kept).
`
  )
  process.stdout.write("wrote bench/results/context.json and context.md\n")
}
