/**
 * The event-path benchmark: convo (WebSocket and SSE, turns stored in SQLite) against the Vercel
 * AI SDK (its UI message stream over SSE, and over a WebSocket speaking its
 * `WebSocketChatTransport` protocol), LangChain piped to raw `ws`, and a raw `ws` / `node:http`
 * floor, in one run, each server alone in a child process, the same clients in this process.
 * Every system streams the same scripted 200-delta reply; the clients check every delta's text and
 * the whole reply. bench/results/ws.md (written by this script) says what is measured and how.
 *
 *   npx tsx bench/ws/run.ts              # full run; writes bench/results/ws.json and ws.md
 *   npx tsx bench/ws/run.ts --quick      # a smaller run; prints only
 *   npx tsx bench/ws/run.ts --report     # rewrites ws.md from ws.json
 *   BENCH_PROFILE_DIR=/tmp/prof npx tsx bench/ws/run.ts --profile convo-ws
 *                                        # one fast run at 100 clients with that server under --cpu-prof
 *   npx tsx bench/ws/run.ts --systems aisdk-sse,convo-sse --clients 100,1000
 *                                        # those servers up at once, measured in turn at each size
 *   BENCH_SERVER=<bundle of server.ts>   # runs that build of the server (esbuild keeps names for profiles)
 */
import { type ChildProcess, fork } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { dirname, join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import WebSocket from "ws"
import { type Client, closeAgent, connectAll, DELTAS, type System } from "./clients.js"

const here = dirname(fileURLToPath(import.meta.url))
const quick = process.argv.includes("--quick")

type Mode = System | "bare"

interface Memory {
  readonly rss: number
  readonly heapUsed: number
}

interface Server {
  readonly port: number
  /** After a full GC. */
  readonly memory: () => Promise<Memory>
  /** At once, no GC (sampled under load). */
  readonly rss: () => Promise<Memory>
  /** CPU microseconds (user + system) the server has used so far. */
  readonly cpu: () => Promise<number>
  readonly stop: () => Promise<void>
}

const procRead = (pid: number | undefined, file: string): string | undefined => {
  if (pid === undefined || process.platform !== "linux") return undefined
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8")
  } catch {
    return undefined
  }
}

const startServer = (mode: Mode, conversations: number, paceMs = 0): Promise<Server> =>
  new Promise((resolve, reject) => {
    const profile = process.env["BENCH_PROFILE_DIR"]
    // `BENCH_SERVER=<file.mjs>`: a bundle of server.ts (esbuild), run without tsx so that a profile names functions
    const bundle = process.env["BENCH_SERVER"]
    const child: ChildProcess = fork(bundle ?? join(here, "server.ts"), [mode, String(conversations), String(paceMs)], {
      execArgv: [
        ...(bundle === undefined ? ["--import", "tsx"] : []),
        "--expose-gc",
        ...(profile !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : [])
      ],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    const memories: Array<(memory: Memory) => void> = []
    const cpus: Array<(cpu: number) => void> = []
    child.on("message", (message: { port?: number; memory?: Memory; cpu?: { user: number; system: number } }) => {
      if (message.memory !== undefined) memories.shift()?.(message.memory)
      if (message.cpu !== undefined) cpus.shift()?.(message.cpu.user + message.cpu.system)
      if (message.port === undefined) return
      resolve({
        port: message.port,
        memory: () =>
          new Promise((done, fail) => {
            if (!child.connected) return fail(new Error(`the ${mode} server is gone`))
            memories.push(done)
            child.send({ type: "memory" })
          }),
        // read from /proc where there is one: a server busy with 1,000 clients answers its IPC
        // channel only after tens of seconds, which stretched a 5 s measurement past two minutes
        rss: () => {
          const status = procRead(child.pid, "status")
          const kb = status === undefined ? undefined : /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
          if (kb !== undefined) return Promise.resolve({ rss: Number(kb) * 1024, heapUsed: Number.NaN })
          return new Promise((done, fail) => {
            if (!child.connected) return fail(new Error(`the ${mode} server is gone`))
            memories.push(done)
            child.send({ type: "rss" })
          })
        },
        cpu: () => {
          const stat = procRead(child.pid, "stat")
          if (stat !== undefined) {
            // utime and stime, in clock ticks (100 per second on Linux), after the command's name
            const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
            return Promise.resolve((Number(fields[11]) + Number(fields[12])) * 10_000)
          }
          return new Promise((done, fail) => {
            if (!child.connected) return fail(new Error(`the ${mode} server is gone`))
            cpus.push(done)
            child.send({ type: "cpu" })
          })
        },
        stop: () =>
          new Promise((done) => {
            child.removeAllListeners("exit")
            if (child.exitCode !== null || child.signalCode !== null) return done()
            child.once("exit", () => done())
            child.kill("SIGTERM")
            setTimeout(() => child.kill("SIGKILL"), 5_000).unref()
          })
      })
    })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`the ${mode} server exited with ${code}`)))
  })

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

