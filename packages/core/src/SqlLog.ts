/**
 * SQL logging (S26): every SQL statement printed with its duration and parameters, coloured by
 * level, only in debug mode — what the seed got from Django's `LOGGING` and colorlog:
 *
 * ```text
 * [2025-01-01T12:00:00.000Z] (0.0012s) SELECT * FROM convo_message WHERE conversation_id = ?; args=[1]
 * ```
 *
 * It is a tracing layer, not a wrapper around the client. `@effect/sql` runs each statement in a
 * span `sql.execute` (with `db.query.text`) and each transaction in a span `sql.transaction`.
 * `layer` installs a `Tracer` that wraps the current one — every span still reaches it, so
 * OpenTelemetry or any other tracer keeps working — and prints a line when a SQL span ends:
 * cyan on success, yellow when slower than `slowMs`, red with the error when it failed. A
 * transaction prints one line when it ends (`COMMIT`, `ROLLBACK`, `RELEASE SAVEPOINT`, or
 * `BEGIN` if it could not start). Parameters are not on the spans: a statement transformer
 * (`Statement.currentTransformer`) hands them to the wrapper, which keeps them out of the spans
 * the inner tracer sees, so they are printed but never exported.
 *
 * Durations come from `performance.now()` (monotonic, in every runtime), not the Effect clock,
 * so they are real under the TestClock too. They run from span start to end, which includes
 * waiting for a connection.
 *
 * Install it above the tracer it wraps, e.g.
 * `SqlLog.layer().pipe(Layer.provide(OtelTracerLayer))`; the tracer current when the layer is
 * built is the one wrapped. Installing it twice logs once.
 *
 * @example
 * import * as SqlLog from "@convo/core/SqlLog"
 * import * as Layer from "effect/Layer"
 *
 * // prints when DEBUG is "1" or "true"; colours unless NO_COLOR is set
 * const SqlLogLive: Layer.Layer<never, unknown> = SqlLog.layerConfig({ slowMs: 200 })
 *
 * @since 0.1.0
 */
import * as Statement from "@effect/sql/Statement"
import type * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as internal from "./internal/sqlLog.js"

/**
 * The level of a line, after colorlog: `debug` (cyan) for a statement that succeeded, `warning`
 * (yellow) for one slower than `slowMs`, `error` (red) for one that failed.
 *
 * @since 0.1.0
 * @category models
 */
export type Level = "debug" | "warning" | "error"

/**
 * A statement that ran.
 *
 * @since 0.1.0
 * @category models
 */
export interface StatementEntry {
  readonly _tag: "Statement"
  readonly level: Level
  /** Wall-clock time when the statement ended. */
  readonly timestamp: Date
  readonly durationMs: number
  /** The SQL as sent to the database (`db.query.text`). */
  readonly sql: string
  /** The bound parameters, untruncated; `undefined` if the statement transformer was bypassed. */
  readonly params: ReadonlyArray<unknown> | undefined
  /** `db.operation.name`: `execute`, `executeRaw`, `executeStream`, ... */
  readonly operation: string | undefined
  /** Why it failed, when it did. */
  readonly cause: Cause.Cause<unknown> | undefined
}

/**
 * A transaction that ended. `action` is what ended it: `COMMIT`, `ROLLBACK` (also of a nested
 * transaction's savepoint), `RELEASE SAVEPOINT` (a nested transaction that succeeded) or `BEGIN`
 * (it failed before it started).
 *
 * @since 0.1.0
 * @category models
 */
export interface TransactionEntry {
  readonly _tag: "Transaction"
  readonly level: Level
  readonly timestamp: Date
  readonly durationMs: number
  readonly action: "BEGIN" | "COMMIT" | "ROLLBACK" | "RELEASE SAVEPOINT"
  readonly cause: Cause.Cause<unknown> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type Entry = StatementEntry | TransactionEntry

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `false` makes `layer` a no-op. Default `true`. */
  readonly enabled?: boolean | undefined
  /**
   * Where lines go. Default `console.log`. Gets the formatted line and the entry it was made from;
   * it is called synchronously when the span ends, and whatever it throws is ignored.
   */
  readonly sink?: ((line: string, entry: Entry) => void) | undefined
  /** ANSI colours in the line. Default `true`. */
  readonly colors?: boolean | undefined
  /** A statement or transaction taking at least this many milliseconds is a warning. Default 100. */
  readonly slowMs?: number | undefined
  /** Parameter values are cut to this many characters (binary data shows only its size). Default 200. */
  readonly maxParamLength?: number | undefined
}

const defaultSink = (line: string): void => {
  console.log(line)
}

const colorOf: Record<Level, string> = {
  debug: internal.ansi.cyan,
  warning: internal.ansi.yellow,
  error: internal.ansi.red
}

