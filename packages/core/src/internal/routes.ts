/**
 * Pattern compilation, matching and reversing for `Routes`. Pure functions over plain data.
 *
 * @internal
 */

/** @internal */
export type Segment =
  { readonly _tag: "Literal"; readonly value: string } | { readonly _tag: "Param"; readonly name: string }

/** @internal */
export const paramNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Splits a pattern such as `/ws/chat/:pk/` into segments. The leading `/` gives an empty first
 * piece that is dropped; a trailing `/` gives an empty last literal, so `/a/` and `/a` differ.
 *
 * @internal
 */
export const compile = (
  pattern: string
): { readonly segments: ReadonlyArray<Segment> } | { readonly error: string } => {
  if (!pattern.startsWith("/")) return { error: `pattern must start with "/"` }
  if (/[?#]/.test(pattern)) return { error: `pattern must not contain "?" or "#"` }
  const pieces = pattern.slice(1).split("/")
  const segments: Array<Segment> = []
  const seen = new Set<string>()
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!
    if (piece.startsWith(":")) {
      const name = piece.slice(1)
      if (!paramNamePattern.test(name)) return { error: `invalid parameter name "${name}"` }
      if (seen.has(name)) return { error: `parameter "${name}" appears twice` }
      seen.add(name)
      segments.push({ _tag: "Param", name })
    } else {
      if (piece === "" && i !== pieces.length - 1) return { error: `empty segment ("//")` }
      segments.push({ _tag: "Literal", value: piece })
    }
  }
  return { segments }
}

/**
 * `decodeURIComponent` that answers `undefined` for malformed escapes instead of throwing.
 *
 * @internal
 */
export const safeDecode = (s: string): string | undefined => {
  try {
    return decodeURIComponent(s)
  } catch {
    return undefined
  }
}

/**
 * `encodeURIComponent` that answers `undefined` for strings that are not well-formed Unicode (lone
 * surrogates) instead of throwing.
 *
 * @internal
 */
export const safeEncode = (s: string): string | undefined => {
  try {
    return encodeURIComponent(s)
  } catch {
    return undefined
  }
}

/**
 * Matches a pathname against compiled segments; returns the decoded parameters or `undefined`.
 * Parameters must be non-empty and pass `accept`.
 *
 * @internal
 */
export const matchSegments = (
  segments: ReadonlyArray<Segment>,
  pathname: string,
  accept: (name: string, value: string) => boolean
): Record<string, string> | undefined => {
  if (!pathname.startsWith("/")) return undefined
  const pieces = pathname.slice(1).split("/")
  if (pieces.length !== segments.length) return undefined
  const params: Record<string, string> = {}
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!
    const raw = pieces[i]!
    if (segment._tag === "Literal") {
      if (raw !== segment.value && safeDecode(raw) !== segment.value) return undefined
    } else {
      const decoded = safeDecode(raw)
      if (decoded === undefined || decoded === "" || !accept(segment.name, decoded)) return undefined
      params[segment.name] = decoded
    }
  }
  return params
}
