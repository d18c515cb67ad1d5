/**
 * Accepting a user message: it is written ahead (durable) before anything else happens, and only
 * then acknowledged (`received`, to the sender). A repeated client id is answered `duplicate`,
 * a full queue `busy`, an unreachable store `unavailable` — each stores nothing, and the client
 * knows its message was not taken.
 */
import { HumanMessage } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Protocol from "../Protocol.js"
import * as ContextWindow from "./contextWindow.js"
import * as Lifecycle from "./lifecycle.js"
import type { Accepted, TurnEnv, TurnInput } from "./turn.js"

const uuid = (): string => globalThis.crypto.randomUUID()

const humanContent = (input: TurnInput): HumanMessage["content"] =>
  input.images.length === 0
    ? input.text
    : [
        ...(input.text.length > 0 ? [{ type: "text" as const, text: input.text }] : []),
        ...input.images.map((url) => ({ type: "image_url" as const, image_url: { url } }))
      ]

/**
 * Accepts a message and hands it to `enqueue`, uninterruptibly: a message written ahead is always
 * queued (or, when the session is closing, ended by it as `aborted`). Gives nothing when the
 * message was refused.
 *
 * Gives what became of the message: `accepted`, `duplicate`, or `refused` (busy, unavailable,
 * shutting down: the client may send it again with the same client id).
 *
 * @internal
 */
export const accept = (
  env: TurnEnv,
  input: TurnInput,
  enqueue: (accepted: Accepted) => Effect.Effect<void>
): Effect.Effect<"accepted" | "duplicate" | "refused"> =>
  Effect.gen(function* () {
    if (Lifecycle.isDraining()) {
      yield* env.reply(Protocol.errorEvent("unavailable", "The server is shutting down; the message was not sent."))
      return "refused"
    }
    const accepted: Accepted = {
      turnId: uuid(),
      human: new HumanMessage({ id: `msg-${uuid()}`, content: humanContent(input) }),
      input
    }
    // a message that cannot fit the model's context is refused before it is stored
    const fits = yield* Effect.either(ContextWindow.room(env.context, accepted.human))
    if (Either.isLeft(fits)) {
      yield* env.reply(Protocol.errorEvent("too_large", ContextWindow.tooLargeText(fits.left)))
      return "refused"
    }
    const received: Protocol.ServerEventOf<"received"> = {
      type: "received",
      turnId: accepted.turnId,
      id: accepted.human.id!,
      ...(input.clientId !== null ? { clientId: input.clientId } : {})
    }
    const conversation = env.conversation
    if (conversation === null) {
      yield* env.reply(received)
      yield* enqueue(accepted)
      return "accepted"
    }
    // registered before the write, so this process's recovery never takes it for a dead turn
    Lifecycle.activeTurns.add(accepted.turnId)
    const result = yield* Effect.either(
      env.store.accept({
        conversationId: conversation.id,
        userId: env.connection.user?.id ?? null,
        turnId: accepted.turnId,
        clientId: input.clientId,
        value: accepted.human,
        owner: env.lock.owner,
        maxPending: env.maxQueued
      })
    )
    if (result._tag === "Left" || result.right._tag !== "Accepted") Lifecycle.activeTurns.delete(accepted.turnId)
    if (result._tag === "Left") {
      yield* Effect.logError("could not accept a message", result.left)
      yield* env.reply(
        Protocol.errorEvent("unavailable", "The message could not be saved; it was not sent. Try again.")
      )
      return "refused"
    }
    switch (result.right._tag) {
      case "Duplicate":
        yield* env.reply(Protocol.errorEvent("duplicate", "This message was already received."))
        return "duplicate"
      case "Busy":
        yield* env.reply(
          Protocol.errorEvent(
            "busy",
            `Too many messages are waiting in this conversation (${result.right.pending}); send again when a reply ends.`
          )
        )
        return "refused"
      case "Accepted":
        // to the sender only: watchers see the message when its turn starts (`message_start`).
        // (Published from every process at once, outside the turn lock, acknowledgements would be
        // the conversation's only concurrent publishers.)
        yield* env.reply(received)
        yield* enqueue(accepted)
        return "accepted"
    }
  }).pipe(Effect.uninterruptible, Effect.withSpan("ChatAgent.accept"))
