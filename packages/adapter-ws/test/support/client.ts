/**
 * A real `ws` client for the adapter tests, wrapped in Effect: it collects the server's events as
 * they arrive and waits for conditions on them, for the close frame, or for a refused upgrade.
 */
import * as Protocol from "@convo/core/Protocol"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import type { IncomingMessage } from "node:http"
import WebSocket from "ws"

/** How long a test waits for something the server should send (a guard against hangs, not a timing assertion). */
const patience = "10 seconds"

export class ClientError extends Data.TaggedError("ClientError")<{ readonly message: string }> {}

export interface Closed {
  readonly code: number
  readonly reason: string
}

export interface Refusal {
  readonly status: number
  readonly body: unknown
}

export interface Client {
  readonly ws: WebSocket
  /** Every event received so far, decoded with the protocol's schema. */
  readonly events: () => ReadonlyArray<Protocol.ServerEvent>
  readonly ofType: <T extends Protocol.ServerEvent["type"]>(type: T) => ReadonlyArray<Protocol.ServerEventOf<T>>
  /** Sends an object as a JSON text frame, a string as it is, bytes as a binary frame. */
  readonly send: (data: unknown) => Effect.Effect<void>
  /** Waits until the received events satisfy the condition. Fails if the socket closes first. */
  readonly until: (
    condition: (events: ReadonlyArray<Protocol.ServerEvent>) => boolean
  ) => Effect.Effect<ReadonlyArray<Protocol.ServerEvent>, ClientError>
  /** Waits for the close frame. */
  readonly closed: Effect.Effect<Closed, ClientError>
  /** Whether the socket is still open. */
  readonly isOpen: () => boolean
}

const readBody = (response: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    let text = ""
    response.setEncoding("utf8")
    response.on("data", (chunk: string) => (text += chunk))
    response.on("end", () => resolve(text))
    response.on("error", () => resolve(text))
  })

const parseBody = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

type Outcome = { readonly _tag: "Open" } | { readonly _tag: "Refused"; readonly refusal: Refusal }

const open = (url: string, headers: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => new WebSocket(url, { headers })),
    (ws) => Effect.sync(() => ws.terminate())
  )

const handshake = (ws: WebSocket): Effect.Effect<Outcome, ClientError> =>
  Effect.async<Outcome, ClientError>((resume) => {
    ws.once("open", () => resume(Effect.succeed({ _tag: "Open" })))
    ws.once("unexpected-response", (_request, response) => {
      void readBody(response).then((text) =>
        resume(
          Effect.succeed({ _tag: "Refused", refusal: { status: response.statusCode ?? 0, body: parseBody(text) } })
        )
      )
    })
    ws.once("error", (error) => resume(Effect.fail(new ClientError({ message: `socket error: ${error.message}` }))))
  }).pipe(
    Effect.timeoutFail({ duration: patience, onTimeout: () => new ClientError({ message: "the handshake hung" }) })
  )

/** Opens a socket; fails when the server refuses the upgrade. The socket is terminated with the scope. */
export const connect = (
  url: string,
  headers: Record<string, string> = {}
): Effect.Effect<Client, ClientError, Scope.Scope> =>
  Effect.gen(function* () {
    const ws = yield* open(url, headers)
    const received: Array<Protocol.ServerEvent> = []
    const waiters = new Set<() => void>()
    let closed: Closed | undefined
    // listeners first: the history event may arrive together with the handshake
    ws.on("message", (data, isBinary) => {
      const decoded = isBinary ? undefined : Protocol.decodeServerEvent(JSON.parse(data.toString("utf8")))
      if (decoded !== undefined && Either.isRight(decoded)) received.push(decoded.right)
      else received.push({ type: "error", code: "internal", message: `undecodable server frame: ${data.toString()}` })
      for (const wake of waiters) wake()
    })
    ws.on("close", (code, reason) => {
      closed = { code, reason: reason.toString("utf8") }
      for (const wake of waiters) wake()
    })
    const outcome = yield* handshake(ws)
    if (outcome._tag === "Refused") {
      return yield* new ClientError({ message: `upgrade refused with ${outcome.refusal.status}` })
    }

    const waitFor = <A>(check: () => Either.Either<A, ClientError> | undefined): Effect.Effect<A, ClientError> =>
      Effect.async<A, ClientError>((resume) => {
        const wake = () => {
          const result = check()
          if (result === undefined) return
          waiters.delete(wake)
          resume(result)
        }
        waiters.add(wake)
        wake()
        return Effect.sync(() => waiters.delete(wake))
      }).pipe(
        Effect.timeoutFail({
          duration: patience,
          onTimeout: () =>
            new ClientError({ message: `timed out; received: ${JSON.stringify(received.map((e) => e.type))}` })
        })
      )

    const client: Client = {
      ws,
      events: () => received.slice(),
      ofType: (type) => received.filter((event) => event.type === type) as never,
      send: (data) =>
        Effect.sync(() =>
          ws.send(typeof data === "string" || data instanceof Uint8Array ? data : JSON.stringify(data))
        ),
      until: (condition) =>
        waitFor(() =>
          condition(received)
            ? Either.right(received.slice())
            : closed !== undefined
              ? Either.left(
                  new ClientError({
                    message: `closed (${closed.code} ${closed.reason}) first; received: ${JSON.stringify(received)}`
                  })
                )
              : undefined
        ),
      closed: waitFor(() => (closed === undefined ? undefined : Either.right(closed))),
      isOpen: () => ws.readyState === WebSocket.OPEN
    }
    return client
  })

/** Attempts an upgrade that the server should refuse; gives the HTTP status and the parsed body. */
export const refusal = (
  url: string,
  headers: Record<string, string> = {}
): Effect.Effect<Refusal, ClientError, Scope.Scope> =>
  Effect.gen(function* () {
    const ws = yield* open(url, headers)
    const outcome = yield* handshake(ws)
    if (outcome._tag === "Open") return yield* new ClientError({ message: "the upgrade was accepted" })
    return outcome.refusal
  })
