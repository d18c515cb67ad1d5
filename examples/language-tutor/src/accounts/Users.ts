/**
 * The app's users: sign-up, log-in checks and the staff flag. The first user to sign up becomes
 * staff (the admin pages are theirs); `ADMIN_USERNAME` / `ADMIN_PASSWORD` create or promote one at
 * start instead. "First" is decided atomically, also when sign-ups race on PostgreSQL: the staff
 * place is a row (`example_setting` key `first_staff`) that the sign-up's transaction claims with
 * `INSERT ... ON CONFLICT DO NOTHING`, so exactly one transaction gets it (a concurrent one waits
 * for the first to commit or roll back).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Int, unavailable } from "../lib/Sql.js"
import * as Passwords from "./Passwords.js"

/** A user of the app. */
export interface User {
  readonly id: number
  readonly username: string
  readonly isStaff: boolean
  readonly createdAt: number
}

const UserRow = Schema.Struct({
  id: Int,
  username: Schema.String,
  password_hash: Schema.String,
  is_staff: Int,
  created_at: Int
})

const toUser = (row: typeof UserRow.Type): User => ({
  id: row.id,
  username: row.username,
  isStaff: row.is_staff !== 0,
  createdAt: row.created_at
})

/** Sign-up with a user name that is already taken. */
export class UsernameTaken extends Data.TaggedError("UsernameTaken")<{ readonly username: string }> {}

/** The users repository. */
export class Users extends Effect.Service<Users>()("@convo/example-language-tutor/Users", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const findByName = SqlSchema.findOne({
      Request: Schema.String,
      Result: UserRow,
      execute: (username) => sql`SELECT * FROM example_user WHERE username = ${username}`
    })
    const findById = SqlSchema.findOne({
      Request: Schema.Number,
      Result: UserRow,
      execute: (id) => sql`SELECT * FROM example_user WHERE id = ${id}`
    })
    const insertRow = SqlSchema.single({
      Request: Schema.Struct({ username: Schema.String, password_hash: Schema.String, staff: Schema.Boolean }),
      Result: UserRow,
      execute: (input) => sql`INSERT INTO example_user (username, password_hash, is_staff, created_at)
                VALUES (${input.username}, ${input.password_hash}, ${input.staff ? 1 : 0}, ${Date.now()}) RETURNING *`
    })
    /** Claims the first user's staff place; true for the one transaction that gets it. */
    const claimFirstStaff = (username: string) =>
      Effect.map(
        sql`INSERT INTO example_setting (key, value) VALUES ('first_staff', ${username})
            ON CONFLICT (key) DO NOTHING RETURNING key`,
        (rows) => rows.length > 0
      )
    // The first user is staff: the claim and the insert commit together, or neither does.
    const insert = (input: { readonly username: string; readonly password_hash: string; readonly staff: boolean }) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const first = yield* claimFirstStaff(input.username)
          return yield* insertRow({ ...input, staff: input.staff || first })
        })
      )

    /** Creates a user; the first one is staff, or this one when `staff` is true. */
    const create = Effect.fn("Users.create")(function* (input: {
      readonly username: string
      readonly password: string
      readonly staff?: boolean
    }) {
      const existing = yield* findByName(input.username).pipe(
        Effect.catchTag("ParseError", Effect.die),
        unavailable("Users.create")
      )
      if (Option.isSome(existing)) return yield* new UsernameTaken({ username: input.username })
      const password_hash = yield* Passwords.hash(input.password)
      const row = yield* insert({ username: input.username, password_hash, staff: input.staff ?? false }).pipe(
        Effect.catchTag("ParseError", Effect.die),
        // two sign-ups racing for one name: the UNIQUE constraint decides
        Effect.catchTag("SqlError", (error) =>
          findByName(input.username).pipe(
            Effect.catchTag("ParseError", Effect.die),
            Effect.flatMap((found): Effect.Effect<never, UsernameTaken | typeof error> =>
              Option.isSome(found) ? Effect.fail(new UsernameTaken({ username: input.username })) : Effect.fail(error)
            )
          )
        ),
        Effect.catchTag("NoSuchElementException", () => Effect.dieMessage("INSERT ... RETURNING gave no row")),
        unavailable("Users.create")
      )
      return toUser(row)
    })

    /** The user with this name and password, if any. Takes as long when the name is unknown. */
    const authenticate = Effect.fn("Users.authenticate")(function* (username: string, password: string) {
      const row = yield* findByName(username).pipe(
        Effect.catchTag("ParseError", Effect.die),
        unavailable("Users.authenticate")
      )
      if (Option.isNone(row)) {
        yield* Passwords.verify(password, yield* Passwords.decoy)
        return Option.none<User>()
      }
      const ok = yield* Passwords.verify(password, row.value.password_hash)
      return ok ? Option.some(toUser(row.value)) : Option.none<User>()
    })

    const byId = Effect.fn("Users.byId")(function* (id: number) {
      const row = yield* findById(id).pipe(Effect.catchTag("ParseError", Effect.die), unavailable("Users.byId"))
      return Option.map(row, toUser)
    })

    /** Creates this staff user, or makes an existing one staff and sets its password. */
    const ensureStaff = Effect.fn("Users.ensureStaff")(function* (username: string, password: string) {
      const existing = yield* findByName(username).pipe(
        Effect.catchTag("ParseError", Effect.die),
        unavailable("Users.ensureStaff")
      )
      if (Option.isNone(existing)) {
        return yield* create({ username, password, staff: true }).pipe(
          Effect.catchTag("UsernameTaken", () => Effect.dieMessage(`user ${username} appeared while being created`))
        )
      }
      const password_hash = yield* Passwords.hash(password)
      yield* sql
        .withTransaction(
          Effect.zipRight(
            claimFirstStaff(username),
            sql`UPDATE example_user SET is_staff = 1, password_hash = ${password_hash} WHERE id = ${existing.value.id}`
          )
        )
        .pipe(unavailable("Users.ensureStaff"))
      return { ...toUser(existing.value), isStaff: true }
    })

    return { create, authenticate, byId, ensureStaff } as const
  })
}) {}
