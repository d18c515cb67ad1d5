/**
 * How a turn reads a chat model's stream: the model's own `_streamIterator` (where `BaseChatModel`
 * configures the callbacks and tracing a user set, calls the provider with the signal, and
 * reports every chunk and the end), without the wrapper `Runnable.stream` puts around it — and,
 * when no callback handler or tracer would see the call, the provider's chunks directly.
 *
 * That wrapper (`AsyncGeneratorWithSetup` in an `IterableReadableStream`) runs every step of the
 * generator inside LangChain's AsyncLocalStorage (a config lookup and environment reads per chunk)
 * and races every step against the abort signal (a promise, a listener added and removed per
 * chunk), then copies each chunk through a web `ReadableStream`: about 40 % of what a 200-chunk
 * stream of a scripted model costs. The turn needs none of it: it aborts the request itself and
 * never waits on the stream after that (turnRun).
 *
 * `_streamIterator` itself folds every chunk into the whole reply (`ChatGenerationChunk.concat`: a
 * new message per chunk) only to hand it to the handlers' `handleLLMEnd`. When LangChain's own
 * `CallbackManager.configure` finds no handler for the call (none on the model, none in the config
 * or its AsyncLocalStorage context, no tracing or verbose setting in the environment), that fold
 * goes nowhere: the chunks are read from `_streamResponseChunks` as `_streamIterator` reads them
 * (the same messages, call options and signal checks, `generationInfo` into `response_metadata`),
 * without it. Any handler, and anything this does not know (`outputVersion: "v1"`, a model that
 * does not stream, a LangChain without these methods), takes `_streamIterator`.
 *
 * Only where it is the same call: a model whose `stream` is LangChain's own (`Runnable.stream`, or
 * `RunnableBinding.stream` — what `bindTools` returns — over such a model). A model that overrides
 * `stream` gets `stream`.
 */
import { CallbackManager } from "@langchain/core/callbacks/manager"
import { BaseChatModel } from "@langchain/core/language_models/chat_models"
import type { AIMessageChunk, BaseMessage } from "@langchain/core/messages"
import type { ChatGenerationChunk } from "@langchain/core/outputs"
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

type Iterate = (input: Array<BaseMessage>, options: RunnableConfig) => AsyncGenerator<AIMessageChunk>

/** What of `BaseChatModel` (and `RunnableBinding`) the direct read uses: protected in its types. */
interface Internals {
  readonly _streamIterator: Iterate
  readonly _streamResponseChunks: (
    messages: Array<BaseMessage>,
    options: Record<string, unknown>,
    runManager?: undefined
  ) => AsyncGenerator<ChatGenerationChunk>
  readonly _separateRunnableConfigFromCallOptionsCompat?: (
    options: RunnableConfig
  ) => [RunnableConfig, { signal?: AbortSignal; outputVersion?: string }]
  readonly _mergeConfig?: (...options: Array<RunnableConfig | undefined>) => Promise<RunnableConfig>
  readonly kwargs?: RunnableConfig
  readonly bound?: Internals
  readonly callbacks?: RunnableConfig["callbacks"]
  readonly tags?: Array<string>
  readonly metadata?: Record<string, unknown>
  readonly verbose?: boolean
  readonly disableStreaming?: boolean
  readonly outputVersion?: string
}

/** `BaseLanguageModel`'s input to messages, protected in its types. */
interface Conversion {
  readonly _convertInputToPromptValue: (input: Array<BaseMessage>) => { toChatMessages(): Array<BaseMessage> }
}

/** `_streamIterator` without the handlers' fold: only for a call no handler sees. */
async function* direct(
  model: Internals,
  messages: Array<BaseMessage>,
  callOptions: { signal?: AbortSignal }
): AsyncGenerator<AIMessageChunk> {
  for await (const chunk of model._streamResponseChunks(messages, callOptions)) {
    callOptions.signal?.throwIfAborted()
    chunk.message.response_metadata = { ...chunk.generationInfo, ...chunk.message.response_metadata }
    yield chunk.message as AIMessageChunk
  }
  callOptions.signal?.throwIfAborted()
}

/** The chunks of a stock `BaseChatModel` (bindings resolved as `RunnableBinding` resolves them). */
const iterate = async (
  runnable: Internals,
  input: Array<BaseMessage>,
  config: RunnableConfig
): Promise<AsyncIterator<AIMessageChunk>> => {
  if (runnable._streamIterator === RunnableBinding.prototype._streamIterator && runnable.bound !== undefined) {
    if (typeof runnable._mergeConfig !== "function") return runnable._streamIterator(input, config)
    return iterate(runnable.bound, input, await runnable._mergeConfig(ensureConfig(config), runnable.kwargs))
  }
  const stock = () => runnable._streamIterator(input, config)
  if (
    runnable._streamIterator !== BaseChatModel.prototype._streamIterator ||
    runnable._streamResponseChunks === BaseChatModel.prototype._streamResponseChunks ||
    runnable.disableStreaming === true ||
    typeof runnable._separateRunnableConfigFromCallOptionsCompat !== "function"
  )
    return stock()
  const [runnableConfig, callOptions] = runnable._separateRunnableConfigFromCallOptionsCompat(config)
  if ((callOptions.outputVersion ?? runnable.outputVersion) === "v1") return stock()
  // the same question `_streamIterator` asks; `undefined`: no handler, tracer or hook sees the call
  const manager = await CallbackManager.configure(
    runnableConfig.callbacks,
    runnable.callbacks,
    runnableConfig.tags,
    runnable.tags,
    runnableConfig.metadata,
    runnable.metadata,
    { verbose: runnable.verbose === true }
  )
  if (manager !== undefined) return stock()
  const messages = (BaseChatModel as unknown as Conversion)._convertInputToPromptValue(input).toChatMessages()
  return direct(runnable, messages, callOptions)
}

/**
 * The chunks of one call of the model, read directly from its `_streamIterator` (or, with no
 * handler to see it, from `_streamResponseChunks`) when its `stream` is LangChain's own. @internal
 */
export const streamModel = async (
  model: BaseChatModel,
  messages: Array<BaseMessage>,
  signal: AbortSignal
): Promise<AsyncIterator<AIMessageChunk>> => {
  if (!stockStream(model as unknown as Streaming))
    return (await model.stream(messages, { signal }))[Symbol.asyncIterator]()
  return iterate(model as unknown as Internals, messages, ensureConfig({ signal }))
}
