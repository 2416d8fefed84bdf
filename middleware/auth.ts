import { z } from 'zod'
import type { HandshakeMiddleware, TalkApp } from '../lib/app'
import { isThenable } from '../lib/compose'
import type { Context } from '../lib/context'
import { CLOSE, TalkError } from '../lib/errors'
import { PROTOCOL_TOKEN_PREFIX } from '../lib/protocol'
import type { Handshake, HandshakeHook } from '../lib/handshake'
import type { Client, HandshakeInfo, Middleware, User } from '../lib/types'
import { userKey } from '../lib/user-key'

/**
 * Where `auth()` looks for the token on the upgrade request: the `Authorization: Bearer …` header
 * (or another header named by `name`), a cookie, a query parameter, a `Sec-WebSocket-Protocol`
 * entry `bearer.<token>`, or a function of the handshake.
 */
export type TokenSource = 'header' | 'cookie' | 'query' | 'protocol' | ((info: HandshakeInfo) => string | undefined)

/** What a verifier answers for a good token: the user, and when the token stops being good. */
export interface Verified {
  /** Becomes `client.user`. */
  user: User
  /** Expiry in ms since the epoch (`Date.now()` clock); the connection is closed with 1008 then unless refreshed. */
  expiresAt?: number
}

/**
 * Checks a token: resolves with `{ user, expiresAt? }` for a good one, or a falsy value for a bad one
 * (answered `UNAUTHORIZED`). It may throw a TalkError (e.g. `FORBIDDEN`) to refuse with that code;
 * anything else it throws is a fault (HTTP 500 at the upgrade, `INTERNAL` on refresh) and is logged.
 */
export type Verify = (
  token: string,
  info: HandshakeInfo,
) => Verified | undefined | null | false | Promise<Verified | undefined | null | false>

/** Options of `auth()`. */
export interface AuthOptions {
  /** Where the token is, tried in order (default `'header'`). */
  from?: TokenSource | readonly TokenSource[]
  /** Header, cookie or query parameter name (defaults: `authorization` for the header, `token` for cookie and query). */
  name?: string
  /** Checks the token (see `jwt()` for JSON Web Tokens). */
  verify: Verify
  /** Let connections without a token in, anonymous (`client.user` unset). A token that is present must still verify. Default false. */
  optional?: boolean
  /**
   * Route through which a client sends `{ token }` to replace its token before it expires (and an
   * anonymous client to sign in); `false` adds no route. Default `auth/refresh`.
   */
  refresh?: string | false
  /** Whether a refreshed token may stand for `after` on a connection of `before` (default: same `userKey()`). */
  sameUser?: (before: User, after: User) => boolean
}

/** The middleware `auth()` returns: its handshake hook authenticates, its per-message step enforces expiry. */
export interface AuthMiddleware extends HandshakeMiddleware {
  handshake: HandshakeHook
  attach: (app: TalkApp) => void
}

/** A check of the signed-in user for `auth.require(predicate)`; false answers FORBIDDEN. */
export type UserPredicate = (user: User, ctx: Context) => boolean | Promise<boolean>

/** The largest timeout Node accepts (about 24.8 days); longer expiries re-arm when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1

export { PROTOCOL_TOKEN_PREFIX, userKey }

const RefreshBody = z.object({ token: z.string().min(1).max(16_384) })

interface Session {
  expiresAt: number
  timer: NodeJS.Timeout | undefined
}

/**
 * Authenticates each connection once, at the HTTP upgrade: finds the token, verifies it and sets
 * `client.user`. No token → HTTP 401 (`UNAUTHORIZED`) unless `optional`; a bad or expired token →
 * 401; a verifier's TalkError → its status. A token with an expiry closes the connection with 1008
 * (`CLOSE.POLICY`, reason `token expired`) at that time unless the client sent a fresh one to
 * `auth/refresh`. Use it with `app.use()`, which registers the hook; guard routes with `auth.require()`.
 *
 * @example
 * app.use(auth({ from: ['header', 'cookie'], verify: jwt({ secret: process.env.JWT_SECRET ?? '' }) }))
 * app.route('document/delete', auth.require((user) => user.role === 'admin'), handler)
 */
