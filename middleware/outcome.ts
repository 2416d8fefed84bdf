import type { Context } from '../lib/context'

// Errors a middleware answered with `ctx.fail()` instead of throwing (a timeout, a rate-limit close):
// the chain then resolves, so `logger()` reads the outcome here. Only failing contexts get an entry.
const failures = new WeakMap<object, unknown>()

/** Answers a request with an error now (see `ctx.fail`) and records it for `logger()`; false if it was already answered. */
export function failWith(ctx: Context, err: unknown): boolean {
  if (!ctx.fail(err)) return false
  failures.set(ctx, err)
  return true
}

/** The error a middleware answered `ctx` with through `failWith`, if any. */
export function failureOf(ctx: Context): unknown {
  return failures.get(ctx)
}
