import { STATUS_CODES, type IncomingMessage } from 'node:http'
import { compile, parse, type Token } from 'path-to-regexp'
import type { Context } from '../lib/context'
import { TalkError } from '../lib/errors'
import { HTTP_METHODS } from '../lib/http/routes'
import type { Router } from '../lib/router'
import type { RouteSpec } from '../lib/types'
import { codeForStatus, ENDED, ExpressRequest, passedOn, refusal, ResponseStub, run, type ExpressMiddleware } from './express-shim'

/** One Express endpoint a Talk route is answered by, with the route's zod schemas (validated before Express runs). */
export interface ExpressEndpoint extends RouteSpec {
  /** `'METHOD /path/:param'` as the Express router routes it, e.g. `'GET /api/user/:name/repos'`. */
  endpoint: string
}

/** Options of `mountExpress()`. */
export interface MountExpressOptions {
  /** Talk route name → the Express endpoint answering it: `{ 'user/repos': 'GET /api/user/:name/repos' }`. */
  routes: Readonly<Record<string, string | ExpressEndpoint>>
  /** The reply field that carries an answer which is not a plain JSON object (an array, text, a number), default `data`. */
  wrap?: string
  /** How long the Express router may take to answer before the request fails with TIMEOUT, in ms (default 30000). */
  timeoutMs?: number
}

/** Fields a success reply reserves (docs/protocol.md): an answer using one is wrapped, not spread. */
const RESERVED = ['status', 'ref', 'error']
/** Methods whose leftover body fields become the query string, as an HTTP client would have sent them. */
const QUERY_METHODS = new Set(['GET', 'DELETE'])

/** A reply payload, or none (a bare success). */
type Reply = Record<string, unknown> | undefined

interface Endpoint {
  method: string
  path: string
  /** Path parameter names, in order; `wildcards` of them take several segments (`*rest`). */
  params: string[]
  wildcards: Set<string>
  toPath: (values: Record<string, string | string[]>) => string
}

/**
 * Registers Talk routes that an existing Express router answers, so its endpoints serve socket
 * clients (and, being real Talk routes, the REST bridge, app middleware and the AsyncAPI document)
 * without being rewritten. Each Talk request becomes an Express request: the endpoint's method, a
 * URL built from the path parameters (taken from `ctx.params`, then the body), `req.query` from the
 * handshake's query overlaid, for GET and DELETE, by the other body fields (as strings), `req.body`
 * the body without the path parameters, `req.params` as the router matches them, `req.user` the
 * client's user, the handshake's headers, cookies and ip. The answer becomes the reply: a 2xx JSON
 * object is the success payload; any other 2xx body (an array, text, a number, or an object using
 * `status`, `ref` or `error`) is wrapped as `{ data: … }`; an empty one is a bare success. Status 300
 * and up becomes a TalkError: the code from the status (404 → NOT_FOUND, 401 → UNAUTHORIZED, an
 * unknown 4xx → BAD_REQUEST, 5xx → INTERNAL), the message from the body's `error` (string or
 * `.message`) or `message` (for 5xx, the status text: the body stays in the log). `next(err)` that
 * no Express error handler answers maps an `err.status` 4xx the same way (anything else is a fault:
 * INTERNAL); a request no Express route answers is NOT_FOUND. Response headers are not sent, except
 * that Retry-After becomes `details.retryAfterMs`. Throws a TypeError at start-up for bad options.
 * Pass an `express.Router()` (an `express()` app's own router is used; apps mounted inside it are not supported).
 *
 * @example
 * mountExpress(app, legacyRouter, {
 *   routes: { 'users/list': 'GET /api/users', 'user/repos': { endpoint: 'GET /api/user/:name/repos', body: z.object({ name: z.string() }) } },
 * })
 */