export function auth(options: AuthOptions): AuthMiddleware {
  if (options === null || typeof options !== 'object') throw new TypeError('auth() takes an options object')
  const { verify, optional = false, refresh = 'auth/refresh', name } = options
  if (typeof verify !== 'function') throw new TypeError('auth(): "verify" must be a function (token, info) => { user } | undefined')
  if (typeof optional !== 'boolean') throw new TypeError('auth(): "optional" must be a boolean')
  if (refresh !== false && (typeof refresh !== 'string' || refresh.length === 0)) {
    throw new TypeError('auth(): "refresh" must be a route name or false')
  }
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) throw new TypeError('auth(): "name" must be a non-empty string')
  const sameUser = options.sameUser ?? ((a: User, b: User) => userKey(a) === userKey(b))
  if (typeof sameUser !== 'function') throw new TypeError('auth(): "sameUser" must be a function')
  const sources = toSources(options.from ?? 'header')
  const fromQuery = sources.includes('query')

  // Expiring sessions, keyed by the upgrade request's headers object: the same object in the handshake
  // (`hs.headers`) and for the connection's life (`client.handshake.headers`), even when a resumed
  // session brings back older state; so no entry outlives its client.
  const sessions = new WeakMap<HandshakeInfo['headers'], Session>()
  let expiring = false
  const apps: TalkApp[] = []

  const forget = (client: Client): void => {
    const session = sessions.get(client.handshake.headers)
    if (session === undefined) return
    clearTimeout(session.timer)
    sessions.delete(client.handshake.headers)
  }

  // Only expiring sessions hold a timer to clear when the client goes, so the disconnect listener
  // comes with the first one (a disconnect listener makes Talk read every client's address at the open).
  const expiringFromNow = (): void => {
    if (expiring) return
    expiring = true
    for (const app of apps) app.on('disconnect', forget)
  }

  /** What verify answered, checked: the user and expiry of a good token, or why not. */
  const accepted = (verified: Awaited<ReturnType<Verify>>): Verified => {
    if (!verified) throw new TalkError('UNAUTHORIZED', 'Invalid token')
    if (typeof verified !== 'object' || typeof verified.user !== 'object' || verified.user === null) {
      throw new Error('auth(): verify must resolve with { user, expiresAt? } or a falsy value')
    }
    if (verified.expiresAt !== undefined && !(verified.expiresAt > Date.now())) throw new TalkError('UNAUTHORIZED', 'Token expired')
    return verified
  }

  const check = async (token: string, info: HandshakeInfo): Promise<Verified> => accepted(await verify(token, info))

  const signIn = (hs: Handshake, answer: Awaited<ReturnType<Verify>>): void => {
    const verified = accepted(answer)
    hs.user = verified.user
    if (verified.expiresAt !== undefined) {
      expiringFromNow()
      sessions.set(hs.headers, { expiresAt: verified.expiresAt, timer: undefined })
    }
  }

  const expire = (client: Client): void => {
    const session = sessions.get(client.handshake.headers)
    if (session === undefined) return
    if (session.expiresAt > Date.now()) {
      arm(client, session)
      return
    }
    sessions.delete(client.handshake.headers)
    client.close(CLOSE.POLICY, 'token expired')
  }

  const arm = (client: Client, session: Session): void => {
    clearTimeout(session.timer)
    const delay = Math.min(Math.max(0, session.expiresAt - Date.now()), MAX_TIMER_MS)
    session.timer = setTimeout(expire, delay, client)
    session.timer.unref()
  }

  const middleware = function auth(ctx: Context, next: () => Promise<void>): unknown {
    // Per message only the expiry matters (the handshake did the rest); a timer closes idle connections,
    // this catches a request that races it.
    if (expiring) {
      const session = sessions.get(ctx.client.handshake.headers)
      if (session !== undefined) {
        if (session.expiresAt <= Date.now()) {
          ctx.fail(new TalkError('UNAUTHORIZED', 'Token expired'))
          sessions.delete(ctx.client.handshake.headers)
          ctx.client.close(CLOSE.POLICY, 'token expired')
          return undefined
        }
      }
    }
    return next()
  } as AuthMiddleware

  // Not async: with a verifier that answers at once, the socket opens with no promise to wait on.
  middleware.handshake = function authHandshake(hs: Handshake): void | Promise<void> {
    // A token in the query is a credential, never data: the REST bridge keeps it out of ctx.body.
    if (fromQuery) hs.concealQuery(name ?? 'token')
    const token = findToken(sources, name, hs)
    if (token === undefined) {
      if (optional) return
      throw new TalkError('UNAUTHORIZED', 'Missing token')
    }
    const answer = verify(token, hs)
    if (isThenable(answer)) return Promise.resolve(answer).then((awaited) => signIn(hs, awaited))
    signIn(hs, answer)
  }

  middleware.attach = function attachAuth(attached: TalkApp): void {
    apps.push(attached)
    const armFor = (client: Client): void => {
      const session = sessions.get(client.handshake.headers)
      if (session !== undefined) arm(client, session)
    }
    attached.on('connection', armFor)
    attached.on('resume', armFor)
    if (expiring) attached.on('disconnect', forget)
    if (refresh === false) return
    attached.route(refresh, { body: RefreshBody }, async function refreshToken(ctx) {
      const verified = await check(ctx.body.token, ctx.client.handshake)
      const before = ctx.client.user
      if (before !== undefined && !sameUser(before, verified.user)) {
        throw new TalkError('FORBIDDEN', 'The token names another user than this connection\'s')
      }
      ctx.client.user = verified.user
      const headers = ctx.client.handshake.headers
      const session = sessions.get(headers)
      if (verified.expiresAt === undefined) {
        if (session !== undefined) clearTimeout(session.timer)
        sessions.delete(headers)
        return {}
      }
      expiringFromNow()
      if (session === undefined) {
        const fresh: Session = { expiresAt: verified.expiresAt, timer: undefined }
        sessions.set(headers, fresh)
        arm(ctx.client, fresh)
      } else {
        session.expiresAt = verified.expiresAt
        arm(ctx.client, session)
      }
      return { expiresAt: verified.expiresAt }
    })
  }

  return middleware
}

