/**
 * LLM settings of a chat agent (S6): the model specs (pyhub's `LLMModel` enum), the settings
 * (`model`, `temperature`, `maxTokens`, `timeout`) and their validation, and the
 * `ChatModelFactory` service that turns settings into a LangChain chat model.
 *
 * - OpenAI and any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, ...) go through
 *   `@langchain/openai`'s `ChatOpenAI`.
 * - Anthropic and Google go through `@langchain/anthropic` and `@langchain/google-genai`, loaded
 *   on first use. They are optional: without them, a spec of theirs fails with a typed
 *   `LlmError` (`MissingProvider`) that says which package to install.
 * - API keys come from the settings or from config: `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`,
 *   `GOOGLE_API_KEY`; `OPENAI_BASE_URL` points the OpenAI specs at another server.
 * - `offline` is a spec that needs no key and no network (see `OfflineModel`).
 *
 * @since 0.1.0
 */
import type { BaseChatModel } from "@langchain/core/language_models/chat_models"
import { ChatOpenAI } from "@langchain/openai"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { OfflineModel } from "./OfflineModel.js"

/**
 * Who serves a model. `openai-compatible` is any server speaking OpenAI's chat completions API;
 * `offline` is the built-in demo model.
 *
 * @since 0.1.0
 * @category models
 */
export type Provider = "openai" | "anthropic" | "google" | "openai-compatible" | "offline"

/**
 * What a model is and what it can do.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelSpec {
  readonly provider: Provider
  /** The provider's model name, sent as `model`. */
  readonly name: string
  /** The most output tokens the model can produce in one reply; `maxTokens` is clamped to it. */
  readonly maxOutputTokens: number
  /**
   * The model's context window: input and output tokens of one request together. A chat agent's
   * history budget defaults to this minus the reply's tokens (see `ChatAgent.ContextPolicy`).
   */
  readonly contextWindow: number
  /** How the model's text is counted offline; unset: a character heuristic. */
  readonly tokenizer?: Tokenizer | undefined
  /** Accepts images in user messages. */
  readonly multimodal: boolean
  /** Supports tool (function) calling. */
  readonly toolCalling: boolean
  /** A reasoning model (OpenAI o-series): it takes no `temperature`, so one set is dropped. */
  readonly reasoning: boolean
  /** `openai-compatible` only: the server's base URL, e.g. `http://127.0.0.1:11434/v1`. */
  readonly baseURL?: string | undefined
  /** `openai-compatible` only: the server's key, if it wants one. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
}

/**
 * A tokenizer whose ranks ship with `js-tiktoken`: `o200k_base` (GPT-4o, GPT-4.1, o-series) and
 * `cl100k_base` (GPT-4, GPT-3.5).
 *
 * @since 0.3.0
 * @category models
 */
export type Tokenizer = "o200k_base" | "cl100k_base"

const spec = (
  provider: Provider,
  name: string,
  maxOutputTokens: number,
  contextWindow: number,
  flags: { readonly multimodal: boolean; readonly toolCalling: boolean; readonly reasoning?: boolean }
): ModelSpec => ({
  provider,
  name,
  maxOutputTokens,
  contextWindow,
  ...(provider === "openai" ? { tokenizer: "o200k_base" as const } : {}),
  multimodal: flags.multimodal,
  toolCalling: flags.toolCalling,
  reasoning: flags.reasoning ?? false
})

/**
 * OpenAI GPT-4o (128,000-token context, 16,384 output tokens, images, tools). The tutorial's model.
 *
 * @since 0.1.0
 * @category specs
 */
export const openAiGpt4o: ModelSpec = spec("openai", "gpt-4o", 16_384, 128_000, { multimodal: true, toolCalling: true })

/**
 * OpenAI GPT-4o mini (128,000-token context, 16,384 output tokens, images, tools).
 *
 * @since 0.1.0
 * @category specs
 */
export const openAiGpt4oMini: ModelSpec = spec("openai", "gpt-4o-mini", 16_384, 128_000, {
  multimodal: true,
  toolCalling: true
})

/**
 * OpenAI GPT-4.1 (1,047,576-token context, 32,768 output tokens, images, tools).
 *
 * @since 0.1.0
 * @category specs
 */
export const openAiGpt41: ModelSpec = spec("openai", "gpt-4.1", 32_768, 1_047_576, {
  multimodal: true,
  toolCalling: true
})