const percentile = (values: ArrayLike<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

const round = (value: number, digits: number) => Number(value.toFixed(digits))

// ---- fast: instant model, closed loop, deltas per second over a window

interface Fast {
  readonly system: System
  readonly clients: number
  readonly deltas_per_s: number
  readonly cpu_ms_per_delta: number
  readonly turns_checked: number
  readonly peak_rss_mb: number
  /** Which of the side-by-side rounds at this size. */
  readonly round?: number
}

/** Side-by-side rounds per size (`BENCH_ROUNDS`, default 3; one at 1,000 clients, a minute each). */
const roundsAt = (n: number): number => (n >= 1000 ? 1 : Number(process.env["BENCH_ROUNDS"] ?? 3))

const measureFast = async (server: Server, system: System, n: number): Promise<Fast> => {
  const warmupMs = quick ? 1000 : 2000
  const windowMs = quick ? 2500 : 5000
  {
    const t0 = performance.now()
    const phase = (name: string) =>
      console.error(`  ${system} ×${n}: ${name} at ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const clients = await connectAll(system, server.port, n)
    phase("connected")
    let inWindow = 0
    let measuring = false
    let stopping = false
    let checked = 0
    let completed = 0
    let failure: unknown
    const onDelta = () => {
      if (measuring) inWindow++
    }
    const loops = clients.map(async (client: Client) => {
      while (!stopping) {
        await client.turn(onDelta)
        completed++
        if (measuring) checked++
      }
    })
    // a failure (a wrong delta, a turn that did not complete) fails the run; after the window the
    // clients are closed mid-turn, and what that breaks is not counted
    void Promise.all(loops).catch((error) => {
      if (!stopping) failure = error
    })
    // warm-up: at least warmupMs and until the clients have completed as many turns as there are
    // clients (1,000 turns that start at once take seconds to reach their first delta), at most 60 s
    const warmStart = performance.now()
    await sleep(warmupMs)
    while (completed < n && failure === undefined && performance.now() - warmStart < 60_000) await sleep(100)
    phase("warmed up")
    let peak = (await server.rss()).rss
    const cpuStart = await server.cpu()
    phase("window starts")
    const start = performance.now()
    measuring = true
    const sampler = setInterval(
      () =>
        void server
          .rss()
          .then((memory) => (peak = Math.max(peak, memory.rss)))
          .catch(() => undefined),
      1000
    )
    // the window lasts windowMs and until the clients have completed twice as many turns in it as
    // there are clients (at most 60 s): turns that start together stay in step and their deltas come
    // in rounds (a coalesced reply in one frame or a few), so a window must span rounds, not parts of one
    await sleep(windowMs)
    while (checked < 2 * n && failure === undefined && performance.now() - start < 60_000) await sleep(100)
    measuring = false
    phase("window ends")
    const seconds = (performance.now() - start) / 1000
    const cpuEnd = await server.cpu()
    clearInterval(sampler)
    if (failure !== undefined) throw failure
    if (inWindow === 0) throw new Error(`no delta arrived in ${seconds.toFixed(1)} s`)
    phase("measured")
    stopping = true
    await Promise.all(clients.map((client) => client.close()))
    phase("closed")
    // the server sees the disconnects and stores the turns as aborted; a server that streams its
    // turns to the end after a disconnect (the AI SDK) works on for seconds at 1,000 clients: the next
    // measurement (another server on the same cores) waits until it is idle (under 10 % of a core
    // over half a second, at most 30 s)
    await sleep(1000)
    for (const settleStart = performance.now(); performance.now() - settleStart < 30_000;) {
      const before = await server.cpu()
      await sleep(500)
      if ((await server.cpu()) - before < 50_000) break
    }
    phase("server idle")
    const row: Fast = {
      system,
      clients: n,
      deltas_per_s: Math.round(inWindow / seconds),
      cpu_ms_per_delta: round((cpuEnd - cpuStart) / 1000 / inWindow, 4),
      turns_checked: checked,
      peak_rss_mb: Math.round(peak / 2 ** 20)
    }
    console.log(JSON.stringify(row))
    return row
  }
}

// ---- paced: 50 tokens/s, C concurrent streams, one turn each, starts spread over a second

interface Paced {
  readonly system: System
  readonly streams: number
  readonly p99_gap_ms: number
  readonly p99_ttfd_ms: number
  readonly kept: boolean
}

const PACE_MS = 20

const measurePaced = async (server: Server, system: System, n: number): Promise<Paced> => {
  {
    const clients = await connectAll(system, server.port, n)
    // warm-up: one turn first, so that what a server loads on its first turn (convo: the tokenizer's
    // ranks, parsed once per process) is not timed as a gap of the streams
    await clients[0]!.turn(() => undefined)
    const turns = await Promise.all(
      clients.map(async (client, i) => {
        await sleep((i / n) * 1000)
        return client.turn(() => undefined)
      })
    )
    await Promise.all(clients.map((client) => client.close()))
    const gaps: Array<number> = []
    const ttfd: Array<number> = []
    for (const turn of turns) {
      ttfd.push(turn.arrivals[0]! - turn.sentAt)
      for (let i = 1; i < turn.arrivals.length; i++) gaps.push(turn.arrivals[i]! - turn.arrivals[i - 1]!)
    }
    if (process.env["BENCH_GAPS"] !== undefined) {
      // where the long gaps are: delta index → count over all streams
      const at = new Map<number, number>()
      for (const turn of turns)
        for (let i = 1; i < turn.arrivals.length; i++)
          if (turn.arrivals[i]! - turn.arrivals[i - 1]! > 40) at.set(i, (at.get(i) ?? 0) + 1)
      console.error(`  long gaps (> 40 ms) by delta index: ${JSON.stringify([...at].sort((a, b) => a[0] - b[0]))}`)
    }
    const p99Gap = percentile(gaps, 99)
    const p99Ttfd = percentile(ttfd, 99)
    const row: Paced = {
      system,
      streams: n,
      p99_gap_ms: round(p99Gap, 1),
      p99_ttfd_ms: round(p99Ttfd, 1),
      kept: p99Gap <= 40 && p99Ttfd <= 250
    }
    console.log(JSON.stringify(row))
    return row
  }
}

/** Runs `f` with one server of the system (serving up to `conversations` clients), then stops it. */
const withServer = async <A>(
  system: Mode,
  conversations: number,
  paceMs: number,
  f: (server: Server) => Promise<A>
): Promise<A> => {
  const server = await startServer(system, conversations, paceMs)
  try {
    return await f(server)
  } finally {
    await server.stop()
  }
}

/** `promise`, or a failure when it gives nothing within `ms`. */
const withDeadline = <A>(promise: Promise<A>, ms: number): Promise<A> =>
  Promise.race([
    promise,
    sleep(ms).then(() => {
      throw new Error(`no result within ${ms / 1000} s`)
    })
  ])

// ---- idle memory

interface Idle {
  readonly mode: Mode
  readonly rss_mb_per_1k: number
  readonly heap_kb_per_connection: number
}

const idleUrl = (mode: Mode, port: number, index: number) =>
  mode === "convo-ws" || mode === "bare"
    ? `ws://127.0.0.1:${port}/ws/bench/chat/${index + 1}/`
    : `ws://127.0.0.1:${port}/`

const openIdle = async (mode: Mode, port: number, n: number): Promise<Array<WebSocket>> => {
  const sockets: Array<WebSocket> = []
  for (let start = 0; start < n; start += 100) {
    const batch = Array.from(
      { length: Math.min(100, n - start) },
      (_, i) =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(idleUrl(mode, port, start + i), { perMessageDeflate: false })
          ws.once("error", reject)
          // convo: open once the history page has arrived
          if (mode === "convo-ws") ws.once("message", () => resolve(ws))
          else ws.once("open", () => resolve(ws))
        })
    )
    sockets.push(...(await Promise.all(batch)))
  }
  return sockets
}

const closeSockets = (sockets: ReadonlyArray<WebSocket>) =>
  Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((done) => {
          if (ws.readyState === WebSocket.CLOSED) return done()
          ws.once("close", () => done())
          ws.close()
        })
    )
  )

