/**
 * The tracer wrapper and line formatting behind `SqlLog`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

/** @internal */
export const ansi = {
  cyan: "\x1b[36m",
  green: "\x1b[32m",
  yellow: "\x1b[33m",
  red: "\x1b[31m",
  reset: "\x1b[0m"
} as const

/**
 * A monotonic, high-resolution clock in milliseconds that every runtime has (Node, Deno, Bun,
 * browsers). Not the Effect `Clock`: inside tests that is the TestClock, which does not move.
 *
 * @internal
 */
export const monotonicNow = (): number => performance.now()

/** @internal */
export const formatDuration = (ms: number): string => `(${(ms / 1000).toFixed(4)}s)`

const truncate = (text: string, max: number): string =>
  text.length <= max ? text : `${text.slice(0, max)}…(+${text.length - max} chars)`

/**
 * One parameter as it is shown: strings quoted, binary data as its size, long values truncated
 * to `max` characters so that an image does not flood the terminal.
 *
 * @internal
 */
export const formatParam = (value: unknown, max: number): string => {
  switch (typeof value) {
    case "string": {
      if (value.length <= max) return JSON.stringify(value)
      return `${JSON.stringify(value.slice(0, max))}…(+${value.length - max} chars)`
    }
    case "number":
    case "boolean":
    case "undefined":
      return String(value)
    case "bigint":
      return `${value}n`
    case "symbol":
    case "function":
      return truncate(String(value), max)
  }
  if (value === null) return "null"
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString()
  if (ArrayBuffer.isView(value)) return `<${value.constructor.name} ${value.byteLength} bytes>`
  if (value instanceof ArrayBuffer) return `<ArrayBuffer ${value.byteLength} bytes>`
  let json: string | undefined
  try {
    json = JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v))
  } catch {
    json = undefined
  }
  return truncate(json ?? String(value), max)
}

/** @internal */
export const formatParams = (params: ReadonlyArray<unknown>, max: number): string =>
  `[${params.map((p) => formatParam(p, max)).join(", ")}]`

const describeError = (error: unknown): string => {
  if (error instanceof Error) {
    const tag = (error as { readonly _tag?: unknown })._tag
    let text = `${typeof tag === "string" ? tag : error.name}: ${error.message}`.trim()
    const inner = (error as { readonly cause?: unknown }).cause
    if (inner instanceof Error && !text.includes(inner.message)) text += ` (${inner.message})`
    else if (typeof inner === "string" && !text.includes(inner)) text += ` (${inner})`
    return text
  }
  if (typeof error === "string") return error
  try {
    return JSON.stringify(error) ?? String(error)
  } catch {
    return String(error)
  }
}

/**
 * A one-line description of why a span ended in failure.
 *
 * @internal
 */
export const describeCause = (cause: Cause.Cause<unknown>): string =>
  Cause.isInterruptedOnly(cause) ? "interrupted" : describeError(Cause.squash(cause))

/** @internal */
export type SqlSpanKind = "execute" | "transaction"

/**
 * What a SQL span observed, handed to the tracer's `onEnd` when it ends.
 *
 * @internal
 */
export interface Ended {
  readonly kind: SqlSpanKind
  readonly durationMs: number
  readonly sql: string | undefined
  readonly operation: string | undefined
  readonly params: ReadonlyArray<unknown> | undefined
  /** The last `db.transaction.*` event: `commit`, `rollback` or `savepoint`. */
  readonly transactionEvent: string | undefined
  readonly exit: Exit.Exit<unknown, unknown>
}

/**
 * Wraps the span of the inner tracer for `sql.execute` and `sql.transaction`: every call is
 * forwarded, and the query text, the parameters (set by the statement transformer, kept here and
 * never forwarded, so they do not reach an exporter) and a monotonic duration are recorded.
 *
 * @internal
 */
export class SqlSpan implements Tracer.Span {
  readonly _tag = "Span"
  private readonly startedAt = monotonicNow()
  private sql: string | undefined = undefined
  private operation: string | undefined = undefined
  private transactionEvent: string | undefined = undefined
  private params: ReadonlyArray<unknown> | undefined = undefined
  private reported = false

