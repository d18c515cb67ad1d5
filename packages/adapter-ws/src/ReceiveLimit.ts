/**
 * How a runtime binding enforces a chat socket's frame limit while a frame is being received,
 * before it is buffered. `ChatSocket` checks every delivered frame against `maxFrameBytes`, but a
 * check after delivery comes too late: the frame is already in memory (`ws`, under
 * `@effect/platform-node`, buffers up to 100 MiB per frame by default). With this service in the
 * context, `ChatSocket` tells the binding each socket's limit right before it upgrades the
 * request, and the binding refuses a larger frame as soon as its header announces the length
 * (close code 1009), whatever the client sends after it.
 *
 * `ChatSocketNode.layerReceiveLimit` is the Node binding (`ChatSocketNode.layer` includes it); an
 * app that serves `ChatSocket.route` on its own `NodeHttpServer` provides it beside the server.
 *
 * @since 0.1.0
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Called with an upgrade request right before `request.upgrade`: the socket it becomes refuses
   * frames (and fragmented messages) larger than `maxBytes` while they arrive.
   */
  readonly beforeUpgrade: (request: HttpServerRequest.HttpServerRequest, maxBytes: number) => void
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ReceiveLimit extends Context.Tag("@convo/adapter-ws/ReceiveLimit")<ReceiveLimit, Service>() {}

/**
 * Sets the receive limit of the socket this request upgrades to, when a binding is provided.
 *
 * @since 0.1.0
 * @category utils
 */
export const beforeUpgrade = (request: HttpServerRequest.HttpServerRequest, maxBytes: number): Effect.Effect<void> =>
  Effect.map(Effect.serviceOption(ReceiveLimit), (service) => {
    if (Option.isSome(service)) service.value.beforeUpgrade(request, maxBytes)
  })
