/**
 * Scale benchmark: turns per second and event latency with 1, 2 and 3 server processes on one
 * PostgreSQL (`npx tsx bench/scale/run.ts`).
 *
 * Each run starts N server processes (`packages/postgres/test/support/server.ts`: adapter-ws, SQL
 * store, PgTurnLock, PgConversationEvents, an instant scripted model replying 5 words), opens 300
 * WebSocket connections over 100 conversations (3 per conversation, spread round-robin over the
 * processes, so a conversation's watchers sit on different processes), and every connection sends
 * user messages in a closed loop (the next once its own turn has ended) for the measured window.
 *
 * - turns/s: turns whose sender saw `turn_end` within the window.
 * - event latency: a client's receipt time minus the event row's `created_at` (clock_timestamp()
 *   at INSERT, same machine clock), for every event every client received in the window; "local"
 *   when the client sits on the process that ran the turn, "cross" when it came over NOTIFY.
 * - turn latency: send → the sender's `turn_end`.
 * - CPU: seconds of CPU per second of wall time for the server processes, all `postgres`
 *   processes on the machine, and this driver (its 300 clients).
 *
 * Each configuration runs `SCALE_REPEAT` times (default 2); the report keeps the run with the least
 * CPU used by other work on the machine ("other").
 *
 * Options (environment): `SCALE_SECONDS` (measured window, default 10), `SCALE_WARMUP` (default 3),
 * `SCALE_PROCESSES` (e.g. "1,2,3"), `SCALE_MAX_BATCH` (events per INSERT, default 100),
 * `SCALE_OUT` (default `bench/results/scale`; `-` to skip writing).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import { fileURLToPath } from "node:url"
import Pg from "pg"
import WebSocket from "ws"

const root = fileURLToPath(new URL("../../", import.meta.url))
const serverScript = fileURLToPath(new URL("../../packages/postgres/test/support/server.ts", import.meta.url))
const seconds = Number(process.env["SCALE_SECONDS"] ?? 10)
const warmup = Number(process.env["SCALE_WARMUP"] ?? 3)
const processCounts = (process.env["SCALE_PROCESSES"] ?? "1,2,3").split(",").map(Number)
const maxBatch = process.env["SCALE_MAX_BATCH"] ?? "100"
const out = process.env["SCALE_OUT"] ?? "bench/results/scale"
const repeat = Math.max(1, Number(process.env["SCALE_REPEAT"] ?? 2))
const conversations = Number(process.env["SCALE_CONVERSATIONS"] ?? 100)
const perConversation = Number(process.env["SCALE_PER_CONVERSATION"] ?? 3)
const replyWords = 5
/** `spread`: a conversation's connections on different processes; `partitioned`: all on process c % N. */
const layouts = (process.env["SCALE_LAYOUTS"] ?? "partitioned,spread").split(",") as Array<Layout>
type Layout = "spread" | "partitioned"
const pool = 10

const pgConfig = {
  host: process.env["PGHOST"] ?? "127.0.0.1",
  port: Number(process.env["PGPORT"] ?? 5432),
  user: process.env["PGUSER"] ?? "postgres",
  ...(process.env["PGPASSWORD"] === undefined ? {} : { password: process.env["PGPASSWORD"] })
}
const now = () => performance.timeOrigin + performance.now()

