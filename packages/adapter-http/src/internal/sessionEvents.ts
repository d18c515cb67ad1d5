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
   * With `heartbeat`, its text every `everyMs` until the stream ends — a timer, not a merged
   * stream (`Stream.merge` costs a queue hop per chunk, about three times the rest of the chunk's way).
   */
  readonly stream: (
    render: (event: Protocol.ServerEvent) => { readonly text: string | undefined; readonly last: boolean },
    heartbeat?: { readonly everyMs: number; readonly text: string } | undefined
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
    // `asyncPush`: a chunk is offered synchronously (`Stream.async` runs a fiber and a promise per
    // chunk: about 20 µs more per chunk, bench/ws/abSseChunk.ts)
    const stream: SessionEvents["stream"] = (render, heartbeat) =>
      Stream.asyncPush<string>(
        (emit) => {
          let text = ""
          let scheduled = false
          let done = false
          let timer: ReturnType<typeof setInterval> | undefined
          const stop = () => {
            if (timer !== undefined) clearInterval(timer)
            timer = undefined
          }
          const schedule = () => {
            if (scheduled) return
            scheduled = true
            later(flush)
          }
          const flush = () => {
            scheduled = false
            if (text.length > 0) {
              const chunk = text
              text = ""
              emit.single(chunk)
            }
            if (done) {
              stop()
              emit.end()
            }
          }
          const start = () => {
            sinkEnd = () => {
              done = true
              schedule()
            }
            sink = (event) => {
              if (done) return
              const rendered = render(event)
              if (rendered.text !== undefined) text += rendered.text
              if (rendered.last) done = true
              schedule()
            }
            for (const event of kept.splice(0, kept.length)) sink(event)
            if (ended) sinkEnd()
            if (heartbeat !== undefined && !done) {
              timer = setInterval(() => {
                if (done) return
                text += heartbeat.text
                schedule()
              }, heartbeat.everyMs)
            }
          }
          // the response may end early (the client went away): no more heartbeats then
          return Effect.acquireRelease(Effect.sync(start), () => Effect.sync(stop))
        },
        { bufferSize: "unbounded" }
      )
    return { take, stream }
  })
