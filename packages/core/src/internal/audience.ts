/**
 * Who may see a live event of a conversation. A conversation with an owner opens only for its owner,
 * so its events go to every session watching it. A conversation without an owner opens for any
 * accepted user, and each sees only their own messages (the history filter): its events are
 * published with the user of the turn that produced them, and a session forwards only the events
 * of its own user — live, and when a reconnecting client replays what it missed. An event of an
 * ownerless conversation that carries no user is shown to nobody (fail closed).
 *
 * @internal
 */
import type { Connection } from "../Connection.js"
import type * as ConversationEvents from "../ConversationEvents.js"
import type { Conversation } from "../ConversationStore.js"
import type * as Protocol from "../Protocol.js"

/** The field a published event of an ownerless conversation carries its user in; never sent to a client. */
const field = "_convoAudience"

type Tagged = Protocol.ServerEvent & { readonly [field]?: string | null }

/** The user whose messages a connection sees in an ownerless conversation (anonymous: `null`). */
const audienceOf = (connection: Connection): string | null => connection.user?.id ?? null

/** The event as published by this connection's session. @internal */
export const tag = (
  event: Protocol.ServerEvent,
  conversation: Conversation,
  connection: Connection
): Protocol.ServerEvent =>
  conversation.userId !== null
    ? event
    : (Object.assign({ [field]: audienceOf(connection) }, event) as Protocol.ServerEvent)

/** The event as this connection's client may see it, or `undefined` when it is another user's. @internal */
export const visible = (
  event: Protocol.ServerEvent,
  conversation: Conversation,
  connection: Connection
): Protocol.ServerEvent | undefined => (sees(event, conversation, connection) ? strip(event) : undefined)

/** Whether this connection's client may see the event. @internal */
export const sees = (event: Protocol.ServerEvent, conversation: Conversation, connection: Connection): boolean => {
  const tagged = event as Tagged
  if (!(field in tagged)) return conversation.userId !== null
  return conversation.userId !== null || tagged[field] === audienceOf(connection)
}

/** The event without its audience: the same for every client that sees it. @internal */
export const strip = (event: Protocol.ServerEvent): Protocol.ServerEvent => {
  const tagged = event as Tagged
  if (!(field in tagged)) return event
  const { [field]: _audience, ...rest } = tagged
  return rest as Protocol.ServerEvent
}

const outgoing = new WeakMap<ConversationEvents.Published, Protocol.ServerEvent>()

/**
 * The published event as this connection's client gets it (with its `eventId`), or `undefined`
 * when it is another user's. Every session of a process that sees the event gets the same object,
 * made once, so a transport serialises it once for all of them. @internal
 */
export const outgoingEvent = (
  published: ConversationEvents.Published,
  conversation: Conversation,
  connection: Connection
): Protocol.ServerEvent | undefined => {
  if (!sees(published.event, conversation, connection)) return undefined
  let event = outgoing.get(published)
  if (event === undefined) {
    event = { ...strip(published.event), eventId: published.id } as Protocol.ServerEvent
    outgoing.set(published, event)
  }
  return event
}

/** The event as published on behalf of a turn of `userId` (recovery, which has no connection). @internal */
export const tagUser = (event: Protocol.ServerEvent, userId: string | null): Protocol.ServerEvent =>
  Object.assign({ [field]: userId }, event) as Protocol.ServerEvent
