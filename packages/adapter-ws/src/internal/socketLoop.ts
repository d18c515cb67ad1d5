/**
 * One upgraded socket bound to one chat session: frames in, events out, until either side closes.
 *
 * - The upgrade itself happens inside `runRaw`; writing before it runs deadlocks, so events are
 *   sent only once `onOpen` has fired.
 * - `runRaw` calls its handler synchronously for each frame, and runs the Effect it returns in a
 *   fiber of its own (concurrently with the others). So the handler only classifies the frame and
 *   queues it; a single drain fiber at a time hands the queued frames to the session in arrival
 *   order.
 *
 * @internal
 */
import type * as Authenticator from "@convo/core/Authenticator"
import type * as ChatAgent from "@convo/core/ChatAgent"
import type { User } from "@convo/core/Connection"
import * as Protocol from "@convo/core/Protocol"
import * as Socket from "@effect/platform/Socket"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as CloseCode from "../CloseCode.js"
import * as DirectSend from "./directSend.js"
import { classify, type Inbound } from "./frames.js"

/**
 * The receive limit of a refused socket, which is closed at once: enough for a client's close frame.
 *
 * @internal
 */
export const refusedFrameBytes = 1024

/**
 * How an open socket checks that its user still holds: `check` before each frame it hands to the
 * session and every `every` while open.
 *
 * @internal
 */
export interface Recheck {
  readonly check: Effect.Effect<boolean>
  readonly every: Duration.Duration
}

/** The recheck of a connection, when the authenticator offers one and the connection has a user. @internal */
export const recheckOf = (
  authenticator: Option.Option<Authenticator.Service>,
  request: Authenticator.RequestInfo,
  user: User | null
): Effect.Effect<Recheck | undefined> =>
  Effect.sync(() => {
    if (Option.isNone(authenticator) || user === null) return undefined
    const { recheck, recheckEvery } = authenticator.value
    if (recheck === undefined) return undefined
    return { check: Effect.suspend(() => recheck(request, user)), every: recheckEvery ?? Duration.minutes(1) }
  })

/** @internal */
export interface LoopOptions {
  readonly maxFrameBytes: number
  /** Frames written but not taken by the client, at most; past it the socket is closed (1008). */
  readonly maxBufferedBytes: number
  readonly recheck?: Recheck | undefined
}

const closeWith = (
  write: (chunk: Uint8Array | string | Socket.CloseEvent) => Effect.Effect<void, Socket.SocketError>,
  code: number,
  text: string
) => write(new Socket.CloseEvent(code, CloseCode.reason(text))).pipe(Effect.ignore)

/**
 * Runs the socket until it closes. Closing the surrounding scope (after this returns, or when the
 * client disconnects and the request fiber is interrupted) closes the session.
 *
 * @internal
 */
