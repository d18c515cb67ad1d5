/**
 * A/B: the store of packages/core/src (A) against the store of another copy of the core sources (B,
 * e.g. with a proposed fix applied), in one process, on one database, with the raw-driver floor
 * beside them. A, B and the floor alternate sample by sample, so load from other processes on the
 * machine hits all three alike; the B / A ratio is the fix's effect.
 *
 *   npx tsx bench/store/ab.ts <dir of B's src> [--backend=sqlite|pg] [--turns=1000] [--samples=40]
 *
 * B's directory must sit inside the repository (e.g. node_modules/.cache/…) so that its imports of
 * effect, @effect/sql and @langchain/core resolve; bench/store/ANALYSIS.md shows how to make one.
 */
import * as ConversationStoreA from "@convo/core/ConversationStore"
import * as MessageCodecA from "@convo/core/MessageCodec"
import * as SqlConversationStoreA from "@convo/core/SqlConversationStore"
import * as Databases from "@convo/testing/Databases"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { distinctTurns, turn } from "./data.js"
import { type EncodedTurn, type Floor, pgFloor, sqliteFloor } from "./floor.js"
import { summarize, timeEffect, timeFloor } from "./measure.js"

const args = process.argv.slice(2)
const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const dirB = args.find((a) => !a.startsWith("--"))
if (dirB === undefined) throw new Error("usage: npx tsx bench/store/ab.ts <dir of B's src> [--backend=pg] [--turns=N]")
const backend = flag("backend") ?? "sqlite"
const size = Number(flag("turns") ?? 1_000)
const samples = Number(flag("samples") ?? 40)
const fastSamples = Number(flag("fast-samples") ?? 300)

const loadB = <M>(name: string): Promise<M> => import(pathToFileURL(resolve(dirB, `${name}.ts`)).href)
const MessageCodecB = await loadB<typeof MessageCodecA>("MessageCodec")
const SqlConversationStoreB = await loadB<typeof SqlConversationStoreA>("SqlConversationStore")

const userId = "bench-user"

const program = Effect.gen(function* () {
  const database = yield* Databases.TestDatabase
  const storeA = yield* Effect.provideService(
    SqlConversationStoreA.make(),
    MessageCodecA.MessageCodec,
    MessageCodecA.make()
  )
  const storeB: ConversationStoreA.Service = yield* Effect.provideService(
    SqlConversationStoreB.make(),
    MessageCodecB.MessageCodec,
    MessageCodecB.make()
  )
  const codec = MessageCodecA.make()
  const turns = Array.from({ length: distinctTurns }, (_, i) => turn(i))
  const encoded: Array<EncodedTurn> = []
  for (const t of turns) {
    encoded.push({
      human: yield* codec.encodeString(t.human),
      ai: yield* codec.encodeString(t.ai),
      inputTokens: t.inputTokens,
      outputTokens: t.outputTokens
    })
  }
  const server = Databases.pgServer()
  const floor: Floor =
    backend === "pg"
      ? yield* Effect.promise(() =>
          pgFloor({
            host: server.host,
            port: server.port,
            user: server.user,
            database: database.name,
            ...(server.password === undefined ? {} : { password: server.password })
          })
        )
      : sqliteFloor(database.name)
  yield* Effect.addFinalizer(() => Effect.promise(async () => floor.close()))

  const ids: Array<number> = []
  for (let k = 0; k < 3; k++) {
    const conversation = yield* storeA.create({ userId })
    yield* Effect.promise(async () => floor.fill(conversation.id, userId, size, (i) => encoded[i % distinctTurns]!))
    ids.push(conversation.id)
  }
  if (backend === "pg") yield* (yield* SqlClient.SqlClient)`ANALYZE`
  const [idA, idB, idFloor] = ids as [number, number, number]

  const same = yield* storeB.history(idB)
  if (same.entries.length !== 2 * size || same.entries.some((e) => e._tag !== "Decoded")) {
    return yield* Effect.die(new Error(`B read ${same.entries.length} entries, expected ${2 * size} decoded`))
  }

  const run = (
    name: string,
    n: number,
    a: (i: number) => Effect.Effect<unknown, unknown>,
    b: (i: number) => Effect.Effect<unknown, unknown>,
    f: (i: number) => unknown
  ) =>
    Effect.gen(function* () {
      const times: [Array<number>, Array<number>, Array<number>] = [[], [], []]
      const warmup = Math.max(3, Math.floor(n / 10))
      for (let i = 0; i < warmup + n; i++) {
        // Rotate the order: A B F, B F A, F A B.
        for (let k = 0; k < 3; k++) {
          const which = (i + k) % 3
          const t =
            which === 0 ? yield* timeEffect(a(i)) : which === 1 ? yield* timeEffect(b(i)) : yield* timeFloor(() => f(i))
          if (i >= warmup) times[which]!.push(t)
        }
      }
      const [sa, sb, sf] = times.map(summarize) as [
        ReturnType<typeof summarize>,
        ReturnType<typeof summarize>,
        ReturnType<typeof summarize>
      ]
      console.log(
        `${backend} ${size} ${name.padEnd(12)} A p50 ${sa.p50.toFixed(3)}  B p50 ${sb.p50.toFixed(3)}  floor p50 ${sf.p50.toFixed(3)}  |  B/A ${(sb.p50 / sa.p50).toFixed(2)}  A/floor ${(sa.p50 / sf.p50).toFixed(2)}  B/floor ${(sb.p50 / sf.p50).toFixed(2)}`
      )
    })

  yield* run(
    "load_full",
    samples,
    () => storeA.history(idA),
    () => storeB.history(idB),
    () => floor.full(idFloor)
  )
  yield* run(
    "load_last50",
    fastSamples,
    () => storeA.history(idA, { limit: 50 }),
    () => storeB.history(idB, { limit: 50 }),
    () => floor.last(idFloor, 50)
  )
  const append = (store: ConversationStoreA.Service, id: number) => (i: number) => {
    const t = turns[i % distinctTurns]!
    return store.append({ conversationId: id, userId, messages: [{ value: t.human }, { value: t.ai }] })
  }
  yield* run("append", fastSamples, append(storeA, idA), append(storeB, idB), (i) =>
    floor.append(idFloor, userId, encoded[i % distinctTurns]!)
  )
})

await Effect.runPromise(
  Effect.scoped(Effect.provide(program, backend === "pg" ? Databases.postgresFresh() : Databases.sqliteTemp()))
)
