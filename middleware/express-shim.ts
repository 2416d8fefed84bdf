import { EventEmitter } from 'node:events'
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Context } from '../lib/context'
import { STATUS, TalkError, type ErrorCode } from '../lib/errors'
import type { HandshakeInfo, User } from '../lib/types'

// Express's req and res as far as Talk needs them, and how one Express middleware (or router) runs
// on them: shared by fromExpress() (middleware on the handshake or per message) and mountExpress()
// (an Express router's routes answering Talk requests).

/** A Connect/Express middleware `(req, res, next)`; declared bivariantly so Express's own types fit. */
export type ExpressMiddleware = {
  bivarianceHack(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): unknown
}['bivarianceHack']

// A status code's Talk error code: the first code of the table with that status.
const CODE_BY_STATUS = new Map<number, ErrorCode>()
for (const [code, status] of Object.entries(STATUS) as [ErrorCode, number][]) if (!CODE_BY_STATUS.has(status)) CODE_BY_STATUS.set(status, code)

/** The error code for an HTTP status an Express middleware answered with (unknown 4xx → BAD_REQUEST, 5xx → INTERNAL). */
export function codeForStatus(status: number): ErrorCode {
  return CODE_BY_STATUS.get(status) ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST')
}

/** Settings Express middleware read from `req.app` (express-rate-limit reads `trust proxy`): none are set. */
export const APP_STUB = Object.freeze({ get: (_setting: string): undefined => undefined })

/**
 * Enough of Express's `res` for middleware and route handlers that set headers or answer
 * (`res.status(429).send(…)`, `res.json(…)`, `res.end()`): the answer is caught, for the caller to
 * turn into a Talk reply or error. The body is kept up to `bodyLimit` characters.
 */
export class ResponseStub extends EventEmitter {
  statusCode = 200
  statusMessage = ''
  headersSent = false
  writableEnded = false
  finished = false
  readonly locals: Record<string, unknown> = {}
  /** Set once headers are "written"; express-session looks for it. */
  _header: string | null = null
  body = ''
  onEnd: (() => void) | undefined
  /** The request being answered, as Express's `res.req`. */
  req: unknown
  private readonly headers = new Map<string, string | number | readonly string[]>()

  constructor(private readonly bodyLimit = 4096) {
    super()
  }

  setHeader(name: string, value: string | number | readonly string[]): this {
    this.headers.set(name.toLowerCase(), value)
    return this
  }
  getHeader(name: string): string | number | readonly string[] | undefined {
    return this.headers.get(name.toLowerCase())
  }
  getHeaders(): Record<string, string | number | readonly string[]> {
    return Object.fromEntries(this.headers)
  }
  getHeaderNames(): string[] {
    return [...this.headers.keys()]
  }
  hasHeader(name: string): boolean {
    return this.headers.has(name.toLowerCase())
  }
  removeHeader(name: string): void {
    this.headers.delete(name.toLowerCase())
  }
  appendHeader(name: string, value: string | readonly string[]): this {
    const previous = this.headers.get(name.toLowerCase())
    const list = previous === undefined ? [] : Array.isArray(previous) ? [...(previous as string[])] : [String(previous)]
    return this.setHeader(name, list.concat(value))
  }
  writeHead(status: number, reason?: string | Record<string, string>, headers?: Record<string, string>): this {
    this.statusCode = status
    const fields = typeof reason === 'object' ? reason : headers
    if (typeof reason === 'string') this.statusMessage = reason
    if (fields !== undefined) for (const [k, v] of Object.entries(fields)) this.setHeader(k, v)
    this.headersSent = true
    this._header = `HTTP/1.1 ${status}`
    return this
  }
  _implicitHeader(): void {
    this.writeHead(this.statusCode)
  }
  write(chunk: unknown): boolean {
    if (!this.headersSent) this._implicitHeader()
    if (this.body.length < this.bodyLimit) this.body += typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString() : ''
    return true
  }
  end(chunk?: unknown): this {
    if (this.writableEnded) return this
    if (chunk !== undefined && typeof chunk !== 'function') this.write(chunk)
    else if (!this.headersSent) this._implicitHeader()
    this.writableEnded = true
    this.finished = true
    this.emit('finish')
    this.emit('close')
    this.onEnd?.()
    return this
  }
  // Express's additions.
  status(code: number): this {
    this.statusCode = code
    return this
  }
  set(field: string | Record<string, string>, value?: string): this {
    if (typeof field === 'object') for (const [k, v] of Object.entries(field)) this.setHeader(k, v)
    else if (value !== undefined) this.setHeader(field, value)
    return this
  }
  header(field: string, value: string): this {
    return this.set(field, value)
  }
  get(field: string): string | number | readonly string[] | undefined {
    return this.getHeader(field)
  }
  append(field: string, value: string | readonly string[]): this {
    return this.appendHeader(field, value)
  }
  type(value: string): this {
    return this.setHeader('content-type', value)
  }
  send(body?: unknown): this {
    if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body)) return this.json(body)
    return this.end(body === undefined || body === null ? undefined : Buffer.isBuffer(body) ? body : String(body))
  }
  json(body: unknown): this {
    this.setHeader('content-type', 'application/json')
    return this.end(JSON.stringify(body))
  }
  sendStatus(code: number): this {
    this.statusCode = code
    return this.end(STATUS_CODES[code] ?? String(code))
  }
  redirect(url: string | number, maybeUrl?: string): this {
    this.statusCode = typeof url === 'number' ? url : 302
    this.setHeader('location', String(typeof url === 'number' ? maybeUrl : url))
    return this.end()
  }
}