const admin = async <A>(database: string, f: (client: Pg.Client) => Promise<A>): Promise<A> => {
  const client = new Pg.Client({ ...pgConfig, database })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

// ---- processes

interface Server {
  readonly port: number
  readonly pid: number
  readonly child: ChildProcess
  /** Event rows the process has read from the table so far (PgConversationEvents.rowsRead). */
  readonly rowsRead: () => Promise<number>
}

const startServer = (database: string): Promise<Server> =>
  new Promise((resolve, reject) => {
    const profile =
      process.env["SCALE_CPU_PROF"] === undefined
        ? []
        : ["--cpu-prof", `--cpu-prof-dir=${process.env["SCALE_CPU_PROF"]}`]
    const child = spawn(process.execPath, [...profile, "--import", "tsx", serverScript], {
      cwd: root,
      env: {
        ...process.env,
        CONVO_DATABASE: database,
        CONVO_POOL: String(pool),
        CONVO_HEARTBEAT_MS: "1000",
        CONVO_MODEL_TIMEOUT_MS: "30000",
        CONVO_REPLY_WORDS: String(replyWords),
        CONVO_MAX_BATCH: maxBatch,
        CONVO_IN_PROCESS: process.env["SCALE_IN_PROCESS"] ?? "0"
      },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let output = ""
    let started = false
    const reads: Array<(n: number) => void> = []
    let lines = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      const text = chunk.toString("utf8")
      if (!started) output += text
      lines += text
      let end: number
      while ((end = lines.indexOf("\n")) !== -1) {
        const line = lines.slice(0, end)
        lines = lines.slice(end + 1)
        const read = /^ROWS_READ (\d+)$/.exec(line)
        if (read !== null) reads.shift()?.(Number(read[1]))
      }
      const found = /PORT (\d+) PID (\d+)/.exec(output)
      if (found !== null && !started) {
        started = true
        resolve({
          port: Number(found[1]),
          pid: Number(found[2]),
          child,
          rowsRead: () =>
            new Promise((done) => {
              reads.push(done)
              child.kill("SIGUSR2")
            })
        })
      }
    })
    child.once("exit", (code) => reject(new Error(`server exited with ${code}: ${output}`)))
  })

const stopServer = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    if (server.child.exitCode !== null) return resolve()
    server.child.once("exit", () => resolve())
    server.child.kill("SIGTERM")
    setTimeout(() => server.child.kill("SIGKILL"), 3_000).unref()
  })

// ---- CPU from /proc (clock ticks)

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100
  } catch {
    return 100
  }
})()

const cpuOf = (pid: number): number => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / ticksPerSecond
  } catch {
    return 0
  }
}

/** Busy CPU seconds of the whole machine (every core), from /proc/stat. */
const machineCpu = (): number => {
  const line = Fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!
  const fields = line.trim().split(/\s+/).slice(1).map(Number)
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
  return (fields.reduce((sum, value) => sum + value, 0) - idle) / ticksPerSecond
}

const postgresCpu = (): number => {
  let total = 0
  for (const entry of Fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (Fs.readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "postgres") total += cpuOf(Number(entry))
    } catch {
      // gone
    }
  }
  return total
}

// ---- clients

interface Sample {
  readonly eventId: number
  readonly at: number
  readonly local: boolean
}

class BenchClient {
  readonly ws: WebSocket
  readonly samples: Array<Sample> = []
  turnLatencies: Array<number> = []
  completed: Array<number> = []
  private sent = 0
  private pending: { readonly clientId: string; readonly sentAt: number; turnId?: string } | undefined
  private origin = -1
  private running = false

