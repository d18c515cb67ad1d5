/**
 * A chat agent behind the Vercel AI SDK's `useChat` (`@ai-sdk/react`; `Chat` and
 * `DefaultChatTransport` in the `ai` package), unmodified: the AI SDK's UI message stream protocol
 * (`x-vercel-ai-ui-message-stream: v1`, tested with `ai` 7.0) over HTTP, with convo's storage,
 * access rules and live events behind it. Mounted beside `HttpChat` with the same agent, hooks and
 * `Authenticator`.
 *
 * - `POST <base>/chat` with `DefaultChatTransport`'s body (`{ id, messages, trigger, messageId }`,
 *   or `{ id, message }`) runs one turn and answers its UI message stream: `start` (metadata
 *   `{ conversationId, turnId }`), a step per model call with `text-start` / `text-delta` /
 *   `text-end` and the tool calls as dynamic tool parts (`tool-input-available`, then
 *   `tool-output-available` or `tool-output-error`), `finish` (metadata adds `status` and the
 *   turn's token `usage`), and an `error` chunk when the model failed. The chat `id` is the
 *   conversation: it becomes the route parameter `conversation_pk` of the connection, so the
 *   agent's `getConversationId` hook maps it (by default it must be the conversation's integer
 *   id). Only the **last** message is read, and it must be a new user message: its `id` is the
 *   message's client id (a re-sent id never runs twice), earlier messages are ignored (the stored
 *   history is the truth), and `regenerate-message` is refused.
 * - `GET <base>/chat/:conversation_pk/messages` answers the stored history as `UIMessage`s, the
 *   same messages the stream built, for `useChat({ messages })`.
 * - `GET <base>/chat/:conversation_pk/stream` is the AI SDK's resume request (`useChat({ resume:
 *   true })`): a replay of the conversation's running turn from its start, then its live rest,
 *   from the conversation's live events (`ConversationEvents`, so from any process with a
 *   cross-process layer), or `204` at once when no turn runs.
 * - `POST <base>/chat/:conversation_pk/stop` stops the turn this process runs for the chat
 *   (stored `aborted`); for front ends whose `stop()` only disconnects (`disconnect: "detach"`).
 *
 * @example
 * import * as ChatAgent from "@convo/core/ChatAgent"
 * import * as LlmModels from "@convo/core/LlmModels"
 * import * as AiSdkChat from "@convo/adapter-http/AiSdkChat"
 *
 * const agent = ChatAgent.make({ model: LlmModels.openAiGpt4oMini })
 * // useChat({ id: String(conversationId), transport: new DefaultChatTransport({ api: "/api/chat" }) })
 * const router = AiSdkChat.router(agent, { routes: AiSdkChat.table({ base: "/api" }) })
 *
 * @since 0.1.0
 */
import * as Authenticator from "@convo/core/Authenticator"
import * as ChatAgent from "@convo/core/ChatAgent"
import * as Connection from "@convo/core/Connection"
import * as ConversationEvents from "@convo/core/ConversationEvents"
import * as ConversationStore from "@convo/core/ConversationStore"
import * as Handshake from "@convo/core/Handshake"
import type * as Protocol from "@convo/core/Protocol"
import * as Routes from "@convo/core/Routes"
import * as TurnLock from "@convo/core/TurnLock"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Http from "./internal/http.js"
import * as Ui from "./internal/uiMessages.js"

// ---------------------------------------------------------------------------
// the AI SDK's shapes (the subset convo reads and writes; structurally those of `ai` 7)
// ---------------------------------------------------------------------------

/**
 * The version of the UI message stream protocol spoken (the `x-vercel-ai-ui-message-stream`
 * header).
 *
 * @since 0.1.0
 * @category protocol
 */
export const protocolVersion = "v1"

/**
 * The `metadata` of an assistant `UIMessage`: the conversation, the turn, and once it ended its
 * status and summed token usage.
 *
 * @since 0.1.0
 * @category models
 */
export interface Metadata {
  readonly conversationId: number | null
  readonly turnId: string
  readonly status?: string | undefined
  readonly usage?: Protocol.Usage | undefined
}

