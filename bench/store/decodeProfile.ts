/**
 * The decode of a full load alone, on the text PostgreSQL returns for `content::text` (scratch tool
 * for ANALYSIS.md): `JSON.parse`, the codec's parse, the codec's decode and LangChain's, 2,000 rows.
 *
 *   npx tsx bench/store/decodeProfile.ts
 */
import * as MessageCodec from "@convo/core/MessageCodec"
import * as Databases from "@convo/testing/Databases"
import { mapStoredMessagesToChatMessages } from "@langchain/core/messages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import Pg from "pg"
import { distinctTurns, turn } from "./data.js"

const server = Databases.pgServer()
const client = new Pg.Client({ host: server.host, port: server.port, user: server.user, database: "postgres" })
await client.connect()
const codec = await Effect.runPromise(Effect.provide(MessageCodec.MessageCodec, MessageCodec.layer))
const stored: Array<string> = []
for (let i = 0; i < distinctTurns; i++) {
  const t = turn(i)
  for (const m of [t.human, t.ai]) {
    const text = Either.getOrThrow(codec.encodeStringEither(m))
    stored.push((await client.query("SELECT $1::jsonb::text AS t", [text])).rows[0].t)
  }
}
await client.end()
const texts = Array.from({ length: 2000 }, (_, i) => stored[i % stored.length]!)
const time = (name: string, f: () => void) => {
  const xs: Array<number> = []
  for (let k = 0; k < 60; k++) {
    const t = performance.now()
    f()
    xs.push(performance.now() - t)
  }
  xs.sort((a, b) => a - b)
  console.log(`${name.padEnd(40)} ${xs[30]!.toFixed(2)} ms`)
}
for (let round = 0; round < 2; round++) {
  time("JSON.parse", () => texts.forEach((t) => JSON.parse(t)))
  time("codec.decodeStringEither", () => texts.forEach((t) => codec.decodeStringEither(t)))
  time("JSON.parse + mapStoredMessagesToChatMessages", () =>
    mapStoredMessagesToChatMessages(
      texts.map((t) => {
        const v = JSON.parse(t)
        return { type: v._type === "HumanMessage" ? "human" : "ai", data: v._value }
      })
    )
  )
}
