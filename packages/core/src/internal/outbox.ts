/**
 * A session's outgoing events: handed synchronously to the transport's writer once one is
 * attached, kept in order until then. No queue, fiber or stream per event; an idle session holds
 * an empty array.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type { SessionWriter } from "../ChatAgent.js"
import type * as Protocol from "../Protocol.js"

type Writer = SessionWriter

const end: unique symbol = Symbol("convo/outbox/end")

/** @internal */
export class Outbox {
  private buffer: Array<Protocol.ServerEvent> | undefined = []
  private writer: Writer | undefined
  private ended = false

  /** Hands an event to the writer, or keeps it until one is attached. */
  emit(event: Protocol.ServerEvent): void {
    if (this.ended) return
    const writer = this.writer
    if (writer === undefined) {
      this.buffer!.push(event)
      return
    }
    try {
      writer.onEvent(event)
    } catch (error) {
      console.error("convo session: the transport's writer threw", error)
    }
  }

  /** Attaches the one writer: gets what was kept, in order, then every event as it comes. */
  attach(writer: Writer): void {
    if (this.writer !== undefined) throw new Error("a session's events have one reader; it is already attached")
    const kept = this.buffer!
    this.buffer = undefined
    this.writer = writer
    for (const event of kept) {
      try {
        writer.onEvent(event)
      } catch (error) {
        console.error("convo session: the transport's writer threw", error)
      }
    }
    if (this.ended) writer.onEnd?.()
  }

  /** No events after this; the writer's `onEnd` is called (now, or when it attaches). */
  end(): void {
    if (this.ended) return
    this.ended = true
    this.writer?.onEnd?.()
  }

  /** The events as a stream (through a queue), for readers that want one. */
  stream(): Stream.Stream<Protocol.ServerEvent> {
    return Stream.unwrapScoped(
      Effect.gen(this, function* () {
        const queue = yield* Effect.acquireRelease(Queue.unbounded<Protocol.ServerEvent | typeof end>(), Queue.shutdown)
        this.attach({
          onEvent: (event) => void queue.unsafeOffer(event),
          onEnd: () => void queue.unsafeOffer(end)
        })
        return Stream.fromQueue(queue).pipe(
          Stream.takeWhile((event): event is Protocol.ServerEvent => event !== end)
        ) as Stream.Stream<Protocol.ServerEvent>
      })
    )
  }
}
