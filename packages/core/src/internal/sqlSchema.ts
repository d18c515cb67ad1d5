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
  readonly messageTurnIndex: string
  readonly pendingTurn: string
  readonly pendingTurnKey: string
  readonly pendingClientKey: string
  readonly conversationPublicIdKey: string
  readonly conversationPublicIdTrigger: string
  readonly messageSeqGuard: string
  readonly messageSeqAdvance: string
  readonly appendFunction: string
  readonly acceptFunction: string
  readonly messagePendingDone: string
}

/** @internal */
export const tableNames = (prefix: string = defaultPrefix): TableNames => ({
  conversation: `${prefix}conversation`,
  message: `${prefix}message`,
  migrations: `${prefix}migrations`,
  conversationOwnerIndex: `${prefix}conversation_owner_idx`,
  messageSeqKey: `${prefix}message_seq_key`,
  messageClientKey: `${prefix}message_client_id_key`,
  messageTurnIndex: `${prefix}message_turn_idx`,
  pendingTurn: `${prefix}pending_turn`,
  pendingTurnKey: `${prefix}pending_turn_turn_id_key`,
  pendingClientKey: `${prefix}pending_turn_client_id_key`,
  conversationPublicIdKey: `${prefix}conversation_public_id_key`,
  conversationPublicIdTrigger: `${prefix}conversation_public_id_default`,
  messageSeqGuard: `${prefix}message_seq_guard`,
  messageSeqAdvance: `${prefix}message_seq_advance`,
  appendFunction: `${prefix}append_turn`,
  acceptFunction: `${prefix}accept_turn`,
  messagePendingDone: `${prefix}message_pending_done`
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

/** The message statuses a row may hold (the CHECK constraint of each schema version). */
const statusCheck = (statuses: ReadonlyArray<string>): string =>
  `CHECK (status IN (${statuses.map((status) => `'${status}'`).join(", ")}))`

interface Types {
  readonly id: string
  readonly text: string
  readonly integer: string
  readonly json: string
  readonly timestamp: string
  readonly emptyObject: string
  readonly reference: string
}

const types = (dialect: Dialect): Types => {
  const pg = dialect === "pg"
  return {
    id: pg ? "bigserial PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT",
    text: pg ? "text" : "TEXT",
    integer: pg ? "integer" : "INTEGER",
    json: pg ? "jsonb" : "TEXT",
    timestamp: pg ? "timestamptz NOT NULL DEFAULT now()" : `TEXT NOT NULL DEFAULT (${sqliteNow})`,
    emptyObject: pg ? "'{}'::jsonb" : "'{}'",
    reference: pg ? "bigint" : "INTEGER"
  }
}

const messageTable = (dialect: Dialect, names: TableNames, table: string, statuses: ReadonlyArray<string>): string => {
  const q = quoteIdentifier
  const t = types(dialect)
  return `CREATE TABLE ${q(table)} (
  id ${t.id},
  conversation_id ${t.reference} NOT NULL REFERENCES ${q(names.conversation)} (id) ON DELETE CASCADE,
  seq ${t.integer} NOT NULL,
  turn_id ${t.text} NOT NULL,
  user_id ${t.text} NULL,
  client_id ${t.text} NULL,
  kind ${t.text} NOT NULL,
  status ${t.text} NOT NULL ${statusCheck(statuses)},
  content ${t.json} NOT NULL,
  input_tokens ${t.integer} NULL,
  output_tokens ${t.integer} NULL,
  created_at ${t.timestamp},
  CONSTRAINT ${q(names.messageSeqKey)} UNIQUE (conversation_id, seq),
  CONSTRAINT ${q(names.messageClientKey)} UNIQUE (conversation_id, client_id)
)`
}

const initial = (dialect: Dialect, names: TableNames): ReadonlyArray<string> => {
  const q = quoteIdentifier
  const t = types(dialect)
  const conversation = q(names.conversation)
  return [
    `CREATE TABLE ${conversation} (
  id ${t.id},
  user_id ${t.text} NULL,
  title ${t.text} NULL,
  metadata ${t.json} NOT NULL DEFAULT ${t.emptyObject},
  last_seq ${t.integer} NOT NULL DEFAULT 0,
  created_at ${t.timestamp},
  updated_at ${t.timestamp}
)`,
    `CREATE INDEX ${q(names.conversationOwnerIndex)} ON ${conversation} (user_id, id)`,
    messageTable(dialect, names, names.message, ["complete", "aborted", "error"])
  ]
}

/**
 * Durable turns: the status `interrupted` (a turn whose process died), an index on a message's
 * turn, and the table of turns written ahead (accepted, not yet in the history).
 */
const durableTurns = (dialect: Dialect, names: TableNames): ReadonlyArray<string> => {
  const q = quoteIdentifier
  const t = types(dialect)
  const message = q(names.message)
  const statuses = ["complete", "aborted", "error", "interrupted"]
  const status =
    dialect === "pg"
      ? [
          `ALTER TABLE ${message} DROP CONSTRAINT IF EXISTS ${q(`${names.message}_status_check`)}`,
          `ALTER TABLE ${message} ADD CONSTRAINT ${q(`${names.message}_status_check`)} ${statusCheck(statuses)}`
        ]
      : // SQLite cannot alter a CHECK constraint: the table is rebuilt with the new one
        [
          messageTable(dialect, names, `${names.message}_new`, statuses),
          `INSERT INTO ${q(`${names.message}_new`)} SELECT id, conversation_id, seq, turn_id, user_id, client_id, kind, status, content, input_tokens, output_tokens, created_at FROM ${message}`,
          `DROP TABLE ${message}`,
          `ALTER TABLE ${q(`${names.message}_new`)} RENAME TO ${message}`
        ]
  return [
    ...status,
    `CREATE INDEX ${q(names.messageTurnIndex)} ON ${message} (conversation_id, turn_id)`,
    `CREATE TABLE ${q(names.pendingTurn)} (
  id ${t.id},
  conversation_id ${t.reference} NOT NULL REFERENCES ${q(names.conversation)} (id) ON DELETE CASCADE,
  turn_id ${t.text} NOT NULL,
  user_id ${t.text} NULL,
  client_id ${t.text} NULL,
  owner ${t.text} NOT NULL,
  content ${t.json} NOT NULL,
  draft ${t.text} NULL,
  checkpointed_at ${dialect === "pg" ? "timestamptz" : "TEXT"} NULL,
  created_at ${t.timestamp},
  CONSTRAINT ${q(names.pendingTurnKey)} UNIQUE (conversation_id, turn_id),
  CONSTRAINT ${q(names.pendingClientKey)} UNIQUE (conversation_id, client_id)
)`
  ]
}

/**
 * Public ids: a `public_id` text column on conversations, unique (the index serves the lookup by
 * public id). Every existing conversation gets an unguessable one (128 random bits), and so does a
 * row inserted without one by something other than the store (an admin tool, a test's raw INSERT):
 * on PostgreSQL through the column default `gen_random_uuid()`; on SQLite, which cannot add a
 * column with a non-constant default, the column defaults to `''` and a trigger replaces it with
 * `randomblob(16)` right after the insert.
 */
const publicIds = (dialect: Dialect, names: TableNames): ReadonlyArray<string> => {
  const q = quoteIdentifier
  const conversation = q(names.conversation)
  return dialect === "pg"
    ? [
        `ALTER TABLE ${conversation} ADD COLUMN public_id text NOT NULL DEFAULT gen_random_uuid()::text`,
        `CREATE UNIQUE INDEX ${q(names.conversationPublicIdKey)} ON ${conversation} (public_id)`
      ]
    : [
        `ALTER TABLE ${conversation} ADD COLUMN public_id TEXT NOT NULL DEFAULT ''`,
        `UPDATE ${conversation} SET public_id = lower(hex(randomblob(16))) WHERE public_id = ''`,
        `CREATE UNIQUE INDEX ${q(names.conversationPublicIdKey)} ON ${conversation} (public_id)`,
        `CREATE TRIGGER ${q(names.conversationPublicIdTrigger)} AFTER INSERT ON ${conversation} FOR EACH ROW WHEN NEW.public_id = '' BEGIN UPDATE ${conversation} SET public_id = lower(hex(randomblob(16))) WHERE id = NEW.id; END`
      ]
}

/**
 * SQLite: the conversation's `last_seq` follows the inserted messages (a trigger), so that an append
 * is one INSERT, without a transaction around it. A message that continues a turn already in the
 * table may not skip a `seq` (the guard aborts the statement: the rows of one append never get a
 * gap, whenever SQLite reads `last_seq`); a row of a new turn may carry any `seq` (another tool's
 * row), and `last_seq` moves up to it; one with a `seq` the conversation already passed (written
 * the older way, after advancing `last_seq` itself) leaves `last_seq` as it is. PostgreSQL appends
 * in one statement already (a CTE): nothing changes there.
 */
const seqTriggers = (dialect: Dialect, names: TableNames): ReadonlyArray<string> => {
  if (dialect === "pg") return []
  const q = quoteIdentifier
  const conversation = q(names.conversation)
  const lastSeq = `(SELECT last_seq FROM ${conversation} WHERE id = NEW.conversation_id)`
  return [
    `CREATE TRIGGER ${q(names.messageSeqGuard)} BEFORE INSERT ON ${q(names.message)}
WHEN NEW.seq > ${lastSeq} + 1 AND EXISTS (SELECT 1 FROM ${q(names.message)} WHERE conversation_id = NEW.conversation_id AND turn_id = NEW.turn_id)
BEGIN SELECT RAISE(ABORT, 'convo: a message of a stored turn may not skip past the conversation last_seq + 1'); END`,
    `CREATE TRIGGER ${q(names.messageSeqAdvance)} AFTER INSERT ON ${q(names.message)}
WHEN NEW.seq > ${lastSeq}
BEGIN UPDATE ${conversation} SET last_seq = NEW.seq, updated_at = ${sqliteNow} WHERE id = NEW.conversation_id; END`
  ]
}

/**
 * The writes of a durable turn. PostgreSQL: the two as plpgsql functions, whose statements PostgreSQL
 * plans once per connection (a statement sent as text through `@effect/sql-pg` is parsed and planned
 * on every call). Each is one call, its own transaction, and keeps what the statements it replaces
 * kept:
 *
 * - `append_turn` takes the turn written ahead out of the pending table (when `pending`; nothing is
 *   written when it was not there), advances the conversation's `last_seq` under its row lock (racing
 *   appends serialize on it; nothing is written when the conversation does not exist) and inserts the
 *   messages with the seqs it took, gapless. The messages come as arrays, one element per message;
 *   `contents` is JSON text, cast to `jsonb` here (a text that is not JSON fails with 22P02, and the
 *   call writes nothing). Returns the rows' id, seq and time.
 * - `accept_turn` writes a turn ahead only when the conversation exists, neither its turn id nor its
 *   client id is stored or pending, and fewer than `max_pending` turns wait; returns the time it was
 *   accepted, or NULL when it wrote nothing.
 *
 * SQLite has no server-side plan to keep; there a trigger takes a turn out of the pending table as
 * its messages go into the history, so that the append of a turn written ahead is one INSERT, with
 * no transaction around it (and any message that enters the history ends its turn's wait).
 */
const turnWrites = (dialect: Dialect, names: TableNames): ReadonlyArray<string> => {
  const q = quoteIdentifier
  if (dialect === "sqlite") {
    return [
      `CREATE TRIGGER ${q(names.messagePendingDone)} AFTER INSERT ON ${q(names.message)}
BEGIN DELETE FROM ${q(names.pendingTurn)} WHERE conversation_id = NEW.conversation_id AND turn_id = NEW.turn_id; END`
    ]
  }
  const conversation = q(names.conversation)
  const message = q(names.message)
  const pending = q(names.pendingTurn)
  return [
    `CREATE FUNCTION ${q(names.appendFunction)}(p_conversation_id bigint, p_turn_id text, p_user_id text, p_pending boolean,
  p_kinds text[], p_statuses text[], p_contents text[], p_input_tokens integer[], p_output_tokens integer[], p_client_ids text[])
RETURNS TABLE (id bigint, seq integer, created_at timestamptz) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_count integer := cardinality(p_kinds);
  v_last integer;
BEGIN
  IF p_pending THEN
    DELETE FROM ${pending} WHERE conversation_id = p_conversation_id AND turn_id = p_turn_id;
    IF NOT FOUND THEN RETURN; END IF;
  END IF;
  UPDATE ${conversation} SET last_seq = last_seq + v_count, updated_at = now() WHERE id = p_conversation_id RETURNING last_seq INTO v_last;
  IF NOT FOUND THEN RETURN; END IF;
  RETURN QUERY INSERT INTO ${message} (conversation_id, seq, turn_id, user_id, client_id, kind, status, content, input_tokens, output_tokens)
    SELECT p_conversation_id, v_last - v_count + v.i::integer, p_turn_id, p_user_id, v.client_id, v.kind, v.status, v.content::jsonb, v.input_tokens, v.output_tokens
    FROM unnest(p_kinds, p_statuses, p_contents, p_input_tokens, p_output_tokens, p_client_ids) WITH ORDINALITY AS v(kind, status, content, input_tokens, output_tokens, client_id, i)
    RETURNING id, seq, created_at;
END
$$`,
    `CREATE FUNCTION ${q(names.acceptFunction)}(p_conversation_id bigint, p_turn_id text, p_user_id text, p_client_id text,
  p_owner text, p_content jsonb, p_max_pending integer)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
  v_accepted timestamptz;
BEGIN
  INSERT INTO ${pending} (conversation_id, turn_id, user_id, client_id, owner, content)
  SELECT p_conversation_id, p_turn_id, p_user_id, p_client_id, p_owner, p_content
  WHERE EXISTS (SELECT 1 FROM ${conversation} WHERE id = p_conversation_id)
  AND NOT EXISTS (SELECT 1 FROM ${message} WHERE conversation_id = p_conversation_id AND turn_id = p_turn_id)
  AND (p_client_id IS NULL OR NOT EXISTS (SELECT 1 FROM ${message} WHERE conversation_id = p_conversation_id AND client_id = p_client_id))
  AND (SELECT count(*) FROM ${pending} WHERE conversation_id = p_conversation_id) < p_max_pending
  ON CONFLICT DO NOTHING RETURNING created_at INTO v_accepted;
  RETURN v_accepted;
END
$$`
  ]
}

/** The schema's migrations, in order, each as plain statements. @internal */
export const migrations = (
  dialect: Dialect,
  prefix: string = defaultPrefix
): ReadonlyArray<readonly [name: string, statements: ReadonlyArray<string>]> => {
  const names = tableNames(prefix)
  return [
    ["0001_convo_init", initial(dialect, names)],
    ["0002_convo_durable_turns", durableTurns(dialect, names)],
    ["0003_convo_public_id", publicIds(dialect, names)],
    ["0004_convo_sqlite_seq_trigger", seqTriggers(dialect, names)],
    ["0005_convo_turn_writes", turnWrites(dialect, names)]
  ]
}

/** Every statement of the schema, in order. @internal */
export const statements = (dialect: Dialect, prefix: string = defaultPrefix): ReadonlyArray<string> =>
  migrations(dialect, prefix).flatMap(([, statements]) => statements)
