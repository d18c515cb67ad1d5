/**
 * What a new user's browser does, for the end-to-end tests: HTTP with a cookie jar (no redirects
 * followed, so each step is checked), forms with the CSRF token read from the page, and a real
 * `ws` WebSocket that sends the session cookie and the page's Origin.
 */
import * as Protocol from "@convo/core/Protocol"
import WebSocket from "ws"

/** How long a test waits for something the server should send: a guard against hangs, not a timing assertion. */
const patience = 20_000

export interface Page {
  readonly status: number
  readonly location: string | null
  readonly body: string
  readonly headers: Headers
}

/** The CSRF token of the first form on a page. */
export const csrfOf = (html: string): string => {
  const match = /name="csrf_token" value="([^"]+)"/.exec(html)
  if (match === null) throw new Error(`no CSRF token on the page:\n${html.slice(0, 500)}`)
  return match[1]!
}

/** The chat page's socket URL (from its JSON configuration block). */
export const wsUrlOf = (html: string): string => {
  const match = /<script type="application\/json" id="convo-config">([\s\S]*?)<\/script>/.exec(html)
  if (match === null) throw new Error(`no chat configuration on the page:\n${html.slice(0, 500)}`)
  return (JSON.parse(match[1]!) as { wsUrl: string }).wsUrl
}

export class Browser {
  readonly cookies = new Map<string, string>()
  constructor(readonly baseUrl: string) {}

  get origin(): string {
    return new URL(this.baseUrl).origin
  }

  cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ")
  }

  private remember(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";")
      const index = pair!.indexOf("=")
      const name = pair!.slice(0, index).trim()
      const value = pair!.slice(index + 1).trim()
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === ""
      if (expired) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }

  async request(path: string, init: RequestInit = {}): Promise<Page> {
    const headers = new Headers(init.headers)
    if (this.cookies.size > 0) headers.set("cookie", this.cookieHeader())
    const response = await fetch(new URL(path, this.baseUrl), { ...init, headers, redirect: "manual" })
    this.remember(response.headers)
    return {
      status: response.status,
      location: response.headers.get("location"),
      body: await response.text(),
      headers: response.headers
    }
  }

  get(path: string): Promise<Page> {
    return this.request(path)
  }

  /** Posts a form as a browser does (URL-encoded, with the page's Origin). */
  post(path: string, fields: Record<string, string>): Promise<Page> {
    return this.request(path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: this.origin },
      body: new URLSearchParams(fields).toString()
    })
  }

  /** Opens the form page at `formPath` and posts its form with the CSRF token. */
  async submit(formPath: string, action: string, fields: Record<string, string>): Promise<Page> {
    const page = await this.get(formPath)
    return this.post(action, { csrf_token: csrfOf(page.body), ...fields })
  }

  /** Opens a chat socket with this browser's cookies. */
  socket(path: string, options: { readonly origin?: string } = {}): Socket {
    const url = new URL(path, this.baseUrl)
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:"
    const headers: Record<string, string> = { origin: options.origin ?? this.origin }
    if (this.cookies.size > 0) headers["cookie"] = this.cookieHeader()
    return new Socket(new WebSocket(url, { headers }))
  }
}

export interface Closed {
  readonly code: number
  readonly reason: string
}

/** A chat socket that records every server event. */
export class Socket {
  readonly events: Array<Protocol.ServerEvent> = []
  readonly closed: Promise<Closed>
  private waiters: Array<() => void> = []

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      if (isBinary) throw new Error("the server sent a binary frame")
      const decoded = Protocol.decodeServerEvent(JSON.parse(data.toString("utf8")))
      if (decoded._tag === "Left") throw new Error(`the server sent an event outside the protocol: ${data.toString()}`)
      this.events.push(decoded.right)
      this.notify()
    })
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        resolve({ code, reason: reason.toString("utf8") })
        this.notify()
      })
      ws.on("error", () => {})
    })
  }

  private notify(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  ofType<T extends Protocol.ServerEvent["type"]>(type: T): Array<Protocol.ServerEventOf<T>> {
    return this.events.filter((event): event is Protocol.ServerEventOf<T> => event.type === type)
  }

  /** Waits until the events so far satisfy the condition; fails if the socket closes first. */
  async until(condition: (events: ReadonlyArray<Protocol.ServerEvent>) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + patience
    while (!condition(this.events)) {
      if (this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`the socket closed before ${what}; events: ${JSON.stringify(this.events).slice(0, 800)}`)
      }
      if (Date.now() > deadline)
        throw new Error(`gave up waiting for ${what}; events: ${JSON.stringify(this.events).slice(0, 800)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** Waits for the end of the `n`-th turn (1-based) of this connection. */
  turnEnded(n: number): Promise<void> {
    return this.until((events) => events.filter((e) => e.type === "turn_end").length >= n, `turn ${n} to end`)
  }

  send(message: Protocol.ClientMessage | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(message))
  }

  /** The text the AI streamed in the `n`-th turn (1-based): its deltas, joined. */
  aiText(n: number): string {
    const turns = this.ofType("turn_start")
    const turnId = turns[n - 1]?.turnId
    const ai = this.ofType("message_start").find((e) => e.turnId === turnId && e.role === "ai")
    if (ai === undefined) return ""
    return this.ofType("message_delta")
      .filter((e) => e.id === ai.id)
      .map((e) => e.text)
      .join("")
  }

  close(): Promise<Closed> {
    this.ws.close(1000)
    return this.closed
  }
}
