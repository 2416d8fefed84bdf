import { EventEmitter } from 'node:events'
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import type { HandshakeMiddleware } from '../lib/app'
import type { Context } from '../lib/context'
import { STATUS, TalkError, type ErrorCode } from '../lib/errors'
import type { Handshake } from '../lib/handshake'
import type { HandshakeInfo, Middleware, User } from '../lib/types'

/** A Connect/Express middleware `(req, res, next)`; declared bivariantly so Express's own types fit. */
export type ExpressMiddleware = {
  bivarianceHack(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): unknown
}['bivarianceHack']

/** The upgrade request after Express middleware ran on it: the fields they set (`cookies`, `session`…) are unknown until narrowed. */
export interface UpgradeRequest extends IncomingMessage {
  [field: string]: unknown
}

/** Options of `fromExpress()`. */
export interface FromExpressOptions<R extends IncomingMessage = UpgradeRequest> {
  /**
   * `handshake` (default): run once on the HTTP upgrade request. `message`: run on every message,
   * with a request built from the handshake's headers and cookies and the message as its body.
   */
  on?: 'handshake' | 'message'
  /** Handshake only: the user the request names once the middleware ran (e.g. `req.session.user`); sets `client.user` when defined. */
  user?: (req: R) => User | undefined
  /** Handshake only: fields to copy into the client's state (`ctx.state`), e.g. the session id. */
  state?: (req: R) => Record<string, unknown> | undefined
  /** How long the middleware may take before it counts as stuck (`TIMEOUT`), in ms (default 10000). */
  timeoutMs?: number
}

// A status code's Talk error code: the first code of the table with that status.
const CODE_BY_STATUS = new Map<number, ErrorCode>()
for (const [code, status] of Object.entries(STATUS) as [ErrorCode, number][]) if (!CODE_BY_STATUS.has(status)) CODE_BY_STATUS.set(status, code)

/** The error code for an HTTP status an Express middleware answered with (unknown 4xx → BAD_REQUEST, 5xx → INTERNAL). */
export function codeForStatus(status: number): ErrorCode {
  return CODE_BY_STATUS.get(status) ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST')
}

/** Settings Express middleware read from `req.app` (express-rate-limit reads `trust proxy`): none are set. */
const APP_STUB = Object.freeze({ get: (_setting: string): undefined => undefined })

/**
 * Enough of Express's `res` for middleware that set headers, or answer instead of calling `next()`
 * (`res.status(429).send(…)`, `res.end()`): the answer is caught and becomes the Talk error.
 */
class ResponseStub extends EventEmitter {
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
  private readonly headers = new Map<string, string | number | readonly string[]>()

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
    if (this.body.length < 4096) this.body += typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString() : ''
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

const NEXT = 0
const ENDED = 1
type Outcome = typeof NEXT | typeof ENDED
type Settled = { outcome: Outcome } | { err: unknown }

/**
 * Runs one middleware to its end: `next()` → NEXT, an answer → ENDED, `next(err)` or a throw → that
 * error thrown. Most middleware finish before they return, and are answered at once with no promise
 * or timer; for one that does not, a promise, rejected with TIMEOUT after `timeoutMs`.
 */
function run(mw: ExpressMiddleware, req: IncomingMessage, res: ResponseStub, timeoutMs: number): Outcome | Promise<Outcome> {
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
function runChain(list: readonly ExpressMiddleware[], req: IncomingMessage, res: ResponseStub, timeoutMs: number, from = 0): Promise<void> | undefined {
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
          if (later === ENDED) throw answered(res)
          return runChain(list, req, res, timeoutMs, i + 1)
        },
        (err: unknown) => {
          throw passedOn(err)
        },
      )
    }
    if (outcome === ENDED) throw answered(res)
  }
  return undefined
}

/** The Talk error for an answer an Express middleware wrote instead of calling `next()`. */
function answered(res: ResponseStub): TalkError {
  const status = res.statusCode
  const code = status >= 400 ? codeForStatus(status) : 'BAD_REQUEST'
  let message = res.statusMessage !== '' ? res.statusMessage : STATUS_CODES[status] ?? 'Refused'
  const text = res.body.trim()
  if (text.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(text)
      const m = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>).message : undefined
      if (typeof m === 'string' && m.length > 0) message = m.slice(0, 200)
    } catch {
      // Not JSON after all: keep the status text.
    }
  } else if (text.length > 0 && text.length <= 200 && !text.startsWith('<')) {
    message = text
  }
  const retryAfter = Number(res.getHeader('retry-after'))
  return Number.isFinite(retryAfter) && retryAfter >= 0
    ? new TalkError(code, message, { retryAfterMs: retryAfter * 1000 })
    : new TalkError(code, message)
}

/** The Talk error for `next(err)`: a TalkError as is, an http-errors style client error by its status; anything else stays a fault. */
function passedOn(err: unknown): unknown {
  if (err instanceof TalkError || err === null || typeof err !== 'object') return err
  const fields = err as { status?: unknown; statusCode?: unknown; message?: unknown; expose?: unknown }
  const status = typeof fields.status === 'number' ? fields.status : fields.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500 && fields.expose !== false) {
    return new TalkError(codeForStatus(status), typeof fields.message === 'string' ? fields.message : STATUS_CODES[status] ?? 'Refused')
  }
  return err
}

/** Fills in what Express would have put on `req` before its middleware run (the upgrade request is a bare IncomingMessage). */
function prepareUpgrade(req: IncomingMessage, hs: Handshake): void {
  const r = req as UpgradeRequest
  r.originalUrl ??= req.url
  r.path ??= hs.path
  r.query ??= hs.query
  r.ip ??= hs.ip
  r.app ??= APP_STUB
  r.get ??= (name: string) => hs.headers[name.toLowerCase()]
  r.header ??= r.get
}

