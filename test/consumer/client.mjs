// Drives README's quick start (a running server, plain Node) from outside, as a browser and an
// HTTP client would: the page and its static files, a chat over the WebSocket, a turn over HTTP
// (server-sent events), then the history read back over HTTP.
// Usage: node client.mjs <base url>   (exits non-zero on the first failed check)
import assert from "node:assert/strict"
import WebSocket from "ws"

const base = process.argv[2]
if (base === undefined) throw new Error("usage: node client.mjs <base url>")

// the page, and its script and stylesheet served from the installed @convo/adapter-http
const page = await fetch(`${base}/`)
assert.equal(page.status, 200)
const html = await page.text()
assert.match(html, /\/convo\/static\/chat\.js/)
for (const [file, type] of [
  ["chat.js", /javascript/],
  ["chat.css", /css/],
  ["marked.umd.js", /javascript/],
  ["purify.min.js", /javascript/]
]) {
  const response = await fetch(`${base}/convo/static/${file}`)
  assert.equal(response.status, 200, file)
  assert.match(response.headers.get("content-type") ?? "", type, file)
  assert.ok((await response.text()).length > 500, `${file} has content`)
}
console.log("client: the page, chat.js, chat.css, marked and DOMPurify are served")

// a chat over the WebSocket: wait for the end of the turn that answers our message
const socket = new WebSocket(`${base.replace(/^http/, "ws")}/ws/chat/1/`)
const events = []
const turnEnded = new Promise((resolve, reject) => {
  socket.on("message", (data) => {
    const event = JSON.parse(String(data))
    events.push(event)
    if (event.type === "history") socket.send(JSON.stringify({ type: "user_message", text: "hello over ws" }))
    if (event.type === "turn_end") resolve(event)
  })
  socket.on("error", reject)
  socket.on("close", (code) => reject(new Error(`socket closed (${code}) before the turn ended`)))
  setTimeout(() => reject(new Error(`no turn_end in 30 s: ${JSON.stringify(events)}`)), 30_000).unref()
})
const turnEnd = await turnEnded
socket.removeAllListeners("close")
socket.close()
assert.equal(turnEnd.status, "complete")
const reply = events
  .filter((event) => event.type === "message_delta")
  .map((event) => event.text)
  .join("")
assert.match(reply, /offline demo model/)
console.log(`client: a WebSocket turn (${events.length} events)`)

// a turn over HTTP: POST answers text/event-stream until the turn ends
const post = await fetch(`${base}/api/conversations/1/messages`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ type: "user_message", text: "hello over http" })
})
assert.equal(post.status, 200)
assert.match(post.headers.get("content-type") ?? "", /text\/event-stream/)
const sse = await post.text()
assert.match(sse, /event: turn_end/)
console.log("client: an HTTP turn (server-sent events)")

// both turns are stored: the history, read back over HTTP
const history = await (await fetch(`${base}/api/conversations/1/history`)).json()
const texts = JSON.stringify(history)
assert.match(texts, /hello over ws/)
assert.match(texts, /hello over http/)
console.log("client: the history holds both turns")
