import * as LlmModels from "@convo/core/LlmModels"
import { OfflineModel } from "@convo/core/OfflineModel"
import { assert, describe, it } from "@effect/vitest"
import { ChatOpenAI } from "@langchain/openai"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"

/** Runs an effect with a logger that collects warning messages. */
const withWarnings = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const warnings: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push((Array.isArray(message) ? message : [message]).join(" "))
    })
    return effect.pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Effect.map((value) => ({ value, warnings }))
    )
  })

const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.either(effect), (either) => {
    assert.isTrue(Either.isLeft(either), "expected a failure")
    return (either as Either.Left<E, A>).left
  })

const invalid = (settings: LlmModels.LlmSettings) =>
  Effect.gen(function* () {
    const error = yield* failure(LlmModels.resolveSettings(settings))
    assert.isTrue(LlmModels.isLlmError(error))
    assert.strictEqual(error.reason, "InvalidSettings")
    return error
  })

describe("LlmModels specs", () => {
  it("have the providers' published limits and flags", () => {
    assert.deepStrictEqual(
      LlmModels.all.map((s) => [s.provider, s.name, s.maxOutputTokens]),
      [
        ["openai", "gpt-4o", 16_384],
        ["openai", "gpt-4o-mini", 16_384],
        ["openai", "gpt-4.1", 32_768],
        ["openai", "gpt-4.1-mini", 32_768],
        ["openai", "o4-mini", 100_000],
        ["anthropic", "claude-3-5-sonnet-latest", 8_192],
        ["anthropic", "claude-3-5-haiku-latest", 8_192],
        ["anthropic", "claude-sonnet-4-0", 64_000],
        ["google", "gemini-2.0-flash", 8_192],
        ["google", "gemini-1.5-pro", 8_192],
        ["offline", "convo-offline-demo", 4_096]
      ]
    )
    assert.isTrue(LlmModels.openAiGpt4o.multimodal && LlmModels.openAiGpt4o.toolCalling)
    assert.isTrue(LlmModels.openAiO4Mini.reasoning)
    assert.isFalse(LlmModels.offline.toolCalling)
    assert.strictEqual(Option.getOrThrow(LlmModels.fromName("gpt-4o")), LlmModels.openAiGpt4o)
    assert.isTrue(Option.isNone(LlmModels.fromName("gpt-5-imaginary")))
  })

  it("openAiCompatible makes a spec with defaults and a redacted key", () => {
    const llama = LlmModels.openAiCompatible({ name: "llama3.2", baseURL: "http://127.0.0.1:11434/v1", apiKey: "k" })
    assert.strictEqual(llama.provider, "openai-compatible")
    assert.strictEqual(llama.maxOutputTokens, 4_096)
    assert.isFalse(llama.multimodal)
    assert.isTrue(llama.toolCalling)
    assert.notInclude(String(llama.apiKey), "k")
  })
})

