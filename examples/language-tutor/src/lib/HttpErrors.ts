/**
 * The app's errors, each carrying its HTTP status (the Effect-TS/examples `http-server` way:
 * `HttpApiSchema.annotations({ status })`). Handlers fail with them; `Http.ts` turns any of them
 * into a page with that status, and anything else into a 500 page that shows no details.
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as Schema from "effect/Schema"

/** The form or the path was not acceptable. */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** Logged in, but not allowed: another user's room, a non-staff user on the admin pages, a bad CSRF token. */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 403 })
) {}

/** No such page, room or conversation. */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** The page needs a logged-in user: answered with a redirect to the log-in page. */
export class LoginRequired extends Schema.TaggedError<LoginRequired>()(
  "LoginRequired",
  { next: Schema.String },
  HttpApiSchema.annotations({ status: 303 })
) {}

/** The database (or another service) failed; the page says so without details. */
export class Unavailable extends Schema.TaggedError<Unavailable>()(
  "Unavailable",
  { message: Schema.String, cause: Schema.optional(Schema.Defect) },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** Every error a page handler may fail with. */
export type HttpError = BadRequest | Forbidden | NotFound | LoginRequired | Unavailable

const classes = { BadRequest, Forbidden, NotFound, LoginRequired, Unavailable } as const

/** The status an error carries. */
export const statusOf = (error: HttpError): number => HttpApiSchema.getStatusError(classes[error._tag])

/** Whether a value is one of the app's HTTP errors. */
export const isHttpError = (u: unknown): u is HttpError =>
  u instanceof BadRequest ||
  u instanceof Forbidden ||
  u instanceof NotFound ||
  u instanceof LoginRequired ||
  u instanceof Unavailable
