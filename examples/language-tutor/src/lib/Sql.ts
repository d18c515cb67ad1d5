/**
 * Small helpers for the app's own SQL: numbers that PostgreSQL returns as strings, and database
 * failures turned into the `Unavailable` page.
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Unavailable } from "./HttpErrors.js"

/**
 * An integer column: a number on SQLite, a string for `bigint` on PostgreSQL. A value JavaScript
 * cannot hold exactly (past 2^53) is refused, never rounded into another row's id.
 */
export const Int = Schema.Union(Schema.Number, Schema.NumberFromString).pipe(
  Schema.filter((n) => Number.isSafeInteger(n), { message: () => "an integer that JavaScript holds exactly" })
)

/** A database failure becomes a 503 page that shows no details; the cause is logged. */
export const unavailable =
  (operation: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Exclude<E, Extract<E, SqlError>> | Unavailable, R> =>
    Effect.catchIf(
      effect,
      (error): error is Extract<E, SqlError> => error instanceof SqlError,
      (error) =>
        Effect.logError(`${operation} failed`, error).pipe(
          Effect.zipRight(
            Effect.fail(new Unavailable({ message: "The database is unavailable. Try again.", cause: error }))
          )
        )
    )
