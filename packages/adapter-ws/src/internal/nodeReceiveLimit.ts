/**
 * The Node binding of `ReceiveLimit`: `@effect/platform-node` upgrades with a `ws`
 * `WebSocketServer({ noServer: true })` of its own, created with `ws`'s default `maxPayload`
 * (100 MiB), and offers no way to pass options to it. `ws` reads `maxPayload` from the server's
 * options during `handleUpgrade` (synchronously) and gives it to the socket's frame parser, which
 * fails a frame whose header announces more (close 1009) before buffering its payload. So
 * `handleUpgrade` is wrapped, once, on the `ws` copy that platform-node loads: for a request given a
 * limit here, the call sees the server's options with that `maxPayload`; any other request is
 * upgraded exactly as before.
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { createRequire } from "node:module"

type HandleUpgrade = (this: { options: Record<string, unknown> }, ...args: Array<unknown>) => unknown

const limits = new WeakMap<object, number>()
let installed = false

const install = (): void => {
  if (installed) return
  installed = true
  // the `ws` that platform-node resolves, whichever copy that is
  const fromPlatform = createRequire(createRequire(import.meta.url).resolve("@effect/platform-node/package.json"))
  const { WebSocketServer } = fromPlatform("ws") as { WebSocketServer: { prototype: { handleUpgrade: HandleUpgrade } } }
  const original = WebSocketServer.prototype.handleUpgrade
  WebSocketServer.prototype.handleUpgrade = function (this: { options: Record<string, unknown> }, ...args) {
    const limit = limits.get(args[0] as object)
    if (limit === undefined) return original.apply(this, args)
    const options = this.options
    this.options = { ...options, maxPayload: limit }
    try {
      return original.apply(this, args)
    } finally {
      this.options = options
    }
  }
}

/** @internal */
export const beforeUpgrade = (request: HttpServerRequest.HttpServerRequest, maxBytes: number): void => {
  const source = request.source
  if (typeof source !== "object" || source === null) return
  install()
  limits.set(source, Math.max(1, Math.floor(maxBytes)))
}