/**
 * OpenAI GPT-4.1 mini (1,047,576-token context, 32,768 output tokens, images, tools).
 *
 * @since 0.1.0
 * @category specs
 */
export const openAiGpt41Mini: ModelSpec = spec("openai", "gpt-4.1-mini", 32_768, 1_047_576, {
  multimodal: true,
  toolCalling: true
})

/**
 * OpenAI o4-mini, a reasoning model (200,000-token context, 100,000 output tokens, images, tools, no temperature).
 *
 * @since 0.1.0
 * @category specs
 */
export const openAiO4Mini: ModelSpec = spec("openai", "o4-mini", 100_000, 200_000, {
  multimodal: true,
  toolCalling: true,
  reasoning: true
})

/**
 * Anthropic Claude 3.5 Sonnet, latest snapshot (200,000-token context, 8,192 output tokens, images, tools).
 *
 * @since 0.1.0
 * @category specs
 */
export const anthropicClaude35Sonnet: ModelSpec = spec("anthropic", "claude-3-5-sonnet-latest", 8_192, 200_000, {
  multimodal: true,
  toolCalling: true
})

/**
 * Anthropic Claude 3.5 Haiku, latest snapshot (200,000-token context, 8,192 output tokens, images, tools).
 *
 * @since 0.1.0
 * @category specs
 */
export const anthropicClaude35Haiku: ModelSpec = spec("anthropic", "claude-3-5-haiku-latest", 8_192, 200_000, {
  multimodal: true,
  toolCalling: true
})

/**
 * Anthropic Claude Sonnet 4 (200,000-token context, 64,000 output tokens, images, tools).
 *
 * @since 0.1.0
 * @category specs
 */
export const anthropicClaudeSonnet4: ModelSpec = spec("anthropic", "claude-sonnet-4-0", 64_000, 200_000, {
  multimodal: true,
  toolCalling: true
})

/**
 * Google Gemini 2.0 Flash (1,048,576-token context, 8,192 output tokens, images, tools).
 *
 * @since 0.1.0
 * @category specs
 */
export const googleGemini20Flash: ModelSpec = spec("google", "gemini-2.0-flash", 8_192, 1_048_576, {
  multimodal: true,
  toolCalling: true
})

/**
 * Google Gemini 1.5 Pro (2,097,152-token context, 8,192 output tokens, images, tools).
 *
 * @since 0.1.0
 * @category specs
 */
export const googleGemini15Pro: ModelSpec = spec("google", "gemini-1.5-pro", 8_192, 2_097_152, {
  multimodal: true,
  toolCalling: true
})

/**
 * The offline demo model (`OfflineModel`): no key, no network, no tools, an 8,192-token context. It accepts images (it
 * only counts them).
 *
 * @since 0.1.0
 * @category specs
 */
export const offline: ModelSpec = spec("offline", "convo-offline-demo", 4_096, 8_192, {
  multimodal: true,
  toolCalling: false
})

/**
 * Every named spec, OpenAI first.
 *
 * @since 0.1.0
 * @category specs
 */
export const all: ReadonlyArray<ModelSpec> = [
  openAiGpt4o,
  openAiGpt4oMini,
  openAiGpt41,
  openAiGpt41Mini,
  openAiO4Mini,
  anthropicClaude35Sonnet,
  anthropicClaude35Haiku,
  anthropicClaudeSonnet4,
  googleGemini20Flash,
  googleGemini15Pro,
  offline
]

/**
 * The named spec with this model name (`"gpt-4o"`, `"claude-3-5-haiku-latest"`, ...).
 *
 * @since 0.1.0
 * @category specs
 */
export const fromName = (name: string): Option.Option<ModelSpec> =>
  Option.fromNullable(all.find((s) => s.name === name))

/**
 * @since 0.1.0
 * @category models
 */
export interface OpenAiCompatibleOptions {
  /** The model name the server knows, e.g. `"llama3.2"` for Ollama. */
  readonly name: string
  /** The server's OpenAI-style base URL, e.g. `http://127.0.0.1:11434/v1`. */
  readonly baseURL: string
  readonly apiKey?: string | Redacted.Redacted<string> | undefined
  /** Default 4,096. */
  readonly maxOutputTokens?: number | undefined
  /** The server's context length (Ollama's `num_ctx`, vLLM's `max_model_len`). Default 8,192. */
  readonly contextWindow?: number | undefined
  /** How to count the model's text offline; unset: a character heuristic. */
  readonly tokenizer?: Tokenizer | undefined
  /** Default false. */
  readonly multimodal?: boolean | undefined
  /** Default true. */
  readonly toolCalling?: boolean | undefined
}

