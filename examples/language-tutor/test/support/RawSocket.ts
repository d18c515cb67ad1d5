/**
 * A WebSocket client written by hand on a TCP socket, for what the `ws` client will not do: announce
 * a huge frame and stall in the middle of it.
 */
import * as NodeNet from "node:net"

export interface Raw {
  readonly socket: NodeNet.Socket
  /** The code of the first close frame the server sends (`undefined`: the connection ended without one). */
  readonly closeCode: Promise<number | undefined>
}

/** Upgrades a TCP connection to `url` (ws://host:port/path) with these extra headers. */
export const upgrade = (url: string, headers: Record<string, string> = {}): Promise<Raw> =>
  new Promise((resolve, reject) => {
    const target = new URL(url)
    const socket = NodeNet.connect(Number(target.port), target.hostname)
    socket.on("error", () => {})
    let buffer = Buffer.alloc(0)
    let upgraded = false
    let settle: (code: number | undefined) => void = () => {}
    const closeCode = new Promise<number | undefined>((r) => (settle = r))
    socket.on("close", () => settle(undefined))
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
      while (buffer.length >= 2) {
        const length = buffer[1]! & 0x7f
        if (length > 125 || buffer.length < 2 + length) return
        if ((buffer[0]! & 0x0f) === 8) settle(length >= 2 ? buffer.readUInt16BE(2) : 1005)
        buffer = buffer.subarray(2 + length)
      }
    })
    socket.on("connect", () =>
      socket.write(
        [
          `GET ${target.pathname}${target.search} HTTP/1.1`,
          `Host: ${target.host}`,
          "Upgrade: websocket",
          "Connection: Upgrade",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version: 13",
          ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
          "",
          ""
        ].join("\r\n")
      )
    )
  })

const chunk = Buffer.alloc(64 * 1024, 0x61)

/** Sends the header of a masked text frame announcing `declared` bytes, then `sent` bytes of it. */
export const stall = (raw: Raw, declared: number, sent: number): Promise<void> =>
  new Promise((resolve) => {
    const header = Buffer.alloc(14)
    header[0] = 0x81
    header[1] = 0x80 | 127
    header.writeBigUInt64BE(BigInt(declared), 2)
    raw.socket.write(header)
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

/** The promise's value, or `fallback` after `millis`. */
export const within = <A>(promise: Promise<A>, millis: number, fallback: A): Promise<A> =>
  Promise.race([promise, new Promise<A>((resolve) => setTimeout(() => resolve(fallback), millis))])