/** A request-like object for one message: the handshake's headers, cookies, query and ip, the message as body. */
class MessageRequest extends EventEmitter {
  readonly method = 'POST'
  readonly url: string
  readonly originalUrl: string
  readonly path: string
  readonly baseUrl = ''
  readonly headers: HandshakeInfo['headers']
  readonly cookies: HandshakeInfo['cookies']
  readonly signedCookies: Record<string, string> = {}
  readonly query: HandshakeInfo['query']
  readonly params: Context['params']
  body: unknown
  readonly ip: string | undefined
  readonly ips: string[] = []
  readonly protocol = 'ws'
  readonly secure = false
  readonly socket: { remoteAddress: string | undefined; encrypted: boolean }
  readonly connection: { remoteAddress: string | undefined; encrypted: boolean }
  readonly app = APP_STUB
  readonly user: User | undefined
  /** The Talk context of the message. */
  readonly talk: Context

  constructor(ctx: Context) {
    super()
    const hs = ctx.client.handshake
    this.url = this.originalUrl = this.path = `/${ctx.route}`
    this.headers = hs.headers
    this.cookies = hs.cookies
    this.query = hs.query
    this.params = ctx.params
    this.body = ctx.body
    this.ip = hs.ip
    this.socket = this.connection = { remoteAddress: hs.ip, encrypted: false }
    this.user = ctx.client.user
    this.talk = ctx
  }

  get(name: string): string | string[] | undefined {
    return this.headers[name.toLowerCase()]
  }
  header(name: string): string | string[] | undefined {
    return this.get(name)
  }
}

/**
 * Runs Connect/Express `(req, res, next)` middleware inside Talk. By default once, on the HTTP
 * upgrade request (a handshake hook): middleware that read the request and set fields on it work
 * (cookie-parser, express-session, passport's session, helmet-style checks); `user` / `state` then
 * carry what they found onto the client. A middleware that answers instead of calling `next()`
 * refuses the upgrade with its status (429 → RATE_LIMITED…); `next(err)` refuses with the error.
 * With `on: 'message'` it runs per message on a request built from the handshake, with the
 * message as `req.body` (for middleware that only read the request, e.g. express-rate-limit);
 * an answer then becomes the message's error reply. Response headers they set are not sent.
 *
 * @example
 * app.use(fromExpress([cookieParser(secret), session({ secret, store })], { user: (req) => req.session?.user }))
 */
export function fromExpress<R extends IncomingMessage = UpgradeRequest>(
  middleware: ExpressMiddleware | readonly ExpressMiddleware[],
  options: FromExpressOptions<R> = {},
): HandshakeMiddleware {
  const list: readonly ExpressMiddleware[] = Array.isArray(middleware) ? middleware : [middleware as ExpressMiddleware]
  if (list.length === 0) throw new TypeError('fromExpress() needs at least one middleware')
  for (const mw of list) {
    if (typeof mw !== 'function') throw new TypeError('fromExpress() takes (req, res, next) functions')
    if (mw.length === 4) throw new TypeError('fromExpress(): error-handling middleware (err, req, res, next) cannot run on Talk')
  }
  if (options === null || typeof options !== 'object') throw new TypeError('fromExpress() takes an options object')
  const { on = 'handshake', user, state, timeoutMs = 10_000 } = options
  if (on !== 'handshake' && on !== 'message') throw new TypeError('fromExpress(): "on" must be handshake or message')
  if (user !== undefined && typeof user !== 'function') throw new TypeError('fromExpress(): "user" must be a function')
  if (state !== undefined && typeof state !== 'function') throw new TypeError('fromExpress(): "state" must be a function')
  if (on === 'message' && (user !== undefined || state !== undefined)) throw new TypeError('fromExpress(): "user" and "state" apply to the handshake only')
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError('fromExpress(): "timeoutMs" must be a positive number')

  if (on === 'message') {
    const perMessage: Middleware = function fromExpress(ctx, next) {
      const req = new MessageRequest(ctx)
      const proceed = (): Promise<void> => {
        // A middleware may have replaced the body (a sanitiser): the handler sees what it left.
        if (req.body !== ctx.body && req.body !== null && typeof req.body === 'object') ctx.body = req.body as typeof ctx.body
        return next()
      }
      const waiting = runChain(list, req as unknown as IncomingMessage, new ResponseStub(), timeoutMs)
      return waiting === undefined ? proceed() : waiting.then(proceed)
    }
    return perMessage
  }

  /** What the middleware found on the upgrade request becomes the client's user and state. */
  const adopt = (hs: Handshake): void => {
    if (user !== undefined) {
      const found = user(hs.req as R)
      if (found !== undefined) hs.user = found
    }
    if (state !== undefined) {
      const fields = state(hs.req as R)
      if (fields !== undefined) {
        for (const key of Object.keys(fields)) if (key !== '__proto__') hs.state[key] = fields[key]
      }
    }
  }

  const passThrough = function fromExpress(_ctx: Context, next: () => Promise<void>): Promise<void> {
    return next()
  } as HandshakeMiddleware
  // Not async: when every middleware calls next() before returning, the upgrade waits on nothing.
  passThrough.handshake = function fromExpressHandshake(hs: Handshake): void | Promise<void> {
    prepareUpgrade(hs.req, hs)
    const waiting = runChain(list, hs.req, new ResponseStub(), timeoutMs)
    if (waiting !== undefined) return waiting.then(() => adopt(hs))
    adopt(hs)
  }
  return passThrough
}
