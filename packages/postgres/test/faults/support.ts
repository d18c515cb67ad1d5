/**
 * The fault suite's parts: real processes (a chat server, a fake model) and real `ws` clients, on
 * `support/processes.ts`'s process and client helpers.
 */
import type * as Protocol from "@convo/core/Protocol"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { fileURLToPath } from "node:url"
import { type Client, type Server, connect as connectUrl, startServer, TestError } from "../support/processes.js"

export type { Client }

/** A process of the suite: `support/processes.ts`'s server handle. */
export type Proc = Server

/** Starts a script of this folder under tsx (see `startServer`). */
export const start = (script: string, env: Record<string, string>): Effect.Effect<Proc, TestError, Scope.Scope> =>
  startServer(env, fileURLToPath(new URL(script, import.meta.url)))

/** The fake model process; on `port` when given (to restart it at the same address). */
export const model = start("./modelServer.ts", {})
export const modelOn = (port: number) => start("./modelServer.ts", { CONVO_MODEL_PORT: String(port) })

/** The texts of every request the model process got, in order. */
export const modelRequests = (proc: Proc): ReadonlyArray<ReadonlyArray<string>> =>
  proc
    .output()
    .split("\n")
    .flatMap((line) => (line.startsWith("REQUEST ") ? [JSON.parse(line.slice(8)) as Array<string>] : []))

/** A `ws` client on the chat route of a server; it waits for the history page before returning. */
export const connect = (port: number, conversationId: number): Effect.Effect<Client, TestError, Scope.Scope> =>
  connectUrl(`ws://127.0.0.1:${port}/ws/chat/${conversationId}/`)

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
