/**
 * Real server processes (`support/server.ts` under `node --import tsx`, one OS process each, so
 * `kill -9` hits the server itself), real `ws` clients, and a private throwaway PostgreSQL cluster
 * for the tests that restart the database.
 */
import * as Protocol from "@convo/core/Protocol"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import WebSocket from "ws"

const serverScript = fileURLToPath(new URL("./server.ts", import.meta.url))
const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url))

/** How long a test waits for something that should happen (a guard against hangs, not a timing assertion). */
const patience = 20_000

export class TestError extends Data.TaggedError("TestError")<{ readonly message: string }> {}

export interface Server {
  readonly port: number
  readonly pid: number
  readonly url: (conversationId: number) => string
  readonly output: () => string
  readonly kill: (signal: NodeJS.Signals) => void
  readonly exited: Promise<number | null>
}

/**
 * Starts a server process (`script`, default `support/server.ts`) that prints `PORT <n> PID <pid>`;
 * it is stopped (SIGKILL if it lingers) with the scope.
 */
export const startServer = (
  env: Record<string, string>,
  script: string = serverScript
): Effect.Effect<Server, TestError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        new Promise<{ child: ChildProcess; server: Server }>((resolve, reject) => {
          const child = spawn(process.execPath, ["--import", "tsx", script], {
            cwd: repoRoot,
            env: { ...process.env, ...env },
            stdio: ["ignore", "pipe", "pipe"]
          })
          let output = ""
          const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
          const timer = setTimeout(() => reject(new Error(`the server did not start: ${output}`)), patience)
          const onData = (chunk: Buffer) => {
            output += chunk.toString("utf8")
            const found = /PORT (\d+) PID (\d+)/.exec(output)
            if (found !== null) {
              clearTimeout(timer)
              const port = Number(found[1])
              resolve({
                child,
                server: {
                  port,
                  pid: Number(found[2]),
                  url: (conversationId) => `ws://127.0.0.1:${port}/ws/chat/${conversationId}/`,
                  output: () => output,
                  kill: (signal) => void child.kill(signal),
                  exited
                }
              })
            }
          }
          child.stdout!.on("data", onData)
          child.stderr!.on("data", onData)
          void exited.then((code) => {
            clearTimeout(timer)
            reject(new Error(`the server exited with ${code}: ${output}`))
          })
        }),
      catch: (error) => new TestError({ message: String(error) })
    }),
    ({ child, server }) =>
      Effect.promise(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.kill("SIGCONT") // a test may have stopped it
        child.kill("SIGTERM")
        const timer = setTimeout(() => child.kill("SIGKILL"), 3_000)
        await server.exited
        clearTimeout(timer)
      })
  ).pipe(Effect.map(({ server }) => server))

export interface Client {
  readonly events: () => ReadonlyArray<Protocol.ServerEvent>
  readonly send: (message: unknown) => Effect.Effect<void>
  readonly until: (
    condition: (events: ReadonlyArray<Protocol.ServerEvent>) => boolean,
    what: string
  ) => Effect.Effect<ReadonlyArray<Protocol.ServerEvent>, TestError>
  /** The close code, once the socket closed. */
  readonly closed: () => number | undefined
  readonly waitClosed: Effect.Effect<number, TestError>
  /** Drops the connection at once (no close handshake), as a lost network would. */
  readonly drop: () => void
}