const measureIdle = async (mode: Mode, n: number): Promise<Idle> => {
  const server = await startServer(mode, n)
  try {
    // one connection first, so code loaded on first use is not counted as per-connection memory
    await closeSockets(await openIdle(mode, server.port, 1))
    const before = await server.memory()
    const sockets = await openIdle(mode, server.port, n)
    await sleep(2000)
    const after = await server.memory()
    await closeSockets(sockets)
    const row: Idle = {
      mode,
      rss_mb_per_1k: round(((after.rss - before.rss) / 2 ** 20) * (1000 / n), 1),
      heap_kb_per_connection: round((after.heapUsed - before.heapUsed) / 1024 / n, 1)
    }
    console.log(JSON.stringify(row))
    return row
  } finally {
    await server.stop()
  }
}

/**
 * `systems`' servers all up at once, measured one after the other at each size (in increasing
 * order), so each ratio compares measurements moments apart; a measurement that gives no result in
 * time is recorded as failed and that system's larger sizes are skipped.
 */
const sideBySide = async (
  systems: ReadonlyArray<System>,
  sizes: ReadonlyArray<number>,
  fast: Array<Fast>,
  failures: Array<string>
): Promise<void> => {
  const servers: Array<readonly [System, Server]> = []
  const up = async (i: number): Promise<void> => {
    if (i === systems.length) return measureAll()
    return withServer(systems[i]!, Math.max(...sizes), 0, (server) => {
      servers.push([systems[i]!, server])
      return up(i + 1)
    })
  }
  const measureAll = async () => {
    const skipped = new Set<System>()
    for (const n of sizes) {
      // rounds alternating the systems' order: one measurement at a time moves by a quarter on this
      // machine from one minute to the next; the report takes each system's median
      for (let round = 0; round < roundsAt(n); round++) {
        for (const [system, server] of round % 2 === 0 ? servers : [...servers].reverse()) {
          if (skipped.has(system)) continue
          await withDeadline(measureFast(server, system, n), 120_000)
            .then((row) => fast.push({ ...row, round }))
            .catch((error) => {
              console.error(`fast ${system} at ${n} failed:`, error)
              failures.push(`fast ${system} at ${n} clients: ${String(error)}`)
              skipped.add(system)
            })
        }
      }
    }
  }
  await up(0).catch((error) => {
    console.error(`fast ${systems.join(", ")} failed:`, error)
    failures.push(`fast ${systems.join(", ")}: ${String(error)}`)
  })
}