/**
 * The parts convo puts into `UIMessage`s.
 *
 * @since 0.1.0
 * @category models
 */
export type UIMessagePart =
  | { readonly type: "text"; readonly text: string; readonly state?: "streaming" | "done" }
  | { readonly type: "step-start" }
  | { readonly type: "file"; readonly mediaType: string; readonly url: string }
  | {
      readonly type: "dynamic-tool"
      readonly toolName: string
      readonly toolCallId: string
      readonly state: "input-available"
      readonly input: unknown
    }
  | {
      readonly type: "dynamic-tool"
      readonly toolName: string
      readonly toolCallId: string
      readonly state: "output-available"
      readonly input: unknown
      readonly output: unknown
    }
  | {
      readonly type: "dynamic-tool"
      readonly toolName: string
      readonly toolCallId: string
      readonly state: "output-error"
      readonly input: unknown
      readonly errorText: string
    }

/**
 * A message as `useChat` holds it.
 *
 * @since 0.1.0
 * @category models
 */
export interface UIMessage {
  readonly id: string
  readonly role: "system" | "user" | "assistant"
  readonly metadata?: Metadata | undefined
  readonly parts: ReadonlyArray<UIMessagePart>
}

/**
 * The chunks convo sends in a UI message stream.
 *
 * @since 0.1.0
 * @category models
 */
export type UIMessageChunk =
  | { readonly type: "start"; readonly messageId: string; readonly messageMetadata: Metadata }
  | {
      readonly type: "finish"
      readonly finishReason: "stop" | "error" | "other"
      readonly messageMetadata: Metadata
    }
  | { readonly type: "start-step" }
  | { readonly type: "finish-step" }
  | { readonly type: "text-start"; readonly id: string }
  | { readonly type: "text-delta"; readonly id: string; readonly delta: string }
  | { readonly type: "text-end"; readonly id: string }
  | {
      readonly type: "tool-input-available"
      readonly toolCallId: string
      readonly toolName: string
      readonly input: unknown
      readonly dynamic: true
    }
  | {
      readonly type: "tool-output-available"
      readonly toolCallId: string
      readonly output: unknown
      readonly dynamic: true
    }
  | {
      readonly type: "tool-output-error"
      readonly toolCallId: string
      readonly errorText: string
      readonly dynamic: true
    }
  | { readonly type: "error"; readonly errorText: string }

/**
 * Stored history entries as `UIMessage`s (what `GET .../messages` answers): per turn the user
 * message (its id is the client id it was sent with) and one assistant message (id
 * `turn-<turnId>`) with a `step-start` per AI message, its text and its tool calls with their
 * results.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toUIMessages: (
  conversationId: number | null,
  entries: ReadonlyArray<ConversationStore.HistoryEntry>
) => Array<UIMessage> = Ui.toUIMessages

// ---------------------------------------------------------------------------
// routes
// ---------------------------------------------------------------------------

/**
 * The name of the chat route (`POST` a turn).
 *
 * @since 0.1.0
 * @category routes
 */
export const chatRouteName = "convo-ai-chat"

/**
 * The name of the resume route (`GET` the running turn).
 *
 * @since 0.1.0
 * @category routes
 */
export const streamRouteName = "convo-ai-stream"

/**
 * The name of the history route (`GET` the stored `UIMessage`s).
 *
 * @since 0.1.0
 * @category routes
 */
export const messagesRouteName = "convo-ai-messages"

/**
 * The name of the stop route (`POST` to stop the running turn).
 *
 * @since 0.1.0
 * @category routes
 */
export const stopRouteName = "convo-ai-stop"

