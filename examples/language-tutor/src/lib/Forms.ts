/**
 * Reading an HTML form post (`application/x-www-form-urlencoded`, at most 64 KiB): a bad body is a
 * `BadRequest`, never a crash.
 */
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { BadRequest } from "./HttpErrors.js"

/** The fields of a posted form; a repeated field keeps its first value. */
export type Form = Readonly<Record<string, string>>

/** The largest form body accepted. */
export const maxFormBytes = 64 * 1024

/** Reads the posted form of the current request. */
export const read: Effect.Effect<Form, BadRequest, HttpServerRequest.HttpServerRequest> = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const type = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
  if (type !== "application/x-www-form-urlencoded") {
    return yield* new BadRequest({ message: "Send this form from its page (expected a URL-encoded form)." })
  }
  const params = yield* request.urlParamsBody.pipe(
    HttpIncomingMessage.withMaxBodySize(Option.some(maxFormBytes)),
    Effect.mapError(() => new BadRequest({ message: "The form could not be read (too large or malformed)." }))
  )
  const form: Record<string, string> = {}
  for (const [name, value] of params) if (!(name in form)) form[name] = value
  return form
})

/** A field, trimmed; missing is empty. */
export const field = (form: Form, name: string): string => (form[name] ?? "").trim()