export function mountExpress<T extends Router>(target: T, router: ExpressMiddleware, options: MountExpressOptions): T {
  if (target === null || typeof target !== 'object' || typeof target.route !== 'function') {
    throw new TypeError('mountExpress() takes (talkApp or Router, expressRouter, { routes })')
  }
  const handle = expressRouterOf(router)
  if (options === null || typeof options !== 'object' || options.routes === null || typeof options.routes !== 'object') {
    throw new TypeError('mountExpress(): options.routes must map route names to "METHOD /path" endpoints')
  }
  const { wrap = 'data', timeoutMs = 30_000 } = options
  if (typeof wrap !== 'string' || wrap.length === 0 || RESERVED.includes(wrap)) throw new TypeError('mountExpress(): "wrap" must be a field name other than status, ref and error')
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError('mountExpress(): "timeoutMs" must be a positive number')

  // Every entry is checked before any route is registered: a bad one leaves the app as it was.
  const entries = Object.entries(options.routes).map(([name, value]) => {
    const spec = typeof value === 'string' ? { endpoint: value } : value
    if (spec === null || typeof spec !== 'object' || typeof spec.endpoint !== 'string') {
      throw new TypeError(`mountExpress(): route "${name}" must name an endpoint such as "GET /api/users"`)
    }
    const { endpoint: text, ...schemas } = spec
    return { name, endpoint: compileEndpoint(name, text), schemas }
  })
  for (const { name, endpoint, schemas } of entries) {
    const handler = function mountedExpress(ctx: Context): Reply | Promise<Reply> {
      return answer(ctx, handle, endpoint, wrap, timeoutMs)
    }
    if (schemas.body !== undefined || schemas.params !== undefined || schemas.reply !== undefined) target.route(name, schemas, handler)
    else target.route(name, handler)
  }
  return target
}

/** The function to call with (req, res, next): the router itself, or an `express()` app's router (the app would swap req's prototype for its own). */
function expressRouterOf(router: ExpressMiddleware): ExpressMiddleware {
  if (typeof router !== 'function') throw new TypeError('mountExpress(): the second argument must be an express.Router()')
  const app = router as unknown as { set?: unknown; handle?: unknown; router?: unknown }
  if (typeof app.set === 'function' && typeof app.handle === 'function' && typeof app.router === 'function') {
    return app.router as ExpressMiddleware
  }
  return router
}

function compileEndpoint(name: string, text: string): Endpoint {
  const found = /^([A-Za-z]+)\s+(\/\S*)$/.exec(text.trim())
  const method = found?.[1]?.toUpperCase()
  if (found === null || method === undefined || !(HTTP_METHODS as readonly string[]).includes(method)) {
    throw new TypeError(`mountExpress(): route "${name}": endpoint "${text}" must look like "GET /api/users" (${HTTP_METHODS.join(', ')})`)
  }
  const path = found[2] as string
  const params: string[] = []
  const wildcards = new Set<string>()
  let toPath: Endpoint['toPath']
  try {
    collect(parse(path).tokens, params, wildcards)
    toPath = compile(path, { encode: encodeURIComponent })
  } catch (err) {
    throw new TypeError(`mountExpress(): route "${name}": ${(err as Error).message}`)
  }
  return { method, path, params, wildcards, toPath }
}

function collect(tokens: readonly Token[], params: string[], wildcards: Set<string>): void {
  for (const token of tokens) {
    if (token.type === 'group') collect(token.tokens, params, wildcards)
    else if (token.type === 'param') params.push(token.name)
    else if (token.type === 'wildcard') {
      params.push(token.name)
      wildcards.add(token.name)
    }
  }
}

