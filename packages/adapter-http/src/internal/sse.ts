/**
 * Server-sent events framing: one `id:`, one `event:` and one `data:` line per event, a blank
 * line after each. `JSON.stringify` escapes line breaks, so the data is always one line; the JSON
 * of an event every watcher gets is made once (`Protocol.encodeServerEvent`).
 *
 * @internal
 */
import * as Protocol from "@convo/core/Protocol"

/** @internal */
export const encodeEvent = (id: number, event: Protocol.ServerEvent): string =>
  `id: ${id}\nevent: ${event.type}\ndata: ${Protocol.encodeServerEvent(event)}\n\n`

/** A comment line: ignored by clients, keeps proxies from timing out an idle stream. @internal */
export const comment = (text: string): string => `: ${text.replace(/[\r\n]+/g, " ")}\n\n`
