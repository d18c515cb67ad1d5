/**
 * The frame limit is enforced while a frame arrives, not after it is buffered: raw TCP clients
 * (the `ws` client would build the whole frame first) announce a 90 MiB frame, send part of it and
 * stall — on an accepted socket and on one refused with `rejectWith: "close"` (no log-in needed).
 */
import * as CloseCode from "@convo/adapter-ws/CloseCode"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodeNet from "node:net"
import { Harness, layer } from "./support/harness.js"

const MiB = 1024 * 1024

interface Raw {
  readonly socket: NodeNet.Socket
  /** Resolves with the code of the first close frame the server sends (undefined: none, the socket ended). */
  readonly closeCode: Promise<number | undefined>
}

/** Upgrades a raw TCP connection by hand; what the server sends after the 101 is parsed as frames. */
const upgrade = (origin: string, path: string, cookie?: string): Promise<Raw> =>
  new Promise((resolve, reject) => {
    const [host, port] = origin.split(":") as [string, string]
    const socket = NodeNet.connect(Number(port), host)
    socket.on("error", () => {})
    let buffer = Buffer.alloc(0)
    let upgraded = false
    let settleClose: (code: number | undefined) => void = () => {}
    const closeCode = new Promise<number | undefined>((r) => (settleClose = r))
    socket.on("close", () => settleClose(undefined))
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      if (!upgraded) {
        const end = buffer.indexOf("\r\n\r\n")
        if (end === -1) return
        const head = buffer.subarray(0, end).toString("latin1")
        if (!head.startsWith("HTTP/1.1 101")) return reject(new Error(`not upgraded: ${head}`))
        upgraded = true
        buffer = buffer.subarray(end + 4)
        resolve({ socket, closeCode })
      }
      // server frames are unmasked; only a close frame (opcode 8) matters here
      while (buffer.length >= 2) {
        const length = buffer[1]! & 0x7f
        if (length > 125 || buffer.length < 2 + length) return
        if ((buffer[0]! & 0x0f) === 8) settleClose(length >= 2 ? buffer.readUInt16BE(2) : 1005)
        buffer = buffer.subarray(2 + length)
      }
    })
    socket.on("connect", () =>
      socket.write(
        [
          `GET ${path} HTTP/1.1`,
          `Host: ${origin}`,
          "Upgrade: websocket",
          "Connection: Upgrade",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version: 13",
          `Origin: http://${origin}`,
          ...(cookie === undefined ? [] : [`Cookie: ${cookie}`]),
          "",
          ""
        ].join("\r\n")
      )
    )
  })

/** A masked text frame header announcing `length` bytes (a zero mask: the payload goes as it is). */
const header = (length: number): Buffer => {
  const bytes = Buffer.alloc(14)
  bytes[0] = 0x81
  bytes[1] = 0x80 | 127
  bytes.writeBigUInt64BE(BigInt(length), 2)
  return bytes
}

const chunk = Buffer.alloc(64 * 1024, 0x61)

/** Sends the header of a `declared`-byte frame and `sent` bytes of it; resolves once written (or the socket is gone). */
const stall = (raw: Raw, declared: number, sent: number): Promise<void> =>
  new Promise((resolve) => {
    raw.socket.write(header(declared))
    let left = sent
    const pump = () => {
      while (left > 0 && !raw.socket.destroyed) {
        left -= chunk.length
        if (!raw.socket.write(chunk)) return void raw.socket.once("drain", pump)
      }
      if (raw.socket.destroyed) return resolve()
      raw.socket.write(Buffer.alloc(0), () => resolve())
    }
    raw.socket.once("close", () => resolve())
    pump()
  })

const within = <A>(promise: Promise<A>, millis: number, fallback: A): Promise<A> =>
  Promise.race([promise, new Promise<A>((resolve) => setTimeout(() => resolve(fallback), millis))])

describe("ChatSocket: frames are limited while they arrive", () => {
  it.scopedLive("an announced 90 MiB frame closes an accepted socket with 1009 before its payload is buffered", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const raw = yield* Effect.promise(() => upgrade(harness.origin, "/ws/open/", "session=alice"))
      yield* Effect.promise(() => stall(raw, 90 * MiB, 2 * MiB))
      // without a limit on receipt the server waits for the other 88 MiB and sends nothing
      const code = yield* Effect.promise(() => within(raw.closeCode, 10_000, -1))
      assert.strictEqual(code, CloseCode.frameTooLarge)
      raw.socket.destroy()
    }).pipe(Effect.provide(layer()))
  )

  it.scopedLive("ten anonymous refused sockets stalling 90 MiB frames grow the server by a bounded amount", () =>
    Effect.gen(function* () {
      const harness = yield* Harness
      const sockets = 10
      const sent = 24 * MiB
      const raws = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: sockets }, () => upgrade(harness.origin, "/ws/closing/chat/1/")))
      )
      const before = process.memoryUsage().rss
      yield* Effect.promise(() => Promise.all(raws.map((raw) => stall(raw, 90 * MiB, sent))))
      const grown = process.memoryUsage().rss - before
      for (const raw of raws) raw.socket.destroy()
      // buffered, the frames would hold 240 MiB; refused on receipt, a few socket buffers' worth
      assert.isBelow(grown, 64 * MiB, `the server grew by ${Math.round(grown / MiB)} MiB`)
    }).pipe(Effect.provide(layer()))
  )
})
