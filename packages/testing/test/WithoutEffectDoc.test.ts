// The snippets of docs/guides/without-effect.md do what the guide says, called from plain async code.
import { assert, describe, it } from "@effect/vitest"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { makeChatHandler, makeConvo, saveTurn, titleOf } from "../../../docs/snippets/without-effect.js"

const tempFile = () => {
  const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "convo-promises-"))
  return {
    filename: NodePath.join(directory, "chat.sqlite"),
    remove: () => NodeFs.rmSync(directory, { recursive: true })
  }
}

class Refused extends Data.TaggedError("Refused")<{ readonly why: string }> {}

describe("convo from promises (docs/guides/without-effect.md)", () => {
  it("store calls are promises; errors reject with the tagged error itself", async () => {
    const file = tempFile()
    const convo = makeConvo(file.filename)
    try {
      const saved = await saveTurn(convo, "u1", "How do I say coffee in Chinese?", "咖啡 (kāfēi)")
      assert.deepStrictEqual(saved.seqs, [1, 2])
      assert.strictEqual(await titleOf(convo, saved.id), "How do I say coffee in Chinese?")
      assert.isNull(await titleOf(convo, saved.id + 1000))
      // any failure comes out as the very error value, not a wrapper
      const refused = new Refused({ why: "test" })
      const rejection = await convo.run(Effect.fail(refused)).then(
        () => assert.fail("should reject"),
        (error: unknown) => error
      )
      assert.strictEqual(rejection, refused)
    } finally {
      await convo.dispose()
      file.remove()
    }
  })

  it("the HTTP transport as a fetch-style handler answers a turn as server-sent events", async () => {
    const file = tempFile()
    const convo = makeConvo(file.filename)
    // a conversation without an owner: the handler has no Authenticator, so its users are anonymous
    const store = await convo.store()
    const id = (await convo.run(store.create({}))).id
    await convo.dispose()
    const { handler, dispose } = makeChatHandler(file.filename)
    try {
      const response = await handler(
        new Request(`http://localhost/api/conversations/${id}/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ type: "user_message", text: "hello from fetch" })
        })
      )
      assert.strictEqual(response.status, 200, await response.clone().text())
      assert.include(response.headers.get("content-type") ?? "", "text/event-stream")
      assert.match(await response.text(), /event: turn_end\ndata: {[^\n]*"status":"complete"/)
      const history = await handler(new Request(`http://localhost/api/conversations/${id}/history`))
      assert.include(await history.text(), "hello from fetch")
    } finally {
      await dispose()
      file.remove()
    }
  })
})
