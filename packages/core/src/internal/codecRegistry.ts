/**
 * The walk behind `MessageCodec`: values ⇄ JSON, tagging what a codec claims, the way
 * django-pyhub-ai's `XJSONEncoder.default` and `XJSONDecoder.object_hook` did.
 *
 * - Encoding: plain JSON (text, numbers, booleans, null, arrays, plain objects) is written as
 *   itself; any other value goes to the first codec whose `is` accepts it and becomes
 *   `{"_type": codec.type, "_value": ...}`, its `_value` walked in turn. Codecs are only asked about
 *   values that are not plain JSON, as Python's encoder only calls `default` for those.
 * - Decoding: an object with `_type` and `_value` is a tagged value: its `_value` is decoded first
 *   (inner tags before outer, as `object_hook` runs), then given to the codec registered for
 *   `_type`; an unregistered `_type` becomes an `OpaqueValue` holding the stored `_value` as is.
 *
 * Failures are thrown as `Failure` inside the walk and returned as `Either` at the edge.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { OpaqueValue } from "../Opaque.js"
import { copyLiterals, copyMeta, isPlainObject, keysOf, maxDepth, objectFromEntries, parse } from "./codecJson.js"
import { describe } from "./codecMessages.js"

/** A codec as the registry runs it (the public `TypeCodec`). @internal */
export interface RegisteredCodec {
  readonly type: string
  readonly is: (u: unknown) => boolean
  readonly encode: (value: any) => unknown
  readonly decode: (value: unknown) => Either.Either<unknown, unknown> | Effect.Effect<unknown, unknown>
}

// The quick decoders of codecs that have one (the built-in messages), by codec: a `_value` that
// holds no tagged value goes to it without the walk. A codec a user registers has none.
const plainDecoders = new WeakMap<RegisteredCodec, (value: Record<string, unknown>) => unknown>()

/** Gives `codec` a quick decode of a `_value` without tagged values (`undefined`: not quick). @internal */
export const withPlainDecode = <C extends RegisteredCodec>(
  codec: C,
  decodePlain: ((value: Record<string, unknown>) => unknown) | undefined
): C => {
  if (decodePlain !== undefined) plainDecoders.set(codec, decodePlain)
  return codec
}

/** @internal */
export class Failure {
  constructor(
    readonly direction: "encode" | "decode",
    readonly type: string | undefined,
    readonly detail: string
  ) {}
}

/** @internal */
export interface Registry {
  readonly codecs: ReadonlyArray<RegisteredCodec>
  readonly byType: ReadonlyMap<string, RegisteredCodec>
}

/** Earlier codecs win, for `is` and for `_type`. @internal */
export const makeRegistry = (codecs: ReadonlyArray<RegisteredCodec>): Registry => {
  const byType = new Map<string, RegisteredCodec>()
  for (const codec of codecs) if (!byType.has(codec.type)) byType.set(codec.type, codec)
  return { codecs, byType }
}

const has = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key)

const at = (path: string) => (path === "$" ? "" : ` (at ${path})`)

const errorText = (e: unknown): string => {
  if (typeof e === "string") return e
  if (typeof e === "object" && e !== null) {
    const detail = (e as { detail?: unknown }).detail
    if (typeof detail === "string") return detail
    const message = (e as { message?: unknown }).message
    if (typeof message === "string" && message.length > 0) return message
  }
  return String(e)
}