/** Runs one Talk request through the Express router and turns its answer into the reply payload, or throws the error. */
function answer(ctx: Context, handle: ExpressMiddleware, endpoint: Endpoint, wrap: string, timeoutMs: number): Reply | Promise<Reply> {
  const body = (ctx.body !== null && typeof ctx.body === 'object' ? ctx.body : {}) as Record<string, unknown>
  const params = ctx.params as Record<string, unknown>
  const values: Record<string, string | string[]> = {}
  const issues: { path: string[]; message: string; code: string }[] = []
  for (const name of endpoint.params) {
    const value = Object.prototype.hasOwnProperty.call(params, name) ? params[name] : Object.prototype.hasOwnProperty.call(body, name) ? body[name] : undefined
    const text = scalar(value)
    if (text === undefined || text === '') {
      issues.push({ path: [name], message: value === undefined ? 'Required' : 'Must be a non-empty string or number', code: 'invalid_type' })
    } else values[name] = endpoint.wildcards.has(name) ? text.split('/') : text
  }
  if (issues.length > 0) throw new TalkError('VALIDATION_FAILED', 'Path parameters are missing', issues)

  // What the path does not take: the request body, and for GET and DELETE the query string too.
  const rest: Record<string, unknown> = {}
  for (const key of Object.keys(body)) if (!endpoint.params.includes(key)) define(rest, key, body[key])
  const query: Record<string, unknown> = {}
  const handshakeQuery = ctx.client.handshake.query
  for (const key of Object.keys(handshakeQuery)) define(query, key, handshakeQuery[key])
  const search = new URLSearchParams()
  if (QUERY_METHODS.has(endpoint.method)) {
    for (const key of Object.keys(rest)) {
      const value = rest[key]
      const list = Array.isArray(value) ? value.map(scalar) : [scalar(value)]
      // Objects have no query-string form: they stay in req.body only.
      if (list.length === 0 || list.some((v) => v === undefined)) continue
      define(query, key, list.length === 1 && !Array.isArray(value) ? list[0] : list)
      for (const v of list) search.append(key, v as string)
    }
  }
  const qs = search.toString()
  const url = endpoint.toPath(values) + (qs === '' ? '' : `?${qs}`)
  const req = new ExpressRequest(ctx, { method: endpoint.method, url, query, body: rest, params: {} })
  const res = new ResponseStub(Number.POSITIVE_INFINITY)
  req.res = res
  res.req = req

  const settle = (outcome: number): Reply => {
    if (outcome !== ENDED) throw new TalkError('NOT_FOUND', `No Express route answers ${endpoint.method} ${url.slice(0, 200)}`)
    return replyOf(ctx, res, wrap)
  }
  let outcome: number | Promise<number>
  try {
    outcome = run(handle, req as unknown as IncomingMessage, res, timeoutMs)
  } catch (err) {
    throw passedOn(err)
  }
  if (outcome instanceof Promise) {
    return outcome.then(settle, (err: unknown) => {
      throw passedOn(err)
    })
  }
  return settle(outcome)
}

/** The reply payload for an answer the router wrote, or the TalkError for an error status. */
function replyOf(ctx: Context, res: ResponseStub, wrap: string): Reply {
  const status = res.statusCode
  if (status >= 500) {
    ctx.log.warn({ status, body: res.body.slice(0, 500) }, 'Express route answered with a server error')
    throw new TalkError(codeForStatus(status), STATUS_CODES[status] ?? 'Server error')
  }
  if (status < 200 || status >= 300) {
    const err = refusal(res)
    const location = res.getHeader('location')
    if (status >= 300 && status < 400 && location !== undefined) throw new TalkError(err.code, err.message, { location: String(location) })
    throw err
  }
  const text = res.body
  // 204 and 205 have no body (Express drops what sendStatus() writes).
  if (text.length === 0 || status === 204 || status === 205) return undefined
  const type = String(res.getHeader('content-type') ?? '')
  let value: unknown = text
  if (/[/+]json\b/i.test(type)) {
    try {
      value = JSON.parse(text)
    } catch {
      // Labelled JSON but not JSON: pass the text on.
    }
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !RESERVED.some((k) => Object.prototype.hasOwnProperty.call(value, k))) {
    return value as Record<string, unknown>
  }
  return { [wrap]: value }
}

/** A path or query value as text: strings as they are, numbers and booleans written out; anything else has none. */
function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  return undefined
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}
