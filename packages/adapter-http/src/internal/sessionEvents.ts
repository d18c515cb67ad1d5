/**
 * A session's events as an HTTP response reads them: taken one at a time while the request is
 * being answered (its refusal, if any, comes first), then handed over as they come, in batches —
 * every event that arrived in one turn of the event loop becomes one chunk of the response, so an
 * SSE stream costs one write per batch, not a queue, fiber and write per event.
 *
 * @internal
 */
import type * as ChatAgent from "@convo/core/ChatAgent"
import type * as Protocol from "@convo/core/Protocol"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Stream from "effect/Stream"

const later: (f: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (f) => void (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate(f)
    : (f) => void setTimeout(f, 0)

/** @internal */
export interface SessionEvents {
  /** The next event; `undefined` once the session has ended. */
  readonly take: Effect.Effect<Protocol.ServerEvent | undefined>
  /**
   * The rest as a stream: each event through `render` (text, or `undefined` to skip it; `last`
   * ends the stream after it), the texts of one turn of the event loop joined into one chunk.
   */
  readonly stream: (
    render: (event: Protocol.ServerEvent) => { readonly text: string | undefined; readonly last: boolean }
  ) => Stream.Stream<string>
}

/** Attaches to the session's events. @internal */
export const attach = (session: ChatAgent.Session): Effect.Effect<SessionEvents> =>
  Effect.gen(function* () {
    const kept: Array<Protocol.ServerEvent> = []
    let ended = false
    let waiter: Deferred.Deferred<void> | undefined
    let sink: ((event: Protocol.ServerEvent) => void) | undefined
    let sinkEnd: (() => void) | undefined
    const wake = () => {
      const w = waiter
      waiter = undefined
      if (w !== undefined) Deferred.unsafeDone(w, Exit.void)
    }
    yield* session.attach({
      onEvent: (event) => {
        if (sink !== undefined) return sink(event)
        kept.push(event)
        wake()
      },
      onEnd: () => {
        ended = true
        sinkEnd?.()
        wake()
      }
    })
    const take: Effect.Effect<Protocol.ServerEvent | undefined> = Effect.suspend(() => {
      const event = kept.shift()
      if (event !== undefined) return Effect.succeed(event)
      if (ended) return Effect.succeed(undefined)
      waiter ??= Deferred.unsafeMake<void>(FiberId.none)
      return Effect.zipRight(Deferred.await(waiter), take)
    })
    const stream: SessionEvents["stream"] = (render) =>
      Stream.async<string>((emit) => {
        let text = ""
        let scheduled = false
        let done = false
        const flush = () => {
          scheduled = false
          if (text.length > 0) {
            const chunk = text
            text = ""
            void emit.single(chunk)
          }
          if (done) void emit.end()
        }
        const onEvent = (event: Protocol.ServerEvent) => {
          if (done) return
          const rendered = render(event)
          if (rendered.text !== undefined) text += rendered.text
          if (rendered.last) done = true
          if (!scheduled) {
            scheduled = true
            later(flush)
          }
        }
        sinkEnd = () => {
          done = true
          if (!scheduled) {
            scheduled = true
            later(flush)
          }
        }
        sink = onEvent
        for (const event of kept.splice(0, kept.length)) onEvent(event)
        if (ended) sinkEnd()
      }, "unbounded")
    return { take, stream }
  })
