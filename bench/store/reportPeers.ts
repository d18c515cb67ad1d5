/**
 * The peers' section of bench/results/store.md (peers.ts): convo beside the raw one-column floor and
 * LangChain.js `PostgresChatMessageHistory` on the same turns, with the targets of issue 16.
 */
import { median } from "./measure.js"
import type { PeerOp, PeerResult } from "./peers.js"
import type { Backend } from "./report.js"

const opNames: Record<PeerOp, string> = {
  append: "append one turn (ms)",
  load_full: "load the whole history (ms)",
  load_last50: "load the last 50 messages (ms)",
  durable_turn: "a durable turn's writes: accept + append (ms)",
  durable_turn_checkpoint: "a durable turn's writes: accept + checkpoint + append (ms)",
  turns_per_s: "turns/s, 50 conversations at once",
  cpu_ms_per_turn: "this process's CPU per turn at 50 at once (ms)"
}

const num = (x: number) =>
  x >= 1000
    ? Math.round(x).toLocaleString("en")
    : x >= 100
      ? x.toFixed(0)
      : x >= 10
        ? x.toFixed(1)
        : x >= 1
          ? x.toFixed(2)
          : x.toFixed(3)
const mark = (ok: boolean) => (ok ? "met" : "**missed**")

/** The side a backend's convo rows are compared with: LangChain on PostgreSQL, the raw floor on SQLite. */
const baselineOf = (results: ReadonlyArray<PeerResult>, backend: Backend): string | undefined =>
  results.find(
    (r) => r.backend === backend && (backend === "pg" ? r.side.startsWith("LangChain") : r.side.startsWith("raw"))
  )?.side

const isConvo = (r: PeerResult) => r.side.startsWith("convo")

/** One row per measurement, with convo's ratio to the backend's baseline (same op and size). */
export const peerRows = (results: ReadonlyArray<PeerResult>) =>
  results.map((r) => {
    const baseline = baselineOf(results, r.backend)
    const base = results.find(
      (b) => b.backend === r.backend && b.side === baseline && b.turns === r.turns && b.op === r.op
    )
    const durableBase =
      r.op === "durable_turn" || r.op === "durable_turn_checkpoint"
        ? results.find(
            (b) => b.backend === r.backend && b.side === baseline && b.turns === r.turns && b.op === "append"
          )
        : undefined
    const against = base ?? durableBase
    const compared = isConvo(r) && against !== undefined
    // measured in rounds: each round's ratio (convo's p50 ÷ the baseline's, same round)
    const roundRatios =
      compared && r.rounds !== undefined && against.rounds !== undefined && r.rounds.length === against.rounds.length
        ? r.rounds.map((x, i) => x / against.rounds![i]!)
        : undefined
    // the median of the rounds' ratios: each pairs samples taken under the same machine load
    const ratio = compared ? (roundRatios === undefined ? r.p50 / against.p50 : median(roundRatios)) : undefined
    return { ...r, baseline, ratio, roundRatios }
  })

const opOrder: ReadonlyArray<PeerOp> = [
  "load_full",
  "load_last50",
  "append",
  "durable_turn",
  "durable_turn_checkpoint",
  "turns_per_s",
  "cpu_ms_per_turn"
]
/** Backend, then size, then operation, in the order the results were taken otherwise. */
const ordered = (results: ReadonlyArray<PeerResult>): Array<PeerResult> => {
  const backends = [...new Set(results.map((r) => r.backend))]
  const at = (r: PeerResult) => [
    backends.indexOf(r.backend),
    r.op === "turns_per_s" || r.op === "cpu_ms_per_turn" ? Number.MAX_SAFE_INTEGER : r.turns,
    opOrder.indexOf(r.op)
  ]
  return [...results].sort((a, b) => {
    const x = at(a)
    const y = at(b)
    return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!
  })
}

const roundsText = (ratios: ReadonlyArray<number> | undefined) =>
  ratios === undefined || ratios.length < 2 ? "" : ` (rounds ${ratios.map((x) => x.toFixed(2)).join(" / ")})`