  constructor(
    readonly inner: Tracer.Span,
    readonly sqlKind: SqlSpanKind,
    private readonly onEnd: (ended: Ended) => void
  ) {}

  get name(): string {
    return this.inner.name
  }
  get spanId(): string {
    return this.inner.spanId
  }
  get traceId(): string {
    return this.inner.traceId
  }
  get parent(): Option.Option<Tracer.AnySpan> {
    return this.inner.parent
  }
  get context(): Context.Context<never> {
    return this.inner.context
  }
  get status(): Tracer.SpanStatus {
    return this.inner.status
  }
  get attributes(): ReadonlyMap<string, unknown> {
    return this.inner.attributes
  }
  get links(): ReadonlyArray<Tracer.SpanLink> {
    return this.inner.links
  }
  get sampled(): boolean {
    return this.inner.sampled
  }
  get kind(): Tracer.SpanKind {
    return this.inner.kind
  }

  /** Records the statement's parameters; not forwarded to the inner span. */
  setParams(params: ReadonlyArray<unknown>): void {
    this.params = params
  }

  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    const durationMs = monotonicNow() - this.startedAt
    this.inner.end(endTime, exit)
    if (this.reported) return
    this.reported = true
    try {
      this.onEnd({
        kind: this.sqlKind,
        durationMs,
        sql: this.sql,
        operation: this.operation,
        params: this.params,
        transactionEvent: this.transactionEvent,
        exit
      })
    } catch {
      // A failing sink must never fail the query it reports on.
    }
  }

  attribute(key: string, value: unknown): void {
    if (key === "db.query.text" && typeof value === "string") this.sql = value
    else if (key === "db.operation.name" && typeof value === "string") this.operation = value
    this.inner.attribute(key, value)
  }

  event(name: string, startTime: bigint, attributes?: Record<string, unknown>): void {
    if (name.startsWith("db.transaction.")) this.transactionEvent = name.slice("db.transaction.".length)
    this.inner.event(name, startTime, attributes)
  }

  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    this.inner.addLinks(links.map(unwrapLink))
  }
}

/** The inner tracer's own span, so that it parents and links its spans as it expects. */
const unwrap = (span: Tracer.AnySpan): Tracer.AnySpan => (span instanceof SqlSpan ? span.inner : span)

const unwrapLink = (link: Tracer.SpanLink): Tracer.SpanLink =>
  link.span instanceof SqlSpan ? { ...link, span: link.span.inner } : link

const unwrapOptions = (options: Tracer.SpanOptions | undefined): Tracer.SpanOptions | undefined => {
  if (options === undefined) return undefined
  const parent = options.parent
  const links = options.links
  if (!(parent instanceof SqlSpan) && !(links?.some((l) => l.span instanceof SqlSpan) ?? false)) return options
  return {
    ...options,
    parent: parent === undefined ? undefined : unwrap(parent),
    links: links?.map(unwrapLink)
  }
}

/** @internal */
export const SqlLogTracerId: unique symbol = Symbol.for("@convo/core/SqlLog/Tracer")

/** @internal */
export interface SqlLogTracer extends Tracer.Tracer {
  readonly [SqlLogTracerId]: Tracer.Tracer
}

/** @internal */
export const isSqlLogTracer = (tracer: Tracer.Tracer): tracer is SqlLogTracer => SqlLogTracerId in tracer

/**
 * A tracer that forwards every span to `inner` and wraps SQL spans to report them when they end.
 *
 * @internal
 */
export const wrapTracer = (inner: Tracer.Tracer, onEnd: (ended: Ended) => void): SqlLogTracer => {
  const tracer = Tracer.make({
    span(name, parent, context, links, startTime, kind, options) {
      const span = inner.span(
        name,
        Option.map(parent, unwrap),
        context,
        links.map(unwrapLink),
        startTime,
        kind,
        unwrapOptions(options)
      )
      if (name === "sql.execute") return new SqlSpan(span, "execute", onEnd)
      if (name === "sql.transaction") return new SqlSpan(span, "transaction", onEnd)
      return span
    },
    context<X>(f: () => X, fiber: Fiber.RuntimeFiber<any, any>): X {
      return inner.context(f, fiber)
    }
  })
  return Object.assign(tracer, { [SqlLogTracerId]: inner })
}
