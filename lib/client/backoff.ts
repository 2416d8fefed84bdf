/** How reconnection waits between attempts: exponential backoff with full jitter. */
export interface BackoffOptions {
  /** The ceiling of the first wait, in ms (default 500). */
  initialDelay?: number
  /** No wait is longer than this, in ms (default 10000). */
  maxDelay?: number
  /** Each attempt multiplies the ceiling by this (default 2). */
  factor?: number
}

/** The waits reconnection uses where the options say nothing. */
export const BACKOFF_DEFAULTS: Readonly<Required<BackoffOptions>> = { initialDelay: 500, maxDelay: 10_000, factor: 2 }

/**
 * The wait before reconnection attempt `attempt` (1-based), in ms: a uniformly random value in
 * [0, min(maxDelay, initialDelay × factor^(attempt−1))) — "full jitter", so clients cut off together
 * do not come back together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelay ?? BACKOFF_DEFAULTS.initialDelay
  const max = options.maxDelay ?? BACKOFF_DEFAULTS.maxDelay
  const factor = options.factor ?? BACKOFF_DEFAULTS.factor
  const ceiling = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt - 1)))
  return Math.floor(random() * ceiling)
}
