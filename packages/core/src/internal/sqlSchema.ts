/**
 * The SQL schema of the conversation store, as plain statements per dialect. The migration and
 * the plain-SQL export are both built from these, so they cannot drift apart.
 *
 * @internal
 */

/** @internal */
export type Dialect = "pg" | "sqlite"

/** @internal */
export const defaultPrefix = "convo_"

/** @internal */
export interface TableNames {
  readonly conversation: string
  readonly message: string
  readonly migrations: string
  readonly conversationOwnerIndex: string
  readonly messageSeqKey: string
  readonly messageClientKey: string
}

/** @internal */
export const tableNames = (prefix: string = defaultPrefix): TableNames => ({
  conversation: `${prefix}conversation`,
  message: `${prefix}message`,
  migrations: `${prefix}migrations`,
  conversationOwnerIndex: `${prefix}conversation_owner_idx`,
  messageSeqKey: `${prefix}message_seq_key`,
  messageClientKey: `${prefix}message_client_id_key`
})

/**
 * An identifier as SQL text: bare when it is a plain lower-case name, double-quoted otherwise
 * (the same spelling `sql(name)` of `@effect/sql` produces, so DDL and queries agree).
 *
 * @internal
 */
export const quoteIdentifier = (name: string): string =>
  /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`

/** The current time as ISO-8601 text with milliseconds, in SQLite. @internal */
export const sqliteNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

/** @internal */
export const statements = (dialect: Dialect, prefix: string = defaultPrefix): ReadonlyArray<string> => {
  const names = tableNames(prefix)
  const q = quoteIdentifier
  const conversation = q(names.conversation)
  const message = q(names.message)
  const pg = dialect === "pg"
  const id = pg ? "bigserial PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
  const text = pg ? "text" : "TEXT"
  const integer = pg ? "integer" : "INTEGER"
  const json = pg ? "jsonb" : "TEXT"
  const timestamp = pg ? "timestamptz NOT NULL DEFAULT now()" : `TEXT NOT NULL DEFAULT (${sqliteNow})`
  const emptyObject = pg ? "'{}'::jsonb" : "'{}'"
  const reference = pg ? "bigint" : "INTEGER"
  return [
    `CREATE TABLE ${conversation} (
  id ${id},
  user_id ${text} NULL,
  title ${text} NULL,
  metadata ${json} NOT NULL DEFAULT ${emptyObject},
  last_seq ${integer} NOT NULL DEFAULT 0,
  created_at ${timestamp},
  updated_at ${timestamp}
)`,
    `CREATE INDEX ${q(names.conversationOwnerIndex)} ON ${conversation} (user_id, id)`,
    `CREATE TABLE ${message} (
  id ${id},
  conversation_id ${reference} NOT NULL REFERENCES ${conversation} (id) ON DELETE CASCADE,
  seq ${integer} NOT NULL,
  turn_id ${text} NOT NULL,
  user_id ${text} NULL,
  client_id ${text} NULL,
  kind ${text} NOT NULL,
  status ${text} NOT NULL CHECK (status IN ('complete', 'aborted', 'error')),
  content ${json} NOT NULL,
  input_tokens ${integer} NULL,
  output_tokens ${integer} NULL,
  created_at ${timestamp},
  CONSTRAINT ${q(names.messageSeqKey)} UNIQUE (conversation_id, seq),
  CONSTRAINT ${q(names.messageClientKey)} UNIQUE (conversation_id, client_id)
)`
  ]
}
