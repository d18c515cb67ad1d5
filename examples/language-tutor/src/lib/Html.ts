/**
 * Server-rendered HTML with escaping by default: every value interpolated into `html\`...\`` is
 * escaped unless it is itself `Html` (the result of another `html` template, or `raw` for markup
 * we wrote ourselves). There is no other way to put text in a page.
 */

/** A fragment of HTML that is safe to emit as it is. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

/** Markup we wrote ourselves (never user input). */
export const raw = (markup: string): Html => new Html(markup)

const entities: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;"
}

/** Escapes text for use in element content and in quoted attribute values. */
export const escape = (text: string): string => text.replace(/[&<>"'`]/g, (char) => entities[char]!)

/** An interpolated value: text (escaped), a fragment, a list of them, or nothing. */
export type Value = Html | string | number | boolean | null | undefined | ReadonlyArray<Value>

const render = (value: Value): string => {
  if (value === null || value === undefined || value === false) return ""
  if (value instanceof Html) return value.value
  if (Array.isArray(value)) return (value as ReadonlyArray<Value>).map(render).join("")
  return escape(String(value))
}

/** The HTML template tag: `html\`<p>${userText}</p>\`` escapes `userText`. */
export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Value>): Html => {
  let out = strings[0] ?? ""
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? "")
  return new Html(out)
}