  constructor(
    readonly port: number,
    readonly server: number,
    readonly conversation: number,
    readonly slot: number,
    readonly serverOfSlot: (slot: number) => number
  ) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/ws/chat/${conversation}/`)
    this.ws.on("message", (data) => this.onMessage(data.toString("utf8")))
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve())
      this.ws.once("error", reject)
    })
  }

  private onMessage(text: string) {
    const at = now()
    const event = JSON.parse(text) as {
      type: string
      eventId?: number
      role?: string
      clientId?: string
      turnId?: string
      code?: string
    }
    if (event.type === "message_start" && event.role === "human" && event.clientId !== undefined) {
      this.origin = this.serverOfSlot(Number(event.clientId.split("-")[1]))
      if (this.pending?.clientId === event.clientId && event.turnId !== undefined) this.pending.turnId = event.turnId
    }
    if (typeof event.eventId === "number" && event.type !== "turn_start") {
      this.samples.push({ eventId: event.eventId, at, local: this.origin === this.server })
    }
    if (event.type === "turn_end" && this.pending !== undefined && event.turnId === this.pending.turnId) {
      this.turnLatencies.push(at - this.pending.sentAt)
      this.completed.push(at)
      this.pending = undefined
      if (this.running) this.next()
    }
    if (event.type === "error" && this.pending !== undefined && event.turnId === undefined) {
      console.error(`unexpected error event: ${text}`)
    }
  }

  private next() {
    const clientId = `c${this.conversation}-${this.slot}-${++this.sent}`
    this.pending = { clientId, sentAt: now() }
    this.ws.send(JSON.stringify({ type: "user_message", text: `hello ${this.sent}`, clientId }))
  }

  start() {
    this.running = true
    this.next()
  }

  stop() {
    this.running = false
  }
}

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}
const round = (value: number, digits = 1) => Number(value.toFixed(digits))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// ---- one run

interface PerProcess {
  /** Event rows it read from the table in the window. */
  readonly rowsRead: number
  /** Distinct events its clients received in the window. */
  readonly eventsDelivered: number
  /** Events stored in the window of the conversations it watches / of the others. */
  readonly eventsOfWatched: number
  readonly eventsOfOthers: number
}

interface Result {
  readonly layout: Layout
  readonly perProcess: ReadonlyArray<PerProcess>
  readonly processes: number
  readonly turnsPerSecond: number
  readonly eventsDeliveredPerSecond: number
  readonly eventsPublishedPerSecond: number
  readonly eventLatencyMs: {
    readonly all: { readonly p50: number; readonly p99: number }
    readonly local: { readonly p50: number; readonly p99: number; readonly samples: number }
    readonly cross: { readonly p50: number; readonly p99: number; readonly samples: number }
  }
  readonly turnLatencyMs: { readonly p50: number; readonly p99: number }
  /** CPU milliseconds of the servers and PostgreSQL per turn: the cost of a turn, whatever else runs. */
  readonly cpuMsPerTurn: { readonly servers: number; readonly postgres: number }
  readonly cpuCoresUsed: {
    readonly servers: number
    readonly postgres: number
    readonly driver: number
    readonly other: number
  }
}

const runWith = async (database: string, processes: number, layout: Layout): Promise<Result> => {
  const servers = await Promise.all(Array.from({ length: processes }, () => startServer(database)))
  try {
    const ids = await admin(database, async (client) => {
      const result = await client.query<{ id: string }>(
        `INSERT INTO convo_conversation (user_id) SELECT NULL FROM generate_series(1, ${conversations}) RETURNING id`
      )
      return result.rows.map((row) => Number(row.id))
    })
    // spread: connection k of conversation c goes to process (c * 3 + k) % N, so a conversation's
    // watchers sit on different processes; partitioned: every connection of c on process c % N
    const clients: Array<BenchClient> = []
    ids.forEach((conversation, c) => {
      for (let k = 0; k < perConversation; k++) {
        const serverOf = (slot: number) =>
          layout === "spread" ? (c * perConversation + slot) % processes : c % processes
        const server = serverOf(k)
        clients.push(new BenchClient(servers[server]!.port, server, conversation, k, serverOf))
      }
    })
    await Promise.all(clients.map((client) => client.opened()))
    await sleep(500) // history pages and subscriptions settle
    clients.forEach((client) => client.start())
    await sleep(warmup * 1000)

    const windowStart = now()
    const cpuStart = {
      servers: servers.reduce((sum, server) => sum + cpuOf(server.pid), 0),
      postgres: postgresCpu(),
      driver: process.cpuUsage(),
      machine: machineCpu()
    }
    const readStart = await Promise.all(servers.map((server) => server.rowsRead()))
    const first = await admin(database, async (client) =>
      Number((await client.query<{ id: string }>("SELECT coalesce(max(id), 0) AS id FROM convo_event")).rows[0]!.id)
    )
    await sleep(seconds * 1000)
    const windowEnd = now()
    const last = await admin(database, async (client) =>
      Number((await client.query<{ id: string }>("SELECT coalesce(max(id), 0) AS id FROM convo_event")).rows[0]!.id)
    )
    const readEnd = await Promise.all(servers.map((server) => server.rowsRead()))
    const wall = (windowEnd - windowStart) / 1000
    const driverCpu = process.cpuUsage(cpuStart.driver)
    const serversCpu = (servers.reduce((sum, server) => sum + cpuOf(server.pid), 0) - cpuStart.servers) / wall
    const pgCpu = (postgresCpu() - cpuStart.postgres) / wall
    const ownCpu = (driverCpu.user + driverCpu.system) / 1e6 / wall
    const cpu = {
      servers: round(serversCpu, 2),
      postgres: round(pgCpu, 2),
      driver: round(ownCpu, 2),
      // everything else running on the machine meanwhile (other work shares these cores)
      other: round(Math.max(0, (machineCpu() - cpuStart.machine) / wall - serversCpu - pgCpu - ownCpu), 2)
    }
    clients.forEach((client) => client.stop())
    await sleep(1000)

    const created = await admin(database, async (client) => {
      const result = await client.query<{ id: string; t: number }>(
        "SELECT id, extract(epoch FROM created_at) * 1000 AS t FROM convo_event WHERE id > $1 AND id <= $2",
        [first, last]
      )
      return new Map(result.rows.map((row) => [Number(row.id), Number(row.t)]))
    })
    const conversationOf = await admin(database, async (client) => {
      const result = await client.query<{ id: string; conversation_id: string }>(
        "SELECT id, conversation_id FROM convo_event WHERE id > $1 AND id <= $2",
        [first, last]
      )
      return result.rows.map((row) => Number(row.conversation_id))
    })
    const perProcess: Array<PerProcess> = servers.map((_, i) => {
      const watched = new Set(clients.filter((client) => client.server === i).map((client) => client.conversation))
      const delivered = new Set<number>()
      for (const client of clients) {
        if (client.server !== i) continue
        for (const sample of client.samples) {
          if (sample.at >= windowStart && sample.at <= windowEnd) delivered.add(sample.eventId)
        }
      }
      const ofWatched = conversationOf.filter((conversation) => watched.has(conversation)).length
      return {
        rowsRead: readEnd[i]! - readStart[i]!,
        eventsDelivered: delivered.size,
        eventsOfWatched: ofWatched,
        eventsOfOthers: conversationOf.length - ofWatched
      }
    })
    const all: Array<number> = []
    const local: Array<number> = []
    const cross: Array<number> = []
    for (const client of clients) {
      for (const sample of client.samples) {
        if (sample.at < windowStart || sample.at > windowEnd) continue
        const t = created.get(sample.eventId)
        if (t === undefined) continue
        const latency = sample.at - t
        all.push(latency)
        ;(sample.local ? local : cross).push(latency)
      }
    }
    const turns = clients.flatMap((client) => client.completed.filter((at) => at >= windowStart && at <= windowEnd))
    const turnLatencies = clients.flatMap((client) => client.turnLatencies)
    clients.forEach((client) => client.ws.terminate())
    return {
      layout,
      perProcess,
      processes,
      turnsPerSecond: round(turns.length / wall),
      eventsDeliveredPerSecond: round(all.length / wall),
      eventsPublishedPerSecond: round((last - first) / wall),
      eventLatencyMs: {
        all: { p50: round(percentile(all, 50), 2), p99: round(percentile(all, 99), 2) },
        local: { p50: round(percentile(local, 50), 2), p99: round(percentile(local, 99), 2), samples: local.length },
        cross: { p50: round(percentile(cross, 50), 2), p99: round(percentile(cross, 99), 2), samples: cross.length }
      },
      turnLatencyMs: { p50: round(percentile(turnLatencies, 50), 2), p99: round(percentile(turnLatencies, 99), 2) },
      cpuMsPerTurn: {
        servers: round((serversCpu * wall * 1000) / Math.max(1, turns.length), 2),
        postgres: round((pgCpu * wall * 1000) / Math.max(1, turns.length), 2)
      },
      cpuCoresUsed: cpu
    }
  } finally {
    await Promise.all(servers.map(stopServer))
  }
}

// ---- main

const database = `convo_bench_scale_${process.pid}`
const migrate = fileURLToPath(new URL("./migrate.ts", import.meta.url))
await admin("postgres", (client) => client.query(`CREATE DATABASE ${database}`))
try {
  execFileSync(process.execPath, ["--import", "tsx", migrate], {
    cwd: root,
    env: { ...process.env, CONVO_DATABASE: database },
    stdio: "inherit"
  })
  const results: Array<Result> = []
  for (const layout of layouts) {
    for (const processes of processCounts) {
      if (layout === "spread" && processes === 1) continue // the same as partitioned on one process
      // the machine may be shared: keep the run that the least other work competed with
      let best: Result | undefined
      for (let i = 0; i < repeat; i++) {
        const result = await runWith(database, processes, layout)
        console.log(JSON.stringify(result))
        if (best === undefined || result.cpuCoresUsed.other < best.cpuCoresUsed.other) best = result
      }
      results.push(best!)
    }
  }
  const pgVersion = await admin(
    database,
    async (client) => (await client.query("SHOW server_version")).rows[0].server_version
  )
  const report = {
    date: new Date().toISOString(),
    machine: {
      cpus: Os.cpus().length,
      cpuModel: Os.cpus()[0]?.model ?? "unknown",
      node: process.version,
      postgres: pgVersion
    },
    setup: {
      conversations,
      connections: conversations * perConversation,
      replyWords,
      eventsPerTurn: 7 + replyWords,
      poolPerProcess: pool,
      maxBatch: Number(maxBatch),
      warmupSeconds: warmup,
      measuredSeconds: seconds,
      runsPerConfiguration: repeat
    },
    results
  }
  if (out !== "-") {
    Fs.mkdirSync(fileURLToPath(new URL(`../../${out.split("/").slice(0, -1).join("/")}`, import.meta.url)), {
      recursive: true
    })
    Fs.writeFileSync(`${root}${out}.json`, `${JSON.stringify(report, null, 2)}\n`)
    Fs.writeFileSync(`${root}${out}.md`, markdown(report))
    console.log(`wrote ${out}.json and ${out}.md`)
  }
} finally {
  await admin("postgres", (client) => client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`))
}

