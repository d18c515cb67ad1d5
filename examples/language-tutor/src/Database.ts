/**
 * The database: SQLite (the embedded default, a file created with its folder) or PostgreSQL,
 * chosen by `DATABASE_URL`, migrated at start (convo's tables, then the app's). Anything that
 * goes wrong here stops the start with one sentence (`StartFailed`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { AppConfig, type Database } from "./Config.js"
import * as Migrations from "./Migrations.js"

/** The app could not start; the message is one sentence for the terminal. */
export class StartFailed extends Data.TaggedError("StartFailed")<{ readonly message: string }> {}

const reasonOf = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const inner = (error as { cause?: unknown } | null)?.cause
  const text = (value: unknown): string | undefined =>
    value instanceof Error && value.message.length > 0 ? value.message : undefined
  const parts = [text(error), text(inner)].filter((part): part is string => part !== undefined)
  const unique = parts.filter((part, i) => parts.indexOf(part) === i)
  return (unique.length > 0 ? unique.join(": ") : String(error)).split("\n")[0]!
}

const client = (database: Database): Layer.Layer<SqlClient.SqlClient, unknown> => {
  if (database._tag === "Pg") {
    return PgClient.layer({ url: database.url, connectTimeout: Duration.seconds(5) })
  }
  return Layer.unwrapEffect(
    Effect.sync(() => {
      if (database.filename !== ":memory:") {
        NodeFs.mkdirSync(NodePath.dirname(database.filename), { recursive: true })
      }
      return SqliteClient.layer({ filename: database.filename })
    })
  )
}

/** The `SqlClient` of the configured database, migrated. */
export const layer: Layer.Layer<SqlClient.SqlClient, StartFailed, AppConfig> = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => {
    const where = config.database._tag === "Sqlite" ? config.database.display : config.database.display
    const open = client(config.database).pipe(
      Layer.catchAllCause((cause) =>
        Layer.fail(new StartFailed({ message: `cannot open the database ${where}: ${reasonOf(cause)}` }))
      )
    )
    const migrate = Layer.effectDiscard(
      Migrations.run.pipe(
        Effect.catchAllCause((cause) =>
          Effect.fail(new StartFailed({ message: `cannot migrate the database ${where}: ${reasonOf(cause)}` }))
        )
      )
    )
    return Layer.provideMerge(migrate, open)
  })
)