/**
 * The four routes, to put into a route table. With `base: "/api"` the chat route is `/api/chat`,
 * `DefaultChatTransport`'s default `api`, and the resume route is the one it derives from it
 * (`<api>/<id>/stream`).
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = <const Base extends string = "">(options?: {
  readonly base?: Base | undefined
}): readonly [
  Routes.Route<typeof chatRouteName, "http", `${Base}/chat`>,
  Routes.Route<typeof streamRouteName, "http", `${Base}/chat/:conversation_pk/stream`>,
  Routes.Route<typeof messagesRouteName, "http", `${Base}/chat/:conversation_pk/messages`>,
  Routes.Route<typeof stopRouteName, "http", `${Base}/chat/:conversation_pk/stop`>
] => {
  const base = (options?.base ?? "") as Base
  return [
    Routes.http(chatRouteName, `${base}/chat`),
    Routes.http(streamRouteName, `${base}/chat/:conversation_pk/stream`),
    Routes.http(messagesRouteName, `${base}/chat/:conversation_pk/messages`),
    Routes.http(stopRouteName, `${base}/chat/:conversation_pk/stop`)
  ] as const
}

/**
 * A route table holding only `routes(options)`.
 *
 * @since 0.1.0
 * @category routes
 */
export const table = (options?: { readonly base?: string | undefined }): Routes.Table => Routes.make(routes(options))

/**
 * How the endpoint is mounted.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The route table holding the four routes. Default `table()`. */
  readonly routes?: Routes.Table | undefined
  /** Origins allowed to `POST` (CSRF), as in `HttpChat`. Default `["same-origin"]`. */
  readonly allowedOrigins?: ReadonlyArray<string> | undefined
  /** The largest request body accepted (images are inline data URLs). Default 8 MiB. */
  readonly maxBodyBytes?: number | undefined
  /** A comment line sent this often while a turn runs. Default 15 seconds; `null` for none. */
  readonly heartbeat?: Duration.DurationInput | null | undefined
  /**
   * What a client that goes away mid-turn means. `"stop"` (default): the turn stops and is stored
   * `aborted`, so `useChat`'s `stop()` stops it. `"detach"`: the turn runs on and is stored
   * `complete`; the client comes back with the resume request (`useChat({ resume: true })`), and
   * stops a turn with `POST .../stop`: what the AI SDK asks of resumable endpoints, where a page
   * reload must not stop the reply.
   */
  readonly disconnect?: "stop" | "detach" | undefined
  /** Messages `GET .../messages` reads, newest last. Default 200, at most 1,000. */
  readonly historyLimit?: number | undefined
  /** How long the resume request tries the conversation's turn lock to learn whether a turn runs. Default 100 ms. */
  readonly lockProbe?: Duration.DurationInput | undefined
}

/**
 * The largest request body accepted by default: 8 MiB (images come inline as data URLs).
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultMaxBodyBytes = 8 * 1024 * 1024

/**
 * What the endpoint needs from its environment; `Authenticator`, `ChatAgentHooks`, `TurnLock` and
 * `ConversationEvents` are read when provided.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = ChatAgent.Requirements

const streamHeaders = {
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
  "x-content-type-options": "nosniff",
  "x-vercel-ai-ui-message-stream": protocolVersion
}

const httpRoute = (routeTable: Routes.Table, name: string): Routes.Route => {
  const found = Routes.get(routeTable, name)
  if (Option.isNone(found)) {
    throw new Routes.RouteError({ reason: "UnknownRoute", route: name, detail: "the route table has no such route" })
  }
  if (found.value.kind !== "http") {
    throw new Routes.RouteError({ reason: "InvalidPattern", route: name, detail: "the route is not an http route" })
  }
  return found.value
}

// the Origin check (when asked), the user, and the connection for the chat id
const open = (route: Routes.Route, allowedOrigins: ReadonlyArray<string> | null, chatId?: string) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const info = Handshake.requestInfo(request)
    if (allowedOrigins !== null && !Authenticator.isOriginAllowed(info, allowedOrigins)) {
      return yield* Http.fail(403, "forbidden_origin", "requests from this origin are not allowed")
    }
    const params: Record<string, string> = {}
    if (chatId !== undefined) params["conversation_pk"] = chatId
    else {
      for (const [name, value] of Object.entries(yield* HttpRouter.params))
        if (value !== undefined) params[name] = value
    }
    const user = yield* Handshake.authenticate(info)
    const connection = Connection.make({
      user,
      params,
      data: { transport: "ai-sdk", route: route.name, request: info }
    })
    return { request, connection }
  })

const authorized = (agent: ChatAgent.ChatAgent, connection: Connection.Connection) =>
  ChatAgent.authorize(agent, connection).pipe(Effect.mapError(Http.rejection))

const withHeartbeat = (stream: Stream.Stream<string>, heartbeat: Duration.Duration | null): Stream.Stream<string> =>
  heartbeat === null
    ? stream
    : Stream.merge(stream, Stream.fromSchedule(Schedule.spaced(heartbeat)).pipe(Stream.as(": keep-alive\n\n")), {
        haltStrategy: "left"
      })

const uiStream = (chunks: Stream.Stream<UIMessageChunk>, heartbeat: Duration.Duration | null) =>
  HttpServerResponse.stream(
    withHeartbeat(Stream.concat(Stream.map(chunks, Ui.encodeChunk), Stream.succeed(Ui.done)), heartbeat).pipe(
      Stream.encodeText
    ),
    { contentType: "text/event-stream", headers: streamHeaders }
  )

/** The sessions of this router running a turn, per conversation: what `POST .../stop` reaches. */
type Running = Map<number, Set<ChatAgent.Session>>

