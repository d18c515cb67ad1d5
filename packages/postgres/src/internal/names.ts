/**
 * Table, index and channel names of the PostgreSQL layers, from one prefix.
 *
 * @internal
 */

/** @internal */
export const defaultPrefix = "convo_"

/** @internal */
export interface TableNames {
  readonly event: string
  readonly eventConversationIndex: string
  readonly migrations: string
  readonly channel: string
}

/** @internal */
export const tableNames = (prefix: string = defaultPrefix): TableNames => ({
  event: `${prefix}event`,
  eventConversationIndex: `${prefix}event_conversation_idx`,
  migrations: `${prefix}pg_migrations`,
  channel: `${prefix}events`
})

/**
 * An identifier as SQL text: bare when it is a plain lower-case name, double-quoted otherwise (as
 * `sql(name)` of `@effect/sql` spells it, so DDL and queries agree).
 *
 * @internal
 */
export const quote = (name: string): string =>
  /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`
