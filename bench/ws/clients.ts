/**
 * The benchmark's clients, one kind per system: each runs one turn at a time (send a message, read
 * the reply's deltas to the end) and checks every frame's text and the whole reply against the
 * scripted one. Deltas are counted by the text received: a frame that carries several of the
 * model's deltas (convo's coalescing) counts each one it completes, and each gets the frame's
 * arrival time (reported to `onDelta` as it comes).
 */
import * as Http from "node:http"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import WebSocket from "ws"

/** `convo-*-w0`: convo with `deltaWindow: 0` (a delta per model chunk, no coalescing). */
export type System =
  | "convo-ws"
  | "convo-sse"
  | "convo-ws-w0"
  | "convo-sse-w0"
  | "aisdk-ws"
  | "aisdk-sse"
  | "langchain-ws"
  | "raw-ws"
  | "raw-sse"

export const DELTAS = 200
const deltaTexts = Array.from({ length: DELTAS }, (_, i) => `w${i} `)
export const expectedReply = deltaTexts.join("")
/** Where each scripted delta ends in the reply. */
const deltaEnds = deltaTexts.reduce<Array<number>>((ends, text) => [...ends, (ends.at(-1) ?? 0) + text.length], [])

export interface Turn {
  readonly sentAt: number
  /** Arrival time of every delta, in order. */
  readonly arrivals: Array<number>
}

export interface Client {
  readonly turn: (onDelta: (at: number) => void) => Promise<Turn>
  readonly close: () => Promise<void>
}

const isWs = (system: System) => system.includes("-ws")
const isConvo = (system: System) => system.startsWith("convo-")

class Mismatch extends Error {}

/**
 * Every frame is checked as it comes: its text must continue the scripted reply exactly where the
 * text so far ends (nothing reordered, dropped or duplicated) and not be empty; each scripted delta
 * it completes is one delta received, at the frame's arrival time.
 */
const received = (
  system: System,
  text: string,
  frame: string,
  at: number,
  arrivals: Array<number>,
  onDelta: (at: number) => void
): string => {
  if (frame.length === 0 || !expectedReply.startsWith(frame, text.length)) {
    throw new Mismatch(`${system}: after ${text.length} characters, a frame of ${JSON.stringify(frame.slice(0, 40))}`)
  }
  const length = text.length + frame.length
  while (arrivals.length < DELTAS && deltaEnds[arrivals.length]! <= length) {
    arrivals.push(at)
    onDelta(at)
  }
  return text + frame
}

const check = (system: System, text: string, deltas: number) => {
  if (text !== expectedReply || deltas !== DELTAS) {
    throw new Mismatch(`${system}: the reply was ${JSON.stringify(text.slice(0, 60))}… after ${deltas} deltas`)
  }
}

// ---- WebSocket clients

const openWs = (url: string, waitFirst: boolean): Promise<WebSocket> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    ws.once("error", reject)
    if (waitFirst) ws.once("message", () => resolve(ws))
    else ws.once("open", () => resolve(ws))
  })

/** The connection dropped (no close handshake: a server busy with 1,000 streams answers it late). */
const closeWs = (ws: WebSocket) =>
  new Promise<void>((done) => {
    if (ws.readyState === WebSocket.CLOSED) return done()
    ws.once("close", () => done())
    ws.terminate()
  })

const wsClient = async (system: System, port: number, index: number): Promise<Client> => {
  const convo = isConvo(system)
  const ws = await openWs(
    convo ? `ws://127.0.0.1:${port}/ws/bench/chat/${index + 1}/` : `ws://127.0.0.1:${port}/`,
    convo // convo: open once the history page has arrived
  )
  let current: ((data: string) => void) | undefined
  ws.on("message", (data) => current?.(data.toString()))
  let turns = 0
  const turn = (onDelta: (at: number) => void) =>
    new Promise<Turn>((resolve, reject) => {
      const arrivals: Array<number> = []
      let text = ""
      let aiId: string | undefined
      const requestId = `r${index}-${turns++}`
      const finish = () => {
        current = undefined
        try {
          check(system, text, arrivals.length)
          resolve({ sentAt, arrivals })
        } catch (error) {
          reject(error)
        }
      }
      const handle = (data: string) => {
        const at = performance.now()
        const frame = JSON.parse(data) as Record<string, unknown>
        if (system === "aisdk-ws") {
          if (frame["type"] === "chunk") {
            const chunk = frame["chunk"] as { type: string; delta?: string }
            if (chunk.type === "text-delta") text = received(system, text, chunk.delta!, at, arrivals, onDelta)
          } else if (frame["type"] === "end") finish()
          else if (frame["type"] === "error") reject(new Error(`aisdk-ws: ${data}`))
          return
        }
        switch (frame["type"]) {
          case "message_start":
            if (frame["role"] === "ai") aiId = frame["id"] as string
            return
          case "message_delta":
            if (convo && frame["id"] !== aiId) return reject(new Error(`${system}: a delta of another message`))
            text = received(system, text, frame["text"] as string, at, arrivals, onDelta)
            return
          case "turn_end":
            if (frame["status"] !== "complete") return reject(new Error(`${system}: turn ended ${frame["status"]}`))
            return finish()
          case "error":
            return reject(new Error(`${system}: ${data}`))
        }
      }
      current = (data) => {
        try {
          handle(data)
        } catch (error) {
          current = undefined
          reject(error)
        }
      }
      const sentAt = performance.now()
      ws.send(
        system === "aisdk-ws"
          ? JSON.stringify({
              type: "send",
              requestId,
              id: `chat-${index}`,
              trigger: "submit-message",
              messageId: undefined,
              messages: [{ id: requestId, role: "user", parts: [{ type: "text", text: "Tell me something." }] }],
              headers: {},
              body: {},
              metadata: undefined
            })
          : JSON.stringify({ type: "user_message", text: "Tell me something." })
      )
    })
  return { turn, close: () => closeWs(ws) }
}

