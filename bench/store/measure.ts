/**
 * Sampling: the store's operation and the floor's, alternated sample by sample (store first on even
 * samples, floor first on odd ones) after a warm-up, timed with `performance.now()` around the
 * operation alone. Percentiles are interpolated between the two nearest ranks.
 *
 * No garbage collection is forced between samples: each side pays for the collections its
 * allocation triggers, as in a running server. (Forcing a full GC before each sample was tried: it
 * made both sides slower, the store's 1,000-turn load by half, and measured nothing real.)
 */
import * as Effect from "effect/Effect"
import { performance } from "node:perf_hooks"

/** p in [0, 1] of sorted samples, linear between ranks. */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return NaN
  const at = (sorted.length - 1) * p
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo)
}

/** The median of unsorted numbers (the mean of the middle two for an even count). */
export const median = (xs: ReadonlyArray<number>): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    0.5
  )

export interface Summary {
  readonly p50: number
  readonly p95: number
  readonly samples: number
}

export const summarize = (samples: ReadonlyArray<number>): Summary => {
  const sorted = [...samples].sort((a, b) => a - b)
  return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), samples: sorted.length }
}

export interface Plan {
  readonly warmup: number
  readonly samples: number
}

const isPromise = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

/** Times a floor operation: synchronous ones (better-sqlite3) without any await in the timed span. */
export const timeFloor = (op: () => unknown): Effect.Effect<number> =>
  Effect.promise(async () => {
    const start = performance.now()
    const result = op()
    if (isPromise(result)) await result
    return performance.now() - start
  })

/** Times an Effect from inside the running fiber (how a caller inside Effect uses the store). */
export const timeEffect = <A, E, R>(op: Effect.Effect<A, E, R>): Effect.Effect<number, E, R> =>
  Effect.suspend(() => {
    const start = performance.now()
    return Effect.map(op, () => performance.now() - start)
  })

/** Time of a plain synchronous function. */
export const timeSync = (op: () => unknown): Effect.Effect<number> =>
  Effect.sync(() => {
    const start = performance.now()
    op()
    return performance.now() - start
  })

/** One operation: the store's and the floor's; `i` counts the calls, warm-up included. */
export interface Pair<E, R> {
  readonly store: (i: number) => Effect.Effect<unknown, E, R>
  readonly floor: (i: number) => unknown
}

/**
 * Runs the plan over several pairs at once, round-robin (the pair that goes first rotates, and store
 * and floor swap order every round), so that load from elsewhere on the machine falls on all of them
 * alike. Returns one store and one floor summary per pair.
 */
export const compareMany = <E, R>(
  plan: Plan,
  pairs: ReadonlyArray<Pair<E, R>>
): Effect.Effect<Array<{ readonly store: Summary; readonly floor: Summary }>, E, R> =>
  Effect.gen(function* () {
    const times = pairs.map(() => ({ store: [] as Array<number>, floor: [] as Array<number> }))
    for (let i = 0; i < plan.warmup + plan.samples; i++) {
      const keep = i >= plan.warmup
      for (let k = 0; k < pairs.length; k++) {
        const at = (i + k) % pairs.length
        const pair = pairs[at]!
        const runStore = Effect.map(timeEffect(pair.store(i)), (t) => keep && times[at]!.store.push(t))
        const runFloor = Effect.map(
          timeFloor(() => pair.floor(i)),
          (t) => keep && times[at]!.floor.push(t)
        )
        yield* i % 2 === 0 ? Effect.zipRight(runStore, runFloor) : Effect.zipRight(runFloor, runStore)
      }
    }
    return times.map((t) => ({ store: summarize(t.store), floor: summarize(t.floor) }))
  })

/** `compareMany` with one pair. */
export const compare = <E, R>(
  plan: Plan,
  store: (i: number) => Effect.Effect<unknown, E, R>,
  floor: (i: number) => unknown
): Effect.Effect<{ readonly store: Summary; readonly floor: Summary }, E, R> =>
  Effect.map(compareMany(plan, [{ store, floor }]), (results) => results[0]!)

/** Times one effect alone, with the same plan. */
export const sample = <E, R>(
  plan: Plan,
  op: (i: number) => Effect.Effect<unknown, E, R>
): Effect.Effect<Summary, E, R> =>
  Effect.gen(function* () {
    const times: Array<number> = []
    for (let i = 0; i < plan.warmup + plan.samples; i++) {
      const t = yield* timeEffect(op(i))
      if (i >= plan.warmup) times.push(t)
    }
    return summarize(times)
  })
