/**
 * A promise-based sleep that ends early, with an abort error, when the signal aborts. Used by the
 * LangChain models in this repo, whose methods are promises, not effects.
 *
 * @internal
 */
export const sleep = (millis: number, signal?: AbortSignal): Promise<void> => {
  if (signal?.aborted) return Promise.reject(abortError(signal))
  if (millis <= 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(abortError(signal))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort)
      resolve()
    }, millis)
    signal?.addEventListener("abort", onAbort, { once: true })
  })
}

/** @internal */
export const abortError = (signal: AbortSignal | undefined): Error => {
  const reason: unknown = signal?.reason
  if (reason instanceof Error) return reason
  const error = new Error("Aborted")
  error.name = "AbortError"
  return error
}
