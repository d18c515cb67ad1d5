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

/** A synchronous sender of text frames on `ws` (a `globalThis.WebSocket`-shaped object). @internal */
export const make = (ws: globalThis.WebSocket): ((frame: string) => void) => {
  const raw = (ws as unknown as { readonly _socket?: Partial<Corkable> })._socket
  const tcp = raw !== undefined && typeof raw.cork === "function" && typeof raw.uncork === "function" ? raw : undefined
  if (tcp === undefined) return (frame) => ws.send(frame)
  let corked = false
  const uncork = () => {
    corked = false
    tcp.uncork!()
  }
  return (frame) => {
    if (!corked) {
      corked = true
      tcp.cork!()
      later(uncork)
    }
    ws.send(frame)
  }
}
