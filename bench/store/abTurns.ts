/**
 * A/B of the write path: the store of packages/core/src (A) against another copy of the core
 * sources (B), in one process on one database, rounds alternating A and B (scratch tool for
 * ANALYSIS.md, like ab.ts): turns/s and client CPU per turn with 50 conversations appending at
 * once, a sequential append, and a sequential durable turn (accept, then the append that takes the
 * pending row; these two alternate A and B sample by sample). Medians over the rounds (samples) after the first.
 *
 *   npx tsx bench/store/abTurns.ts <dir of B's src> [--backend=sqlite|pg] [--rounds=8]
 */
import type * as ConversationStoreA from "@convo/core/ConversationStore"
import * as MessageCodecA from "@convo/core/MessageCodec"
import * as SqlConversationStoreA from "@convo/core/SqlConversationStore"
import * as Databases from "@convo/testing/Databases"
import * as Effect from "effect/Effect"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { distinctTurns, turn } from "./data.js"

const args = process.argv.slice(2)
const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const dirB = args.find((a) => !a.startsWith("--"))
if (dirB === undefined) throw new Error("usage: npx tsx bench/store/abTurns.ts <dir of B's src> [--backend=pg]")
const backend = flag("backend") ?? "sqlite"
const rounds = Number(flag("rounds") ?? 8)
const loadB = <M>(name: string): Promise<M> => import(pathToFileURL(resolve(dirB, `${name}.ts`)).href)
const MessageCodecB = await loadB<typeof MessageCodecA>("MessageCodec")
const SqlConversationStoreB = await loadB<typeof SqlConversationStoreA>("SqlConversationStore")

const conversations = 50
const turnsEach = 30
const sequential = 100
const turns = Array.from({ length: distinctTurns }, (_, i) => turn(i))
const messagesOf = (i: number) => {
  const t = turns[i % distinctTurns]!
  return [{ value: t.human }, { value: t.ai }]
}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!

const program = Effect.gen(function* () {
  const stores: ReadonlyArray<readonly [string, ConversationStoreA.Service]> = [
    ["A", yield* Effect.provideService(SqlConversationStoreA.make(), MessageCodecA.MessageCodec, MessageCodecA.make())],
    ["B", yield* Effect.provideService(SqlConversationStoreB.make(), MessageCodecB.MessageCodec, MessageCodecB.make())]
  ]
  const stats = new Map(
    stores.map(([name]) => [
      name,
      {
        tps: [] as number[],
        cpu: [] as number[],
        append: [] as number[],
        durable: [] as number[],
        accept: [] as number[]
      }
    ])
  )
  for (let round = 0; round < rounds; round++) {
    const convs = new Map<string, ReadonlyArray<{ readonly id: number }>>()
    for (const [name, store] of round % 2 === 0 ? stores : [...stores].reverse()) {
      const s = stats.get(name)!
      const cs = yield* Effect.forEach(Array.from({ length: conversations }), () => store.create({ userId: "u" }))
      convs.set(name, cs)
      const started = performance.now()
      const cpu = process.cpuUsage()
      yield* Effect.forEach(
        cs,
        (c) =>
          Effect.gen(function* () {
            for (let i = 0; i < turnsEach; i++) {
              yield* store.append({ conversationId: c.id, userId: "u", messages: messagesOf(i) })
            }
          }),
        { concurrency: "unbounded", discard: true }
      )
      const used = process.cpuUsage(cpu)
      const elapsed = performance.now() - started
      const total = conversations * turnsEach
      if (round === 0) continue
      s.tps.push(total / (elapsed / 1000))
      s.cpu.push((used.user + used.system) / 1000 / total)
    }
    // the sequential samples alternate A and B sample by sample
    for (let i = 0; i < sequential; i++) {
      for (const [name, store] of i % 2 === 0 ? stores : [...stores].reverse()) {
        const s = stats.get(name)!
        const cs = convs.get(name)!
        let at = performance.now()
        yield* store.append({ conversationId: cs[0]!.id, userId: "u", messages: messagesOf(i) })
        const append = performance.now() - at
        const turnId = crypto.randomUUID()
        const m = messagesOf(i)
        at = performance.now()
        yield* store.accept({ conversationId: cs[1]!.id, userId: "u", turnId, owner: "bench", value: m[0]!.value })
        const accept = performance.now() - at
        yield* store.append({ conversationId: cs[1]!.id, userId: "u", turnId, messages: m })
        const durable = performance.now() - at
        if (round === 0) continue
        s.append.push(append)
        s.durable.push(durable)
        s.accept.push(accept)
      }
    }
  }
  for (const [name, s] of stats) {
    console.log(
      `${backend} ${name}  turns/s ${median(s.tps).toFixed(0)}  cpu ms/turn ${median(s.cpu).toFixed(3)}  append ms ${median(s.append).toFixed(3)}  durable turn ms ${median(s.durable).toFixed(3)} (accept ${median(s.accept).toFixed(3)})`
    )
  }
})

await Effect.runPromise(
  Effect.scoped(Effect.provide(program, backend === "pg" ? Databases.postgresFresh() : Databases.sqliteTemp()))
)