/**
 * A spec for any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, a proxy). The URL
 * and numbers are checked by `resolveSettings`, not here.
 *
 * @example
 * ```ts
 * import * as LlmModels from "@convo/core/LlmModels"
 *
 * const llama = LlmModels.openAiCompatible({ name: "llama3.2", baseURL: "http://127.0.0.1:11434/v1" })
 * ```
 *
 * @since 0.1.0
 * @category specs
 */
export const openAiCompatible = (options: OpenAiCompatibleOptions): ModelSpec => ({
  provider: "openai-compatible",
  name: options.name,
  maxOutputTokens: options.maxOutputTokens ?? 4_096,
  contextWindow: options.contextWindow ?? 8_192,
  ...(options.tokenizer !== undefined ? { tokenizer: options.tokenizer } : {}),
  multimodal: options.multimodal ?? false,
  toolCalling: options.toolCalling ?? true,
  reasoning: false,
  baseURL: options.baseURL,
  apiKey: options.apiKey === undefined ? undefined : toRedacted(options.apiKey)
})

/**
 * The LLM settings of an agent.
 *
 * @since 0.1.0
 * @category models
 */
export interface LlmSettings {
  readonly model: ModelSpec
  /** 0–2 (OpenAI, Google, compatible servers) or 0–1 (Anthropic). Unset: the provider's default. */
  readonly temperature?: number | undefined
  /** A positive integer; above the spec's `maxOutputTokens` it is clamped, with a warning. */
  readonly maxTokens?: number | undefined
  /** Per request; unset or infinite: the client's default. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Retries of a failed request by the LangChain client. Default 2. */
  readonly maxRetries?: number | undefined
  /** Overrides the key from config (and a compatible spec's own key). */
  readonly apiKey?: string | Redacted.Redacted<string> | undefined
}

/**
 * Settings after `resolveSettings`: checked, `maxTokens` clamped, temperature dropped for
 * reasoning models, timeout decoded.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedSettings {
  readonly model: ModelSpec
  readonly temperature: number | undefined
  readonly maxTokens: number | undefined
  readonly timeout: Duration.Duration | undefined
  readonly maxRetries: number
  readonly apiKey: Redacted.Redacted<string> | undefined
}

/**
 * A model could not be made: no API key (`MissingApiKey`), the provider's package is not
 * installed (`MissingProvider`), or the settings make no sense (`InvalidSettings`).
 *
 * @since 0.1.0
 * @category errors
 */