// ---- the run

const main = async () => {
  if (process.argv.includes("--report")) {
    // rewrite ws.md from ws.json (after a change to the report's text)
    const results = join(here, "..", "results")
    const saved = JSON.parse(readFileSync(join(results, "ws.json"), "utf8"))
    writeFileSync(join(results, "ws.md"), report(saved))
    return
  }
  const profiled = process.argv.indexOf("--profile")
  if (profiled !== -1) {
    const system = process.argv[profiled + 1] as System
    const at = process.argv.indexOf("--clients")
    // `--clients 100,1000`: those sizes one after the other on one server
    const ns = at === -1 ? [100] : process.argv[at + 1]!.split(",").map(Number)
    const n = Math.max(...ns)
    if (process.argv.includes("--paced")) {
      const sizes = at === -1 ? [30, 100] : ns
      await withServer(system, Math.max(...sizes), PACE_MS, async (server) => {
        for (const size of sizes) await measurePaced(server, system, size)
      })
    } else
      await withServer(system, n, 0, async (server) => {
        for (const size of ns) await measureFast(server, system, size)
      })
    closeAgent()
    return
  }
  const listed = process.argv.indexOf("--systems")
  if (listed !== -1) {
    // `--systems a,b,c [--clients N[,M…]]`: those servers up at once, measured in order at each size
    const at = process.argv.indexOf("--clients")
    const failures: Array<string> = []
    await sideBySide(
      process.argv[listed + 1]!.split(",") as Array<System>,
      at === -1 ? [100] : process.argv[at + 1]!.split(",").map(Number),
      [],
      failures
    )
    closeAgent()
    if (failures.length > 0) console.log(`failed: ${failures.join("; ")}`)
    return
  }
  const began = performance.now()
  const loadBefore = loadavg()[0]!
  // one server per system and profile, the sizes in increasing order on it (on this shared machine a
  // server's start costs more than a measurement)
  const failures: Array<string> = []
  const fast: Array<Fast> = []
  const sizes = quick ? [100, 1000] : [10, 100, 1000]
  // the AI SDK, convo and convo without coalescing (`-w0`) on the same transport, side by side;
  // `--transport ws|sse`: that transport only
  const only = process.argv[process.argv.indexOf("--transport") + 1]
  const transports = (["ws", "sse"] as const).filter(
    (transport) => !process.argv.includes("--transport") || transport === only
  )
  for (const transport of transports) {
    await sideBySide([`aisdk-${transport}`, `convo-${transport}`, `convo-${transport}-w0`], sizes, fast, failures)
  }
  for (const system of quick ? [] : (["langchain-ws", "raw-ws", "raw-sse"] as const)) {
    await withServer(system, 100, 0, async (server) => {
      fast.push(await withDeadline(measureFast(server, system, 100), 120_000))
    }).catch((error) => {
      console.error(`fast ${system} failed:`, error)
      failures.push(`fast ${system}: ${String(error)}`)
    })
  }
  const paced: Array<Paced> = []
  const pacedSizes = quick ? [100] : [30, 100]
  for (const system of (["convo-ws", "aisdk-ws", "convo-sse", "aisdk-sse"] as const).filter((system) =>
    transports.some((transport) => system.endsWith(`-${transport}`))
  )) {
    await withServer(system, Math.max(...pacedSizes), PACE_MS, async (server) => {
      for (const n of pacedSizes) paced.push(await withDeadline(measurePaced(server, system, n), 120_000))
    }).catch((error) => {
      console.error(`paced ${system} failed:`, error)
      failures.push(`paced ${system}: ${String(error)}`)
    })
  }
  const idle: Array<Idle> = []
  for (const mode of quick ? [] : (["convo-ws", "raw-ws", "bare"] as const)) {
    await measureIdle(mode, 1000)
      .then((row) => idle.push(row))
      .catch((error) => {
        console.error(`idle ${mode} failed:`, error)
        failures.push(`idle ${mode}: ${String(error)}`)
      })
  }
  closeAgent()
  const total = (performance.now() - began) / 1000
  const load = { before: loadBefore, after: loadavg()[0]! }
  console.log(`total ${total.toFixed(0)} s on ${cpus().length} cores; load ${load.before} → ${load.after}`)
  if (quick) {
    console.log(report({ fast, paced, idle, load, total, failures }))
    return
  }
  const results = join(here, "..", "results")
  writeFileSync(join(results, "ws.json"), `${JSON.stringify({ fast, paced, idle, load, total, failures }, null, 2)}\n`)
  writeFileSync(join(results, "ws.md"), report({ fast, paced, idle, load, total, failures }))
  console.log("wrote bench/results/ws.json and bench/results/ws.md")
}

