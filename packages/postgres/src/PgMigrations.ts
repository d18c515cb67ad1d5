/**
 * The schema of `PgConversationEvents`: one table of published events, as `@effect/sql`
 * migrations recorded in their own migrations table (`convo_pg_migrations` by default), so they
 * never clash with core's `SqlMigrations` (`convo_migrations`) or the host application's.
 *
 * ```sql
 * CREATE TABLE convo_event (
 *   id              bigserial PRIMARY KEY,      -- the event id clients resume from
 *   conversation_id bigint NOT NULL,
 *   payload         jsonb NOT NULL,             -- the server event
 *   created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
 * );
 * CREATE INDEX convo_event_conversation_idx ON convo_event (conversation_id, id);
 * ```
 *
 * There is no foreign key to the conversation: an event is a short-lived copy of what a turn
 * sent, pruned after the retention period, and a key would cost every publish a lookup.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { quote, tableNames } from "./internal/names.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Prefix of every table and index name. Default `"convo_"`, as in core's `SqlMigrations`. */
  readonly prefix?: string | undefined
}

/**
 * The table where the migrator records applied migrations: `<prefix>pg_migrations`.
 *
 * @since 0.1.0
 * @category constants
 */
export const migrationsTable = (options?: Options): string => tableNames(options?.prefix).migrations

/**
 * The statements of the schema, in order.
 *
 * @since 0.1.0
 * @category migrations
 */
export const statements = (options?: Options): ReadonlyArray<string> => {
  const names = tableNames(options?.prefix)
  return [
    `CREATE TABLE ${quote(names.event)} (
  id bigserial PRIMARY KEY,
  conversation_id bigint NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`,
    `CREATE INDEX ${quote(names.eventConversationIndex)} ON ${quote(names.event)} (conversation_id, id)`
  ]
}

const init = (options?: Options): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    for (const statement of statements(options)) {
      yield* sql.unsafe(statement)
    }
  })

/**
 * The migrations, keyed `<id>_<name>` as `Migrator.fromRecord` expects.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations = (options?: Options): Record<string, Effect.Effect<void, SqlError, SqlClient.SqlClient>> => ({
  "0001_convo_event": init(options)
})

/**
 * The migrations as a `Migrator` loader, for `PgMigrator.layer` of `@effect/sql-pg`.
 *
 * @since 0.1.0
 * @category migrations
 */
export const loader = (options?: Options): Migrator.Loader => Migrator.fromRecord(migrations(options))

/**
 * Applies the pending migrations, recording them in `migrationsTable(options)`. Returns the
 * migrations it applied (none when up to date). Each migration is applied once even when several
 * processes race, but the loser does not wait for the winner's commit: with many processes, run it
 * as a deploy step before they start.
 *
 * @since 0.1.0
 * @category migrations
 */
export const run = (
  options?: Options
): Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> => Migrator.make({})({ loader: loader(options), table: migrationsTable(options) })

/**
 * A layer that applies the migrations when it is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<never, Migrator.MigrationError | SqlError, SqlClient.SqlClient> =>
  Layer.effectDiscard(run(options))

/**
 * The schema as plain SQL text, for teams that run their own migration tool.
 *
 * @since 0.1.0
 * @category migrations
 */
export const toSql = (options?: Options): string =>
  statements(options)
    .map((statement) => `${statement};\n`)
    .join("\n")
