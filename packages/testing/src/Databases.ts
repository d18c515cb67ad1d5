/**
 * Real databases for tests: SQLite on a fresh temporary file, and PostgreSQL in a database of
 * its own created for the run and dropped afterwards. Both come migrated with
 * `SqlMigrations.run`, and both say how to open a second, independent client on the same
 * database (for race tests across connections).
 *
 * PostgreSQL is found at `PGHOST`/`PGPORT`/`PGUSER`/`PGPASSWORD` (default `127.0.0.1:5432`, user
 * `postgres`); a new database is created through the `postgres` database. When no server answers,
 * `pgTestsEnabled` prints why and says to skip, unless `CI=true`, where it fails.
 *
 * @since 0.1.0
 */
import * as SqlMigrations from "@convo/core/SqlMigrations"
import * as NodeFileSystem from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import type { MigrationError } from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import Pg from "pg"

/**
 * The database a test layer made.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly dialect: "pg" | "sqlite"
  /** The SQLite file path, or the PostgreSQL database name. */
  readonly name: string
  /** The table prefix the migrations used. */
  readonly prefix: string
  /** A new client on the same database, with its own connection (SQLite) or pool (PostgreSQL). */
  readonly connect: () => Layer.Layer<SqlClient.SqlClient, SqlError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TestDatabase extends Context.Tag("@convo/testing/Databases/TestDatabase")<TestDatabase, Service>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Table prefix passed to the migrations. Default `"convo_"`. */
  readonly prefix?: string | undefined
  /** Skip the migrations (to test them). Default `true`. */
  readonly migrate?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PgServer {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string | undefined
}

/**
 * Where the tests look for PostgreSQL: `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, defaulting
 * to `127.0.0.1:5432` as `postgres`.
 *
 * @since 0.1.0
 * @category postgres
 */
export const pgServer = (): PgServer => ({
  host: process.env.PGHOST ?? "127.0.0.1",
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? "postgres",
  password: process.env.PGPASSWORD
})

const describeServer = (server: PgServer) => `PostgreSQL at ${server.host}:${server.port} (user ${server.user})`

const withAdmin = <A>(server: PgServer, f: (client: Pg.Client) => Promise<A>, timeoutMillis = 5_000): Promise<A> => {
  const client = new Pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    database: "postgres",
    connectionTimeoutMillis: timeoutMillis,
    ...(server.password === undefined ? {} : { password: server.password })
  })
  client.on("error", () => {})
  return client.connect().then(
    () => f(client).finally(() => client.end().catch(() => {})),
    (error) => {
      client.end().catch(() => {})
      throw error
    }
  )
}

/**
 * True when a PostgreSQL server answers a query on the `postgres` database.
 *
 * @since 0.1.0
 * @category postgres
 */
export const pgAvailable = (server: PgServer = pgServer()): Promise<boolean> =>
  withAdmin(server, (client) => client.query("SELECT 1"), 3_000).then(
    () => true,
    () => false
  )

/**
 * The skip rule for PostgreSQL tests. Resolves `true` when the server answers. When it does not:
 * with `CI=true` it rejects (a missing server is a failure in CI); otherwise it prints why the
 * PostgreSQL tests are skipped and resolves `false`.
 *
 * @example
 * ```ts
 * import { describe } from "@effect/vitest"
 * import * as Databases from "@convo/testing/Databases"
 *
 * const pg = await Databases.pgTestsEnabled()
 * describe.skipIf(!pg)("on PostgreSQL", () => {})
 * ```
 *
 * @since 0.1.0
 * @category postgres
 */
export const pgTestsEnabled = async (server: PgServer = pgServer()): Promise<boolean> => {
  if (await pgAvailable(server)) return true
  if (process.env.CI === "true") {
    throw new Error(`${describeServer(server)} does not answer, and CI=true requires it`)
  }
  console.warn(
    `[convo] ${describeServer(server)} does not answer: skipping the PostgreSQL tests (CI=true fails instead)`
  )
  return false
}

const adminQuery = (server: PgServer, text: string): Effect.Effect<void, SqlError> =>
  Effect.tryPromise({
    try: () => withAdmin(server, (client) => client.query(text)),
    catch: (cause) => new SqlError({ cause, message: `${describeServer(server)}: ${text} failed` })
  })

const migrate = (options: Options | undefined, context: Context.Context<SqlClient.SqlClient>) =>
  options?.migrate === false
    ? Effect.void
    : SqlMigrations.run({ prefix: options?.prefix }).pipe(Effect.provide(context), Effect.asVoid)

/**
 * SQLite on a fresh file in a new temporary directory (removed when the layer is released),
 * migrated. Provides the `SqlClient`, the `SqliteClient` and the `TestDatabase`.
 *
 * @since 0.1.0
 * @category layers
 */
export const sqliteTemp = (
  options?: Options
): Layer.Layer<SqlClient.SqlClient | SqliteClient.SqliteClient | TestDatabase, SqlError | MigrationError> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const directory = yield* Effect.acquireRelease(
        Effect.sync(() => NodeFileSystem.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "convo-sqlite-"))),
        (directory) => Effect.sync(() => NodeFileSystem.rmSync(directory, { recursive: true, force: true }))
      )
      const filename = NodePath.join(directory, "convo.db")
      const connect = () => SqliteClient.layer({ filename }).pipe(Layer.orDie)
      const context = yield* Layer.build(connect())
      yield* migrate(options, context)
      return Context.add(context, TestDatabase, {
        dialect: "sqlite",
        name: filename,
        prefix: options?.prefix ?? SqlMigrations.defaultPrefix,
        connect
      })
    })
  )

let databaseCounter = 0

/**
 * PostgreSQL in a database created for this layer (a unique name per run), migrated, and dropped
 * when the layer is released. Provides the `SqlClient`, the `PgClient` and the `TestDatabase`.
 * Check `pgTestsEnabled` before using it.
 *
 * @since 0.1.0
 * @category layers
 */
export const postgresFresh = (
  options?: Options & { readonly server?: PgServer | undefined }
): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient | TestDatabase, SqlError | MigrationError> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const server = options?.server ?? pgServer()
      const name = `convo_test_${process.pid}_${Date.now().toString(36)}_${++databaseCounter}_${Math.random()
        .toString(36)
        .slice(2, 8)}`
      yield* Effect.acquireRelease(adminQuery(server, `CREATE DATABASE ${name}`), () =>
        adminQuery(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(
          Effect.catchAll((error) => Effect.logWarning(`could not drop test database ${name}`, error))
        )
      )
      const connect = () =>
        PgClient.layer({
          host: server.host,
          port: server.port,
          username: server.user,
          database: name,
          ...(server.password === undefined ? {} : { password: Redacted.make(server.password) })
        })
      const context = yield* Layer.build(connect())
      yield* migrate(options, context)
      return Context.add(context, TestDatabase, {
        dialect: "pg",
        name,
        prefix: options?.prefix ?? SqlMigrations.defaultPrefix,
        connect
      })
    })
  )
