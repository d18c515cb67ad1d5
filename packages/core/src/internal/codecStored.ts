/**
 * The side channel that keeps a decoded value's stored `_value` beside it: a `WeakMap` from the
 * decoded object (a LangChain message, an agent action) to the record it was decoded from. Encoding
 * writes the stored keys back in their stored order, the modelled fields from the value's current
 * state and every other field (pyhub's `example`, extras) from the record, so nothing LangChain.js
 * has no place for is lost, and the value itself carries no extra properties.
 *
 * @internal
 */
import { copyLiterals, isPlainObject, keysOf, objectFromEntries } from "./codecJson.js"

/** @internal */
export interface Stored {
  readonly record: Readonly<Record<string, unknown>>
  readonly keys: ReadonlyArray<string>
  /** Where the record was read: the same value may be written differently elsewhere. */
  readonly context: string
}

// The record's keys are read when the value is encoded, not when it is decoded (most decoded values
// are never encoded again): nothing else holds the record, so its keys cannot change meanwhile.
const stored = new WeakMap<object, { readonly record: Readonly<Record<string, unknown>>; readonly context: string }>()

/** @internal */
export const remember = (value: object, record: Readonly<Record<string, unknown>>, context: string) => {
  stored.set(value, { record, context })
}

/** @internal */
export const recall = (value: object, context: string): Stored | undefined => {
  const s = stored.get(value)
  return s !== undefined && s.context === context ? { record: s.record, keys: keysOf(s.record), context } : undefined
}

/** The stored fields of `value` that are not in `modelled`, in stored order. @internal */
export const extras = (value: object, modelled: ReadonlySet<string>): Record<string, unknown> => {
  const s = stored.get(value)
  if (s === undefined) return {}
  return objectFromEntries(
    keysOf(s.record)
      .filter((k) => !modelled.has(k))
      .map((k) => [k, s.record[k]] as const)
  )
}

const isDefault = (value: unknown, fallback: unknown): boolean => {
  if (value === fallback || (value == null && fallback == null)) return true
  if (Array.isArray(value) && Array.isArray(fallback)) return value.length === 0 && fallback.length === 0
  if (isPlainObject(value) && isPlainObject(fallback)) {
    return Object.keys(value).length === 0 && Object.keys(fallback).length === 0
  }
  return false
}

/** @internal */
export interface RecordSpec {
  /** Every field in the order Python's `model_dump` writes them. */
  readonly canonical: ReadonlyArray<string>
  /** Fields the value models: their current value is written. */
  readonly modelled: ReadonlySet<string>
  /** A modelled field's current value, `undefined` for "not set". */
  readonly current: (key: string) => unknown
  /** What a field is when it is not set (Python's defaults). */
  readonly defaults: Readonly<Record<string, unknown>>
}

/**
 * The `_value` record of a value: with a stored record, its keys in stored order (plus canonical
 * fields it lacked that now hold something other than the default); without one, every canonical
 * field in canonical order.
 *
 * @internal
 */
export const writeRecord = (spec: RecordSpec, from: Stored | undefined): Record<string, unknown> => {
  const fallback = (key: string): unknown => {
    // Defaults are empty containers or primitives: hand out a fresh container each time.
    const d = spec.defaults[key]
    return Array.isArray(d) ? [] : isPlainObject(d) ? {} : (d ?? null)
  }
  const valueOf = (key: string): unknown => {
    if (spec.modelled.has(key)) {
      const v = spec.current(key)
      return v === undefined ? fallback(key) : v
    }
    if (from !== undefined && Object.prototype.hasOwnProperty.call(from.record, key)) return from.record[key]
    return fallback(key)
  }
  let keys: ReadonlyArray<string> = spec.canonical
  if (from !== undefined) {
    const had = new Set(from.keys)
    keys = [...from.keys, ...spec.canonical.filter((k) => !had.has(k) && !isDefault(valueOf(k), spec.defaults[k]))]
  }
  const record = objectFromEntries(keys.map((k) => [k, valueOf(k)] as const))
  if (from !== undefined) copyLiterals(from.record, record, (k) => (spec.modelled.has(k) ? undefined : k))
  return record
}