/**
 * Formats an entry as one line: `[timestamp] (0.0012s) <sql>; args=[...]`, then `; error=...`
 * when it failed; wrapped in the level's ANSI colour unless `colors` is `false`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatEntry = (
  entry: Entry,
  options?: { readonly colors?: boolean | undefined; readonly maxParamLength?: number | undefined }
): string => {
  const maxParamLength = options?.maxParamLength ?? 200
  let line = `[${entry.timestamp.toISOString()}] ${internal.formatDuration(entry.durationMs)} `
  if (entry._tag === "Statement") {
    line += entry.sql
    if (entry.params !== undefined) line += `; args=${internal.formatParams(entry.params, maxParamLength)}`
  } else {
    line += entry.action
  }
  if (entry.cause !== undefined) line += `; error=${internal.describeCause(entry.cause)}`
  return options?.colors === false ? line : `${colorOf[entry.level]}${line}${internal.ansi.reset}`
}

const toEntry = (ended: internal.Ended, slowMs: number): Entry => {
  const cause = Exit.isFailure(ended.exit) ? ended.exit.cause : undefined
  const level: Level = cause !== undefined ? "error" : ended.durationMs >= slowMs ? "warning" : "debug"
  const timestamp = new Date()
  if (ended.kind === "execute") {
    return {
      _tag: "Statement",
      level,
      timestamp,
      durationMs: ended.durationMs,
      sql: ended.sql ?? "<no query text>",
      params: ended.params,
      operation: ended.operation,
      cause
    }
  }
  const action =
    ended.transactionEvent === "commit"
      ? "COMMIT"
      : ended.transactionEvent === "rollback"
        ? "ROLLBACK"
        : ended.transactionEvent === "savepoint"
          ? "RELEASE SAVEPOINT"
          : "BEGIN"
  return { _tag: "Transaction", level, timestamp, durationMs: ended.durationMs, action, cause }
}

/**
 * A tracer that forwards every span to `inner` and logs SQL spans as they end. `layer` installs
 * it with the statement transformer; use this directly only to compose tracers by hand
 * (parameters are then shown only if `transformer` is installed too).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTracer = (inner: Tracer.Tracer, options?: Omit<Options, "enabled">): Tracer.Tracer => {
  const sink = options?.sink ?? defaultSink
  const slowMs = options?.slowMs ?? 100
  const format = { colors: options?.colors, maxParamLength: options?.maxParamLength }
  return internal.wrapTracer(inner, (ended) => {
    const entry = toEntry(ended, slowMs)
    sink(formatEntry(entry, format), entry)
  })
}

const TransformerId: unique symbol = Symbol.for("@convo/core/SqlLog/Transformer")

/**
 * A statement transformer that hands each statement's parameters to the SQL log's span, and
 * otherwise changes nothing. It runs `previous` (a transformer that was already installed)
 * first and records the parameters of the statement that results.
 *
 * @since 0.1.0
 * @category constructors
 */
export const transformer = (
  previous: Option.Option<Statement.Statement.Transformer> = Option.none()
): Statement.Statement.Transformer => {
  const transform: Statement.Statement.Transformer = (self, sql, refs, span) => {
    const next = Option.isSome(previous) ? previous.value(self, sql, refs, span) : Effect.succeed(self)
    if (!(span instanceof internal.SqlSpan)) return next
    return Effect.map(next, (statement) => {
      try {
        span.setParams(statement.compile()[1])
      } catch {
        // The statement fails to compile when it runs, and that failure is what gets logged.
      }
      return statement
    })
  }
  return Object.assign(transform, { [TransformerId]: true })
}

/**
 * Installs the SQL log: wraps the current tracer with `makeTracer` and sets the statement
 * transformer (keeping one already set). With `enabled: false` it is `Layer.empty`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<never> =>
  options?.enabled === false
    ? Layer.empty
    : Layer.scopedDiscard(
        Effect.gen(function* () {
          const current = yield* Effect.tracer
          if (!internal.isSqlLogTracer(current)) yield* Effect.withTracerScoped(makeTracer(current, options))
          const previous = yield* FiberRef.get(Statement.currentTransformer)
          if (Option.isNone(previous) || !(TransformerId in previous.value)) {
            yield* Effect.locallyScoped(Statement.currentTransformer, Option.some(transformer(previous)))
          }
        })
      )

const truthy = new Set(["1", "true", "yes", "on"])

/**
 * Whether debug mode is on: the `DEBUG` variable is `1`, `true`, `yes` or `on` (any case).
 * Anything else, or no `DEBUG`, is off (so `DEBUG=*` meant for other tools does not turn it on).
 *
 * @since 0.1.0
 * @category config
 */
export const debugEnabled: Config.Config<boolean> = Config.string("DEBUG").pipe(
  Config.withDefault(""),
  Config.map((value) => truthy.has(value.trim().toLowerCase()))
)

/**
 * Colours unless `NO_COLOR` is set to a non-empty value (https://no-color.org).
 *
 * @since 0.1.0
 * @category config
 */
export const colorsEnabled: Config.Config<boolean> = Config.string("NO_COLOR").pipe(
  Config.withDefault(""),
  Config.map((value) => value === "")
)

/**
 * `layer`, enabled by `DEBUG` (see `debugEnabled`) and coloured unless `NO_COLOR` is set. Options
 * given here win over the configuration.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options?: Options): Layer.Layer<never, ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const enabled = options?.enabled ?? (yield* debugEnabled)
      const colors = options?.colors ?? (yield* colorsEnabled)
      return layer({ ...options, enabled, colors })
    })
  )
