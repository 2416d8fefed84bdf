import type { Level, Logger } from 'pino'
import type { HandshakeMiddleware, TalkApp } from '../lib/app'
import type { Context } from '../lib/context'
import { codeOf, httpStatus } from '../lib/errors'
import { userKey } from '../lib/user-key'

/** Options of `logger()`. */
export interface LoggerOptions {
  /** Where lines go (default: the app's logger, `talk({ logger })`). */
  logger?: Logger
  /** Level of a successful request's line (default `info`); errors log at `warn` (4xx codes) or `error` (5xx). */
  level?: Extract<Level, 'trace' | 'debug' | 'info'>
  /** Add the request body, secrets redacted (default false). */
  body?: boolean
  /** Log `connection open` / `connection closed` lines (default true). */
  connections?: boolean
  /** More key names (case-insensitive, whole name) whose values are redacted, besides tokens, secrets, passwords, cookies… */
  redact?: readonly string[]
}

/** The middleware `logger()` returns; `app.use()` attaches it for the connection lines. */
export interface RequestLogger extends HandshakeMiddleware {
  attach: (app: TalkApp) => void
}

/** What replaces a secret in a log line. */
export const REDACTED = '[redacted]'

// Key names whose values never reach a log: credentials and anything that looks like one.
const SECRET = /token|secret|passw|authorization|cookie|api[-_]?key|session|credential|jwt|signature|^sid$|^auth$/i
const MAX_DEPTH = 4
const MAX_KEYS = 50
const MAX_STRING = 500

/** Whether a key name holds a secret (`token`, `access_token`, `password`, `authorization`, `cookie`, `apiKey`…). */
export function isSecretKey(key: string, extra?: ReadonlySet<string>): boolean {
  return SECRET.test(key) || (extra !== undefined && extra.has(key.toLowerCase()))
}

/**
 * A copy of a value safe to log: secret-named fields replaced by `[redacted]`, and bounded (depth 4,
 * 50 keys or items per level, strings cut at 500 characters) so a hostile payload cannot blow up a log line.
 */
export function redact(value: unknown, extra?: ReadonlySet<string>, depth = 0): unknown {
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value
  if (value === null || typeof value !== 'object') return value
  if (depth >= MAX_DEPTH) return '[…]'
  if (Array.isArray(value)) {
    const out = value.slice(0, MAX_KEYS).map((item) => redact(item, extra, depth + 1))
    if (value.length > MAX_KEYS) out.push(`[… ${value.length - MAX_KEYS} more]`)
    return out
  }
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  let n = 0
  for (const key of Object.keys(value)) {
    if (n++ === MAX_KEYS) {
      out['…'] = 'more keys'
      break
    }
    out[key] = isSecretKey(key, extra) ? REDACTED : redact((value as Record<string, unknown>)[key], extra, depth + 1)
  }
  return out
}

/** A URL path with its query string's secret values redacted: `/ws?token=abc&room=1` → `/ws?token=[redacted]&room=1`. */
export function redactUrl(url: string, extra?: ReadonlySet<string>): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const parts = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    if (eq === -1) return pair
    let key = pair.slice(0, eq)
    try {
      key = decodeURIComponent(key.replace(/\+/g, ' '))
    } catch {
      // A malformed escape: judge the raw key.
    }
    return isSecretKey(key, extra) ? `${pair.slice(0, eq)}=${REDACTED}` : pair
  })
  return `${url.slice(0, q)}?${parts.join('&')}`
}

/**
 * One pino line per request (`request`, with route, ref, client id, user, status, error code and
 * duration in ms), at `info` for a success (or `level`), `warn` for a client error (4xx codes such as
 * NOT_FOUND, VALIDATION_FAILED, RATE_LIMITED) and `error` for a server error (INTERNAL, UNAVAILABLE,
 * TIMEOUT). With `app.use()` it also logs `connection open` (ip, path, query with secrets redacted)
 * and `connection closed` (code, reason, duration). Tokens, cookies and authorization headers never
 * appear: query strings and bodies are redacted.
 *
 * @example app.use(logger())
 */
export function logger(options: LoggerOptions = {}): RequestLogger {
  if (options === null || typeof options !== 'object') throw new TypeError('logger() takes an options object')
  const { level = 'info', body = false, connections = true } = options
  if (level !== 'trace' && level !== 'debug' && level !== 'info') throw new TypeError('logger(): "level" must be trace, debug or info')
  if (options.logger !== undefined && (options.logger === null || typeof options.logger.info !== 'function')) {
    throw new TypeError('logger(): "logger" must be a pino logger')
  }
  if (options.redact !== undefined && !Array.isArray(options.redact)) throw new TypeError('logger(): "redact" must be an array of key names')
  const extra = options.redact === undefined ? undefined : new Set(options.redact.map((k) => String(k).toLowerCase()))
  let base = options.logger

  const write = (ctx: Context, err: unknown): void => {
    const log = base ?? ctx.log
    const failed = err !== undefined
    const code = failed ? codeOf(err) : undefined
    const lineLevel = code === undefined ? level : httpStatus(code) < 500 ? 'warn' : 'error'
    if (!log.isLevelEnabled(lineLevel)) return
    const line: Record<string, unknown> = {
      route: ctx.route.length > 200 ? `${ctx.route.slice(0, 200)}…` : ctx.route,
      ref: ctx.ref,
      client: ctx.client.id,
      user: userKey(ctx.client.user),
      status: failed ? 'error' : 'success',
      code,
      ms: Math.round((performance.now() - ctx.startedAt) * 1000) / 1000,
    }
    if (body) line.body = redact(ctx.body, extra)
    log[lineLevel](line, 'request')
  }

  const middleware = async function logger(ctx: Context, next: () => Promise<void>): Promise<void> {
    try {
      await next()
    } catch (err) {
      write(ctx, err)
      throw err
    }
    write(ctx, ctx.failure)
  } as RequestLogger

  middleware.attach = function attachLogger(app: TalkApp): void {
    base ??= app.log
    if (!connections) return
    const log = base
    const opened = new WeakMap<object, number>()
    app.on('connection', (client) => {
      opened.set(client, performance.now())
      const { ip, path, query } = client.handshake
      log.info({ client: client.id, user: userKey(client.user), ip, path, query: redact(query, extra) }, 'connection open')
    })
    app.on('disconnect', (client, code, reason) => {
      const since = opened.get(client)
      const ms = since === undefined ? undefined : Math.round(performance.now() - since)
      log.info({ client: client.id, user: userKey(client.user), code, reason, ms }, 'connection closed')
    })
  }
  return middleware
}