export class LlmError extends Schema.TaggedError<LlmError>("@convo/core/LlmModels/LlmError")("LlmError", {
  reason: Schema.Literal("MissingApiKey", "MissingProvider", "InvalidSettings"),
  model: Schema.String,
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `${this.model}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isLlmError = (u: unknown): u is LlmError => u instanceof LlmError

const toRedacted = (key: string | Redacted.Redacted<string>): Redacted.Redacted<string> =>
  Redacted.isRedacted(key) ? key : Redacted.make(key)

const PROVIDERS: ReadonlyArray<Provider> = ["openai", "anthropic", "google", "openai-compatible", "offline"]

/**
 * The temperature range a provider accepts.
 *
 * @since 0.1.0
 * @category models
 */
export const temperatureRange = (provider: Provider): readonly [number, number] =>
  provider === "anthropic" ? [0, 1] : [0, 2]

const isPositiveInteger = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n > 0

/**
 * Checks settings and normalises them. Fails with `LlmError` (`InvalidSettings`) for nonsense: an
 * unknown provider, an empty name, a bad URL, a temperature out of range or not a number, a
 * `maxTokens` that is not a positive integer, a timeout that is not a positive duration, a
 * negative `maxRetries`. Clamps `maxTokens` to the spec's `maxOutputTokens` and drops the
 * temperature of a reasoning model, each with a warning log.
 *
 * @since 0.1.0
 * @category settings
 */
export const resolveSettings: (settings: LlmSettings) => Effect.Effect<ResolvedSettings, LlmError> = Effect.fn(
  "LlmModels.resolveSettings"
)(function* (settings: LlmSettings) {
  const model = settings?.model as ModelSpec | undefined
  const label = typeof model?.name === "string" && model.name.length > 0 ? model.name : "(unnamed model)"
  const invalid = (detail: string) => new LlmError({ reason: "InvalidSettings", model: label, detail })
  if (typeof model !== "object" || model === null) return yield* invalid("settings.model must be a ModelSpec")
  if (!PROVIDERS.includes(model.provider)) {
    return yield* invalid(`unknown provider ${JSON.stringify(model.provider)}`)
  }
  if (typeof model.name !== "string" || model.name.trim().length === 0) {
    return yield* invalid("the model name must be a non-empty string")
  }
  if (!isPositiveInteger(model.maxOutputTokens)) {
    return yield* invalid(`maxOutputTokens must be a positive integer, got ${String(model.maxOutputTokens)}`)
  }
  if (!isPositiveInteger(model.contextWindow)) {
    return yield* invalid(`contextWindow must be a positive integer, got ${String(model.contextWindow)}`)
  }
  if (model.provider === "openai-compatible") {
    const url = model.baseURL
    let ok = false
    try {
      ok = typeof url === "string" && ["http:", "https:"].includes(new URL(url).protocol)
    } catch {
      ok = false
    }
    if (!ok) return yield* invalid(`baseURL must be an http(s) URL, got ${JSON.stringify(url)}`)
  }

  let temperature = settings.temperature
  if (temperature !== undefined) {
    const [min, max] = temperatureRange(model.provider)
    if (typeof temperature !== "number" || !Number.isFinite(temperature) || temperature < min || temperature > max) {
      return yield* invalid(`temperature must be a number from ${min} to ${max}, got ${String(temperature)}`)
    }
    if (model.reasoning) {
      yield* Effect.logWarning(`${model.name} is a reasoning model and takes no temperature: ${temperature} ignored`)
      temperature = undefined
    }
  }

  let maxTokens = settings.maxTokens
  if (maxTokens !== undefined) {
    if (!isPositiveInteger(maxTokens)) {
      return yield* invalid(`maxTokens must be a positive integer, got ${String(maxTokens)}`)
    }
    if (maxTokens > model.maxOutputTokens) {
      yield* Effect.logWarning(
        `maxTokens ${maxTokens} is above ${model.name}'s limit of ${model.maxOutputTokens} output tokens: clamped to ${model.maxOutputTokens}`
      )
      maxTokens = model.maxOutputTokens
    }
  }

  let timeout: Duration.Duration | undefined
  if (settings.timeout !== undefined) {
    const decoded = Duration.decodeUnknown(settings.timeout)
    if (
      Option.isNone(decoded) ||
      Duration.toMillis(decoded.value) <= 0 ||
      Number.isNaN(Duration.toMillis(decoded.value))
    ) {
      return yield* invalid(`timeout must be a positive duration, got ${String(settings.timeout)}`)
    }
    timeout = Duration.isFinite(decoded.value) ? decoded.value : undefined
  }

  const maxRetries = settings.maxRetries ?? 2
  if (typeof maxRetries !== "number" || !Number.isSafeInteger(maxRetries) || maxRetries < 0) {
    return yield* invalid(`maxRetries must be a non-negative integer, got ${String(maxRetries)}`)
  }

  const apiKey = settings.apiKey !== undefined ? toRedacted(settings.apiKey) : undefined
  return { model, temperature, maxTokens, timeout, maxRetries, apiKey } satisfies ResolvedSettings
})

/**
 * @since 0.1.0
 * @category models
 */
export interface ChatModelFactoryService {
  /** Checks the settings (`resolveSettings`) and builds the chat model they describe. */
  readonly make: (settings: LlmSettings) => Effect.Effect<BaseChatModel, LlmError>
}

/**
 * Turns `LlmSettings` into a LangChain chat model. `layer` reads keys from config; `layerFixed`
 * always gives one model (tests, demos).
 *
 * @since 0.1.0
 * @category tags
 */
export class ChatModelFactory extends Context.Tag("@convo/core/LlmModels/ChatModelFactory")<
  ChatModelFactory,
  ChatModelFactoryService
>() {}

/**
 * Where the factory gets keys and packages. Keys here stand in for the config variables; a key
 * in the settings wins over both.
 *
 * @since 0.1.0
 * @category constructors
 */
