/**
 * Lifecycle hooks for the app's own rows — what django-lifecycle gave the seed's `LLMChatRoom`
 * (`@hook(BEFORE_CREATE)`). A hook takes the row about to be inserted and gives it back, changed:
 * it runs inside the transaction that inserts the row, so whatever it writes (here: a convo
 * conversation) is committed with the row or not at all.
 */
import * as Effect from "effect/Effect"

// #region lifecycle
/** A hook run before a row is created. */
export type BeforeCreate<Draft, E = never, R = never> = (draft: Draft) => Effect.Effect<Draft, E, R>

/** The hooks of one kind of row. */
export interface Hooks<Draft, E = never, R = never> {
  readonly beforeCreate: ReadonlyArray<BeforeCreate<Draft, E, R>>
}

/** Declares the hooks of a kind of row. */
export const hooks = <Draft, E = never, R = never>(hooks: Hooks<Draft, E, R>): Hooks<Draft, E, R> => hooks

/** Runs the before-create hooks in order, each on the previous one's result. */
export const beforeCreate = <Draft, E, R>(hooks: Hooks<Draft, E, R>, draft: Draft): Effect.Effect<Draft, E, R> =>
  Effect.reduce(hooks.beforeCreate, draft, (current, hook) => hook(current))
// #endregion