describe("LlmModels.resolveSettings", () => {
  it.effect("passes sensible settings through, defaulting maxRetries to 2", () =>
    Effect.gen(function* () {
      const { value, warnings } = yield* withWarnings(
        LlmModels.resolveSettings({
          model: LlmModels.openAiGpt4o,
          temperature: 1,
          maxTokens: 1000,
          timeout: "30 seconds"
        })
      )
      assert.strictEqual(value.temperature, 1)
      assert.strictEqual(value.maxTokens, 1000)
      assert.strictEqual(Duration.toMillis(value.timeout!), 30_000)
      assert.strictEqual(value.maxRetries, 2)
      assert.deepStrictEqual(warnings, [])
    })
  )

  it.effect("clamps maxTokens to the spec's maximum with a warning", () =>
    Effect.gen(function* () {
      const { value, warnings } = yield* withWarnings(
        LlmModels.resolveSettings({ model: LlmModels.openAiGpt4o, maxTokens: 100_000 })
      )
      assert.strictEqual(value.maxTokens, 16_384)
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], "clamped to 16384")
      assert.include(warnings[0], "gpt-4o")
    })
  )

  it.effect("drops the temperature of a reasoning model with a warning", () =>
    Effect.gen(function* () {
      const { value, warnings } = yield* withWarnings(
        LlmModels.resolveSettings({ model: LlmModels.openAiO4Mini, temperature: 0.2 })
      )
      assert.isUndefined(value.temperature)
      assert.include(warnings[0], "reasoning model")
    })
  )

  it.effect("rejects nonsense with InvalidSettings", () =>
    Effect.gen(function* () {
      assert.include((yield* invalid({ model: LlmModels.openAiGpt4o, temperature: 2.5 })).detail, "from 0 to 2")
      assert.include(
        (yield* invalid({ model: LlmModels.anthropicClaude35Haiku, temperature: 1.5 })).detail,
        "from 0 to 1"
      )
      yield* invalid({ model: LlmModels.openAiGpt4o, temperature: -0.1 })
      yield* invalid({ model: LlmModels.openAiGpt4o, temperature: Number.NaN })
      yield* invalid({ model: LlmModels.openAiGpt4o, temperature: "hot" as unknown as number })
      assert.include((yield* invalid({ model: LlmModels.openAiGpt4o, maxTokens: 0 })).detail, "positive integer")
      yield* invalid({ model: LlmModels.openAiGpt4o, maxTokens: 10.5 })
      yield* invalid({ model: LlmModels.openAiGpt4o, maxTokens: -1 })
      yield* invalid({ model: LlmModels.openAiGpt4o, timeout: 0 })
      yield* invalid({ model: LlmModels.openAiGpt4o, timeout: "soon" as Duration.DurationInput })
      yield* invalid({ model: LlmModels.openAiGpt4o, maxRetries: -1 })
      yield* invalid({ model: undefined as unknown as LlmModels.ModelSpec })
      yield* invalid({ model: { ...LlmModels.openAiGpt4o, provider: "cohere" as LlmModels.Provider } })
      yield* invalid({ model: { ...LlmModels.openAiGpt4o, name: " " } })
      yield* invalid({ model: { ...LlmModels.openAiGpt4o, maxOutputTokens: 0 } })
      const badUrl = yield* invalid({ model: LlmModels.openAiCompatible({ name: "m", baseURL: "not a url" }) })
      assert.include(badUrl.detail, "baseURL")
      yield* invalid({ model: LlmModels.openAiCompatible({ name: "m", baseURL: "ftp://host/v1" }) })
    })
  )

  it.effect("treats an infinite timeout as none", () =>
    Effect.gen(function* () {
      const resolved = yield* LlmModels.resolveSettings({ model: LlmModels.openAiGpt4o, timeout: Duration.infinity })
      assert.isUndefined(resolved.timeout)
    })
  )
})

