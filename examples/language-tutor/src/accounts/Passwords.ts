/**
 * Password hashing with `node:crypto`'s scrypt: a random 16-byte salt per password, the cost
 * parameters stored beside the hash (so they can be raised later without breaking old hashes),
 * and a constant-time comparison. One hash runs at a time (the others wait their turn): scrypt
 * runs on libuv's thread pool, which file reads share, and takes a core while it runs, so a flood of
 * log-ins must take neither all four threads nor every core.
 *
 * Stored form: `scrypt$<log2 N>$<r>$<p>$<salt, base64url>$<hash, base64url>`.
 */
import * as Effect from "effect/Effect"
import * as NodeCrypto from "node:crypto"

const logN = 15
const r = 8
const p = 1
const keyLength = 32
// scrypt needs 128 * N * r bytes: 32 MiB at N = 2^15, r = 8; Node's default limit is exactly that.
const maxmem = 64 * 1024 * 1024

/** How many password hashes may run at once: one, so a flood leaves a core and the pool's other threads free. */
export const maxConcurrentHashes = 1
const hashing = Effect.unsafeMakeSemaphore(maxConcurrentHashes)

const derive = (password: string, salt: Buffer, params: { logN: number; r: number; p: number }, length: number) =>
  Effect.async<Buffer, Error>((resume) => {
    NodeCrypto.scrypt(
      password.normalize("NFKC"),
      salt,
      length,
      { N: 2 ** params.logN, r: params.r, p: params.p, maxmem },
      (error, key) => resume(error === null ? Effect.succeed(key) : Effect.fail(error))
    )
  }).pipe(
    // the permit is held until scrypt is done, even when the request that asked is gone
    Effect.uninterruptible,
    hashing.withPermits(1)
  )

/** Hashes a password with a fresh salt. */
export const hash = (password: string): Effect.Effect<string> =>
  Effect.gen(function* () {
    const salt = NodeCrypto.randomBytes(16)
    const key = yield* Effect.orDie(derive(password, salt, { logN, r, p }, keyLength))
    return ["scrypt", logN, r, p, salt.toString("base64url"), key.toString("base64url")].join("$")
  })

/** Whether a password matches a stored hash. A malformed stored hash never matches. */
export const verify = (password: string, stored: string): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    const parts = stored.split("$")
    if (parts.length !== 6 || parts[0] !== "scrypt") return false
    const [, n, rText, pText, saltText, keyText] = parts as [string, string, string, string, string, string]
    const params = { logN: Number(n), r: Number(rText), p: Number(pText) }
    if (![params.logN, params.r, params.p].every((x) => Number.isInteger(x) && x > 0 && x < 32)) return false
    const expected = Buffer.from(keyText, "base64url")
    if (expected.length < 16) return false
    const actual = yield* derive(password, Buffer.from(saltText, "base64url"), params, expected.length).pipe(
      Effect.orElseSucceed(() => undefined)
    )
    return actual !== undefined && NodeCrypto.timingSafeEqual(actual, expected)
  })

/** A hash of a password nobody has, checked when a user name is unknown so a log-in takes as long either way. */
export const decoy: Effect.Effect<string> = Effect.cached(hash(NodeCrypto.randomBytes(18).toString("base64"))).pipe(
  Effect.runSync
)
