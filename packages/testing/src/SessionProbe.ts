/**
 * Reads a chat session's server events in tests: collects them as they come and waits until the
 * collected events satisfy a condition.
 *
 * @since 0.1.0
 */
import type * as ChatAgent from "@convo/core/ChatAgent"
import type * as Protocol from "@convo/core/Protocol"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionProbe {
  /** Every event received so far, in order. */
  readonly events: () => ReadonlyArray<Protocol.ServerEvent>
  /** The events of one type received so far. */
  readonly ofType: <T extends Protocol.ServerEvent["type"]>(type: T) => ReadonlyArray<Protocol.ServerEventOf<T>>
  /** Waits until the events received satisfy `condition`; gives them. */
  readonly until: (
    condition: (events: ReadonlyArray<Protocol.ServerEvent>) => boolean
  ) => Effect.Effect<ReadonlyArray<Protocol.ServerEvent>>
  /** Waits until `count` turns have ended (`turn_end` events); gives those events. */
  readonly turnEnds: (count: number) => Effect.Effect<ReadonlyArray<Protocol.ServerEventOf<"turn_end">>>
}

/**
 * Starts collecting the events of a session (for the life of the scope).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (session: ChatAgent.Session): Effect.Effect<SessionProbe, never, Scope.Scope> =>
  Effect.gen(function* () {
    const received: Array<Protocol.ServerEvent> = []
    const count = yield* SubscriptionRef.make(0)
    yield* Stream.runForEach(session.events, (event) =>
      Effect.suspend(() => {
        received.push(event)
        return SubscriptionRef.set(count, received.length)
      })
    ).pipe(Effect.forkScoped)
    const ofType = <T extends Protocol.ServerEvent["type"]>(type: T) =>
      received.filter((event): event is Protocol.ServerEventOf<T> => event.type === type)
    const until = (condition: (events: ReadonlyArray<Protocol.ServerEvent>) => boolean) =>
      count.changes.pipe(
        Stream.filter(() => condition(received)),
        Stream.take(1),
        Stream.runDrain,
        Effect.as(received.slice() as ReadonlyArray<Protocol.ServerEvent>),
        Effect.map(() => received.slice())
      )
    return {
      events: () => received.slice(),
      ofType,
      until,
      turnEnds: (n) =>
        Effect.map(
          until(() => ofType("turn_end").length >= n),
          () => ofType("turn_end")
        )
    }
  })
