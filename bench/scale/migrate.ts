/**
 * Migrates the benchmark's database (`CONVO_DATABASE`): core's tables and convo_event.
 */
import * as SqlMigrations from "@convo/core/SqlMigrations"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as PgMigrations from "../../packages/postgres/src/PgMigrations.js"

const database = process.env["CONVO_DATABASE"]
if (database === undefined) throw new Error("CONVO_DATABASE is required")

await Effect.runPromise(
  Effect.gen(function* () {
    yield* SqlMigrations.run()
    yield* PgMigrations.run()
  }).pipe(
    Effect.provide(
      PgClient.layer({
        host: process.env["PGHOST"] ?? "127.0.0.1",
        port: Number(process.env["PGPORT"] ?? 5432),
        username: process.env["PGUSER"] ?? "postgres",
        database,
        ...(process.env["PGPASSWORD"] === undefined ? {} : { password: Redacted.make(process.env["PGPASSWORD"]) })
      })
    )
  )
)
