/**
 * An open session of one connection with a chat agent: access checks, the history page on
 * connect, client messages handled in order, turns run one at a time per conversation.
 */
import type { BaseMessage } from "@langchain/core/messages"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type { ChatAgent, Session, Setting, Tool } from "../ChatAgent.js"
import { ConnectionRejected } from "../ChatAgent.js"
import * as ChatAgentHooks from "../ChatAgentHooks.js"
import * as ConversationEvents from "../ConversationEvents.js"
import type { Connection } from "../Connection.js"
import { type Conversation, type HistoryPage, ConversationStore } from "../ConversationStore.js"
import * as LlmModels from "../LlmModels.js"
import * as PromptTemplate from "../PromptTemplate.js"
import * as Protocol from "../Protocol.js"
import * as TurnLock from "../TurnLock.js"
import * as Audience from "./audience.js"
import * as ContextWindow from "./contextWindow.js"
import { toHistoryMessage } from "./historyView.js"
import * as Lifecycle from "./lifecycle.js"
import { Outbox } from "./outbox.js"
import * as Turn from "./turn.js"
import * as TurnAccept from "./turnAccept.js"
import * as TurnRecover from "./turnRecover.js"
import { validateUserMessage } from "./validate.js"

const resolve = <A>(setting: Setting<A> | undefined, connection: Connection): Effect.Effect<A | undefined> => {
  if (typeof setting !== "function") return Effect.succeed(setting)
  const value = (setting as (connection: Connection) => A | Effect.Effect<A>)(connection)
  return Effect.isEffect(value) ? (value as Effect.Effect<A>) : Effect.succeed(value as A)
}

const reject = (reason: ConnectionRejected["reason"], detail: string) =>
  Effect.fail(new ConnectionRejected({ reason, detail }))

const mapStoreError = (error: { readonly _tag: string; readonly message: string }) =>
  new ConnectionRejected(
    error._tag === "ConversationNotFound"
      ? { reason: "NotFound", detail: error.message }
      : { reason: "Unavailable", detail: "the conversation store is unavailable" }
  )

/**
 * The access checks of a connection, in pyhub's order: `canAccept`, the conversation id, the
 * conversation, and ownership (a conversation with an owner opens only for its owner; fail closed).
 *
 * @internal
 */
export const authorize = (connection: Connection) =>
  Effect.gen(function* () {
    const hooks = yield* ChatAgentHooks.current
    if (!(yield* hooks.canAccept(connection))) {
      return yield* connection.user === null
        ? reject("Unauthenticated", "log in to use this chat")
        : reject("Forbidden", "this user may not use this chat")
    }
    const conversationId = yield* hooks
      .getConversationId(connection)
      .pipe(
        Effect.catchTag("InvalidConversationId", (error) =>
          reject("NotFound", `"${error.value}" is not a conversation id`)
        )
      )
    const conversation: Conversation | null = yield* hooks
      .getConversation(connection, conversationId)
      .pipe(Effect.mapError(mapStoreError))
    if (conversation !== null && conversation.userId !== null && conversation.userId !== connection.user?.id) {
      return yield* reject("Forbidden", "this conversation belongs to another user")
    }
    return { hooks, conversation }
  })

/**
 * A page of the history as the client sees it, after the access checks.
 *
 * @internal
 */
export const historyPage = (
  connection: Connection,
  conversation: Conversation | null,
  query: { readonly before?: number | undefined; readonly limit: number }
) =>
  conversation === null
    ? Effect.succeed<Protocol.ServerEventOf<"history">>({
        type: "history",
        conversationId: null,
        publicId: null,
        messages: [],
        hasMore: false,
        initial: false
      })
    : Effect.flatMap(ConversationStore, (store) =>
        store.history(conversation.id, { userId: connection.user?.id ?? null, ...query })
      ).pipe(
        Effect.map((page): Protocol.ServerEventOf<"history"> => ({
          type: "history",
          conversationId: conversation.id,
          publicId: conversation.publicId,
          messages: page.entries.map(toHistoryMessage),
          hasMore: page.hasMore,
          initial: false
        }))
      )