/** A middleware called `next()`. */
export const NEXT = 0
/** A middleware answered (ended the response). */
export const ENDED = 1
/** How one middleware finished: NEXT or ENDED. */
export type Outcome = typeof NEXT | typeof ENDED
type Settled = { outcome: Outcome } | { err: unknown }

/**
 * Runs one middleware to its end: `next()` → NEXT, an answer → ENDED, `next(err)` or a throw → that
 * error thrown. Most middleware finish before they return, and are answered at once with no promise
 * or timer; for one that does not, a promise, rejected with TIMEOUT after `timeoutMs`.
 */
export function run(mw: ExpressMiddleware, req: IncomingMessage, res: ResponseStub, timeoutMs: number): Outcome | Promise<Outcome> {
  let settled: Settled | undefined
  let wake: (() => void) | undefined
  const settle = (result: Settled): void => {
    if (settled !== undefined) return
    settled = result
    res.onEnd = undefined
    wake?.()
  }
  res.onEnd = () => settle({ outcome: ENDED })
  const next = (err?: unknown): void => {
    // `next('route')` / `next('router')` skip within an Express router; here they just go on.
    settle(err === undefined || err === null || err === 'route' || err === 'router' ? { outcome: NEXT } : { err })
  }
  try {
    const result = mw(req, res as unknown as ServerResponse, next)
    if (result instanceof Promise) result.catch((err: unknown) => settle({ err }))
  } catch (err) {
    settle({ err })
  }
  if (settled !== undefined) return outcomeOf(settled)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => settle({ err: new TalkError('TIMEOUT', 'Express middleware did not finish') }), timeoutMs)
    timer.unref()
    wake = () => {
      clearTimeout(timer)
      try {
        resolve(outcomeOf(settled as Settled))
      } catch (err) {
        reject(err)
      }
    }
  })
}

function outcomeOf(settled: Settled): Outcome {
  if ('err' in settled) throw settled.err
  return settled.outcome
}

/**
 * Runs the middleware in order from `from`, at once for as long as each finishes at once, and after
 * the first that waits; returns that promise, if any. Throws (or rejects with) the Talk error for an
 * answer written instead of `next()`, or what a middleware passed to `next(err)` or threw.
 */
export function runChain(list: readonly ExpressMiddleware[], req: IncomingMessage, res: ResponseStub, timeoutMs: number, from = 0): Promise<void> | undefined {
  for (let i = from; i < list.length; i++) {
    let outcome: Outcome | Promise<Outcome>
    try {
      outcome = run(list[i] as ExpressMiddleware, req, res, timeoutMs)
    } catch (err) {
      throw passedOn(err)
    }
    if (outcome instanceof Promise) {
      return outcome.then(
        (later) => {
          if (later === ENDED) throw refusal(res)
          return runChain(list, req, res, timeoutMs, i + 1)
        },
        (err: unknown) => {
          throw passedOn(err)
        },
      )
    }
    if (outcome === ENDED) throw refusal(res)
  }
  return undefined
}

/**
 * The Talk error for an error answer Express code wrote (`res.status(401).json(…)`): the code from
 * the status (a non-error status counts as BAD_REQUEST); the message from the body's `error` (a
 * string, or an object's `message`), its `message`, a short text body, or the status text; the
 * details from an `error` object's `details`, or `{ retryAfterMs }` from a Retry-After header.
 */