// ---------------------------------------------------------------------------
// POST <base>/chat
// ---------------------------------------------------------------------------

const postChat = (
  agent: ChatAgent.ChatAgent,
  route: Routes.Route,
  options: Resolved,
  running: Running
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Http.HttpFailure,
  Requirements | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext | Scope.Scope
> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const info = Handshake.requestInfo(request)
    if (!Authenticator.isOriginAllowed(info, options.allowedOrigins)) {
      return yield* Http.fail(403, "forbidden_origin", "requests from this origin are not allowed")
    }
    const body = yield* Http.readJsonBody(request, options.maxBodyBytes)
    const input = Ui.decodeRequest(body)
    if (input._tag === "Refused") return yield* Http.fail(input.status, input.code, input.message)
    const { connection } = yield* open(route, null, input.chatId)

    // the session lives in the request's scope (a disconnect stops the turn) or in its own, closed
    // when its turns are done (a disconnect only detaches the client)
    const requestScope = yield* Effect.scope
    const detached = options.detach ? yield* Scope.make() : null
    const sessionScope: Scope.Scope = detached ?? requestScope
    const closeDetached = detached === null ? Effect.void : Scope.close(detached, Exit.void)
    // until the session is handed to its closer, a failure or an interruption closes it here
    const { conversationId, events, prefix } = yield* Effect.gen(function* () {
      const session = yield* ChatAgent.connect(agent, connection).pipe(
        Scope.extend(sessionScope),
        Effect.mapError(Http.rejection)
      )
      const events = yield* Queue.unbounded<Protocol.ServerEvent>()
      yield* Stream.runForEach(session.events, (event) => Queue.offer(events, event)).pipe(Effect.forkIn(sessionScope))
      let first = yield* Queue.take(events)
      while (!(first.type === "history" && first.initial)) first = yield* Queue.take(events)

      const conversationId = session.conversation?.id ?? null
      yield* session.send({
        type: "user_message",
        text: input.text,
        clientId: input.clientId,
        ...(input.images.length > 0 ? { images: input.images } : {})
      })
      // the session answers a message it refuses at once before the pong of a ping sent after it
      const marker = `convo-ai-${globalThis.crypto.randomUUID()}`
      yield* session.send({ type: "ping", id: marker })
      const prefix: Array<Protocol.ServerEvent> = []
      for (;;) {
        const event = yield* Queue.take(events)
        if (event.type === "pong" && event.id === marker) break
        prefix.push(event)
      }
      if (conversationId !== null) {
        const sessions = running.get(conversationId) ?? new Set()
        sessions.add(session)
        running.set(conversationId, sessions)
      }
      const release = Effect.sync(() => {
        if (conversationId === null) return
        const sessions = running.get(conversationId)
        sessions?.delete(session)
        if (sessions?.size === 0) running.delete(conversationId)
      })
      // once every turn of the session is done: forget it, and close a detached session
      yield* session.idle.pipe(
        Effect.zipRight(release),
        Effect.zipRight(closeDetached),
        detached === null ? Effect.forkIn(requestScope) : Effect.forkDaemon
      )
      return { conversationId, events, prefix }
    }).pipe(Effect.onError(() => closeDetached))

    const refusal = prefix.find(isRefusal)
    if (refusal !== undefined) return yield* Http.fail(refusalStatus(refusal.code), refusal.code, refusal.message)

    let state: Ui.TurnState | null = null
    const chunks = Stream.concat(Stream.fromIterable(prefix), Stream.fromQueue(events)).pipe(
      Stream.map((event): Batch => {
        if (state === null) {
          const turnId = Ui.turnOfClientMessage(event, input.clientId)
          if (turnId !== undefined) {
            state = Ui.makeTurnState(turnId, conversationId)
            return { chunks: [Ui.startChunk(state)], last: false }
          }
          // refused once the turn ran its checks: a client id already stored, the history unavailable
          if (isRefusal(event)) return { chunks: Ui.errorChunks(null, event.message), last: true }
          return { chunks: [], last: false }
        }
        const chunks = Ui.chunksOf(state, event)
        return { chunks, last: state.done }
      }),
      untilLast
    )
    return uiStream(chunks, options.heartbeat)
  })