export const run = (
  session: ChatAgent.Session,
  socket: Socket.Socket,
  options: LoopOptions
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const write = yield* socket.writer
    const opened = yield* Deferred.make<void>()
    let closing = false
    const close = (code: number, text: string) =>
      Effect.suspend(() => {
        if (closing) return Effect.void
        closing = true
        return closeWith(write, code, text)
      })
    const failed = (what: string) => (cause: Cause.Cause<unknown>) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.void
        : Effect.logError(`chat socket: ${what} failed`, cause).pipe(
            Effect.zipRight(close(CloseCode.internalError, "internal error"))
          )

    // events out, as JSON text frames, once the socket is open. The session hands each event over
    // synchronously; frames wait in `outgoing`, and one flush fiber at a time (started by the event
    // that finds none running, ended when `outgoing` is empty) writes all that waited: no fiber,
    // queue or stream step per event, and an idle connection holds no writer fiber.
    const runtime = yield* Effect.runtime<never>()
    const outgoing: Array<string> = []
    let flushing = false
    let ended = false
    const flush: Effect.Effect<void> = Effect.suspend(() => {
      if (outgoing.length === 0) {
        flushing = false
        if (!ended) return Effect.void
        // the session ended (it closed, or a graceful shutdown sent its last event): close with 1001
        // when it is going away
        return Effect.raceFirst(
          session.goingAway.pipe(Effect.zipRight(close(CloseCode.goingAway, "the server is shutting down"))),
          Effect.sleep("1 second")
        )
      }
      const frames = outgoing.splice(0, outgoing.length)
      return Effect.forEach(frames, write, { discard: true }).pipe(Effect.zipRight(flush))
    }).pipe(Effect.catchAllCause(failed("sending events")))
    let flusher: Fiber.RuntimeFiber<void> | undefined
    let stopped = false
    const schedule = () => {
      if (flushing || stopped) return
      flushing = true
      flusher = Runtime.runFork(runtime)(flush)
    }
    // the socket's scope ends the flush fiber (a write waits while the socket is not open)
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        stopped = true
        return flusher === undefined ? Effect.void : Fiber.interrupt(flusher)
      })
    )
    // once a frame has come in, its handler's context holds the socket itself: from then on a frame
    // is written at once (corked until the loop's next turn) when nothing waits in `outgoing`
    let direct: DirectSend.DirectSend | undefined
    // a client that stops reading: once it has not taken `maxBufferedBytes` (checked at the first
    // frame of each loop turn, `directSend.ts`), it is closed and nothing more is written for it
    let overflowed = false
    const overflow = () => {
      overflowed = true
      Runtime.runFork(runtime)(close(CloseCode.notReading, "the client is not reading its events; reconnect"))
    }
    const attach = session.attach({
      onEvent: (event) => {
        if (overflowed) return
        const frame = Protocol.encodeServerEvent(event)
        if (direct !== undefined && !flushing && !stopped) {
          try {
            return direct.send(frame) ? undefined : overflow()
          } catch {
            direct = undefined
          }
        }
        outgoing.push(frame)
        schedule()
      },
      onEnd: () => {
        ended = true
        schedule()
      }
    })

    // frames in, one at a time, in arrival order: frames wait in `pending`, and one drain fiber at a
    // time (started by the frame that finds none running, ended when `pending` is empty) hands them
    // to the session, so an idle connection holds no reader fiber
    // the user must still hold before a frame reaches the session (after a log-out: 4401, nothing runs)
    const recheck = options.recheck
    const stillValid: Effect.Effect<boolean> =
      recheck === undefined
        ? Effect.succeed(true)
        : Effect.flatMap(recheck.check, (valid) =>
            valid
              ? Effect.succeed(true)
              : Effect.as(close(CloseCode.unauthenticated, "the session has ended; log in again"), false)
          )
    if (recheck !== undefined) {
      yield* Deferred.await(opened).pipe(
        Effect.zipRight(
          Effect.repeat(
            Effect.delay(stillValid, recheck.every),
            Schedule.recurWhile((valid: boolean) => valid)
          )
        ),
        Effect.catchAllCause(failed("rechecking the user")),
        Effect.forkScoped
      )
    }
    let learned = false
    const learnSocket = Effect.map(Effect.serviceOption(Socket.WebSocket), (ws) => {
      learned = true
      if (direct === undefined && Option.isSome(ws)) direct = DirectSend.make(ws.value, options.maxBufferedBytes)
    })
    const handle = (frame: Inbound): Effect.Effect<boolean> => {
      switch (frame._tag) {
        case "Text":
          if (!learned)
            return Effect.zipRight(
              learnSocket,
              Effect.suspend(() => handle(frame))
            )
          return Effect.flatMap(stillValid, (valid) =>
            valid ? Effect.as(session.receive(frame.text), true) : Effect.succeed(false)
          )
        case "Binary":
          return Effect.as(close(CloseCode.badFrame, "binary frames are not supported; send JSON text frames"), false)
        case "TooLarge":
          return Effect.as(
            close(CloseCode.frameTooLarge, `a frame may not exceed ${options.maxFrameBytes} bytes`),
            false
          )
      }
    }
    const pending: Array<Inbound> = []
    // what the waiting frames hold: a client that sends faster than its frames are handled is closed
    // (1008) once more than `maxBufferedBytes` waits, rather than held in memory
    let pendingBytes = 0
    let draining = false
    const drain: Effect.Effect<void> = Effect.suspend(() => {
      const frame = pending.shift()
      if (frame === undefined) {
        draining = false
        pendingBytes = 0
        return Effect.void
      }
      return Effect.flatMap(handle(frame), (more) => (more ? drain : Effect.sync(() => (pending.length = 0))))
    })
    const onFrame = (data: string | Uint8Array): Effect.Effect<void> | undefined => {
      if (closing) return undefined
      pendingBytes += typeof data === "string" ? data.length : data.byteLength
      if (draining && pendingBytes > options.maxBufferedBytes) {
        pending.length = 0
        return close(CloseCode.notReading, "too many frames wait to be handled; slow down")
      }
      pending.push(classify(data, options.maxFrameBytes))
      if (draining) return undefined
      draining = true
      return Effect.catchAllCause(drain, failed("handling a frame"))
    }

    yield* (
      socket
        .runRaw(onFrame, { onOpen: Deferred.succeed(opened, undefined).pipe(Effect.zipRight(attach)) })
        // a socket error or a close frame ends the connection; the caller's scope closes the session
        .pipe(Effect.catchAll(() => Effect.void))
    )
  }).pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("chat socket failed", cause)
    )
  )

/**
 * Upgrades and closes at once with a code and a reason: how a rejected connection is answered when
 * the client must read why (browsers cannot read the status of a refused upgrade).
 *
 * @internal
 */
export const refuse = (socket: Socket.Socket, code: number, text: string): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const write = yield* socket.writer
    yield* socket
      .runRaw(() => undefined, { onOpen: closeWith(write, code, text) })
      .pipe(Effect.catchAllCause(() => Effect.void))
  })