const targets = (results: ReadonlyArray<PeerResult>, backend: Backend): Array<string> => {
  const rows = peerRows(results).filter((r) => r.backend === backend && isConvo(r) && r.ratio !== undefined)
  const lines: Array<string> = []
  const line = (what: string, op: PeerOp, limit: number, higherIsBetter = false) => {
    const found = rows.filter((r) => r.op === op)
    if (found.length === 0) return
    const ok = found.every((r) => (higherIsBetter ? r.ratio! >= limit : r.ratio! <= limit))
    const measured = found.map(
      (r) =>
        `${op === "turns_per_s" ? "" : `${r.turns.toLocaleString("en")}: `}${r.ratio!.toFixed(2)}${roundsText(r.roundRatios)}`
    )
    lines.push(`| ${backend} | ${what} | ${measured.join(", ")} | ${mark(ok)} |`)
  }
  if (backend === "pg") {
    line("append p50 ≤ LangChain's (ratio ≤ 1)", "append", 1)
    line("full load p50 ≤ 1.2 × LangChain's", "load_full", 1.2)
    line("turns/s ≥ LangChain's (ratio ≥ 1)", "turns_per_s", 1, true)
    line("durable turn's writes (accept + append) ≤ LangChain's append", "durable_turn", 1)
  } else {
    line("append p50 ≤ 8 × the raw floor", "append", 8)
    line("full load p50 ≤ 2 × the raw floor", "load_full", 2)
    line("durable turn's writes (accept + append) ≤ 8 × the floor's append", "durable_turn", 8)
  }
  const lasts = results.filter((r) => r.backend === backend && isConvo(r) && r.op === "load_last50")
  const small = lasts.find((r) => r.turns === 100)
  const big = lasts.find((r) => r.turns === 1_000)
  if (small !== undefined && big !== undefined) {
    const flatRounds =
      big.rounds !== undefined && small.rounds !== undefined && big.rounds.length === small.rounds.length
        ? big.rounds.map((x, i) => x / small.rounds![i]!)
        : undefined
    const flat = flatRounds === undefined ? big.p50 / small.p50 : median(flatRounds)
    lines.push(
      `| ${backend} | last 50 flat: p50 at 1,000 turns ≤ 1.2 × p50 at 100 | ${flat.toFixed(2)}${roundsText(flatRounds)}; p50 ${num(big.p50)} and ${num(small.p50)} ms | ${mark(flat <= 1.2)} |`
    )
  }
  return lines
}

export const renderPeers = (results: ReadonlyArray<PeerResult>, langchain: string | undefined): string => {
  if (results.length === 0) return ""
  const backends = [...new Set(results.map((r) => r.backend))]
  const rows = peerRows(ordered(results)).map(
    (r) =>
      `| ${r.backend} | ${r.op === "turns_per_s" || r.op === "cpu_ms_per_turn" ? "50 at once" : r.turns.toLocaleString("en")} | ${opNames[r.op]} | ${r.side} | ${num(r.p50)} | ${num(r.p95)} | ${r.ratio === undefined ? "" : r.ratio.toFixed(2)} | ${r.samples} |`
  )
  return `## The peers' workload (issue 16)

The same turns, appended and read back by the raw driver on a one-column JSON table (the *peers'
floor*: \`jsonb\` on PostgreSQL, TEXT on SQLite, an index on \`(session_id, id)\`, one two-row INSERT per
turn of text encoded beforehand, \`SELECT message … ORDER BY id\` and a LangChain message per row), by
LangChain.js \`PostgresChatMessageHistory\` with the index on \`(session_id, id)\` added (PostgreSQL
only; ${langchain ?? "not measured"}), and by convo's store. Generated by bench/store/peers.ts.
Latencies: every side's samples alternate in one round-robin at N stored turns (each side its own
conversation, filled through its own append); full runs take three such rounds (the last 50 of both
sizes in one round-robin per round), and the p50 column is the median of a side's round p50s, p95
the median of its round p95s; the ratio is the median of the rounds' ratios (each pairs samples
taken under the same load), and the targets list every round's ratio. Turns/s: 50 conversations
appended to at once (40 turns each), each side alone, rounds alternating the sides, one warm-up
round; the p50 column is the median round, p95 the best. PostgreSQL: every side on its own pool of 10 connections. The ratio
column is convo ÷ LangChain on PostgreSQL and convo ÷ the raw floor on SQLite (a durable turn is
compared with the baseline's plain append).

| backend | turns | operation | side | p50 | p95 | convo ÷ baseline | samples |
| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |
${rows.join("\n")}

### Targets of issue 16

| backend | target | measured | |
| --- | --- | --- | --- |
${backends.flatMap((b) => targets(results, b)).join("\n")}
`
}
