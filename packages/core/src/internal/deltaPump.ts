/**
 * Reads a model's stream outside the turn's fiber and hands the turn its text in batches, so the
 * fiber resumes once per batch instead of once per chunk.
 *
 * A plain loop pulls the chunks; every chunk goes to `onChunk` (the turn merges the reply from them)
 * and its text is added to the open batch. With a window, the open batch is cut when the event loop would otherwise
 * wait (a macrotask scheduled when the batch opens: a model whose chunks arrive one per network read
 * or timer gets one batch per chunk, with no added latency) and never later than the window after
 * its first text (checked at every chunk, so a burst of chunks that arrive as microtasks only is
 * still cut at the bound). Batches the turn has not taken yet are joined into one. Without a window
 * (`0`) every chunk with text is its own batch.
 *
 * The loop never outlives its call: the turn aborts the request first and then calls the iterator's
 * `return()`, unawaited (STACK-NOTES: LangChain's `return()` waits for the pending read, which only
 * the abort ends); the loop stops at the next step it sees closed.
 */
import type { AIMessageChunk } from "@langchain/core/messages"
import { textOf } from "./messageText.js"

/** What the turn takes from the pump at once. @internal */
export interface Batch {
  /** Texts to publish, in order: one per chunk without a window, at most one with. */
  readonly texts: ReadonlyArray<string>
  /** The stream ended (after these texts). */
  readonly done: boolean
  /** The stream failed (after these texts); `streamed`: some chunk had arrived before. */
  readonly failure: { readonly cause: unknown; readonly streamed: boolean } | undefined
}

type Later = (run: () => void) => void

// runtime-neutral: `setImmediate` (Node, Bun, Deno) runs after the loop's pending I/O; else a timer
const later: Later =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (run) => void (globalThis as unknown as { setImmediate: (run: () => void) => unknown }).setImmediate(run)
    : (run) => void globalThis.setTimeout(run, 0)

const now: () => number =
  typeof globalThis.performance?.now === "function" ? () => globalThis.performance.now() : () => Date.now()

/** @internal */
export class DeltaPump {
  private open = ""
  private openedAt = 0
  private scheduled = false
  private readonly ready: Array<string> = []
  private done = false
  private failure: Batch["failure"] = undefined
  private waiting: ((batch: Batch) => void) | undefined
  private closed = false
  /** Some chunk arrived. */
  streamed = false
  private readonly texts: Array<string> = []
  /** All the text that arrived, taken or not (read when a call is cut short). */
  get text(): string {
    return this.texts.join("")
  }

  /**
   * @param windowMs the bound on a batch's age; `0`: one batch per chunk
   * @param onChunk called with every chunk as it arrives, before its text is batched
   */
  constructor(
    private readonly iterator: AsyncIterator<AIMessageChunk>,
    private readonly windowMs: number,
    private readonly onChunk: (chunk: AIMessageChunk) => void
  ) {}

  /** Starts pulling; never rejects. */
  start(): void {
    void this.pull()
  }

  /** Stops taking chunks (the caller has aborted the request). */
  close(): void {
    this.closed = true
    this.waiting = undefined
  }

  /** The next batch: at once when one is ready, else when one is. */
  next(): Promise<Batch> {
    const batch = this.take()
    if (batch !== undefined) return Promise.resolve(batch)
    return new Promise((resolve) => (this.waiting = resolve))
  }

  private take(): Batch | undefined {
    if (this.ready.length === 0 && !this.done && this.failure === undefined) return undefined
    const texts = this.windowMs > 0 && this.ready.length > 1 ? [this.ready.join("")] : this.ready.slice()
    this.ready.length = 0
    return { texts, done: this.done, failure: this.failure }
  }

  private wake(): void {
    const waiting = this.waiting
    if (waiting === undefined) return
    const batch = this.take()
    if (batch === undefined) return
    this.waiting = undefined
    waiting(batch)
  }

  private cut = (): void => {
    this.scheduled = false
    if (this.open.length > 0) {
      this.ready.push(this.open)
      this.open = ""
    }
    this.wake()
  }

  private add(text: string): void {
    if (this.windowMs <= 0) {
      this.ready.push(text)
      return this.wake()
    }
    const at = now()
    if (this.open.length === 0) {
      this.openedAt = at
      if (!this.scheduled) {
        this.scheduled = true
        later(this.cut)
      }
    }
    this.open += text
    if (at - this.openedAt >= this.windowMs) this.cut()
  }

  private async pull(): Promise<void> {
    try {
      while (!this.closed) {
        const next = await this.iterator.next()
        if (this.closed) return
        if (next.done === true) break
        const chunk = next.value
        this.streamed = true
        this.onChunk(chunk)
        const text = textOf(chunk.content)
        if (text.length > 0) {
          this.texts.push(text)
          this.add(text)
        }
      }
      this.done = true
    } catch (cause) {
      if (this.closed) return
      this.failure = { cause, streamed: this.streamed }
    }
    this.cut()
  }
}