const verdict = (ok: boolean) => (ok ? "met" : "**missed**")

const report = (r: {
  readonly fast: ReadonlyArray<Fast>
  readonly paced: ReadonlyArray<Paced>
  readonly idle: ReadonlyArray<Idle>
  readonly load: { readonly before: number; readonly after: number }
  readonly total: number
  readonly failures: ReadonlyArray<string>
}): string => {
  // a system's median over its rounds at a size (each number its own median)
  const median = (xs: ReadonlyArray<number>) => {
    const sorted = [...xs].sort((a, b) => a - b)
    const mid = Math.floor(sorted.length / 2)
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  }
  const roundsOf = (system: System, n: number) => r.fast.filter((row) => row.system === system && row.clients === n)
  const find = (system: System, n: number): Fast | undefined => {
    const rows = roundsOf(system, n)
    if (rows.length === 0) return undefined
    return {
      system,
      clients: n,
      deltas_per_s: Math.round(median(rows.map((row) => row.deltas_per_s))),
      cpu_ms_per_delta: Number(median(rows.map((row) => row.cpu_ms_per_delta)).toPrecision(3)),
      turns_checked: median(rows.map((row) => row.turns_checked)),
      peak_rss_mb: Math.round(median(rows.map((row) => row.peak_rss_mb)))
    }
  }
  // the CPU ratio of each round (convo's measurement and the AI SDK's of the same round)
  const roundRatios = (transport: "ws" | "sse", n: number) => {
    const peer = roundsOf(`aisdk-${transport}`, n)
    return roundsOf(`convo-${transport}`, n)
      .flatMap((row) => {
        const other = peer.find((p) => p.round === row.round)
        return other === undefined ? [] : [(row.cpu_ms_per_delta / other.cpu_ms_per_delta).toFixed(2)]
      })
      .join(" / ")
  }
  const ratioRows = (["ws", "sse"] as const).flatMap((transport) =>
    [...new Set(r.fast.map((row) => row.clients))].flatMap((n) => {
      const convo = find(`convo-${transport}`, n)
      const peer = find(`aisdk-${transport}`, n)
      if (convo === undefined || peer === undefined) return []
      const ratio = convo.deltas_per_s / peer.deltas_per_s
      const cpu = convo.cpu_ms_per_delta / peer.cpu_ms_per_delta
      const w0 = find(`convo-${transport}-w0`, n)
      const without =
        w0 === undefined
          ? "–"
          : `${w0.deltas_per_s.toLocaleString("en")} (${(w0.deltas_per_s / peer.deltas_per_s).toFixed(2)}×) / ${w0.cpu_ms_per_delta}`
      return [
        `| ${transport === "ws" ? "WebSocket" : "SSE"} | ${n.toLocaleString("en")} | ${convo.deltas_per_s.toLocaleString("en")} | ${peer.deltas_per_s.toLocaleString("en")} | ${ratio.toFixed(2)}× (${verdict(ratio >= 1.5)}) | ${convo.cpu_ms_per_delta} / ${peer.cpu_ms_per_delta} | ${cpu.toFixed(2)}× (${verdict(cpu <= 0.5)}) | ${roundRatios(transport, n)} | ${convo.peak_rss_mb} / ${peer.peak_rss_mb} | ${without} |`
      ]
    })
  )
  const others = r.fast
    .filter((row) => !row.system.startsWith("convo") && !row.system.startsWith("aisdk"))
    .map(
      (row) => `| ${row.system} | ${row.clients} | ${row.deltas_per_s.toLocaleString("en")} | ${row.cpu_ms_per_delta} |`
    )
  const pacedSystems = [...new Set(r.paced.map((row) => row.system))]
  const pacedRows = pacedSystems.map((system) => {
    const rows = r.paced.filter((row) => row.system === system)
    const kept = Math.max(0, ...rows.filter((row) => row.kept).map((row) => row.streams))
    return `| ${system} | ${rows.map((row) => `${row.streams}: ${row.p99_gap_ms} / ${row.p99_ttfd_ms}${row.kept ? "" : " ✗"}`).join(" · ")} | **${kept}** |`
  })
  const idleRows = r.idle.map((row) => `| ${row.mode} | ${row.rss_mb_per_1k} MB | ${row.heap_kb_per_connection} KB |`)
  const convoIdle = r.idle.find((row) => row.mode === "convo-ws")
  return `# Event-path benchmark: convo against the Vercel AI SDK (\`bench/ws\`)

Generated by \`npx tsx bench/ws/run.ts${quick ? " --quick" : ""}\` (this run: ${r.total.toFixed(0)} s, ${cpus().length} cores, Node ${process.version};
1-minute load average ${r.load.before.toFixed(1)} at the start, ${r.load.after.toFixed(1)} at the end — the machine is
shared with other work, so absolute numbers move between runs; the ratios, taken within this run, are the point).
Numbers: \`ws.json\`.

## Setup

Every system streams the same scripted reply of ${DELTAS} deltas (\`w0 \`, \`w1 \`, …), from one server process of its
own (a child of the benchmark, so its CPU and memory are its alone); the same clients in the parent process check every
delta's text and the whole reply of every turn (a wrong or missing delta fails the run).

convo coalesces by default (\`deltaWindow\`, 10 ms): the model's chunks that arrive while the event loop is busy go
out as one \`message_delta\`, cut when the loop would otherwise wait and never held past the window. The scripted
fast model yields its chunks as microtasks, so there a whole reply (or up to 10 ms of it) is one event; a model
whose chunks come one per network read or timer (the paced profile) still gets one event per chunk. The
**convo-*-w0** rows are the same server with \`deltaWindow: 0\` (one event per chunk, as before coalescing).

- **convo-ws / convo-sse**: a \`ChatAgent\` on \`ChatSocket\` / \`HttpChat\` (\`@effect/platform-node\`), every turn
  stored in SQLite (\`SqlConversationStore\`, a temporary file), the reply from \`@convo/testing\`'s
  \`ScriptedChatModel\` through LangChain's \`BaseChatModel.stream\`. Each client has its own conversation; an SSE
  client POSTs each message and reads the turn's event stream (\`HttpChat\` opens a session per request).
- **aisdk-ws / aisdk-sse**: the Vercel AI SDK (\`ai\` 7): \`streamText\` on \`MockLanguageModelV4\` from \`ai/test\`
  streaming the same deltas (\`simulateReadableStream\`). SSE: \`toUIMessageStreamResponse()\` piped to \`node:http\`.
  WebSocket: \`ws\` speaking the protocol of the SDK's \`WebSocketChatTransport\` (the SDK ships the client side only:
  a \`send\` request in; \`start\`, one \`chunk\` frame per UI message chunk, \`end\` out). No storage: the SDK has none.
- **langchain-ws**: the same LangChain scripted model's \`model.stream()\` piped to raw \`ws\`, no storage.
- **raw-ws / raw-sse**: the floor: \`ws\` / \`node:http\` answering each message with ${DELTAS} frames/events.

## Definitions

- **deltas/s** (fast profile, instant model): every client runs turns back to back (closed loop); the model's deltas
  received by all clients per second over a window of ${quick ? "2.5" : "5"} s or more (until the clients have
  completed twice as many turns in it as there are clients, at most 60 s: turns that start together stay in step,
  so deltas come in rounds), counted by text: a frame counts every
  scripted delta it completes (a coalesced frame counts the deltas it carries), and each frame must continue the
  reply exactly where the text so far ends. The warm-up lasts ${quick ? "1" : "2"} s and until the clients have
  completed as many turns as there are clients (at most 60 s: 1,000 turns that start at once take seconds to
  reach their first delta). **CPU ms per delta**: the server process's CPU time (user + system, from
  \`/proc/<pid>/stat\`) over the window ÷ deltas received.
- **peak RSS**: the server's resident memory (\`/proc/<pid>/status\`, no GC), sampled each second of the window.
  (Asking the server over IPC, as earlier runs did, took tens of seconds at 1,000 clients — the "no result
  within 120 s" of every system — and forced a full GC per sample.)
- **paced profile**: 50 tokens/s (a delta every ${PACE_MS} ms), ${DELTAS} deltas; C clients each start one turn, the
  starts spread over one second, after one warm-up turn. p99 inter-delta gap and p99 time to first delta (send → first delta) over all
  streams; a system **keeps** C streams when both are within target (≤ 40 ms, ≤ 250 ms).
- **idle memory**: the server's resident memory (and V8 heap) after 1,000 clients connected and sat idle for 2 s, minus
  before (one connection made and closed first, a full GC before each reading).

## Results against the targets

convo ÷ AI SDK, same transport, same run. At 10 and 100 clients each system is measured in ${roundsAt(10)} rounds (the
systems' order flipped every round; one at 1,000 clients) and every number is that system's median over its rounds: a
single measurement moves by up to a quarter from one minute to the next on this machine (the AI SDK's too), so the
ratio of two single measurements a minute apart is not the ratio of the systems. The CPU ratio of each round is listed
beside the medians'.

| transport | clients | convo deltas/s | AI SDK deltas/s | ratio (target ≥ 1.5×) | CPU ms per delta convo / AI SDK | CPU ratio (target ≤ 0.5×) | CPU ratio in each round | peak RSS MB convo / AI SDK | convo without coalescing: deltas/s (÷ AI SDK) / CPU ms per delta |
| --- | ---: | ---: | ---: | :--- | ---: | :--- | :--- | ---: | ---: |
${ratioRows.join("\n")}

The other systems of the same run:

| system | clients | deltas/s | CPU ms per delta |
| --- | ---: | ---: | ---: |
${others.join("\n")}

Paced (50 tokens/s): p99 gap / p99 time to first delta in ms at each number of streams (✗: over target), and the most
streams kept (target for convo ≥ 100):

| system | C: p99 gap / p99 TTFD | kept |
| --- | --- | ---: |
${pacedRows.join("\n")}

Idle connections (target for convo ≤ 100 MB per 1,000: ${convoIdle === undefined ? "–" : verdict(convoIdle.rss_mb_per_1k <= 100)}):

| server | rss per 1,000 | V8 heap per connection |
| --- | ---: | ---: |
${idleRows.join("\n")}

(\`bare\`: \`@effect/platform\`'s upgrade and \`Socket.runRaw\` with nothing else — what the platform itself costs.)

## A/B of coalescing, single runs

\`--profile <system>\` runs (one fast measurement at 100 clients, one server at a time, one after the other, load
average about 2) on the commit that added coalescing and this harness: aisdk-ws 14,688 deltas/s at 0.071 ms CPU per
delta, convo-ws 29,157 at 0.041, convo-ws-w0 21,115 at 0.056; aisdk-sse 11,929 at 0.089, convo-sse 15,998 at 0.079,
convo-sse-w0 11,961 at 0.106. In a \`--quick\` run at load average 4.5 → 1.5, at 1,000 clients: convo-ws 25,653 at
0.044, convo-ws-w0 18,396 at 0.059, aisdk-ws 7,646 at 0.069. They are quoted to show the size of the effect and how
far apart runs on this machine are, not as the result.

## Where convo's time goes

CPU profiles of the convo servers with coalescing at 10 clients (\`BENCH_SERVER=<bundle> BENCH_PROFILE_DIR=… npx tsx
bench/ws/run.ts --profile convo-sse --clients 10\`, bench/README.md; self time over the measured window, quiet machine),
as time per turn (a turn is 200 deltas): LangChain's message classes about 1.0 ms on both transports (the scripted
model's \`AIMessageChunk\` per chunk, which a real provider's client builds too), the Effect runtime about 0.7 ms per turn
on WebSocket and 2.3 ms on SSE (a request, a session opened and closed, a response stream per turn), garbage collection
0.5 / 0.9 ms, SQLite's statements 0.4 / 0.5 ms, convo's own code (the token count of each stored message, the codec,
the window, the protocol) well under 1 ms. convo reads the model through \`_streamIterator\` (not \`stream()\`, whose
AsyncLocalStorage run, abort-signal race and web \`ReadableStream\` per chunk cost about 40 % of a 200-chunk stream) and,
when no LangChain callback handler or tracer is configured, from \`_streamResponseChunks\` directly, without
\`_streamIterator\`'s fold of every chunk into the whole reply for \`handleLLMEnd\` (about a fifth of the CPU per delta
at 10 clients); text-only chunks are merged as text. With coalescing a fast reply is a few events; what is left is per
chunk inside the model and LangChain, and per turn (the HTTP request and session on SSE, storage, the window).

Peak RSS under load is mostly garbage not yet collected: a heap snapshot at 1,000 clients holds about 160 MB of live
objects while the heap's total reaches 600–700 MB. With 1,000 turns in flight, what a turn allocates survives a
scavenge and is promoted, and waits for a full mark-compact; peak RSS follows the allocation per turn.

Idle connections: what a connection holds once open is the platform's upgrade path (\`bare\`: the request fiber,
\`Socket\`'s \`FiberSet\` and runtime, \`ws\`'s objects) plus, for convo, the session: its scope and finalizers, the
agent's resolved settings and hooks, the chat model instance, the conversation's watcher registration, the outbox
(an empty array) and the adapter's closures. No fiber, queue or PubSub of convo's own waits on an idle connection
any more: the turn runner starts with a message, the socket's flush fiber only while frames wait, and events reach
the socket through the watcher callback.

${r.failures.length === 0 ? "" : `\nMeasurements that failed in this run (not in the tables):\n\n${r.failures.map((failure) => `- ${failure}`).join("\n")}\n`}`
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
