/**
 * The fault suite's parts: real processes (a chat server, a fake model), real `ws` clients that
 * keep every event and the close code, and direct reads of the database.
 */
import * as Protocol from "@convo/core/Protocol"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import WebSocket from "ws"
import { TestError } from "../support/processes.js"

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url))
/** How long a test waits for something that should happen (a guard against hangs, not a timing assertion). */
export const patience = 20_000

export interface Proc {
  readonly port: number
  readonly pid: number
  readonly output: () => string
  readonly signal: (signal: NodeJS.Signals) => void
  readonly exited: Promise<number | null>
}

/** Starts `script` under tsx; waits for `PORT <n> PID <pid>`; killed with the scope if still running. */
export const start = (script: string, env: Record<string, string>): Effect.Effect<Proc, TestError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        new Promise<{ child: ChildProcess; proc: Proc }>((resolve, reject) => {
          const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL(script, import.meta.url))], {
            cwd: repoRoot,
            env: { ...process.env, ...env },
            stdio: ["ignore", "pipe", "pipe"]
          })
          let output = ""
          const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
          const timer = setTimeout(() => reject(new Error(`${script} did not start: ${output}`)), patience)
          const onData = (chunk: Buffer) => {
            output += chunk.toString("utf8")
            const found = /PORT (\d+) PID (\d+)/.exec(output)
            if (found !== null) {
              clearTimeout(timer)
              resolve({
                child,
                proc: {
                  port: Number(found[1]),
                  pid: Number(found[2]),
                  output: () => output,
                  signal: (signal) => void child.kill(signal),
                  exited
                }
              })
            }
          }
          child.stdout!.on("data", onData)
          child.stderr!.on("data", onData)
          void exited.then((code) => {
            clearTimeout(timer)
            reject(new Error(`${script} exited with ${code}: ${output}`))
          })
        }),
      catch: (error) => new TestError({ message: String(error) })
    }),
    ({ child }) =>
      Effect.promise(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.kill("SIGCONT")
        child.kill("SIGKILL")
        await new Promise((done) => child.once("exit", done))
      })
  ).pipe(Effect.map(({ proc }) => proc))

/** The fake model process; on `port` when given (to restart it at the same address). */
export const model = start("./modelServer.ts", {})
export const modelOn = (port: number) => start("./modelServer.ts", { CONVO_MODEL_PORT: String(port) })

/** The texts of every request the model process got, in order. */
export const modelRequests = (proc: Proc): ReadonlyArray<ReadonlyArray<string>> =>
  proc
    .output()
    .split("\n")
    .flatMap((line) => (line.startsWith("REQUEST ") ? [JSON.parse(line.slice(8)) as Array<string>] : []))

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

/** A `ws` client; it waits for the history page before returning. */
export const connect = (port: number, conversationId: number): Effect.Effect<Client, TestError, Scope.Scope> =>
  Effect.gen(function* () {
    const ws = yield* Effect.acquireRelease(
      Effect.sync(() => new WebSocket(`ws://127.0.0.1:${port}/ws/chat/${conversationId}/`)),
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
    ws.on("error", () => undefined)
    yield* Effect.async<void, TestError>((resume) => {
      ws.once("open", () => resume(Effect.void))
      ws.once("error", (error) => resume(Effect.fail(new TestError({ message: `cannot connect: ${error.message}` }))))
    })
    const wait = <A>(check: () => A | undefined, what: string) =>
      Effect.async<A, TestError>((resume) => {
        const wake = () => {
          const value = check()
          if (value !== undefined) {
            waiters.delete(wake)
            resume(Effect.succeed(value))
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
    const until = (condition: (events: ReadonlyArray<Protocol.ServerEvent>) => boolean, what: string) =>
      wait(() => (condition(received) ? received.slice() : undefined), what)
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

export const ofType = <T extends Protocol.ServerEvent["type"]>(
  events: ReadonlyArray<Protocol.ServerEvent>,
  type: T
): Array<Protocol.ServerEventOf<T>> => events.filter((event): event is Protocol.ServerEventOf<T> => event.type === type)

export const count =
  (type: Protocol.ServerEvent["type"], n: number) =>
  (events: ReadonlyArray<Protocol.ServerEvent>): boolean =>
    events.filter((event) => event.type === type).length >= n

/** The end of the turn of the message with `clientId` (known by its `received` or its human `message_start`), once it came. */
export const turnEndOf = (events: ReadonlyArray<Protocol.ServerEvent>, clientId: string) => {
  const turnId =
    ofType(events, "received").find((event) => event.clientId === clientId)?.turnId ??
    ofType(events, "message_start").find((event) => event.role === "human" && event.clientId === clientId)?.turnId
  return turnId === undefined ? undefined : ofType(events, "turn_end").find((event) => event.turnId === turnId)
}

export const sleep = (ms: number) => Effect.sleep(`${ms} millis`)
