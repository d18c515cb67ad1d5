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
 * Delivery to the watchers of a process is synchronous: `watch` registers a callback that the hub
 * calls with each event as it is published (or arrives from another process), in the publisher's
 * own call, so a delta costs no fiber hop, queue or stream step per watcher. `subscribe` is the
 * same feed as a `Stream`, for code that wants one.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
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
 * A watcher's callback: called synchronously with each event of the conversation, in id order,
 * each once. It must not block or throw (a throw is caught and logged to the console; the other
 * watchers still get the event).
 *
 * @since 0.2.0
 * @category models
 */
export type Watcher = (published: Published) => void

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
  /**
   * Calls `watcher` with the conversation's events from now on, for the life of the scope — with
   * `after`, first the retained events whose id is greater — each once, in order, synchronously
   * as they are published: the same feed as `subscribe` without a stream. The effect completes
   * once the watcher is registered (and the missed events handed to it).
   */
  readonly watch: (
    conversationId: ConversationId,
    after: number | undefined,
    watcher: Watcher
  ) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * Calls each watcher of `watchers` with an event; a watcher that throws does not stop the others.
 *
 * @since 0.2.0
 * @category delivery
 */
export const deliverTo = (watchers: Iterable<Watcher>, published: Published): void => {
  for (const watcher of watchers) {
    try {
      watcher(published)
    } catch (error) {
      console.error("ConversationEvents: a watcher threw", error)
    }
  }
}

/**
 * `subscribe` from `watch`: the watched events through an unbounded queue, as a stream. For hub
 * implementations, which need to write only `watch`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const subscribeFromWatch =
  (watch: Service["watch"]): Service["subscribe"] =>
  (conversationId, after) =>
    Effect.gen(function* () {
      const queue = yield* Effect.acquireRelease(Queue.unbounded<Published>(), Queue.shutdown)
      yield* watch(conversationId, after, (published) => void queue.unsafeOffer(published))
      return Stream.fromQueue(queue)
    })

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
  /** Events kept per conversation for resuming clients (at least this many; trimmed in batches). Default 2,000. */
  readonly retain?: number | undefined
  /** Conversations whose logs are kept; the least recently used one without subscribers goes first. Default 10,000. */
  readonly maxConversations?: number | undefined
}

interface Channel {
  nextId: number
  readonly log: Array<Published>
  readonly watchers: Set<Watcher>
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
    found = { nextId: 1, log: [], watchers: new Set() }
    channels.set(conversationId, found)
    if (channels.size > maxConversations) {
      for (const [id, candidate] of channels) {
        if (channels.size <= maxConversations) break
        if (candidate.watchers.size === 0 && id !== conversationId) channels.delete(id)
      }
    }
    return found
  }

  const watch: Service["watch"] = (conversationId, after, watcher) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const target = channel(conversationId)
        // the missed events and the registration happen in one synchronous step: nothing falls between
        if (after !== undefined) {
          for (const published of target.log) if (published.id > after) deliverTo([watcher], published)
        }
        // a distinct function per registration, so one callback may watch twice
        const registered: Watcher = (published) => watcher(published)
        target.watchers.add(registered)
        return { target, registered }
      }),
      ({ registered, target }) => Effect.sync(() => void target.watchers.delete(registered))
    ).pipe(Effect.asVoid)

  return {
    publish: (conversationId, event) =>
      Effect.sync(() => {
        const target = channel(conversationId)
        const published: Published = { id: target.nextId++, event }
        target.log.push(published)
        if (target.log.length > retain * 2) target.log.splice(0, target.log.length - retain)
        deliverTo(target.watchers, published)
        return published.id
      }),
    subscribe: subscribeFromWatch(watch),
    watch
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
