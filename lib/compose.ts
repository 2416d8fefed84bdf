import type { Context } from './context'
import type { Middleware } from './types'

/** A composed chain: runs every middleware in order for one context. */
export type Chain<C = Context> = (ctx: C) => Promise<void>

/**
 * What a chain (and `next()`) returns when every step ran to its end synchronously: the caller may
 * carry on at once instead of waiting for a microtask. Any other promise is settled later.
 */
export const SETTLED: Promise<void> = Promise.resolve()

/** Whether a hook or handler returned something to wait for (a promise, or any thenable). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

/**
 * What a middleware's return value means to the chain: a promise as it is; any other thenable adopted
 * by a promise, as `await` and `Promise.resolve` adopt one; anything else ran to its end (`SETTLED`).
 */
function settledBy(result: unknown): Promise<void> {
  if (result instanceof Promise) return result as Promise<void>
  if (isThenable(result)) return Promise.resolve(result) as Promise<void>
  return SETTLED
}

/**
 * Composes middleware into one onion, once: code after `await next()` runs after the middleware below it.
 * A middleware may return a promise or any thenable; the chain waits for it as `await` would.
 * Calling `next()` twice from one middleware rejects with an Error; errors propagate to the caller.
 *
 * @example
 * const run = compose([logger, auth, handler])
 * await run(ctx)
 */
export function compose<C = Context>(steps: readonly Middleware<C>[]): Chain<C> {
  for (const step of steps) {
    if (typeof step !== 'function') throw new TypeError('Middleware must be a function')
  }
  const chain = steps.slice()
  const length = chain.length
  return function run(ctx: C): Promise<void> {
    // `dispatch` is made once per run; each step gets a `next` of its own, and `index` (the last step
    // dispatched) tells a second call of one apart.
    let index = -1
    function dispatch(i: number): Promise<void> {
      if (i <= index) return Promise.reject(new Error('next() called more than once'))
      index = i
      if (i === length) return SETTLED
      const step = chain[i] as Middleware<C>
      try {
        return settledBy(step(ctx, () => dispatch(i + 1)))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return dispatch(0)
  }
}