export function refusal(res: ResponseStub): TalkError {
  const status = res.statusCode
  const code = status >= 400 ? codeForStatus(status) : 'BAD_REQUEST'
  let message = res.statusMessage !== '' ? res.statusMessage : STATUS_CODES[status] ?? 'Refused'
  let details: unknown
  const text = res.body.trim()
  if (text.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(text)
      const fields = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {}
      const error = fields.error !== null && typeof fields.error === 'object' ? (fields.error as Record<string, unknown>) : undefined
      const m = typeof fields.error === 'string' ? fields.error : typeof error?.message === 'string' ? error.message : fields.message
      if (typeof m === 'string' && m.length > 0) message = m.slice(0, 200)
      details = error?.details
    } catch {
      // Not JSON after all: keep the status text.
    }
  } else if (text.length > 0 && text.length <= 200 && !text.startsWith('<')) {
    message = text
  }
  const retryAfter = Number(res.getHeader('retry-after'))
  if (details === undefined && res.hasHeader('retry-after') && Number.isFinite(retryAfter) && retryAfter >= 0) details = { retryAfterMs: retryAfter * 1000 }
  return details === undefined ? new TalkError(code, message) : new TalkError(code, message, details)
}

/** The Talk error for `next(err)`: a TalkError as is, an http-errors style client error by its status; anything else stays a fault. */
export function passedOn(err: unknown): unknown {
  if (err instanceof TalkError || err === null || typeof err !== 'object') return err
  const fields = err as { status?: unknown; statusCode?: unknown; message?: unknown; expose?: unknown }
  const status = typeof fields.status === 'number' ? fields.status : fields.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500 && fields.expose !== false) {
    return new TalkError(codeForStatus(status), typeof fields.message === 'string' ? fields.message : STATUS_CODES[status] ?? 'Refused')
  }
  return err
}

/** What an Express request built for a Talk message carries besides the handshake's headers, cookies and ip. */
export interface ExpressRequestInit {
  method: string
  /** Path and query string, e.g. `/api/user/tobi/repos?page=2`. */
  url: string
  query: Record<string, unknown>
  body: unknown
  params: Record<string, string>
}

/**
 * A request-like object for one Talk message: the handshake's headers, cookies and ip, the client's
 * user as `req.user`, the Talk context as `req.talk`, and the method, URL, query, params and body
 * given. An Express router rewrites `url`, `baseUrl` and `params` as it walks its layers.
 */
export class ExpressRequest extends EventEmitter {
  method: string
  url: string
  originalUrl: string
  baseUrl = ''
  readonly headers: HandshakeInfo['headers']
  readonly cookies: HandshakeInfo['cookies']
  readonly signedCookies: Record<string, string> = {}
  query: Record<string, unknown>
  params: Record<string, string>
  body: unknown
  readonly ip: string | undefined
  readonly ips: string[] = []
  readonly protocol = 'ws'
  readonly secure = false
  readonly socket: { remoteAddress: string | undefined; encrypted: boolean }
  readonly connection: { remoteAddress: string | undefined; encrypted: boolean }
  readonly app = APP_STUB
  /** Body parsers (`express.json()`) skip a request that is complete: the body is already here. */
  readonly complete = true
  readonly user: User | undefined
  /** The Talk context of the message. */
  readonly talk: Context
  /** The response being written, as Express's `req.res`. */
  res: unknown

  constructor(ctx: Context, init: ExpressRequestInit) {
    super()
    const hs = ctx.client.handshake
    this.method = init.method
    this.url = this.originalUrl = init.url
    this.headers = hs.headers
    this.cookies = hs.cookies
    this.query = init.query
    this.params = init.params
    this.body = init.body
    this.ip = hs.ip
    this.socket = this.connection = { remoteAddress: hs.ip, encrypted: false }
    this.user = ctx.client.user
    this.talk = ctx
  }

  /** The URL's path (relative to the router it is in), as Express's `req.path`. */
  get path(): string {
    const q = this.url.indexOf('?')
    return q === -1 ? this.url : this.url.slice(0, q)
  }

  get(name: string): string | string[] | undefined {
    return this.headers[name.toLowerCase()]
  }
  header(name: string): string | string[] | undefined {
    return this.get(name)
  }
}
