/**
 * Live events of a conversation, shared by every client watching it: another tab, another device,
 * another server process. A turn publishes its events here; every session of the conversation
 * subscribes and forwards them to its client. Each event gets an id, increasing within the
 * conversation, so a client that reconnects with its last event id gets what it missed (from a
 * retained log), then the live rest, with no duplicates.
 *
 * `layerMemory` fans out within one process. A PostgreSQL (LISTEN/NOTIFY) or Redis layer fans out
 * across processes behind the same port.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ConversationId } from "./ConversationStore.js"
import type * as Protocol from "./Protocol.js"

/**
 * A published event with its id.
 *
 * @since 0.1.0
 * @category models
 */
export interface Published {
  readonly id: number
  readonly event: Protocol.ServerEvent
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Publishes an event of a conversation; gives its id. */
  readonly publish: (conversationId: ConversationId, event: Protocol.ServerEvent) => Effect.Effect<number>
  /**
   * The conversation's events from now on, for the life of the scope. With `after`, first the
   * retained events whose id is greater (what a reconnecting client missed), then the live ones;
   * an event is never given twice.
   */
  readonly subscribe: (
    conversationId: ConversationId,
    after?: number | undefined
  ) => Effect.Effect<Stream.Stream<Published>, never, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ConversationEvents extends Context.Tag("@convo/core/ConversationEvents")<ConversationEvents, Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** Events kept per conversation for resuming clients. Default 2,000. */
  readonly retain?: number | undefined
  /** Conversations whose logs are kept; the least recently used one without subscribers goes first. Default 10,000. */
  readonly maxConversations?: number | undefined
}

interface Channel {
  nextId: number
  readonly log: Array<Published>
  readonly pubsub: PubSub.PubSub<Published>
  subscribers: number
}

/**
 * An in-process event hub.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: MemoryOptions = {}): Service => {
  const retain = options.retain ?? 2_000
  const maxConversations = options.maxConversations ?? 10_000
  const channels = new Map<ConversationId, Channel>()

  const channel = (conversationId: ConversationId): Channel => {
    let found = channels.get(conversationId)
    if (found !== undefined) {
      // keep the map in least-recently-used order
      channels.delete(conversationId)
      channels.set(conversationId, found)
      return found
    }
    found = { nextId: 1, log: [], pubsub: Effect.runSync(PubSub.unbounded<Published>()), subscribers: 0 }
    channels.set(conversationId, found)
    if (channels.size > maxConversations) {
      for (const [id, candidate] of channels) {
        if (channels.size <= maxConversations) break
        if (candidate.subscribers === 0 && id !== conversationId) channels.delete(id)
      }
    }
    return found
  }

  return {
    publish: (conversationId, event) =>
      Effect.suspend(() => {
        const target = channel(conversationId)
        const published: Published = { id: target.nextId++, event }
        target.log.push(published)
        if (target.log.length > retain) target.log.splice(0, target.log.length - retain)
        return Effect.as(PubSub.publish(target.pubsub, published), published.id)
      }),
    subscribe: (conversationId, after) =>
      Effect.gen(function* () {
        const target = channel(conversationId)
        const live = yield* PubSub.subscribe(target.pubsub)
        target.subscribers++
        yield* Effect.addFinalizer(() => Effect.sync(() => target.subscribers--))
        // subscribing and reading the log happen in one synchronous step: no event falls between
        const missed = after === undefined ? [] : target.log.filter((published) => published.id > after)
        const last = missed.length > 0 ? missed[missed.length - 1]!.id : (after ?? 0)
        return Stream.concat(
          Stream.fromIterable(missed),
          Stream.fromQueue(live).pipe(Stream.filter((published) => published.id > last))
        )
      })
  }
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<ConversationEvents> =>
  Layer.sync(ConversationEvents, () => makeMemory(options))

const processEvents = makeMemory()

/**
 * The hub in use: the `ConversationEvents` service when one is provided, else one shared
 * in-process hub.
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Service> = Effect.map(Effect.serviceOption(ConversationEvents), (option) =>
  option._tag === "Some" ? option.value : processEvents
)