/** The chunks of one event, and whether they end the message (read per element: streams map whole chunks at once). */
interface Batch {
  readonly chunks: ReadonlyArray<UIMessageChunk>
  readonly last: boolean
}

const untilLast = <E, R>(batches: Stream.Stream<Batch, E, R>): Stream.Stream<UIMessageChunk, E, R> =>
  batches.pipe(
    Stream.takeUntil((batch) => batch.last),
    Stream.mapConcat((batch) => batch.chunks)
  )

const isRefusal = (event: Protocol.ServerEvent): event is Protocol.ServerEventOf<"error"> =>
  event.type === "error" && event.turnId === undefined

const refusalStatus = (code: string): number => {
  switch (code) {
    case "too_large":
      return 413
    case "forbidden":
      return 403
    case "not_found":
      return 404
    case "duplicate":
      return 409
    case "busy":
      return 429
    case "unavailable":
    case "internal":
      return 503
    default:
      return 400
  }
}

// ---------------------------------------------------------------------------
// the running turn of a conversation, from its live events
// ---------------------------------------------------------------------------

interface RunningTurn {
  readonly turnId: string
  /** The turn's events so far, from its `turn_start`. */
  readonly events: ReadonlyArray<Protocol.ServerEvent>
  /** The rest of the conversation's events, live. */
  readonly rest: Stream.Stream<Protocol.ServerEvent>
}

/**
 * The conversation's running turn, or none. A turn runs while it holds the conversation's turn
 * lock (across processes with a database lock), so a lock taken at once means none runs. When one
 * runs, its events are the retained ones from its `turn_start` on: the last turn of the retained
 * log without a `turn_end`, read up to where the log meets the live events (the first id a live
 * subscription sees, or a quiet pause).
 */
