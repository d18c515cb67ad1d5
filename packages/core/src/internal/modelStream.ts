/**
 * How a turn reads a chat model's stream: the model's own `_streamIterator` (where `BaseChatModel`
 * configures the callbacks and tracing a user set, calls the provider with the signal, and
 * reports every chunk and the end), without the wrapper `Runnable.stream` puts around it.
 *
 * That wrapper (`AsyncGeneratorWithSetup` in an `IterableReadableStream`) runs every step of the
 * generator inside LangChain's AsyncLocalStorage (a config lookup and environment reads per chunk)
 * and races every step against the abort signal (a promise, a listener added and removed per
 * chunk), then copies each chunk through a web `ReadableStream`: about 40 % of what a 200-chunk
 * stream of a scripted model costs. The turn needs none of it: it aborts the request itself and
 * never waits on the stream after that (turnRun).
 *
 * Only where it is the same call: a model whose `stream` is LangChain's own (`Runnable.stream`, or
 * `RunnableBinding.stream` — what `bindTools` returns — over such a model). A model that overrides
 * `stream` gets `stream`.
 */
import type { BaseChatModel } from "@langchain/core/language_models/chat_models"
import type { AIMessageChunk, BaseMessage } from "@langchain/core/messages"
import { ensureConfig, Runnable, RunnableBinding, type RunnableConfig } from "@langchain/core/runnables"

interface Streaming {
  readonly stream: unknown
  readonly _streamIterator: unknown
  readonly bound?: unknown
}

/** Whether `stream` of this runnable is LangChain's: `ensureConfig`, then `_streamIterator` wrapped. */
const stockStream = (runnable: Streaming, depth = 0): boolean => {
  if (runnable.stream === Runnable.prototype.stream) return true
  return (
    depth < 4 &&
    runnable.stream === RunnableBinding.prototype.stream &&
    runnable._streamIterator === RunnableBinding.prototype._streamIterator &&
    typeof runnable.bound === "object" &&
    runnable.bound !== null &&
    stockStream(runnable.bound as Streaming, depth + 1)
  )
}

/**
 * The chunks of one call of the model, read directly from its `_streamIterator` when its `stream`
 * is LangChain's own. @internal
 */
export const streamModel = async (
  model: BaseChatModel,
  messages: Array<BaseMessage>,
  signal: AbortSignal
): Promise<AsyncIterator<AIMessageChunk>> => {
  if (!stockStream(model as unknown as Streaming))
    return (await model.stream(messages, { signal }))[Symbol.asyncIterator]()
  const direct = model as unknown as {
    _streamIterator(input: Array<BaseMessage>, options: RunnableConfig): AsyncGenerator<AIMessageChunk>
  }
  return direct._streamIterator(messages, ensureConfig({ signal }))
}
