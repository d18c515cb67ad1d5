/**
 * The way one SSE chunk takes from `HttpChat`'s session events to the response writer, in one
 * process, blocks alternated: `Stream.async` (a fiber and a promise per emitted chunk) against
 * `Stream.asyncPush` (a synchronous offer), each with and without a heartbeat merged in as a
 * second stream (`Stream.merge`, as `HttpChat` did). One chunk per event-loop turn, as a batch of a
 * turn's events comes; then `Stream.encodeText` and `Stream.runForEachChunk`, as the Node server
 * layer writes them. Prints µs of CPU per chunk (medians over the rounds after the first).
 *
 *   npx tsx bench/ws/abSseChunk.ts [--rounds=8]
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { loadavg } from "node:os"

const rounds = Number(process.argv.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 8)
const chunks = 2000
const text = `id: 1\nevent: message_delta\ndata: {"type":"message_delta","id":"m","text":"w1 "}\n\n`

/** Calls `emit` once per event-loop turn, `chunks` times, then `end`. */
const produce = (emit: (chunk: string) => void, end: () => void) => {
  let i = 0
  const next = () => {
    if (i++ < chunks) {
      emit(text)
      setImmediate(next)
    } else end()
  }
  setImmediate(next)
}
const viaAsync = () =>
  Stream.async<string>((emit) => {
    produce(
      (chunk) => void emit.single(chunk),
      () => void emit.end()
    )
  }, "unbounded")
const viaPush = () =>
  Stream.asyncPush<string>(
    (emit) =>
      Effect.sync(() =>
        produce(
          (chunk) => emit.single(chunk),
          () => emit.end()
        )
      ),
    { bufferSize: "unbounded" }
  )
const heartbeat = Stream.fromSchedule(Schedule.spaced("15 seconds")).pipe(Stream.as(": keep-alive\n\n"))
const merged = (stream: () => Stream.Stream<string>) => () =>
  Stream.merge(stream(), heartbeat, { haltStrategy: "left" })

const variants = {
  "Stream.async": viaAsync,
  "Stream.async + merged heartbeat": merged(viaAsync),
  "Stream.asyncPush": viaPush,
  "Stream.asyncPush + merged heartbeat": merged(viaPush)
} as const

const cpuPerChunk = async (make: () => Stream.Stream<string>) => {
  const start = process.cpuUsage()
  for (let turn = 0; turn < 5; turn++) {
    await Effect.runPromise(Stream.runForEachChunk(make().pipe(Stream.encodeText), () => Effect.void))
  }
  const used = process.cpuUsage(start)
  return (used.user + used.system) / (5 * chunks)
}
const samples = new Map<string, Array<number>>()
for (let round = 0; round < rounds; round++) {
  const names = Object.keys(variants) as Array<keyof typeof variants>
  for (const name of round % 2 === 0 ? names : names.reverse()) {
    const us = await cpuPerChunk(variants[name])
    if (round > 0) samples.set(name, [...(samples.get(name) ?? []), us])
  }
}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
console.log(`µs of CPU per chunk (load ${loadavg()[0]!.toFixed(1)}):`)
for (const [name, us] of samples) console.log(`  ${name}: ${median(us).toFixed(1)}`)