function markdown(report: {
  readonly date: string
  readonly machine: Record<string, unknown>
  readonly setup: Record<string, unknown>
  readonly results: ReadonlyArray<Result>
}): string {
  const rows = report.results.map(
    (r) =>
      `| ${r.layout} | ${r.processes} | ${r.turnsPerSecond} | ${r.eventsPublishedPerSecond} | ${r.eventsDeliveredPerSecond} | ${r.eventLatencyMs.all.p50} / ${r.eventLatencyMs.all.p99} | ${r.eventLatencyMs.local.p50} / ${r.eventLatencyMs.local.p99} | ${r.eventLatencyMs.cross.samples === 0 ? "–" : `${r.eventLatencyMs.cross.p50} / ${r.eventLatencyMs.cross.p99}`} | ${r.turnLatencyMs.p50} / ${r.turnLatencyMs.p99} | ${r.cpuMsPerTurn.servers} / ${r.cpuMsPerTurn.postgres} | ${r.cpuCoresUsed.servers} / ${r.cpuCoresUsed.postgres} / ${r.cpuCoresUsed.driver} / ${r.cpuCoresUsed.other} |`
  )
  return `# Scale benchmark: server processes on one PostgreSQL

Generated by \`npx tsx bench/scale/run.ts\` on ${report.date}.
Machine: ${JSON.stringify(report.machine)}.
Setup: ${JSON.stringify(report.setup)}.

Every connection sends a message, waits for its own turn's \`turn_end\`, and sends the next (closed
loop). Event latency is a client's receipt time minus the event row's \`created_at\`; "local" when
the client is on the process that ran the turn, "cross" when the event came through NOTIFY and a
table read. CPU is in cores (CPU seconds per second): servers / all postgres processes / the
benchmark driver with its 300 clients / anything else running on the machine meanwhile. Each row is
the run, of several, that the least other work competed with.

| layout | processes | turns/s | events stored/s | events delivered/s | event latency p50 / p99 (ms) | local p50 / p99 | cross-process p50 / p99 | turn latency p50 / p99 (ms) | CPU ms per turn: servers / postgres | CPU cores: servers / postgres / driver / other |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

Layouts: **partitioned** — every connection of conversation c on process c % N, so each process
watches 1/N of the conversations; **spread** — the 3 connections of a conversation on 3 different
processes (each process watches every conversation when N = 3).

Event rows each process read from \`convo_event\` in the window (\`PgConversationEvents.rowsRead\`),
against the distinct events its clients received and the events stored meanwhile of the
conversations it watches and of the others. A process reads only rows of conversations it watches,
and only those another process published (its own reach its watchers without a read):

| layout | processes | per process: rows read / events delivered / stored of its conversations / stored of others | rows read per delivered event |
| --- | --- | --- | --- |
${report.results
  .map(
    (r) =>
      `| ${r.layout} | ${r.processes} | ${r.perProcess.map((p) => `${p.rowsRead} / ${p.eventsDelivered} / ${p.eventsOfWatched} / ${p.eventsOfOthers}`).join(" · ")} | ${r.perProcess.map((p) => (p.eventsDelivered === 0 ? "–" : (p.rowsRead / p.eventsDelivered).toFixed(2))).join(" · ")} |`
  )
  .join("\n")}
`
}