export interface FactoryOptions {
  readonly openAiApiKey?: string | Redacted.Redacted<string> | undefined
  /** Base URL for the `openai` specs (config `OPENAI_BASE_URL`), e.g. a proxy or a fake server. */
  readonly openAiBaseUrl?: string | undefined
  readonly anthropicApiKey?: string | Redacted.Redacted<string> | undefined
  readonly googleApiKey?: string | Redacted.Redacted<string> | undefined
  /** How optional provider packages are loaded. Default: dynamic `import()`. */
  readonly importProvider?: ((specifier: string) => Promise<unknown>) | undefined
  /** How the `offline` spec is built. Default: `new OfflineModel()`. */
  readonly offlineModel?: (() => BaseChatModel) | undefined
}

const defaultImport = (specifier: string): Promise<unknown> => import(/* @vite-ignore */ specifier)

/** The key a compatible server gets when none is set: local servers ignore it, the client needs one. */
const UNUSED_KEY = "not-needed"

const providerPackages = {
  anthropic: { specifier: "@langchain/anthropic", exportName: "ChatAnthropic", envVar: "ANTHROPIC_API_KEY" },
  google: { specifier: "@langchain/google-genai", exportName: "ChatGoogleGenerativeAI", envVar: "GOOGLE_API_KEY" }
} as const

type ChatModelConstructor = new (fields: Record<string, unknown>) => BaseChatModel

/**
 * Builds the factory from explicit options.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: FactoryOptions = {}): ChatModelFactoryService => {
  const importProvider = options.importProvider ?? defaultImport
  const keys = {
    openai: options.openAiApiKey === undefined ? undefined : toRedacted(options.openAiApiKey),
    anthropic: options.anthropicApiKey === undefined ? undefined : toRedacted(options.anthropicApiKey),
    google: options.googleApiKey === undefined ? undefined : toRedacted(options.googleApiKey)
  }

  const construct = (name: string, build: () => BaseChatModel) =>
    Effect.try({
      try: build,
      catch: (cause) =>
        new LlmError({
          reason: "InvalidSettings",
          model: name,
          detail: `the chat model could not be created: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        })
    })

  const openAi = (resolved: ResolvedSettings, apiKey: Redacted.Redacted<string>, baseURL: string | undefined) =>
    construct(
      resolved.model.name,
      () =>
        new ChatOpenAI({
          model: resolved.model.name,
          apiKey: Redacted.value(apiKey),
          ...(baseURL !== undefined ? { configuration: { baseURL } } : {}),
          ...(resolved.temperature !== undefined ? { temperature: resolved.temperature } : {}),
          ...(resolved.maxTokens !== undefined ? { maxTokens: resolved.maxTokens } : {}),
          ...(resolved.timeout !== undefined ? { timeout: Duration.toMillis(resolved.timeout) } : {}),
          maxRetries: resolved.maxRetries,
          streamUsage: true
        }) as unknown as BaseChatModel
    )

  const optionalProvider = (resolved: ResolvedSettings, provider: "anthropic" | "google") =>
    Effect.gen(function* () {
      const pkg = providerPackages[provider]
      const name = resolved.model.name
      const apiKey = resolved.apiKey ?? keys[provider]
      if (apiKey === undefined) {
        return yield* new LlmError({
          reason: "MissingApiKey",
          model: name,
          detail: `set ${pkg.envVar} or pass apiKey in the settings to use ${name}`
        })
      }
      const module = yield* Effect.tryPromise({
        try: () => importProvider(pkg.specifier),
        catch: (cause) =>
          new LlmError({
            reason: "MissingProvider",
            model: name,
            detail: `install ${pkg.specifier} to use ${name} (${cause instanceof Error ? cause.message : String(cause)})`,
            cause
          })
      })
      const Ctor = (module as Record<string, unknown> | null)?.[pkg.exportName]
      if (typeof Ctor !== "function") {
        return yield* new LlmError({
          reason: "MissingProvider",
          model: name,
          detail: `${pkg.specifier} does not export ${pkg.exportName}: install a version that does to use ${name}`
        })
      }
      const timeoutMillis = resolved.timeout === undefined ? undefined : Duration.toMillis(resolved.timeout)
      const fields: Record<string, unknown> =
        provider === "anthropic"
          ? {
              model: name,
              apiKey: Redacted.value(apiKey),
              maxRetries: resolved.maxRetries,
              streamUsage: true,
              ...(resolved.temperature !== undefined ? { temperature: resolved.temperature } : {}),
              ...(resolved.maxTokens !== undefined ? { maxTokens: resolved.maxTokens } : {}),
              ...(timeoutMillis !== undefined ? { clientOptions: { timeout: timeoutMillis } } : {})
            }
          : {
              model: name,
              apiKey: Redacted.value(apiKey),
              maxRetries: resolved.maxRetries,
              streamUsage: true,
              ...(resolved.temperature !== undefined ? { temperature: resolved.temperature } : {}),
              ...(resolved.maxTokens !== undefined ? { maxOutputTokens: resolved.maxTokens } : {})
            }
      return yield* construct(name, () => new (Ctor as ChatModelConstructor)(fields))
    })

  return {
    make: Effect.fn("ChatModelFactory.make")(function* (settings: LlmSettings) {
      const resolved = yield* resolveSettings(settings)
      const model = resolved.model
      switch (model.provider) {
        case "openai": {
          const apiKey = resolved.apiKey ?? keys.openai
          if (apiKey === undefined) {
            return yield* new LlmError({
              reason: "MissingApiKey",
              model: model.name,
              detail: `set OPENAI_API_KEY or pass apiKey in the settings to use ${model.name}`
            })
          }
          return yield* openAi(resolved, apiKey, options.openAiBaseUrl)
        }
        case "openai-compatible": {
          const apiKey = resolved.apiKey ?? model.apiKey ?? keys.openai ?? Redacted.make(UNUSED_KEY)
          return yield* openAi(resolved, apiKey, model.baseURL)
        }
        case "anthropic":
        case "google":
          return yield* optionalProvider(resolved, model.provider)
        case "offline":
          return yield* construct(model.name, options.offlineModel ?? (() => new OfflineModel()))
      }
    })
  }
}

const optionalSecret = (name: string) =>
  Config.option(Config.redacted(name)).pipe(
    Config.map(Option.filter((secret) => Redacted.value(secret).trim().length > 0)),
    Config.map(Option.getOrUndefined)
  )

/**
 * Reads the factory options from config: `OPENAI_API_KEY`, `OPENAI_BASE_URL`,
 * `ANTHROPIC_API_KEY`, `GOOGLE_API_KEY` (all optional; empty counts as unset).
 *
 * @since 0.1.0
 * @category constructors
 */
