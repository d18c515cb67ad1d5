/**
 * Prompt templates with `{name}` placeholders (S7), the way pyhub's `llm_system_prompt_template`
 * works: Python `str.format` semantics, Unicode names (`{언어}`, `{상황}`, `{레벨}`), values from
 * a context record.
 *
 * - `{name}` is replaced by `context[name]`. A name is one or more words of Unicode letters,
 *   marks, digits or `_`, separated by single spaces (`{언어}`, `{user_name}`, `{first name}`).
 * - `{{` and `}}` are a literal `{` and `}`.
 * - A name missing from the context renders as the visible marker `{name?}` — never an exception.
 *   `renderResult` also returns the missing names, so a caller can log them.
 * - Braces around anything that is not a name (`{"a": 1}`, `{}`, a lone `{`) are kept as they
 *   are. Python would raise; a prompt should not crash a chat.
 * - Values: strings as they are; numbers, booleans and bigints through `String`; a `Date` as ISO
 *   text; `null`, arrays and objects as JSON. `undefined` counts as missing.
 *
 * Templates can be loaded from files with `fromFile` (`.txt`, `.md`, `.yaml`, `.yml`, `.json`).
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Schema from "effect/Schema"
import * as Yaml from "yaml"

/**
 * The values that fill a template's placeholders.
 *
 * @since 0.1.0
 * @category models
 */
export type Context = Readonly<Record<string, unknown>>

/**
 * A rendered template and the placeholder names the context lacked (each once, in order).
 *
 * @since 0.1.0
 * @category models
 */
export interface Rendered {
  readonly text: string
  readonly missing: ReadonlyArray<string>
}

type Segment = { readonly _tag: "Text"; readonly text: string } | { readonly _tag: "Field"; readonly name: string }

const NAME = /^[\p{L}\p{M}\p{N}_]+(?: [\p{L}\p{M}\p{N}_]+)*$/u

const parse = (template: string): ReadonlyArray<Segment> => {
  const segments: Array<Segment> = []
  let text = ""
  let i = 0
  while (i < template.length) {
    const ch = template[i]!
    const next = template[i + 1]
    if (ch === "{" && next === "{") {
      text += "{"
      i += 2
    } else if (ch === "}" && next === "}") {
      text += "}"
      i += 2
    } else if (ch === "{") {
      const close = template.indexOf("}", i + 1)
      const inner = close === -1 ? undefined : template.slice(i + 1, close)
      if (inner !== undefined && NAME.test(inner)) {
        if (text.length > 0) segments.push({ _tag: "Text", text })
        text = ""
        segments.push({ _tag: "Field", name: inner })
        i = close + 1
      } else {
        text += ch
        i += 1
      }
    } else {
      text += ch
      i += 1
    }
  }
  if (text.length > 0) segments.push({ _tag: "Text", text })
  return segments
}

/**
 * How a context value is written into the text.
 *
 * @since 0.1.0
 * @category rendering
 */
export const stringify = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return value
    case "number":
    case "boolean":
    case "bigint":
      return String(value)
    case "symbol":
    case "function":
    case "undefined":
      return String(value)
    default: {
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString()
      try {
        return JSON.stringify(value) ?? String(value)
      } catch {
        return String(value)
      }
    }
  }
}

/**
 * The marker written in place of a placeholder whose name is not in the context.
 *
 * @since 0.1.0
 * @category rendering
 */
export const missingMarker = (name: string): string => `{${name}?}`

/**
 * Renders a template and reports the names the context lacked.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderResult: {
  (context: Context): (template: string) => Rendered
  (template: string, context: Context): Rendered
} = dual(2, (template: string, context: Context): Rendered => {
  const missing: Array<string> = []
  let text = ""
  for (const segment of parse(template)) {
    if (segment._tag === "Text") {
      text += segment.text
      continue
    }
    const value = Object.hasOwn(context, segment.name) ? context[segment.name] : undefined
    if (value === undefined) {
      if (!missing.includes(segment.name)) missing.push(segment.name)
      text += missingMarker(segment.name)
    } else {
      text += stringify(value)
    }
  }
  return { text, missing }
})

/**
 * Renders a template: `{name}` from the context, `{{`/`}}` as literal braces, `{name?}` for a
 * missing name. Never throws.
 *
 * @example
 * ```ts
 * import * as PromptTemplate from "@convo/core/PromptTemplate"
 *
 * PromptTemplate.render("{언어}로 대화를 나눕시다. {{literal}}", { 언어: "중국어" })
 * // "중국어로 대화를 나눕시다. {literal}"
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const render: {
  (context: Context): (template: string) => string
  (template: string, context: Context): string
} = dual(2, (template: string, context: Context): string => renderResult(template, context).text)

/**
 * The placeholder names of a template, each once, in order of first appearance.
 *
 * @since 0.1.0
 * @category rendering
 */
export const placeholders = (template: string): ReadonlyArray<string> => {
  const names: Array<string> = []
  for (const segment of parse(template)) {
    if (segment._tag === "Field" && !names.includes(segment.name)) names.push(segment.name)
  }
  return names
}

