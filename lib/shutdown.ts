import type { Logger } from 'pino'
import { CLOSE } from './errors'

/** What the shutdown helpers need of an app. */
export interface Closable {
  readonly log: Logger
  close(options?: { code?: number; reason?: string; jitterMs?: number }): Promise<void>
}

/** Options of `installShutdown()`. */
export interface ShutdownOptions {
  /** Signals that start the drain (default SIGTERM and SIGINT). A second one exits at once with 1. */
  signals?: readonly NodeJS.Signals[]
  /** Close code sent to clients (default 1012, service restart: reconnect, elsewhere if you can). */
  code?: number
  /** Window over which the clients are closed, each at a random moment in it, so they do not all come back at once (default 5000 ms). */
  jitterMs?: number
  /** Exit the process when the drain is done: 0 when it went well, 1 when it failed (default true). */
  exit?: boolean
  /** Exit with 1 anyway this long after the signal, in ms (default 25000: under Kubernetes' 30 s grace period). */
  hardTimeout?: number
}

/**
 * Drains the app on SIGTERM (and SIGINT): no new connections, readiness 503, every request already
 * received answered, then every client closed with 1012 at a jittered moment, then `process.exit(0)`.
 * Returns a function that removes the signal handlers.
 *
 * @example
 * const app = talk()
 * await app.listen(Number(process.env.PORT))
 * installShutdown(app, { jitterMs: 5000 })
 */
export function installShutdown(app: Closable, options: ShutdownOptions = {}): () => void {
  const { signals = ['SIGTERM', 'SIGINT'], code = CLOSE.SERVICE_RESTART, jitterMs = 5000, exit = true, hardTimeout = 25_000 } = options
  if (!Array.isArray(signals) || signals.length === 0) throw new TypeError('installShutdown(): signals must be a non-empty list')
  if (!Number.isInteger(code) || code < 1000 || code > 4999) throw new TypeError('installShutdown(): code must be a WebSocket close code')
  if (!(jitterMs >= 0) || !(hardTimeout > 0)) throw new TypeError('installShutdown(): jitterMs must be ≥ 0 and hardTimeout > 0')
  let started = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (started) {
      app.log.warn({ signal }, 'second signal while draining: exiting now')
      if (exit) process.exit(1)
      return
    }
    started = true
    app.log.info({ signal, jitterMs }, 'draining: refusing new connections, finishing requests, closing clients with %d', code)
    drainAndExit(app, { code, jitterMs, hardTimeout, exit }, (failed) => (failed ? 1 : 0))
  }
  for (const signal of signals) process.on(signal, onSignal)
  return () => {
    for (const signal of signals) process.off(signal, onSignal)
  }
}

/** Options of `installProcessHandlers()`. */
export interface ProcessHandlerOptions {
  /**
   * An exception nothing caught: `drain` (default) logs it at fatal, drains the app with 1012 and exits 1,
   * since the process may be in a state no one planned for; `log` logs it and keeps serving.
   */
  uncaughtException?: 'drain' | 'log'
  /** A rejected promise nothing handled: `log` (default) logs it and keeps serving; `drain` as above. */
  unhandledRejection?: 'drain' | 'log'
  /** Window of the jittered closes when draining after a fault (default 1000 ms). */
  jitterMs?: number
  /** Exit with 1 this long after the fault even if the drain has not finished, in ms (default 25000). */
  hardTimeout?: number
}

/**
 * Process-level safety net: logs uncaught exceptions and unhandled rejections through the app's
 * logger instead of letting Node print and die, keeps serving where that is safe (a stray rejection)
 * and drains cleanly where it is not (an uncaught exception). Talk itself never lets a handler,
 * middleware, listener, socket or adapter error reach here; this is for the app's own timers and
 * callbacks. Returns a function that removes the handlers.
 *
 * @example installProcessHandlers(app)
 */
export function installProcessHandlers(app: Closable, options: ProcessHandlerOptions = {}): () => void {
  const { uncaughtException = 'drain', unhandledRejection = 'log', jitterMs = 1000, hardTimeout = 25_000 } = options
  for (const [name, value] of [['uncaughtException', uncaughtException], ['unhandledRejection', unhandledRejection]] as const) {
    if (value !== 'drain' && value !== 'log') throw new TypeError(`installProcessHandlers(): ${name} must be 'drain' or 'log'`)
  }
  if (!(jitterMs >= 0) || !(hardTimeout > 0)) throw new TypeError('installProcessHandlers(): jitterMs must be ≥ 0 and hardTimeout > 0')
  let draining = false
  const drain = (): void => {
    if (draining) return
    draining = true
    drainAndExit(app, { code: CLOSE.SERVICE_RESTART, jitterMs, hardTimeout, exit: true }, () => 1)
  }
  const onException = (err: Error): void => {
    app.log.fatal({ err }, 'uncaught exception')
    if (uncaughtException === 'drain') drain()
  }
  const onRejection = (reason: unknown): void => {
    app.log.error({ err: reason }, 'unhandled promise rejection')
    if (unhandledRejection === 'drain') drain()
  }
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  return () => {
    process.off('uncaughtException', onException)
    process.off('unhandledRejection', onRejection)
  }
}

/** How a drain goes: the close code and jitter for the clients, and how the process ends. */
interface Drain {
  code: number
  jitterMs: number
  /** Exit with 1 this long after the drain began, finished or not, in ms. */
  hardTimeout: number
  /** Exit the process at all (`installShutdown({ exit: false })` only logs). */
  exit: boolean
}

/** Closes the app, then exits with `exitCode(failed)`; past the hard timeout it exits with 1 whatever the close is doing. */
function drainAndExit(app: Closable, drain: Drain, exitCode: (failed: boolean) => number): void {
  const hard = setTimeout(() => {
    app.log.error({ hardTimeout: drain.hardTimeout }, 'drain did not finish in time')
    if (drain.exit) process.exit(1)
  }, drain.hardTimeout)
  hard.unref()
  void app.close({ code: drain.code, reason: 'service restart', jitterMs: drain.jitterMs }).then(
    () => {
      app.log.info('drained')
      return false
    },
    (err: unknown) => {
      app.log.error({ err }, 'drain failed')
      return true
    },
  ).then((failed) => {
    clearTimeout(hard)
    if (drain.exit) process.exit(exitCode(failed))
  })
}
