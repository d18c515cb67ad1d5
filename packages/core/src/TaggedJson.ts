/**
 * The stored shape of every message: tagged JSON `{"_type": ..., "_value": ...}`, exactly as
 * django-pyhub-ai wrote it into `ConversationMessage.content`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A JSON value as it is stored: `_type` names the value's type, `_value` holds its fields.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaggedJson {
  readonly _type: string
  readonly _value: unknown
}

/**
 * Schema of the outer envelope (the `_value` is checked by the codec registered for `_type`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaggedJson: Schema.Schema<TaggedJson> = Schema.Struct({
  _type: Schema.String,
  _value: Schema.Unknown
})

/**
 * True when `u` has the tagged JSON envelope.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTaggedJson = (u: unknown): u is TaggedJson =>
  typeof u === "object" && u !== null && !Array.isArray(u) && typeof (u as any)._type === "string" && "_value" in u
