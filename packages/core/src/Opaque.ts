/**
 * A stored value whose `_type` no registered codec knows. Loading a history never fails because of
 * one: it is kept as it was stored and written back unchanged.
 *
 * @since 0.1.0
 */

/**
 * The tagged JSON of an unregistered type, kept as stored: `_value` is the stored JSON, not
 * decoded further (tagged values nested inside it stay tagged).
 *
 * @since 0.1.0
 * @category models
 */
export class OpaqueValue {
  readonly _type: string
  readonly _value: unknown

  constructor(fields: { readonly _type: string; readonly _value: unknown }) {
    this._type = fields._type
    this._value = fields._value
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isOpaqueValue = (u: unknown): u is OpaqueValue => u instanceof OpaqueValue