/**
 * A template file could not be used: it does not exist (`NotFound`), could not be read
 * (`ReadFailed`), is not valid YAML/JSON or has an unsupported extension (`BadFormat`), or has no
 * template under the keys looked for (`MissingKey`).
 *
 * @since 0.1.0
 * @category errors
 */
export class PromptTemplateError extends Schema.TaggedError<PromptTemplateError>(
  "@convo/core/PromptTemplate/PromptTemplateError"
)("PromptTemplateError", {
  reason: Schema.Literal("NotFound", "ReadFailed", "BadFormat", "MissingKey"),
  path: Schema.String,
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `${this.path}: ${this.reason}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isPromptTemplateError = (u: unknown): u is PromptTemplateError => u instanceof PromptTemplateError

/**
 * The keys `fromFile` looks for in a YAML or JSON file when no `key` is given, in this order.
 * `template` is LangChain's prompt-file key (`load_prompt`, which pyhub used); `system_prompt` is
 * a file holding an agent's prompts (`system_prompt` and `first_user_message`).
 *
 * @since 0.1.0
 * @category files
 */
export const defaultKeys: ReadonlyArray<string> = ["template", "system_prompt"]

/**
 * @since 0.1.0
 * @category files
 */
export interface FromFileOptions {
  /** The key that holds the template in a YAML or JSON file; by default `defaultKeys`. */
  readonly key?: string | undefined
}

const extensionOf = (path: string): string => {
  const base = path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1)
  const dot = base.lastIndexOf(".")
  return dot <= 0 ? "" : base.slice(dot + 1).toLowerCase()
}

const stripBom = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)

const pickTemplate = (path: string, document: unknown, options: FromFileOptions | undefined) => {
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    return Effect.fail(
      new PromptTemplateError({ reason: "BadFormat", path, detail: "expected a mapping with a template key" })
    )
  }
  const record = document as Record<string, unknown>
  const format = record["template_format"]
  if (format !== undefined && format !== "f-string") {
    return Effect.fail(
      new PromptTemplateError({
        reason: "BadFormat",
        path,
        detail: `template_format ${JSON.stringify(format)} is not supported (only "f-string")`
      })
    )
  }
  const keys = options?.key !== undefined ? [options.key] : defaultKeys
  const key = keys.find((k) => Object.hasOwn(record, k) && record[k] !== undefined && record[k] !== null)
  if (key === undefined) {
    const present = Object.keys(record)
    return Effect.fail(
      new PromptTemplateError({
        reason: "MissingKey",
        path,
        detail: `no ${keys.map((k) => `"${k}"`).join(" or ")} key (keys present: ${
          present.length === 0 ? "none" : present.join(", ")
        })`
      })
    )
  }
  const value = record[key]
  return typeof value === "string"
    ? Effect.succeed(value)
    : Effect.fail(
        new PromptTemplateError({ reason: "BadFormat", path, detail: `"${key}" must be a string, got ${typeof value}` })
      )
}

/**
 * Loads a template from a file through `@effect/platform`'s `FileSystem` (any runtime):
 *
 * - `.txt`, `.md`: the whole file is the template (a UTF-8 BOM is dropped, nothing else).
 * - `.yaml`, `.yml`, `.json`: a mapping; the template is the string under `options.key`, or
 *   under the first of `defaultKeys` present (`template`, then `system_prompt`). A LangChain
 *   prompt file (`_type: prompt`, `template: ...`) works as it is; a `template_format` other
 *   than `f-string` is refused.
 *
 * Fails with `PromptTemplateError`: `NotFound`, `ReadFailed`, `BadFormat` (bad YAML/JSON, not a
 * mapping, a non-string value, an unsupported extension) or `MissingKey`.
 *
 * @since 0.1.0
 * @category files
 */
export const fromFile: (
  path: string,
  options?: FromFileOptions
) => Effect.Effect<string, PromptTemplateError, FileSystem.FileSystem> = Effect.fn("PromptTemplate.fromFile")(
  function* (path: string, options?: FromFileOptions) {
    const ext = extensionOf(path)
    if (!["txt", "md", "yaml", "yml", "json"].includes(ext)) {
      return yield* new PromptTemplateError({
        reason: "BadFormat",
        path,
        detail: `unsupported extension "${ext}": use .txt, .md, .yaml, .yml or .json`
      })
    }
    const fs = yield* FileSystem.FileSystem
    const raw = yield* fs
      .readFileString(path)
      .pipe(
        Effect.mapError((cause) =>
          cause._tag === "SystemError" && cause.reason === "NotFound"
            ? new PromptTemplateError({ reason: "NotFound", path, detail: "no such file", cause })
            : new PromptTemplateError({ reason: "ReadFailed", path, detail: cause.message, cause })
        )
      )
    const text = stripBom(raw)
    if (ext === "txt" || ext === "md") return text
    const document = yield* Effect.try({
      try: () => (ext === "json" ? JSON.parse(text) : Yaml.parse(text)) as unknown,
      catch: (cause) =>
        new PromptTemplateError({
          reason: "BadFormat",
          path,
          detail: `invalid ${ext === "json" ? "JSON" : "YAML"}: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        })
    })
    return yield* pickTemplate(path, document, options)
  }
)
