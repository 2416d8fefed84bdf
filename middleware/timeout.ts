import type { Context } from '../lib/context'
import { TalkError } from '../lib/errors'
import type { Middleware } from '../lib/types'

/** Options of `timeout()`. */
export interface TimeoutOptions {
  /** Deadline for the rest of the chain, in ms from when this middleware runs. */
  ms: number
  /** Message of the TIMEOUT error (default `No reply within <ms> ms`). */
  message?: string
}

/** Whether `ctx` was answered TIMEOUT: a slow handler can check it and stop working. */
export function timedOut(ctx: Context): boolean {
  return ctx.failure instanceof TalkError && ctx.failure.code === 'TIMEOUT'
}

/**
 * A deadline for the rest of the chain. Past it the client gets `TIMEOUT` (504), exactly once, and
 * the connection moves on to its next request; whatever the handler does later (a reply, a returned
 * value, a throw) is dropped and logged, never sent. Use it app-wide (`app.use(timeout({ ms: 5000 }))`)
 * or per route; the first deadline to pass answers.
 *
 * @example app.route('report/build', timeout({ ms: 2000 }), buildReport)
 */
export function timeout(options: TimeoutOptions): Middleware {
  if (options === null || typeof options !== 'object') throw new TypeError('timeout() takes { ms }')
  const { ms } = options
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0 || ms > 2 ** 31 - 1) {
    throw new TypeError('timeout(): "ms" must be a positive number of milliseconds (at most 2^31 - 1)')
  }
  const message = options.message ?? `No reply within ${ms} ms`
  if (typeof message !== 'string') throw new TypeError('timeout(): "message" must be a string')

  return function timeout(ctx, next) {
    return new Promise<void>((resolve, reject) => {
      let late = false
      let answered = false
      const timer = setTimeout(() => {
        late = true
        answered = ctx.fail(new TalkError('TIMEOUT', message))
        // Released either way: the connection's queue moves on while the handler, if it still runs, finishes alone.
        resolve()
      }, ms)
      next().then(
        () => {
          clearTimeout(timer)
          if (answered) ctx.log.warn({ ms: performance.now() - ctx.startedAt }, 'handler finished after its timeout; its result was dropped')
          resolve()
        },
        (err: unknown) => {
          clearTimeout(timer)
          if (!late) return reject(err)
          ctx.log.warn({ err }, 'handler failed after its timeout; the error was dropped')
        },
      )
    })
  }
}