// ---- SSE clients (node:http, keep-alive)

const agents: Array<Http.Agent> = []

const ignore = () => undefined

/** A TCP connection to the server, once its handshake is done. */
const openSocket = (port: number): Promise<Net.Socket> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("error", reject)
    socket.once("connect", () => {
      socket.off("error", reject)
      // until the first request takes it (the agent then listens for its errors)
      socket.on("error", ignore)
      resolve(socket)
    })
  })

/**
 * One keep-alive connection per client, as a browser tab holds, opened before the first turn, 100
 * at a time (`connectAll`, as the WebSocket clients are). Opened by the first turn, 1,000 connections
 * came at once and overflowed the server's listen backlog (Node's 511): those the server had not
 * accepted stayed half-open while it streamed the others' turns, and the kernel dropped them after
 * about a minute; the client saw ECONNRESET about 108 s after its first request (its next
 * retransmission).
 */
const sseClient = async (system: System, port: number, index: number): Promise<Client> => {
  let socket: Net.Socket | undefined = await openSocket(port)
  const agent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
  const reconnect = agent.createConnection.bind(agent)
  agent.createConnection = (options, callback) => {
    const opened = socket
    socket = undefined
    opened?.off("error", ignore)
    return opened ?? reconnect(options, callback)
  }
  agents.push(agent)
  let turns = 0
  const tag = Math.random().toString(36).slice(2, 8)
  const turn = (onDelta: (at: number) => void) =>
    new Promise<Turn>((resolve, reject) => {
      const arrivals: Array<number> = []
      let text = ""
      let status: string | undefined
      const aisdk = system === "aisdk-sse"
      const n = turns++
      const body = aisdk
        ? JSON.stringify({ messages: [{ role: "user", content: "Tell me something." }] })
        : JSON.stringify({ type: "user_message", text: "Tell me something.", clientId: `c${tag}-${index}-${n}` })
      const path = isConvo(system) ? `/conversations/${index + 1}/messages` : "/"
      const sentAt = performance.now()
      const request = Http.request(
        {
          host: "127.0.0.1",
          port,
          path,
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
        },
        (response) => {
          if (response.statusCode !== 200) {
            reject(new Error(`${system}: status ${response.statusCode}`))
            response.resume()
            return
          }
          response.setEncoding("utf8")
          let buffer = ""
          response.on("data", (part: string) => {
            try {
              onData(part)
            } catch (error) {
              reject(error)
              response.destroy()
            }
          })
          const onData = (part: string) => {
            const at = performance.now()
            buffer += part
            let end: number
            while ((end = buffer.indexOf("\n\n")) !== -1) {
              const block = buffer.slice(0, end)
              buffer = buffer.slice(end + 2)
              const dataAt = block.indexOf("data: ")
              if (dataAt === -1) continue
              const data = block.slice(dataAt + 6)
              if (data === "[DONE]") continue
              const event = JSON.parse(data) as Record<string, unknown>
              if (aisdk) {
                if (event["type"] === "text-delta") {
                  text = received(system, text, event["delta"] as string, at, arrivals, onDelta)
                } else if (event["type"] === "finish") status = "complete"
              } else if (event["type"] === "message_delta") {
                text = received(system, text, event["text"] as string, at, arrivals, onDelta)
              } else if (event["type"] === "turn_end") status = event["status"] as string
              else if (event["type"] === "error") status = `error ${data}`
            }
          }
          response.on("end", () => {
            try {
              if (status !== "complete") throw new Error(`${system}: the stream ended with status ${status}`)
              check(system, text, arrivals.length)
              resolve({ sentAt, arrivals })
            } catch (error) {
              reject(error)
            }
          })
          response.on("error", reject)
        }
      )
      request.on("error", reject)
      request.end(body)
    })
  return {
    turn,
    close: async () => {
      socket?.destroy()
      agent.destroy()
    }
  }
}

export const connect = (system: System, port: number, index: number): Promise<Client> =>
  isWs(system) ? wsClient(system, port, index) : sseClient(system, port, index)

export const connectAll = async (system: System, port: number, n: number): Promise<Array<Client>> => {
  const clients: Array<Client> = []
  for (let start = 0; start < n; start += 100) {
    clients.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(100, n - start) }, (_, i) => connect(system, port, start + i))
      ))
    )
  }
  return clients
}

export const closeAgent = () => agents.splice(0).forEach((agent) => agent.destroy())
