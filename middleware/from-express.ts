import type { IncomingMessage } from 'node:http'
import type { HandshakeMiddleware } from '../lib/app'
import type { Context } from '../lib/context'
import type { Handshake } from '../lib/handshake'
import type { Middleware, User } from '../lib/types'
import { APP_STUB, ExpressRequest, ResponseStub, runChain, type ExpressMiddleware } from './express-shim'

export { codeForStatus, type ExpressMiddleware } from './express-shim'

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
      const hs = ctx.client.handshake
      const req = new ExpressRequest(ctx, { method: 'POST', url: `/${ctx.route}`, query: hs.query, body: ctx.body, params: ctx.params })
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
