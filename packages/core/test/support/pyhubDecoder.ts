/**
 * The check behind the pyhub-mode tests: every problem django-pyhub-ai's `XJSONDecoder` would have
 * with a stored row, walked the way its `object_hook` walks it, against the fixture of its types
 * and agent-step shapes (fixtures/pyhub-decoder.json, written from pyhub's json.py).
 */
import { readFileSync } from "node:fs"

interface TypeSpec {
  readonly value: "string" | "object"
  readonly required?: ReadonlyArray<string>
  readonly type?: string
  readonly text?: ReadonlyArray<string>
}
interface RowSpec {
  readonly keys: ReadonlyArray<string>
  readonly items: Readonly<Record<string, string>>
}
const decoder: {
  readonly types: Readonly<Record<string, TypeSpec>>
  readonly rows: Readonly<Record<string, RowSpec>>
  readonly stepAction: {
    readonly keys: ReadonlyArray<string>
    readonly type: string
    readonly text: ReadonlyArray<string>
  }
} = JSON.parse(readFileSync(new URL("../fixtures/pyhub-decoder.json", import.meta.url), "utf8"))

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** Every problem pyhub's decoder would have with a stored row, checked the way `object_hook` walks it. */
export const pyhubProblems = (row: unknown): Array<string> => {
  const problems: Array<string> = []
  const sameKeys = (o: Record<string, unknown>, keys: ReadonlyArray<string>) =>
    Object.keys(o).length === keys.length && keys.every((key) => key in o)
  const walk = (u: unknown, path: string): void => {
    if (Array.isArray(u)) return u.forEach((item, i) => walk(item, `${path}[${i}]`))
    if (!isObject(u)) return
    if ("_type" in u && "_value" in u) {
      const spec = typeof u._type === "string" ? decoder.types[u._type] : undefined
      if (spec === undefined) return void problems.push(`${path}: unknown _type ${JSON.stringify(u._type)}`)
      const value = u._value
      if (spec.value === "string") {
        if (typeof value !== "string") problems.push(`${path}: ${u._type} _value must be text`)
        return
      }
      if (!isObject(value)) return void problems.push(`${path}: ${u._type} _value must be an object`)
      for (const field of spec.required ?? [])
        if (!(field in value)) problems.push(`${path}: ${u._type} lacks ${field}`)
      if (spec.type !== undefined && value.type !== spec.type) {
        problems.push(`${path}: ${u._type} type must be ${spec.type}, got ${JSON.stringify(value.type)}`)
      }
      for (const field of spec.text ?? []) {
        if (typeof value[field] !== "string") problems.push(`${path}: ${u._type}.${field} must be text`)
      }
      if (u._type === "AgentStep") {
        const action = value.action
        if (
          !isObject(action) ||
          !sameKeys(action, decoder.stepAction.keys) ||
          action.type !== decoder.stepAction.type
        ) {
          problems.push(`${path}: AgentStep action must be ${decoder.stepAction.keys.join(", ")} with type AgentAction`)
        } else {
          for (const field of decoder.stepAction.text) {
            if (typeof action[field] !== "string") problems.push(`${path}: AgentStep action.${field} must be text`)
          }
        }
      }
      return walk(value, `${path}._value`)
    }
    for (const key of Object.keys(u)) walk(u[key], `${path}.${key}`)
  }
  if (isObject(row) && !("_type" in row)) {
    const shape = Object.values(decoder.rows).find((spec) => sameKeys(row, spec.keys))
    if (shape === undefined) problems.push(`$: a plain row with keys ${Object.keys(row).join(", ")}`)
    else {
      for (const [key, type] of Object.entries(shape.items)) {
        const items = row[key]
        if (!Array.isArray(items) || items.length === 0) problems.push(`$.${key} must be a non-empty list`)
        else
          items.forEach((item, i) =>
            isObject(item) && item._type === type ? undefined : problems.push(`$.${key}[${i}] must be ${type}`)
          )
      }
    }
  }
  walk(row, "$")
  return problems
}