/** A `ws` client collecting the server's events; it waits for the history page before returning. */
export const connect = (url: string): Effect.Effect<Client, TestError, Scope.Scope> =>
  Effect.gen(function* () {
    const ws = yield* Effect.acquireRelease(
      Effect.sync(() => new WebSocket(url)),
      (ws) => Effect.sync(() => ws.terminate())
    )
    const received: Array<Protocol.ServerEvent> = []
    const waiters = new Set<() => void>()
    let closeCode: number | undefined
    ws.on("message", (data) => {
      const decoded = Protocol.decodeServerEvent(JSON.parse(data.toString("utf8")))
      received.push(
        Either.isRight(decoded)
          ? decoded.right
          : { type: "error", code: "internal", message: `undecodable frame ${data.toString()}` }
      )
      for (const wake of waiters) wake()
    })
    ws.on("close", (code) => {
      closeCode = code
      for (const wake of waiters) wake()
    })
    // a connection reset after the open is a close, not an uncaught error
    ws.on("error", () => undefined)
    yield* Effect.async<void, TestError>((resume) => {
      ws.once("open", () => resume(Effect.void))
      ws.once("error", (error) => resume(Effect.fail(new TestError({ message: `cannot connect: ${error.message}` }))))
    })
    const until = (condition: (events: ReadonlyArray<Protocol.ServerEvent>) => boolean, what: string) =>
      Effect.async<ReadonlyArray<Protocol.ServerEvent>, TestError>((resume) => {
        const wake = () => {
          if (condition(received)) {
            waiters.delete(wake)
            resume(Effect.succeed(received.slice()))
          } else if (closeCode !== undefined) {
            waiters.delete(wake)
            resume(Effect.fail(new TestError({ message: `closed (${closeCode}) before ${what}` })))
          }
        }
        waiters.add(wake)
        wake()
        return Effect.sync(() => waiters.delete(wake))
      }).pipe(
        Effect.timeoutFail({
          duration: patience,
          onTimeout: () =>
            new TestError({
              message: `timed out waiting for ${what}; received ${JSON.stringify(received.map((event) => event.type))}`
            })
        })
      )
    yield* until((events) => events.some((event) => event.type === "history"), "the history page")
    const client: Client = {
      events: () => received.slice(),
      send: (message) => Effect.sync(() => ws.send(JSON.stringify(message))),
      until,
      closed: () => closeCode,
      waitClosed: Effect.async<number, TestError>((resume) => {
        if (closeCode !== undefined) return resume(Effect.succeed(closeCode))
        ws.once("close", (code) => resume(Effect.succeed(code)))
      }).pipe(
        Effect.timeoutFail({
          duration: patience,
          onTimeout: () => new TestError({ message: "the socket never closed" })
        })
      ),
      drop: () => ws.terminate()
    }
    return client
  })

// ---- a private PostgreSQL cluster (never restart the machine's shared one)

export interface Cluster {
  readonly port: number
  readonly restart: () => void
  readonly stop: () => void
  readonly start: () => void
}

const postgresBin = (): string | undefined => {
  try {
    const versions = Fs.readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a))
    for (const version of versions) {
      const bin = `/usr/lib/postgresql/${version}/bin`
      if (Fs.existsSync(`${bin}/initdb`) && Fs.existsSync(`${bin}/pg_ctl`)) return bin
    }
  } catch {
    return undefined
  }
  return undefined
}

/** Why a private cluster cannot be made here, or undefined when it can. */
export const clusterUnavailable = (): string | undefined => {
  if (postgresBin() === undefined) return "no initdb under /usr/lib/postgresql/*/bin"
  if (process.getuid?.() !== 0) return "making a cluster as the postgres user needs root"
  try {
    execFileSync("id", ["postgres"], { stdio: "ignore" })
  } catch {
    return "there is no postgres OS user"
  }
  return undefined
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as Net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

const asPostgres = (command: string, args: ReadonlyArray<string>) =>
  execFileSync("runuser", ["-u", "postgres", "--", command, ...args], { stdio: "pipe", timeout: 60_000 })

/** A throwaway cluster in a temporary directory, on a free port; removed with the scope. */
export const privateCluster: Effect.Effect<Cluster, TestError, Scope.Scope> = Effect.acquireRelease(
  Effect.tryPromise({
    try: async () => {
      const bin = postgresBin()!
      const port = await freePort()
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "convo-pg-"))
      Fs.chmodSync(dir, 0o755)
      execFileSync("chown", ["postgres:", dir])
      const data = Path.join(dir, "data")
      asPostgres(`${bin}/initdb`, ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
      const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`
      const ctl = (...args: ReadonlyArray<string>) =>
        asPostgres(`${bin}/pg_ctl`, ["-D", data, "-o", options, "-l", Path.join(dir, "log"), "-w", ...args])
      ctl("start")
      return {
        dir,
        data,
        bin,
        ctl,
        cluster: {
          port,
          restart: () => void ctl("-m", "fast", "restart"),
          stop: () => void ctl("-m", "fast", "stop"),
          start: () => void ctl("start")
        }
      }
    },
    catch: (error) => new TestError({ message: `cannot make a private cluster: ${String(error)}` })
  }),
  ({ ctl, dir }) =>
    Effect.sync(() => {
      try {
        ctl("-m", "immediate", "stop")
      } catch {
        // already stopped
      }
      Fs.rmSync(dir, { recursive: true, force: true })
    })
).pipe(Effect.map(({ cluster }) => cluster))