const runningTurn = (
  conversationId: number,
  lockProbe: Duration.Duration
): Effect.Effect<RunningTurn | null, never, Scope.Scope> =>
  Effect.gen(function* () {
    const bus = yield* ConversationEvents.current
    const lock = yield* TurnLock.current
    const live = yield* bus.subscribe(conversationId)
    const all = yield* bus.subscribe(conversationId, 0)
    const free = yield* lock.withLock(conversationId)(Effect.void).pipe(Effect.timeoutOption(lockProbe))
    if (Option.isSome(free)) return null

    const boundary = yield* Deferred.make<number>()
    yield* Stream.runHead(live).pipe(
      Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: (p) => Deferred.succeed(boundary, p.id) })),
      Effect.forkScoped
    )
    const inbox = yield* Queue.unbounded<ConversationEvents.Published>()
    yield* Stream.runForEachChunk(all, (chunk) => Queue.offerAll(inbox, chunk)).pipe(Effect.forkScoped)
    const pending: Array<ConversationEvents.Published> = []
    const cursor: { turn: Array<Protocol.ServerEvent> | null; turnId: string | null } = { turn: null, turnId: null }
    const track = (event: Protocol.ServerEvent): void => {
      if (event.type === "turn_start") {
        cursor.turnId = event.turnId
        cursor.turn = [event]
      } else if (cursor.turn !== null) {
        cursor.turn.push(event)
        if (event.type === "turn_end" && event.turnId === cursor.turnId) {
          cursor.turn = null
          cursor.turnId = null
        }
      }
    }
    // the retained log, up to the live edge: the first live id, or a pause once the log has come
    // (it is read in one go when subscribing; a live event while a turn runs usually comes first)
    for (let received = false; ; received = true) {
      const next = yield* Queue.take(inbox).pipe(Effect.timeoutOption(Duration.millis(received ? 150 : 1_000)))
      if (Option.isNone(next)) break
      const batch = [next.value, ...(yield* Queue.takeAll(inbox))]
      const edge = yield* Deferred.poll(boundary)
      const edgeId = Option.isSome(edge) ? yield* edge.value : Infinity
      for (const published of batch) {
        if (pending.length > 0 || published.id >= edgeId) pending.push(published)
        else track(published.event)
      }
      if (pending.length > 0) break
    }
    // a turn that holds the lock but has not published its start yet: wait for it a little
    while (cursor.turnId === null && pending.length > 0) track(pending.shift()!.event)
    if (cursor.turnId === null) {
      const started = yield* Effect.gen(function* () {
        while (cursor.turnId === null) track((yield* Queue.take(inbox)).event)
      }).pipe(Effect.timeoutOption(Duration.seconds(2)))
      if (Option.isNone(started)) return null
    }
    const turnId = cursor.turnId
    if (turnId === null) return null
    const events: ReadonlyArray<Protocol.ServerEvent> = cursor.turn ?? []
    const rest = Stream.concat(
      Stream.fromIterable(pending.map((published) => published.event)),
      Stream.fromQueue(inbox).pipe(Stream.map((published) => published.event))
    )
    return { turnId, events, rest }
  })