export const optionsFromConfig: Effect.Effect<FactoryOptions> = Effect.gen(function* () {
  const openAiApiKey = yield* optionalSecret("OPENAI_API_KEY")
  const anthropicApiKey = yield* optionalSecret("ANTHROPIC_API_KEY")
  const googleApiKey = yield* optionalSecret("GOOGLE_API_KEY")
  const openAiBaseUrl = yield* Config.option(Config.string("OPENAI_BASE_URL")).pipe(
    Effect.map(Option.filter((url) => url.trim().length > 0)),
    Effect.map(Option.getOrUndefined)
  )
  return { openAiApiKey, anthropicApiKey, googleApiKey, openAiBaseUrl } satisfies FactoryOptions
}).pipe(Effect.orDie)

/**
 * The factory with explicit options (tests point it at a fake server this way).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: FactoryOptions): Layer.Layer<ChatModelFactory> =>
  Layer.succeed(ChatModelFactory, make(options))

/**
 * The default factory: keys and base URL from config (read when the layer is built).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ChatModelFactory> = Layer.effect(
  ChatModelFactory,
  Effect.map(optionsFromConfig, (options) => make(options))
)

/**
 * Like `layer`, but a spec whose API key is missing falls back to the offline demo model, with a
 * warning — what the examples use so they run with no key.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOfflineFallback: Layer.Layer<ChatModelFactory> = Layer.effect(
  ChatModelFactory,
  Effect.map(optionsFromConfig, (options) => {
    const factory = make(options)
    return {
      make: (settings) =>
        factory.make(settings).pipe(
          Effect.catchIf(
            (error) => error.reason === "MissingApiKey",
            (error) =>
              Effect.logWarning(`${error.message}: using the offline demo model instead`).pipe(
                Effect.andThen(factory.make({ ...settings, model: offline, maxTokens: undefined }))
              )
          )
        )
    } satisfies ChatModelFactoryService
  })
)

/**
 * A factory that always gives this model, whatever the spec (tests, the offline demo). Settings
 * are still checked, so invalid ones fail as they would in production.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFixed = (model: BaseChatModel): Layer.Layer<ChatModelFactory> =>
  Layer.succeed(ChatModelFactory, {
    make: Effect.fn("ChatModelFactory.make")(function* (settings: LlmSettings) {
      yield* resolveSettings(settings)
      return model
    })
  })