describe("LlmModels.ChatModelFactory", () => {
  const makeModel = (options: LlmModels.FactoryOptions, settings: LlmModels.LlmSettings) =>
    LlmModels.make(options).make(settings)

  it.effect("builds ChatOpenAI for an OpenAI spec with the resolved settings", () =>
    Effect.gen(function* () {
      const model = yield* makeModel(
        { openAiApiKey: "sk-test", openAiBaseUrl: "http://127.0.0.1:9/v1" },
        { model: LlmModels.openAiGpt4o, temperature: 1, maxTokens: 99_999, timeout: "5 seconds", maxRetries: 0 }
      )
      assert.instanceOf(model, ChatOpenAI)
      const openai = model as unknown as ChatOpenAI
      assert.strictEqual(openai.model, "gpt-4o")
      assert.strictEqual(openai.temperature, 1)
      assert.strictEqual(openai.maxTokens, 16_384)
      assert.strictEqual(openai.timeout, 5_000)
      assert.isTrue(openai.streamUsage)
      assert.strictEqual(openai.apiKey, "sk-test")
      assert.strictEqual(openai.clientConfig.baseURL, "http://127.0.0.1:9/v1")
    })
  )

  it.effect("a key in the settings wins over the configured one", () =>
    Effect.gen(function* () {
      const model = yield* makeModel(
        { openAiApiKey: "sk-config" },
        { model: LlmModels.openAiGpt4oMini, apiKey: "sk-settings" }
      )
      assert.strictEqual((model as unknown as ChatOpenAI).apiKey, "sk-settings")
    })
  )

  it.effect("builds ChatOpenAI for an OpenAI-compatible server, with or without a key", () =>
    Effect.gen(function* () {
      const spec = LlmModels.openAiCompatible({ name: "llama3.2", baseURL: "http://127.0.0.1:11434/v1" })
      const model = (yield* makeModel({}, { model: spec })) as unknown as ChatOpenAI
      assert.strictEqual(model.model, "llama3.2")
      assert.strictEqual(model.clientConfig.baseURL, "http://127.0.0.1:11434/v1")
      assert.isString(model.apiKey)
      const keyed = LlmModels.openAiCompatible({ name: "m", baseURL: "http://127.0.0.1:8000/v1", apiKey: "vllm-key" })
      assert.strictEqual(((yield* makeModel({}, { model: keyed })) as unknown as ChatOpenAI).apiKey, "vllm-key")
    })
  )

  it.effect("fails with MissingApiKey for OpenAI without a key", () =>
    Effect.gen(function* () {
      const error = yield* failure(makeModel({}, { model: LlmModels.openAiGpt4o }))
      assert.strictEqual(error.reason, "MissingApiKey")
      assert.include(error.message, "OPENAI_API_KEY")
      assert.include(error.message, "gpt-4o")
    })
  )

  it.effect("fails with MissingApiKey before loading an optional provider", () =>
    Effect.gen(function* () {
      const error = yield* failure(makeModel({}, { model: LlmModels.googleGemini20Flash }))
      assert.strictEqual(error.reason, "MissingApiKey")
      assert.include(error.message, "GOOGLE_API_KEY")
    })
  )

  it.effect("fails with MissingProvider for Anthropic when @langchain/anthropic is not installed", () =>
    Effect.gen(function* () {
      const error = yield* failure(
        makeModel({ anthropicApiKey: "sk-ant" }, { model: LlmModels.anthropicClaude35Sonnet })
      )
      assert.strictEqual(error.reason, "MissingProvider")
      assert.include(error.message, "install @langchain/anthropic to use claude-3-5-sonnet-latest")
    })
  )

  it.effect("fails with MissingProvider for Google when @langchain/google-genai is not installed", () =>
    Effect.gen(function* () {
      const error = yield* failure(makeModel({ googleApiKey: "g" }, { model: LlmModels.googleGemini15Pro }))
      assert.strictEqual(error.reason, "MissingProvider")
      assert.include(error.message, "install @langchain/google-genai to use gemini-1.5-pro")
    })
  )

  it.effect("builds the optional providers' models when their packages load", () =>
    Effect.gen(function* () {
      const constructed: Array<[string, Record<string, unknown>]> = []
      const fakeClass = (name: string) =>
        class extends OfflineModel {
          constructor(fields: Record<string, unknown>) {
            super()
            constructed.push([name, fields])
          }
        }
      const importProvider = async (specifier: string) =>
        specifier === "@langchain/anthropic"
          ? { ChatAnthropic: fakeClass("ChatAnthropic") }
          : { ChatGoogleGenerativeAI: fakeClass("ChatGoogleGenerativeAI") }
      const options = { anthropicApiKey: "sk-ant", googleApiKey: "g-key", importProvider }
      yield* makeModel(options, {
        model: LlmModels.anthropicClaudeSonnet4,
        temperature: 0.5,
        maxTokens: 1000,
        timeout: "10 seconds",
        maxRetries: 1
      })
      yield* makeModel(options, { model: LlmModels.googleGemini20Flash, maxTokens: 50_000 })
      assert.deepStrictEqual(constructed, [
        [
          "ChatAnthropic",
          {
            model: "claude-sonnet-4-0",
            apiKey: "sk-ant",
            maxRetries: 1,
            streamUsage: true,
            temperature: 0.5,
            maxTokens: 1000,
            clientOptions: { timeout: 10_000 }
          }
        ],
        [
          "ChatGoogleGenerativeAI",
          { model: "gemini-2.0-flash", apiKey: "g-key", maxRetries: 2, streamUsage: true, maxOutputTokens: 8_192 }
        ]
      ])
    })
  )

  it.effect("fails with MissingProvider when the package lacks the model class", () =>
    Effect.gen(function* () {
      const error = yield* failure(
        makeModel(
          { anthropicApiKey: "k", importProvider: async () => ({}) },
          { model: LlmModels.anthropicClaude35Haiku }
        )
      )
      assert.strictEqual(error.reason, "MissingProvider")
      assert.include(error.message, "does not export ChatAnthropic")
    })
  )

  it.effect("builds the offline model for the offline spec", () =>
    Effect.gen(function* () {
      assert.instanceOf(yield* makeModel({}, { model: LlmModels.offline }), OfflineModel)
    })
  )

  it.effect("invalid settings fail before anything is built", () =>
    Effect.gen(function* () {
      const error = yield* failure(makeModel({ openAiApiKey: "k" }, { model: LlmModels.openAiGpt4o, temperature: 9 }))
      assert.strictEqual(error.reason, "InvalidSettings")
    })
  )
})