/** @internal */
export const open = (agent: ChatAgent, connection: Connection, sendHistory: boolean) =>
  Effect.gen(function* () {
    if (Lifecycle.isDraining()) return yield* reject("Unavailable", "the server is shutting down")
    const options = agent.options
    const { hooks, conversation } = yield* authorize(connection)

    // settings (S6-S8), each a value or a function of the connection
    const spec = (yield* resolve(options.model, connection))!
    const temperature = yield* resolve(options.temperature, connection)
    const maxTokens = yield* resolve(options.maxTokens, connection)
    const timeout = yield* resolve(options.timeout, connection)
    const template = yield* resolve(options.systemPrompt, connection)
    const context = (yield* resolve(options.promptContext, connection)) ?? {}
    const firstMessage = yield* resolve(options.firstUserMessage, connection)
    const tools: ReadonlyArray<Tool> = (yield* resolve(options.tools, connection)) ?? []

    const factory = yield* LlmModels.ChatModelFactory
    const settings = {
      model: spec,
      ...(temperature !== undefined ? { temperature } : {}),
      ...(maxTokens !== undefined ? { maxTokens } : {}),
      ...(timeout !== undefined ? { timeout } : {}),
      // the turn retries a failed call itself, within the agent's timeout, and says why it gave up
      maxRetries: 0
    }
    const baseModel = yield* factory.make(settings).pipe(
      Effect.tapError((error) => Effect.logError("cannot build the chat model", error)),
      Effect.mapError(
        () => new ConnectionRejected({ reason: "Unavailable", detail: "the chat model is not configured" })
      )
    )
    if (tools.length > 0 && !spec.toolCalling) {
      yield* Effect.logWarning(`model ${spec.name} does not call tools; the agent's tools are not offered`)
    }
    const model =
      tools.length > 0 && spec.toolCalling && baseModel.bindTools !== undefined
        ? (baseModel.bindTools([...tools] as Parameters<
            NonNullable<typeof baseModel.bindTools>
          >[0]) as unknown as typeof baseModel)
        : baseModel

    // events out: handed to the transport's writer synchronously (no queue or fiber per event)
    const outbox = new Outbox()
    yield* Effect.addFinalizer(() => Effect.sync(() => outbox.end()))
    const emit = (event: Protocol.ServerEvent) => outbox.emit(event)

    // live events of the conversation (from this and every other session watching it), each once:
    // the hub calls back synchronously, in id order. A watch gives every event of the conversation
    // from its start, so what a session delivered is one range of ids, (lo, hi]; a re-watch (a
    // resume) skips the range delivered before it.
    const bus = yield* ConversationEvents.current
    let lo: number | undefined
    let hi = 0
    let skipLo = 0
    let skipHi = 0
    let watching: Scope.CloseableScope | undefined
    const sessionScope = yield* Effect.scope
    const onPublished = (published: ConversationEvents.Published) => {
      const id = published.id
      // (a negative id: delivered in this process only, never resumed, never twice)
      if (id > 0) {
        if (id > skipLo && id <= skipHi) return
        if (lo === undefined) lo = id - 1
        if (id > hi) hi = id
      }
      const event = Audience.outgoingEvent(published, conversation!, connection)
      if (event !== undefined) emit(event)
    }
    /**
     * Watches now, holding back what arrives; gives the effect that starts forwarding (so the
     * history page can go first).
     */
    const follow = (after: number | undefined) =>
      Effect.gen(function* () {
        if (conversation === null) return Effect.void
        if (watching !== undefined) yield* Scope.close(watching, Exit.void)
        if (lo !== undefined) {
          skipLo = lo
          skipHi = hi
        }
        if (after !== undefined) lo = lo === undefined ? after : Math.min(lo, after)
        const scope = yield* Scope.fork(sessionScope, ExecutionStrategy.sequential)
        watching = scope
        let held: Array<ConversationEvents.Published> | undefined = []
        yield* bus
          .watch(conversation.id, after, (published) =>
            held === undefined ? onPublished(published) : held.push(published)
          )
          .pipe(Scope.extend(scope))
        return Effect.sync(() => {
          const kept = held ?? []
          held = undefined
          for (const published of kept) onPublished(published)
        })
      })
    // subscribe before reading the history, so no turn can end unseen in between
    const startForwarding = yield* follow(connection.lastEventId)
    const lock = yield* TurnLock.current
    const store = yield* ConversationStore
    const pageSize = options.historyPageSize ?? 50
    // the default history is read a page at a time: connect reads only the newest page; a session
    // that sends none reads one row, and only to know whether the agent speaks first
    const limit = sendHistory ? pageSize : firstMessage !== undefined ? 1 : 0
    if (conversation !== null && limit > 0) {
      // turns a dead process left behind are stored (as `interrupted`) before the history is read
      // (a session that reads none leaves them to its first turn, which recovers before it runs)
      yield* TurnRecover.recoverConversation(
        { store, lock, publishTo: (conversationId, event) => Effect.asVoid(bus.publish(conversationId, event)) },
        conversation.id
      )
    }

    const windowed = hooks.getPreviousMessages === ChatAgentHooks.defaults.getPreviousMessages
    const history: HistoryPage =
      conversation === null || limit === 0
        ? { entries: [], hasMore: false }
        : windowed
          ? yield* store
              .history(conversation.id, { userId: connection.user?.id ?? null, limit })
              .pipe(Effect.mapError(mapStoreError))
          : yield* hooks.getPreviousMessages(connection, conversation).pipe(
              Effect.map((entries) => ({ entries: entries.slice(-limit), hasMore: entries.length > limit })),
              Effect.mapError(mapStoreError)
            )
    if (sendHistory) {
      emit({
        type: "history",
        conversationId: conversation?.id ?? null,
        publicId: conversation?.publicId ?? null,
        messages: history.entries.map(toHistoryMessage),
        hasMore: history.hasMore,
        initial: true
      })
    }
    const offered = tools.length > 0 && spec.toolCalling ? tools : []
    const systemPrompt = template === undefined ? null : PromptTemplate.render(template, context)
    const contextState = yield* ContextWindow.make({
      spec,
      maxTokens,
      policy: yield* resolve(options.context, connection),
      systemPrompt,
      tools: offered
    })
    yield* startForwarding

    const memory: Array<BaseMessage> = []
    const env: Turn.TurnEnv = {
      connection,
      conversation,
      hooks,
      defaultCompletion: hooks.onConversationComplete === ChatAgentHooks.defaults.onConversationComplete,
      model,
      tools: new Map(tools.map((tool) => [tool.name, tool])),
      systemPrompt,
      context: contextState,
      windowed,
      timeout: timeout === undefined ? null : Duration.decode(timeout),
      maxToolRounds: options.maxToolRounds ?? 8,
      toolAttempts: options.toolAttempts ?? 2,
      modelAttempts: options.modelAttempts ?? 3,
      checkpointInterval:
        options.checkpointInterval === null ? null : Duration.decode(options.checkpointInterval ?? "1 second"),
      saveWindow: Duration.decode(options.saveWindow ?? "60 seconds"),
      deltaWindowMs: Math.min(20, Math.max(0, Duration.toMillis(Duration.decode(options.deltaWindow ?? "10 millis")))),
      maxQueued: options.maxQueuedMessages ?? 8,
      store,
      lock,
      emit: (event) =>
        conversation === null
          ? Effect.sync(() => emit(event))
          : Effect.asVoid(bus.publish(conversation.id, Audience.tag(event, conversation, connection))),
      publishTo: (conversationId, event) => Effect.asVoid(bus.publish(conversationId, event)),
      reply: (event) => Effect.sync(() => emit(event)),
      memory
    }

    // user messages run one after another; `stop` ends the running turn and the ones queued behind it.
    // The runner fiber exists only while messages wait or run: an idle session holds none.
    const inbox: Array<Turn.Accepted> = []
    let pending = 0
    let idleWaiters: Array<Deferred.Deferred<void>> = []
    const settle = (n: number) =>
      Effect.sync(() => {
        pending += n
        if (pending > 0) return
        const waiters = idleWaiters
        idleWaiters = []
        for (const waiter of waiters) Deferred.unsafeDone(waiter, Exit.void)
      })
    let running: Fiber.RuntimeFiber<void> | undefined
    let runnerActive = false
    const seenClientIds = new Set<string>()
    const cancelQueued = Effect.suspend(() => {
      const queued = inbox.splice(0, inbox.length)
      return Effect.forEach(queued, (accepted) => Turn.cancel(env, accepted).pipe(Effect.zipRight(settle(-1))), {
        discard: true
      })
    })
    // a closing session ends what it still has queued (stored as `aborted`), after its running turn.
    // A message whose write-ahead was still in flight when the session closed is ended by `enqueue`
    // itself (the transport may close the session before its frame handler has finished).
    let closed = false
    yield* Effect.addFinalizer(() => Effect.sync(() => (closed = true)).pipe(Effect.zipRight(cancelQueued)))
    // taking a message and forking its turn is one uninterruptible step (a session closing in between
    // would lose the message: neither run nor cancelled); the turn and the wait for it stay interruptible
    const runOne: Effect.Effect<boolean> = Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const accepted = inbox.shift()
        if (accepted === undefined) {
          runnerActive = false
          return Effect.succeed(false)
        }
        // forked uninterruptible: the turn makes its own body interruptible, and stores the message
        // however early it is interrupted
        return Effect.fork(Turn.run(env, accepted)).pipe(
          Effect.tap((fiber) => Effect.sync(() => (running = fiber))),
          // a closing session interrupts the turn and waits for it to store itself as `aborted`
          Effect.flatMap((fiber) => restore(Fiber.await(fiber)).pipe(Effect.onInterrupt(() => Fiber.interrupt(fiber)))),
          Effect.ensuring(Effect.sync(() => (running = undefined)).pipe(Effect.zipRight(settle(-1)))),
          Effect.as(true)
        )
      })
    )
    const runQueued: Effect.Effect<void> = Effect.flatMap(runOne, (more) => (more ? runQueued : Effect.void))
    const enqueue = (accepted: Turn.Accepted): Effect.Effect<void> =>
      Effect.suspend(() => (closed ? Turn.cancel(env, accepted) : enqueueOpen(accepted)))
    const enqueueOpen = (accepted: Turn.Accepted) =>
      settle(1).pipe(
        Effect.zipRight(Effect.sync(() => inbox.push(accepted))),
        Effect.zipRight(
          Effect.suspend(() => {
            if (runnerActive) return Effect.void
            runnerActive = true
            // accepting runs uninterruptibly (write-ahead); the runner and its turns must be interruptible
            return Effect.forkIn(Effect.interruptible(runQueued), sessionScope)
          })
        ),
        Effect.asVoid
      )
    const submit = (input: Turn.TurnInput) => TurnAccept.accept(env, input, enqueue)

    const send = (message: Protocol.ClientMessage): Effect.Effect<void> => {
      switch (message.type) {
        case "ping":
          return Effect.sync(() => emit(message.id === undefined ? { type: "pong" } : { type: "pong", id: message.id }))
        case "stop":
          return cancelQueued.pipe(
            Effect.zipRight(Effect.suspend(() => (running === undefined ? Effect.void : Fiber.interrupt(running)))),
            Effect.asVoid
          )
        case "load_history":
          return historyPage(connection, conversation, {
            before: message.before,
            limit: message.limit ?? pageSize
          }).pipe(
            Effect.provideService(ConversationStore, store),
            Effect.match({
              onFailure: () => emit(Protocol.errorEvent("unavailable", "The history could not be loaded.")),
              onSuccess: emit
            })
          )
        case "resume":
          return Effect.flatten(follow(message.lastEventId))
        case "user_message": {
          const refusal = validateUserMessage(message, agent.limits, spec.multimodal)
          if (refusal !== undefined) return Effect.sync(() => emit(Protocol.errorEvent(refusal.code, refusal.message)))
          if (message.clientId !== undefined) {
            if (seenClientIds.has(message.clientId)) return Effect.void
            seenClientIds.add(message.clientId)
            if (seenClientIds.size > 10_000) seenClientIds.delete(seenClientIds.values().next().value!)
          }
          const clientId = message.clientId
          return submit({ text: message.text, images: message.images ?? [], clientId: clientId ?? null }).pipe(
            // a message refused for now (busy, unavailable) may be sent again with the same client id
            Effect.flatMap((outcome) =>
              outcome === "refused" && clientId !== undefined
                ? Effect.sync(() => seenClientIds.delete(clientId))
                : Effect.void
            )
          )
        }
      }
    }

    const goingAway = yield* Deferred.make<void>()
    const live: Lifecycle.LiveSession = {
      cancelQueued,
      running: () => running,
      goAway: Effect.sync(() => outbox.end()).pipe(Effect.zipRight(Deferred.succeed(goingAway, undefined)))
    }
    yield* Effect.acquireRelease(Lifecycle.register(live), () => Lifecycle.unregister(live))

    if (history.entries.length === 0 && firstMessage !== undefined && firstMessage.trim().length > 0) {
      yield* Effect.asVoid(submit({ text: PromptTemplate.render(firstMessage, context), images: [], clientId: null }))
    }

    const session: Session = {
      connection,
      conversation,
      events: outbox.stream(),
      attach: (writer) => Effect.sync(() => outbox.attach(writer)),
      goingAway: Deferred.await(goingAway),
      send,
      receive: (frame) =>
        Either.match(Protocol.decodeClientFrame(frame), {
          onLeft: (error) => Effect.sync(() => emit(Protocol.errorEvent("bad_frame", error.message))),
          onRight: send
        }),
      idle: Effect.suspend(() => {
        if (pending === 0) return Effect.void
        const waiter = Deferred.unsafeMake<void>(FiberId.none)
        idleWaiters.push(waiter)
        return Deferred.await(waiter)
      })
    }
    return session
  })