const valueName = (u: unknown): string => {
  if (typeof u !== "object" || u === null) return describe(u)
  const name = (u as { constructor?: { name?: unknown } }).constructor?.name
  return typeof name === "string" && name.length > 0 ? `a ${name}` : "an object"
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/** @internal */
export const encode = (registry: Registry, value: unknown): Either.Either<unknown, Failure> => {
  const ancestors = new Set<object>()

  const claim = (u: object): RegisteredCodec | undefined => {
    for (const codec of registry.codecs) {
      let claimed: boolean
      try {
        claimed = codec.is(u)
      } catch (e) {
        throw new Failure("encode", codec.type, `is() threw: ${errorText(e)}`)
      }
      if (claimed) return codec
    }
    return undefined
  }

  const walk = (u: unknown, path: string, depth: number): unknown => {
    switch (typeof u) {
      case "string":
      case "boolean":
      case "number":
        return u
      case "undefined":
        throw new Failure("encode", undefined, `undefined is not JSON${at(path)}`)
      case "function":
      case "symbol":
      case "bigint":
        throw new Failure("encode", undefined, `a ${typeof u} cannot be stored${at(path)}`)
    }
    if (u === null) return null
    const obj = u as object
    if (depth >= maxDepth) throw new Failure("encode", undefined, `nesting deeper than ${maxDepth} levels${at(path)}`)
    if (ancestors.has(obj)) throw new Failure("encode", undefined, `a value contains itself${at(path)}`)
    ancestors.add(obj)
    try {
      if (Array.isArray(obj)) {
        let changed = false
        const out = obj.map((item, i) => {
          const encoded = walk(item, `${path}[${i}]`, depth + 1)
          if (encoded !== item) changed = true
          return encoded
        })
        if (!changed) return obj
        copyMeta(obj, out)
        return out
      }
      if (isPlainObject(obj)) {
        let changed = false
        const entries: Array<readonly [string, unknown]> = []
        for (const key of keysOf(obj)) {
          const item = obj[key]
          // Like JSON.stringify, an object property set to undefined is left out.
          if (item === undefined) {
            changed = true
            continue
          }
          const encoded = walk(item, `${path}.${key}`, depth + 1)
          if (encoded !== item) changed = true
          entries.push([key, encoded])
        }
        if (!changed) return obj
        const out = objectFromEntries(entries)
        copyLiterals(obj, out)
        return out
      }
      if (obj instanceof OpaqueValue) {
        const envelope = { _type: obj._type, _value: walk(obj._value, `${path}._value`, depth + 1) }
        copyLiterals(obj, envelope)
        return envelope
      }
      const codec = claim(obj)
      if (codec === undefined) {
        throw new Failure(
          "encode",
          undefined,
          `no codec for ${valueName(obj)}${at(path)}: register one with MessageCodec.layerWith({ types })`
        )
      }
      let inner: unknown
      try {
        inner = codec.encode(obj)
      } catch (e) {
        if (e instanceof Failure) throw e
        throw new Failure("encode", codec.type, `${errorText(e)}${at(path)}`)
      }
      return { _type: codec.type, _value: walk(inner, `${path}._value`, depth + 1) }
    } finally {
      ancestors.delete(obj)
    }
  }

  return run("encode", () => walk(value, "$", 0))
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

const runDecode = (codec: RegisteredCodec, inner: unknown): Either.Either<unknown, string> => {
  const result = codec.decode(inner)
  if (Either.isEither(result)) return Either.mapLeft(result, errorText)
  if (!Effect.isEffect(result)) return Either.left("decode returned neither an Either nor an Effect")
  const exit = Effect.runSyncExit(result)
  if (Exit.isSuccess(exit)) return Either.right(exit.value)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) return Either.left(errorText(failure.value))
  const defect = Cause.dieOption(exit.cause)
  return Either.left(Option.isSome(defect) ? errorText(defect.value) : Cause.pretty(exit.cause))
}

const isScalar = (u: unknown): boolean =>
  u === null || typeof u === "string" || typeof u === "number" || typeof u === "boolean"

/**
 * True when `u` (at `depth`) is plain JSON holding no tagged value, so that the walk would return
 * it unchanged: no `_type` or `_value` key anywhere, not deeper than the walk allows.
 */
const tagFree = (u: unknown, depth: number): boolean => {
  if (isScalar(u)) return true
  if (depth >= maxDepth) return false
  if (Array.isArray(u)) {
    for (let i = 0; i < u.length; i++) if (!tagFree(u[i], depth + 1)) return false
    return true
  }
  if (!isPlainObject(u)) return false
  for (const key in u) {
    if (key === "_type" || key === "_value") return false
    if (has(u, key) && !tagFree(u[key], depth + 1)) return false
  }
  return true
}

/** @internal */
export const decode = (registry: Registry, json: unknown): Either.Either<unknown, Failure> => {
  const walk = (u: unknown, path: string, depth: number): unknown => {
    switch (typeof u) {
      case "string":
      case "boolean":
      case "number":
        return u
      case "object":
        if (u === null) return null
        break
      default:
        throw new Failure("decode", undefined, `not a JSON value: ${describe(u)}${at(path)}`)
    }
    if (depth >= maxDepth) throw new Failure("decode", undefined, `nesting deeper than ${maxDepth} levels${at(path)}`)
    // Scalars are passed over without a call (and without building their path); a container is
    // copied only from the first child that decoded to something else.
    if (Array.isArray(u)) {
      let out: Array<unknown> | undefined
      for (let i = 0; i < u.length; i++) {
        const item: unknown = u[i]
        const decoded = isScalar(item) ? item : walk(item, `${path}[${i}]`, depth + 1)
        if (out === undefined && decoded !== item) out = u.slice(0, i)
        if (out !== undefined) out.push(decoded)
      }
      if (out === undefined) return u
      copyMeta(u, out)
      return out
    }
    if (!isPlainObject(u)) throw new Failure("decode", undefined, `not a JSON value: ${valueName(u)}${at(path)}`)
    if (has(u, "_type") || has(u, "_value")) return tagged(u, path, depth)
    // The recorded key order (keysOf, a WeakMap lookup) matters only for a copy: look for a child
    // that changes in any order first, then copy in the recorded order.
    let changed: Map<string, unknown> | undefined
    for (const key in u) {
      if (!has(u, key)) continue
      const item = u[key]
      if (isScalar(item)) continue
      const decoded = walk(item, `${path}.${key}`, depth + 1)
      if (decoded !== item) (changed ??= new Map()).set(key, decoded)
    }
    if (changed === undefined) return u
    const decodedChildren = changed
    const out = objectFromEntries(
      keysOf(u).map((key) => [key, decodedChildren.has(key) ? decodedChildren.get(key) : u[key]] as const)
    )
    copyLiterals(u, out)
    return out
  }

  const tagged = (u: Record<string, unknown>, path: string, depth: number): unknown => {
    if (!has(u, "_type")) throw new Failure("decode", undefined, `an object with _value but no _type${at(path)}`)
    const type = u._type
    if (typeof type !== "string") {
      throw new Failure("decode", undefined, `_type must be text, got ${describe(type)}${at(path)}`)
    }
    if (!has(u, "_value")) throw new Failure("decode", type, `an object with _type but no _value${at(path)}`)
    let onlyTwo = true
    for (const k in u) if (k !== "_type" && k !== "_value" && has(u, k)) onlyTwo = false
    if (!onlyTwo) {
      const extra = Object.keys(u).filter((k) => k !== "_type" && k !== "_value")
      throw new Failure("decode", type, `unexpected keys beside _type and _value: ${extra.join(", ")}${at(path)}`)
    }
    const codec = registry.byType.get(type)
    if (codec === undefined) {
      const opaque = new OpaqueValue({ _type: type, _value: u._value })
      // A bare number `_value` (e.g. `1.0`) keeps its text form through the rebuilt envelope.
      copyLiterals(u, opaque)
      return opaque
    }
    const plain = plainDecoders.get(codec)
    const value = u._value
    if (plain !== undefined && isPlainObject(value) && tagFree(value, depth + 1)) {
      let quick: unknown
      try {
        quick = plain(value)
      } catch {
        quick = undefined // the walk and `decode` below word the failure
      }
      if (quick !== undefined) return quick
    }
    const inner = walk(value, `${path}._value`, depth + 1)
    let result: Either.Either<unknown, string>
    try {
      result = runDecode(codec, inner)
    } catch (e) {
      if (e instanceof Failure) throw e
      result = Either.left(errorText(e))
    }
    if (Either.isLeft(result)) throw new Failure("decode", type, `${result.left}${at(path)}`)
    return result.right
  }

  return run("decode", () => walk(json, "$", 0))
}

/** Parses Python-compatible JSON text, then decodes it (after `before`, when given). @internal */
export const decodeText = (
  registry: Registry,
  text: string,
  before?: (json: unknown) => unknown
): Either.Either<unknown, Failure> => {
  let json: unknown
  try {
    json = parse(text)
  } catch (e) {
    return Either.left(new Failure("decode", undefined, `invalid JSON: ${errorText(e)}`))
  }
  return decode(registry, before === undefined ? json : before(json))
}

const run = <A>(direction: "encode" | "decode", f: () => A): Either.Either<A, Failure> => {
  try {
    return Either.right(f())
  } catch (e) {
    // Failures of the walk, and anything else (a stack overflow, a codec's bug) as a failure too.
    return Either.left(e instanceof Failure ? e : new Failure(direction, undefined, errorText(e)))
  }
}
