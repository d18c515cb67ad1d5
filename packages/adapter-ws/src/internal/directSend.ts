/**
 * Writing frames straight to an open socket, from the synchronous callback the session calls with
 * each event, without an Effect per frame. On Node's `ws` the underlying TCP socket is corked until
 * the event loop's check phase, so the frames written in one turn of the loop go out in one
 * `writev` (one system call per flush instead of one per frame). Elsewhere it is a plain `send`.
 *
 * @internal
 */

interface Corkable {
  readonly cork: () => void
  readonly uncork: () => void
}

const later: (f: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (f) => void (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate(f)
    : (f) => void setTimeout(f, 0)

/** A synchronous sender of text frames on a socket. @internal */
export interface DirectSend {
  /** Sends a frame; `false` (and nothing sent) when the client has not taken `maxBuffered` bytes sent before. */
  readonly send: (frame: string) => boolean
}

/**
 * A synchronous sender of text frames on `ws` (a `globalThis.WebSocket`-shaped object). What the
 * client has not taken (`bufferedAmount`) is checked once per loop turn, before the socket is corked,
 * so a healthy client is never judged by the frames of the turn being written. @internal
 */
export const make = (ws: globalThis.WebSocket, maxBuffered: number): DirectSend => {
  const raw = (ws as unknown as { readonly _socket?: Partial<Corkable> })._socket
  const tcp = raw !== undefined && typeof raw.cork === "function" && typeof raw.uncork === "function" ? raw : undefined
  if (tcp === undefined) {
    return {
      send: (frame) => {
        if ((ws.bufferedAmount ?? 0) > maxBuffered) return false
        ws.send(frame)
        return true
      }
    }
  }
  let corked = false
  const uncork = () => {
    corked = false
    tcp.uncork!()
  }
  return {
    send: (frame) => {
      if (!corked) {
        if ((ws.bufferedAmount ?? 0) > maxBuffered) return false
        corked = true
        tcp.cork!()
        later(uncork)
      }
      ws.send(frame)
      return true
    }
  }
}