/**
 * Per-route guard: `UNAUTHORIZED` when the connection has no user, `FORBIDDEN` when the predicate
 * (async allowed) says no.
 *
 * @example app.route('admin/stats', auth.require((user) => user.role === 'admin'), handler)
 */
auth.require = function requireAuth(predicate?: UserPredicate): Middleware {
  if (predicate !== undefined && typeof predicate !== 'function') throw new TypeError('auth.require() takes an optional predicate function')
  if (predicate === undefined) {
    return function requireUser(ctx, next) {
      if (ctx.client.user === undefined) throw new TalkError('UNAUTHORIZED', 'Sign in first')
      return next()
    }
  }
  return function requireUser(ctx, next) {
    const user = ctx.client.user
    if (user === undefined) throw new TalkError('UNAUTHORIZED', 'Sign in first')
    const allowed = predicate(user, ctx)
    if (allowed instanceof Promise) {
      return allowed.then((ok) => {
        if (!ok) throw new TalkError('FORBIDDEN', 'Not allowed')
        return next()
      })
    }
    if (!allowed) throw new TalkError('FORBIDDEN', 'Not allowed')
    return next()
  }
}

function toSources(from: TokenSource | readonly TokenSource[]): readonly TokenSource[] {
  const list: readonly TokenSource[] = Array.isArray(from) ? from : [from as TokenSource]
  if (list.length === 0) throw new TypeError('auth(): "from" needs at least one source')
  for (const source of list) {
    if (typeof source !== 'function' && !['header', 'cookie', 'query', 'protocol'].includes(source)) {
      throw new TypeError(`auth(): unknown token source "${String(source)}" (header, cookie, query, protocol or a function)`)
    }
  }
  return list
}

/** The first token the sources find, or undefined; empty values count as none. */
function findToken(sources: readonly TokenSource[], name: string | undefined, info: HandshakeInfo): string | undefined {
  for (const source of sources) {
    const token = typeof source === 'function' ? source(info) : tokenFrom(source, name, info)
    if (typeof token === 'string' && token.length > 0) return token
  }
  return undefined
}

function tokenFrom(source: Exclude<TokenSource, (info: HandshakeInfo) => string | undefined>, name: string | undefined, info: HandshakeInfo): string | undefined {
  switch (source) {
    case 'cookie':
      return info.cookies[name ?? 'token']
    case 'query':
      return info.query[name ?? 'token']
    case 'protocol': {
      const offered = first(info.headers['sec-websocket-protocol'])
      if (offered === undefined) return undefined
      for (const entry of offered.split(',')) {
        const value = entry.trim()
        if (value.startsWith(PROTOCOL_TOKEN_PREFIX)) return value.slice(PROTOCOL_TOKEN_PREFIX.length)
      }
      return undefined
    }
    case 'header': {
      const header = (name ?? 'authorization').toLowerCase()
      const value = first(info.headers[header])
      if (value === undefined) return undefined
      const bearer = /^Bearer +(\S+) *$/i.exec(value)
      if (bearer !== null) return bearer[1]
      // Authorization with another scheme (Basic…) carries no bearer token; a custom header is the token itself.
      return header === 'authorization' ? undefined : value.trim()
    }
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
