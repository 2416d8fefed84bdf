/** What a middleware calls to run the rest of the chain. Call it at most once and await it. */
export type Next = () => Promise<void>

/** A step of the chain: `(ctx, next) => Promise<void> | void`, Koa-style. */
export type Step<C> = (ctx: C, next: Next) => unknown

/** A composed chain: runs every step in order for one context. */
export type Chain<C> = (ctx: C) => Promise<void>

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
 * Composes steps into one onion, once: code after `await next()` runs after the steps below it.
 * Calling `next()` twice from one step rejects with an Error; errors propagate to the caller.
 *
 * @example
 * const run = compose([logger, auth, handler])
 * await run(ctx)
 */
export function compose<C>(steps: readonly Step<C>[]): Chain<C> {
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
      const step = chain[i] as Step<C>
      try {
        const result = step(ctx, () => dispatch(i + 1))
        return result instanceof Promise ? (result as Promise<void>) : SETTLED
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return dispatch(0)
  }
}
