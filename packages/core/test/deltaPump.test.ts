import { assert, describe, it } from "@effect/vitest"
import { AIMessageChunk } from "@langchain/core/messages"
import fc from "fast-check"
import { type Batch, DeltaPump } from "../src/internal/deltaPump.js"

/** How a chunk arrives: at once (a microtask), after a macrotask, or after busy time (a burst that holds the loop). */
type Arrival = { readonly text: string; readonly wait: "micro" | "macro" | number }

const streamOf = (arrivals: ReadonlyArray<Arrival>, failAt?: number): AsyncIterator<AIMessageChunk> => {
  let i = 0
  return {
    next: async () => {
      if (i === failAt) throw new Error("boom")
      if (i >= arrivals.length) return { done: true, value: undefined }
      const { text, wait } = arrivals[i++]!
      if (wait === "macro") await new Promise((done) => setTimeout(done, 0))
      else if (typeof wait === "number") {
        const until = performance.now() + wait
        while (performance.now() < until) {
          // holds the loop: every chunk of the burst arrives as a microtask
        }
      }
      return { done: false, value: new AIMessageChunk({ content: text }) }
    }
  }
}

/** Every batch the turn would take, as it takes them. */
const drain = async (pump: DeltaPump): Promise<Array<Batch>> => {
  const batches: Array<Batch> = []
  pump.start()
  for (;;) {
    const batch = await pump.next()
    batches.push(batch)
    if (batch.done || batch.failure !== undefined) return batches
  }
}

const arrival: fc.Arbitrary<Arrival> = fc.record({
  text: fc.string({ maxLength: 4 }),
  wait: fc.oneof(fc.constant("micro" as const), fc.constant("macro" as const), fc.integer({ min: 0, max: 3 }))
})

describe("DeltaPump", () => {
  it("never reorders, drops or duplicates text, keeps every chunk, and never sends an empty delta", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arrival, { maxLength: 40 }), fc.constantFrom(0, 1, 5, 20), async (arrivals, window) => {
        const kept: Array<string> = []
        const batches = await drain(
          new DeltaPump(streamOf(arrivals), window, (chunk) => kept.push(String(chunk.content)))
        )
        const texts = batches.flatMap((batch) => batch.texts)
        const expected = arrivals.map((a) => a.text)
        assert.deepStrictEqual(kept, expected)
        assert.strictEqual(texts.join(""), expected.join(""))
        assert.isTrue(texts.every((text) => text.length > 0))
        // without a window, one delta per chunk with text, exactly
        if (window === 0)
          assert.deepStrictEqual(
            texts,
            expected.filter((text) => text.length > 0)
          )
        assert.isTrue(batches.at(-1)!.done)
        assert.isTrue(batches.slice(0, -1).every((batch) => !batch.done))
      }),
      { numRuns: 150 }
    )
  })

  it("cuts a burst of microtask-only chunks at the window, and sends chunks a macrotask apart one by one", async () => {
    // 40 chunks, 1 ms of busy time each, all microtasks: a 5 ms window cuts about every 5 chunks
    const burst = Array.from({ length: 40 }, (_, i): Arrival => ({ text: `w${i} `, wait: 1 }))
    const cut = (await drain(new DeltaPump(streamOf(burst), 5, () => undefined))).flatMap((batch) => batch.texts)
    assert.strictEqual(cut.join(""), burst.map((a) => a.text).join(""))
    assert.isAtLeast(cut.length, 6)
    assert.isAtMost(cut.length, 20)
    // a paced model: every chunk a macrotask after the last, so no chunk waits for the next one
    const paced = Array.from({ length: 10 }, (_, i): Arrival => ({ text: `p${i} `, wait: "macro" }))
    const one = (await drain(new DeltaPump(streamOf(paced), 20, () => undefined))).flatMap((batch) => batch.texts)
    assert.deepStrictEqual(
      one,
      paced.map((a) => a.text)
    )
  })

  it("a failure comes after the text that arrived before it, and says whether any did", async () => {
    const arrivals: Array<Arrival> = [
      { text: "a", wait: "micro" },
      { text: "b", wait: "micro" }
    ]
    const batches = await drain(new DeltaPump(streamOf(arrivals, 2), 10, () => undefined))
    assert.strictEqual(batches.flatMap((batch) => batch.texts).join(""), "ab")
    assert.deepStrictEqual(batches.at(-1)!.failure?.streamed, true)
    const first = await drain(new DeltaPump(streamOf(arrivals, 0), 10, () => undefined))
    assert.deepStrictEqual(first.at(-1)!.failure?.streamed, false)
  })
})