describe("LlmModels layers", () => {
  const fromConfig = (env: Record<string, string>) =>
    Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

  it.effect("layer reads keys and the base URL from config", () =>
    Effect.gen(function* () {
      const factory = yield* LlmModels.ChatModelFactory
      const model = (yield* factory.make({ model: LlmModels.openAiGpt4o })) as unknown as ChatOpenAI
      assert.strictEqual(model.apiKey, "sk-from-config")
      assert.strictEqual(model.clientConfig.baseURL, "http://127.0.0.1:1234/v1")
    }).pipe(
      Effect.provide(
        LlmModels.layer.pipe(
          Layer.provide(fromConfig({ OPENAI_API_KEY: "sk-from-config", OPENAI_BASE_URL: "http://127.0.0.1:1234/v1" }))
        )
      )
    )
  )

  it.effect("layer treats an empty key as missing", () =>
    Effect.gen(function* () {
      const factory = yield* LlmModels.ChatModelFactory
      const error = yield* failure(factory.make({ model: LlmModels.openAiGpt4o }))
      assert.strictEqual(error.reason, "MissingApiKey")
    }).pipe(Effect.provide(LlmModels.layer.pipe(Layer.provide(fromConfig({ OPENAI_API_KEY: "  " })))))
  )

  it.effect("layerOfflineFallback gives the offline model when the key is missing, with a warning", () =>
    Effect.gen(function* () {
      const factory = yield* LlmModels.ChatModelFactory
      const { value, warnings } = yield* withWarnings(factory.make({ model: LlmModels.openAiGpt4o, maxTokens: 100 }))
      assert.instanceOf(value, OfflineModel)
      assert.include(warnings.join("\n"), "offline demo model")
      const invalidError = yield* failure(factory.make({ model: LlmModels.openAiGpt4o, temperature: 7 }))
      assert.strictEqual(invalidError.reason, "InvalidSettings")
    }).pipe(Effect.provide(LlmModels.layerOfflineFallback.pipe(Layer.provide(fromConfig({})))))
  )

  const fixed = new OfflineModel()
  it.effect("layerFixed returns the given model but still checks the settings", () =>
    Effect.gen(function* () {
      const factory = yield* LlmModels.ChatModelFactory
      assert.strictEqual(yield* factory.make({ model: LlmModels.anthropicClaude35Sonnet }), fixed)
      const { warnings } = yield* withWarnings(factory.make({ model: LlmModels.openAiGpt4oMini, maxTokens: 20_000 }))
      assert.include(warnings[0], "clamped")
      const error = yield* failure(factory.make({ model: LlmModels.openAiGpt4o, maxTokens: -5 }))
      assert.strictEqual(error.reason, "InvalidSettings")
    }).pipe(Effect.provide(LlmModels.layerFixed(fixed)))
  )
})
