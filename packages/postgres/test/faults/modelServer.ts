/**
 * A fake OpenAI-compatible model in a process of its own (so a test can SIGSTOP, SIGCONT or kill
 * it): `FakeOpenAI` on 127.0.0.1, replying by the last user message. Prints `PORT <n> PID <pid>`,
 * then one `REQUEST <json>` line per chat request: the texts of its messages.
 *
 * `slow <n> <ms>`: n words, one every ms. `hang`: never sends headers. `status <code>`: an HTTP
 * error. `cut <n>`: n words, then the connection is cut. Anything else: three words at once.
 * `CONVO_MODEL_PORT`: listen there (a restarted model keeps its address).
 */
import * as FakeOpenAI from "@convo/testing/FakeOpenAI"
import * as ScriptedReply from "@convo/testing/ScriptedReply"
import * as Effect from "effect/Effect"

const textOf = (content: unknown): string => (typeof content === "string" ? content : JSON.stringify(content ?? ""))

const replyFor = (request: FakeOpenAI.ChatCompletionRequest): ScriptedReply.ScriptedReply | undefined => {
  process.stdout.write(`REQUEST ${JSON.stringify(request.messages.map((message) => textOf(message.content)))}\n`)
  const last = textOf([...request.messages].reverse().find((message) => message.role === "user")?.content)
  const slow = /^slow (\d+) (\d+)/.exec(last)
  if (slow !== null) {
    return ScriptedReply.text(
      Array.from({ length: Number(slow[1]) }, (_, i) => `s${i} `),
      { chunkDelay: `${Number(slow[2])} millis` }
    )
  }
  const cut = /^cut (\d+)/.exec(last)
  if (cut !== null) {
    return ScriptedReply.streamError(
      Array.from({ length: Number(cut[1]) }, (_, i) => `c${i} `),
      { chunkDelay: "20 millis" }
    )
  }
  if (last.startsWith("hang")) return ScriptedReply.text(["never"], { firstByteDelay: "10 minutes" })
  const status = /^status (\d+)/.exec(last)
  if (status !== null) return ScriptedReply.httpError(Number(status[1]), { message: `scripted ${status[1]}` })
  return ScriptedReply.text(["w0 ", "w1 ", "w2"])
}

Effect.runFork(
  Effect.scoped(
    Effect.gen(function* () {
      const port = process.env["CONVO_MODEL_PORT"]
      const fake = yield* FakeOpenAI.make({ replyFor, ...(port === undefined ? {} : { port: Number(port) }) })
      process.stdout.write(`PORT ${new URL(fake.baseURL).port} PID ${process.pid}\n`)
      return yield* Effect.never
    })
  )
)
