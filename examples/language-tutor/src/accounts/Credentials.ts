/**
 * The rules for user names and passwords, shared by the sign-up form and the `ADMIN_USERNAME` /
 * `ADMIN_PASSWORD` configuration. Pure functions: a problem is a sentence, no problem is `undefined`.
 */

/** 3 to 30 characters: letters, digits and `_ . - @`. */
export const usernamePattern = /^[A-Za-z0-9_.@-]{3,30}$/

/** The shortest password accepted. */
export const minPasswordLength = 8

/** The longest password accepted (scrypt takes any length; this bounds the work per request). */
export const maxPasswordLength = 256

/** What is wrong with a user name, if anything. */
export const usernameProblem = (username: string): string | undefined =>
  usernamePattern.test(username)
    ? undefined
    : "A user name has 3 to 30 characters: letters, digits and _ . - @ (no spaces)."

/** What is wrong with a password, if anything. */
export const passwordProblem = (password: string): string | undefined => {
  const length = [...password].length
  if (length < minPasswordLength) return `A password has at least ${minPasswordLength} characters.`
  if (length > maxPasswordLength) return `A password has at most ${maxPasswordLength} characters.`
  return undefined
}
