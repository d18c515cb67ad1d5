/**
 * Log-in throttling: failed log-ins are counted per user name and per client address, and past a
 * few free ones each further attempt waits for a backoff that doubles with every failure (up to 15
 * minutes). Attempts in flight count as failures until they end, so a burst of parallel guesses is
 * throttled as surely as a slow series. A refused attempt costs no password hash: it is answered at
 * once with 429 and `Retry-After`. A global bound on attempts in flight keeps a flood from many
 * addresses from queueing unbounded work (see also `Passwords`: one hash runs at a time, so
 * file reads and DNS keep the rest of libuv's thread pool).
 *
 * In memory, per process: enough for the example; a cluster would keep the counters in the
 * database or Redis.
 */
import * as Effect from "effect/Effect"

/** How one kind of key is throttled. */
export interface Policy {
  /** Failures (and attempts in flight) allowed before the backoff starts. */
  readonly free: number
  /** The first backoff, doubled with each further failure. */
  readonly baseMillis: number
  /** The longest backoff. */
  readonly maxMillis: number
}

/** Per user name: five tries, then 1 s, 2 s, 4 s, ... up to 15 minutes. */
export const userPolicy: Policy = { free: 5, baseMillis: 1_000, maxMillis: 15 * 60_000 }

/** Per client address: twenty tries (several users behind one NAT), then the same backoff. */
export const addressPolicy: Policy = { free: 20, baseMillis: 1_000, maxMillis: 15 * 60_000 }

/** Attempts in flight across all clients; past it, new ones are refused at once. */
export const maxInFlight = 32

/** A key is forgotten this long after its last failure. */
const forgetMillis = 60 * 60_000

interface Entry {
  failures: number
  inFlight: number
  nextAllowed: number
  lastFailure: number
}

/** An attempt let through; end it with its outcome. */
export interface Attempt {
  readonly end: (succeeded: boolean) => Effect.Effect<void>
}

/** The outcome of asking to try: go ahead, or wait `retryAfterSeconds`. */
export type Decision =
  | { readonly _tag: "Allowed"; readonly attempt: Attempt }
  | { readonly _tag: "Throttled"; readonly retryAfterSeconds: number }

const backoff = (policy: Policy, failures: number): number =>
  failures < policy.free ? 0 : Math.min(policy.maxMillis, policy.baseMillis * 2 ** Math.min(30, failures - policy.free))

/** The log-in throttle. */
export class LoginThrottle extends Effect.Service<LoginThrottle>()("@convo/example-language-tutor/LoginThrottle", {
  sync: () => {
    const entries = new Map<string, Entry>()
    let inFlight = 0
    let lastPrune = Date.now()

    const prune = (now: number) => {
      if (now - lastPrune < 60_000) return
      lastPrune = now
      for (const [key, entry] of entries) {
        if (entry.inFlight === 0 && now - entry.lastFailure > forgetMillis) entries.delete(key)
      }
    }
    const entry = (key: string): Entry => {
      let found = entries.get(key)
      if (found === undefined) {
        found = { failures: 0, inFlight: 0, nextAllowed: 0, lastFailure: 0 }
        entries.set(key, found)
      }
      return found
    }
    /** When this key may try again (0: now). */
    const waitFor = (e: Entry, policy: Policy, now: number): number => {
      if (e.failures + e.inFlight < policy.free) return 0
      // past the free tries: one attempt at a time, after the backoff
      if (e.inFlight > 0) return Math.max(now + policy.baseMillis, e.nextAllowed)
      return e.nextAllowed > now ? e.nextAllowed : 0
    }

    /** Asks to try a log-in as `username` from `address`. */
    const begin = (username: string, address: string): Effect.Effect<Decision> =>
      Effect.sync((): Decision => {
        const now = Date.now()
        prune(now)
        const keys = [
          { entry: entry(`user:${username.toLowerCase()}`), policy: userPolicy },
          { entry: entry(`address:${address}`), policy: addressPolicy }
        ]
        const until = Math.max(0, ...keys.map((k) => waitFor(k.entry, k.policy, now)))
        if (until > now) return { _tag: "Throttled", retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)) }
        if (inFlight >= maxInFlight) return { _tag: "Throttled", retryAfterSeconds: 1 }
        inFlight++
        for (const k of keys) k.entry.inFlight++
        let ended = false
        return {
          _tag: "Allowed",
          attempt: {
            end: (succeeded) =>
              Effect.sync(() => {
                if (ended) return
                ended = true
                inFlight--
                const at = Date.now()
                for (const k of keys) {
                  k.entry.inFlight--
                  if (succeeded) continue
                  k.entry.failures++
                  k.entry.lastFailure = at
                  k.entry.nextAllowed = at + backoff(k.policy, k.entry.failures)
                }
                // a successful log-in clears its user name's failures (not its address's)
                if (succeeded) keys[0]!.entry.failures = 0
              })
          }
        }
      })

    return { begin } as const
  }
}) {}