const resume = (
  agent: ChatAgent.ChatAgent,
  route: Routes.Route,
  options: Resolved
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Http.HttpFailure,
  Requirements | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext | Scope.Scope
> =>
  Effect.gen(function* () {
    const { connection } = yield* open(route, null)
    const conversation = yield* authorized(agent, connection)
    if (conversation === null) return HttpServerResponse.empty({ status: 204 })
    const found = yield* runningTurn(conversation.id, options.lockProbe)
    if (found === null) return HttpServerResponse.empty({ status: 204 })
    const state = Ui.makeTurnState(found.turnId, conversation.id)
    const replayed = [Ui.startChunk(state), ...found.events.flatMap((event) => Ui.chunksOf(state, event))]
    const chunks = state.done
      ? Stream.fromIterable(replayed)
      : Stream.concat(
          Stream.fromIterable(replayed),
          found.rest.pipe(
            Stream.map((event): Batch => {
              const chunks = Ui.chunksOf(state, event)
              return { chunks, last: state.done }
            }),
            untilLast
          )
        )
    return uiStream(chunks, options.heartbeat)
  })

// ---------------------------------------------------------------------------
// GET <base>/chat/:conversation_pk/messages, POST .../stop
// ---------------------------------------------------------------------------

const getMessages = (
  agent: ChatAgent.ChatAgent,
  route: Routes.Route,
  options: Resolved
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Http.HttpFailure,
  Requirements | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext | Scope.Scope
> =>
  Effect.gen(function* () {
    const { connection } = yield* open(route, null)
    const conversation = yield* authorized(agent, connection)
    if (conversation === null) return HttpServerResponse.unsafeJson([], { headers: { "cache-control": "no-store" } })
    const store = yield* ConversationStore.ConversationStore
    const page = yield* store
      .history(conversation.id, { userId: connection.user?.id ?? null, limit: options.historyLimit })
      .pipe(
        Effect.catchAll((error) =>
          Effect.logError("could not read the history", error).pipe(
            Effect.zipRight(Http.fail(503, "unavailable", "the history could not be loaded"))
          )
        )
      )
    const messages = Ui.toUIMessages(conversation.id, page.entries)
    // the running turn's user message is stored when the turn ends: show it now, as useChat would
    const found = yield* runningTurn(conversation.id, options.lockProbe)
    const human = found?.events.find(
      (event): event is Protocol.ServerEventOf<"message_start"> =>
        event.type === "message_start" && event.role === "human"
    )
    if (human !== undefined) {
      const id = human.clientId ?? human.id
      if (!messages.some((message) => message.id === id)) {
        messages.push({ id, role: "user", parts: Ui.userParts(human.text, human.images ?? []) })
      }
    }
    return HttpServerResponse.unsafeJson(messages, { headers: { "cache-control": "no-store" } })
  })

const postStop = (
  agent: ChatAgent.ChatAgent,
  route: Routes.Route,
  options: Resolved,
  running: Running
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Http.HttpFailure,
  Requirements | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext | Scope.Scope
> =>
  Effect.gen(function* () {
    const { connection } = yield* open(route, options.allowedOrigins)
    const conversation = yield* authorized(agent, connection)
    const sessions = conversation === null ? undefined : running.get(conversation.id)
    if (sessions !== undefined) yield* Effect.forEach(sessions, (session) => session.send({ type: "stop" }))
    return HttpServerResponse.unsafeJson(
      { stopped: sessions !== undefined && sessions.size > 0 },
      { headers: { "cache-control": "no-store" } }
    )
  })

interface Resolved {
  readonly allowedOrigins: ReadonlyArray<string>
  readonly maxBodyBytes: number
  readonly heartbeat: Duration.Duration | null
  readonly detach: boolean
  readonly historyLimit: number
  readonly lockProbe: Duration.Duration
}

const handled = <R>(
  effect: Effect.Effect<HttpServerResponse.HttpServerResponse, Http.HttpFailure, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.catchTag(effect, "HttpFailure", (failure) => Effect.succeed(Http.toResponse(failure)))

/**
 * The endpoint as an `HttpRouter`: `POST` on the chat route and the stop route, `GET` on the
 * stream and messages routes. Throws a `Routes.RouteError` when the table lacks one of the route
 * names.
 *
 * @since 0.1.0
 * @category constructors
 */
export const router = (agent: ChatAgent.ChatAgent, options?: Options): HttpRouter.HttpRouter<never, Requirements> => {
  const routeTable = options?.routes ?? table()
  const chat = httpRoute(routeTable, chatRouteName)
  const stream = httpRoute(routeTable, streamRouteName)
  const messages = httpRoute(routeTable, messagesRouteName)
  const stop = httpRoute(routeTable, stopRouteName)
  const resolved: Resolved = {
    allowedOrigins: options?.allowedOrigins ?? Handshake.defaultAllowedOrigins,
    maxBodyBytes: options?.maxBodyBytes ?? defaultMaxBodyBytes,
    heartbeat: options?.heartbeat === null ? null : Duration.decode(options?.heartbeat ?? Duration.seconds(15)),
    detach: options?.disconnect === "detach",
    historyLimit: Math.min(Math.max(1, options?.historyLimit ?? 200), 1_000),
    lockProbe: Duration.decode(options?.lockProbe ?? Duration.millis(100))
  }
  const running: Running = new Map()
  return HttpRouter.empty.pipe(
    HttpRouter.post(
      chat.pattern as HttpRouter.PathInput,
      handled(postChat(agent, chat, resolved, running)).pipe(Effect.withSpan("AiSdkChat.postChat"))
    ),
    HttpRouter.get(
      stream.pattern as HttpRouter.PathInput,
      handled(resume(agent, stream, resolved)).pipe(Effect.withSpan("AiSdkChat.resume"))
    ),
    HttpRouter.get(
      messages.pattern as HttpRouter.PathInput,
      handled(getMessages(agent, messages, resolved)).pipe(Effect.withSpan("AiSdkChat.getMessages"))
    ),
    HttpRouter.post(
      stop.pattern as HttpRouter.PathInput,
      handled(postStop(agent, stop, resolved, running)).pipe(Effect.withSpan("AiSdkChat.stop"))
    )
  )
}
