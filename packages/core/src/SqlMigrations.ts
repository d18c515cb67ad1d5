/**
 * The schema of `SqlConversationStore`, as `@effect/sql` migrations and as plain SQL.
 *
 * - `run` applies the migrations with the driver-neutral `Migrator` of `@effect/sql`, on any
 *   PostgreSQL or SQLite `SqlClient`, recording them in their own table (`convo_migrations` by
 *   default), so they never clash with the host application's migrations.
 * - `loader` gives the same migrations to a driver's migrator (`PgMigrator.layer`,
 *   `SqliteMigrator.layer`) for teams that already run one.
 * - `toSql` exports them as plain SQL text for teams with their own migration tool.
 *
 * Tables (with the default prefix `convo_`): `convo_conversation`, `convo_message` and
 * `convo_pending_turn`; on PostgreSQL also the functions the store calls for a turn's writes
 * (`convo_append_turn`, `convo_accept_turn`); see the data model in docs/architecture.md.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "./internal/sqlSchema.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Prefix of every table, index and constraint name. Default `"convo_"`. */
  readonly prefix?: string | undefined
}

/**
 * The SQL dialects the store supports.
 *
 * @since 0.1.0
 * @category models
 */
export type Dialect = "pg" | "sqlite"

/**
 * The default prefix of table names: `"convo_"`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPrefix: string = Schema.defaultPrefix

/**
 * The table where the migrator records applied migrations: `<prefix>migrations`.
 *
 * @since 0.1.0
 * @category constants
 */
export const migrationsTable = (options?: Options): string => Schema.tableNames(options?.prefix).migrations

const unsupported = (dialect: string) =>
  Effect.fail(new Error(`convo's SQL store supports PostgreSQL and SQLite, not ${dialect}`))

const step = (prefix: string | undefined, index: number): Effect.Effect<void, unknown, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const statements = yield* sql.onDialect({
      pg: () => Effect.succeed(Schema.migrations("pg", prefix)[index]![1]),
      sqlite: () => Effect.succeed(Schema.migrations("sqlite", prefix)[index]![1]),
      mysql: () => unsupported("MySQL"),
      mssql: () => unsupported("SQL Server"),
      clickhouse: () => unsupported("ClickHouse")
    })
    for (const statement of statements) {
      yield* sql.unsafe(statement)
    }
  })

/**
 * The migrations, keyed `<id>_<name>` as `Migrator.fromRecord` expects.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations = (options?: Options): Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> => ({
  "0001_convo_init": step(options?.prefix, 0),
  "0002_convo_durable_turns": step(options?.prefix, 1),
  "0003_convo_public_id": step(options?.prefix, 2),
  "0004_convo_sqlite_seq_trigger": step(options?.prefix, 3),
  "0005_convo_turn_writes": step(options?.prefix, 4)
})

/**
 * The migrations as a `Migrator` loader, for a driver's migrator:
 *
 * @example
 * ```ts
 * import * as SqlMigrations from "@convo/core/SqlMigrations"
 * import type * as Migrator from "@effect/sql/Migrator"
 *
 * // e.g. PgMigrator.layer(options) from @effect/sql-pg
 * const options: Migrator.MigratorOptions = {
 *   loader: SqlMigrations.loader(),
 *   table: SqlMigrations.migrationsTable()
 * }
 * ```
 *
 * @since 0.1.0
 * @category migrations
 */
export const loader = (options?: Options): Migrator.Loader => Migrator.fromRecord(migrations(options))

/**
 * Applies the pending migrations with any PostgreSQL or SQLite `SqlClient`, recording them in
 * `migrationsTable(options)`. Returns the migrations it applied (none when up to date).
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
 * The migrations as plain SQL text (statements ending in `;`), for teams that run their own
 * migration tool. It creates exactly the tables, indexes, constraints, triggers and (PostgreSQL)
 * functions `run` creates, without the migrator's own table. Trigger and function bodies hold `;`
 * of their own: give the text to a tool that reads them whole (psql, `pg`'s `query`, SQLite's `exec`).
 *
 * @example
 * ```ts
 * import * as SqlMigrations from "@convo/core/SqlMigrations"
 *
 * const ddl: string = SqlMigrations.toSql("pg", { prefix: "chat_" })
 * ```
 *
 * @since 0.1.0
 * @category migrations
 */
export const toSql = (dialect: Dialect, options?: Options): string =>
  Schema.statements(dialect, options?.prefix)
    .map((statement) => `${statement};\n`)
    .join("\n")
