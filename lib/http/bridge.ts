import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { requestEntry, type TalkApp } from '../app'
import type { Context, Responder } from '../context'
import { EncodedReply } from '../encoded-reply'
import { codeOf, httpStatus, STATUS, TalkError, toWireError } from '../errors'
import type { PendingHandshake } from '../handshake'
import { encodeError, encodeSuccess, traceContext } from '../protocol'
import { readJsonBody } from './body'
import { HttpClient } from './client'
import { asyncapiDocument, type AsyncApiOptions } from './asyncapi'
import { buildOpenApi, type OpenApiOptions } from './openapi'
import { checkRespond, type Respond } from './respond'
import { compileRoutes, type CompiledMapping, type HttpRoutes } from './routes'

/** Options of `bridge()`. */
export interface BridgeOptions {
  /** The mapping table, `'METHOD /path'` → route; spread `resource()` into it. */
  routes: HttpRoutes
  /** Largest JSON body accepted, in bytes; bigger ones get 413 PAYLOAD_TOO_LARGE (default 1 MiB). */
  limit?: number
  /** HTTP statuses for the app's own error codes, e.g. `{ PAYMENT_REQUIRED: 402 }` (the table's codes keep theirs; other codes are 500). */
  statuses?: Readonly<Record<string, number>>
  /**
   * How answers are written for every mapping without its own: Talk's envelope by default, or an
   * older API's bodies (`legacy()`), so migrated endpoints keep their old clients working.
   */
  respond?: Respond
  /** Serve an OpenAPI 3.1 document of the mapped routes at `path` (default `/openapi.json`); off unless given. */
  openapi?: OpenApiOptions & { path?: string }
  /** Serve an AsyncAPI 3.0 document of the socket side (every route, the listed pushes) at `path` (default `/asyncapi.json`); off unless given. */
  asyncapi?: AsyncApiOptions & { path?: string }
}

/**
 * A Node/Connect/Express request handler. `next`, when given, is called for requests no mapping
 * takes (so Express's own routes and 404 handle them); without it those get 404 or 405.
 */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }

/**
 * Serves Talk routes over plain HTTP. Each request runs the app's handshake hooks (so
 * Authorization headers and cookies authenticate it as they do an upgrade), then the mapped
 * route's full middleware chain with a per-request client (see HttpClient), and is answered with
 * the WebSocket reply's JSON minus `ref`: success → `{ "status": "success", ...payload }` with the
 * mapping's status (200, or 201 for `resource()` creates); an error → `{ "status": "error",
 * "error": { code, message, details? } }` with the code's HTTP status. The body is the query
 * parameters, overlaid by the JSON body, overlaid by the path parameters (the path names the
 * resource; a body cannot redirect a write). Pushes the handler makes to rooms reach socket clients.
 *
 * @example
 * const api = express()
 * api.use(bridge(app, { routes: { ...resource('/documents', 'document') } }))
 * app.attach(api.listen(3000))
 */
export function bridge(app: TalkApp, options: BridgeOptions): HttpHandler {
  if (options === null || typeof options !== 'object') throw new TypeError('bridge() takes (app, { routes, ... })')
  const entry = requestEntry(app)
  const mappings = compileRoutes(options.routes)
  const limit = options.limit ?? 1024 * 1024
  if (!Number.isFinite(limit) || limit <= 0) throw new TypeError('bridge(): limit must be a positive number of bytes')
  const statuses = checkStatuses(options.statuses)
  const openapiPath = options.openapi === undefined ? undefined : options.openapi.path ?? '/openapi.json'
  if (openapiPath !== undefined && !openapiPath.startsWith('/')) throw new TypeError('bridge(): openapi.path must start with "/"')
  const asyncapiPath = options.asyncapi === undefined ? undefined : options.asyncapi.path ?? '/asyncapi.json'
  if (asyncapiPath !== undefined && !asyncapiPath.startsWith('/')) throw new TypeError('bridge(): asyncapi.path must start with "/"')
  const statusOf = (code: string): number => statuses.get(code) ?? httpStatus(code)
  const shared = checkRespond(options.respond, 'respond')

  /** Writes an error in the shape of the mapping (or the bridge), with Retry-After when the error says how long to wait. */
  const failWith = (res: ServerResponse, status: number, err: unknown, mapping: CompiledMapping | undefined): void => {
    const wire = toWireError(err)
    const retryAfterMs = (wire.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs
    if (typeof retryAfterMs === 'number' && retryAfterMs >= 0 && !res.headersSent) res.setHeader('Retry-After', String(Math.ceil(retryAfterMs / 1000)))
    const shape = mapping?.respond ?? shared
    if (shape === undefined) send(res, status, encodeError(undefined, err, entry.codec))
    else send(res, status, jsonText(shape.error(wire, status)))
  }

  /** Whether the app has a route for this name now (routes may be added after the bridge is made). */
  const registered = (route: string): boolean => app.hasRoute(route)

  const serve = async (req: IncomingMessage, res: ServerResponse, next: ((err?: unknown) => void) | undefined): Promise<void> => {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const method = (req.method ?? 'GET').toUpperCase()

    if (openapiPath !== undefined && path === openapiPath && (method === 'GET' || method === 'HEAD') && options.openapi !== undefined) {
      send(res, 200, JSON.stringify(buildOpenApi(app, mappings, options.openapi)))
      return
    }
    if (asyncapiPath !== undefined && path === asyncapiPath && (method === 'GET' || method === 'HEAD') && options.asyncapi !== undefined) {
      send(res, 200, JSON.stringify(asyncapiDocument(app, options.asyncapi)))
      return
    }

    let chosen: { mapping: CompiledMapping; params: Record<string, string | string[]> } | undefined
    const allowed = new Set<string>()
    try {
      for (const mapping of mappings) {
        const found = mapping.match(path)
        if (found === false || !registered(mapping.route)) continue
        if (mapping.method === method || (method === 'HEAD' && mapping.method === 'GET')) {
          chosen = { mapping, params: found.params }
          break
        }
        allowed.add(mapping.method)
        if (mapping.method === 'GET') allowed.add('HEAD')
      }
    } catch {
      // decodeURIComponent on a malformed escape such as `/documents/%E0%A4%A`
      fail(res, 400, new TalkError('BAD_REQUEST', 'Path has a malformed percent-escape'))
      return
    }
    if (chosen === undefined) {
      if (next !== undefined) next()
      else if (allowed.size > 0) {
        res.setHeader('Allow', [...allowed].join(', '))
        failWith(res, 405, new TalkError('METHOD_NOT_ALLOWED', `${method.slice(0, 16)} is not allowed here`), undefined)
      } else failWith(res, 404, new TalkError('NOT_FOUND', 'No route for this path'), undefined)
      return
    }
    if (entry.draining) {
      failWith(res, 503, new TalkError('UNAVAILABLE', 'Server is shutting down'), chosen.mapping)
      return
    }

    let handshake: PendingHandshake
    let payload: Record<string, unknown> | undefined
    try {
      // Authentication first: a refused request's body is never read.
      handshake = await app.runHandshake(req)
      payload = await readJsonBody(req, limit, entry.codec, entry.jsonLimits)
    } catch (err) {
      if (err instanceof TalkError) failWith(res, statusOf(err.code), err, chosen.mapping)
      else if (!res.headersSent && !req.destroyed) failWith(res, 500, err, chosen.mapping)
      return
    }

    const query = queryOf(url, q)
    // Credentials a hook read from the query (auth's `?token=`) are not the handler's data.
    if (handshake.concealed !== undefined) for (const key of handshake.concealed) delete query[key]
    const body = merge(query, payload, chosen.params)
    // Trace context is envelope, not payload, as on the socket: the W3C header, or else a body field.
    const trace = traceContext(req.headers.traceparent) ?? traceContext(body['traceparent'])
    if ('traceparent' in body) delete body['traceparent']
    const client = new HttpClient(randomUUID(), handshake.user, handshake.state, handshake.view())
    const { mapping } = chosen
    const shape = mapping.respond ?? shared
    const responder: Responder = {
      success(_ctx: Context, reply: object | undefined) {
        const text = shape === undefined
          ? encodeSuccess(undefined, reply, entry.codec)
          : jsonText(shape.success({ ...((reply instanceof EncodedReply ? reply.value : reply) as Record<string, unknown> | undefined) }))
        send(res, mapping.status, text)
      },
      failure(_ctx: Context, err: unknown) {
        failWith(res, statusOf(codeOf(err)), err, mapping)
      },
    }
    await entry.handle(client, responder, trace === undefined ? { name: mapping.route, ref: undefined, body } : { name: mapping.route, ref: undefined, body, trace })
  }

  return function talkBridge(req, res, next) {
    serve(req, res, next).catch((err: unknown) => {
      app.log.error({ err }, 'REST bridge failed')
      if (!res.headersSent) fail(res, 500, err)
    })
  }
}

/** Sends a JSON response; a request whose body was not read closes its connection after the answer. */
function send(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent || res.destroyed) return
  const headers: Record<string, string | number> = { ...JSON_HEADERS, 'Content-Length': Buffer.byteLength(text) }
  if (!res.req.complete) headers.Connection = 'close'
  res.writeHead(status, headers)
  res.end(text)
}

/** JSON text of a shaped body; `undefined` (a missing field) is written as `null`, never as nothing. */
function jsonText(value: unknown): string {
  return JSON.stringify(value) ?? 'null'
}

function fail(res: ServerResponse, status: number, err: unknown): void {
  send(res, status, encodeError(undefined, err))
}

/** The query parameters as a body: one value as a string, a repeated key as an array of strings. */
function queryOf(url: string, q: number): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (q === -1) return out
  for (const [key, value] of new URLSearchParams(url.slice(q + 1))) {
    const previous = Object.prototype.hasOwnProperty.call(out, key) ? out[key] : undefined
    define(out, key, previous === undefined ? value : Array.isArray(previous) ? [...(previous as string[]), value] : [previous, value])
  }
  return out
}

/**
 * Query, then JSON body, then path parameters, later ones winning. Keys are defined, never
 * assigned, so `__proto__` or `constructor` in the input stays a plain own property (as the socket
 * decoder keeps it) and never reaches a prototype.
 */
function merge(
  query: Record<string, unknown>,
  payload: Record<string, unknown> | undefined,
  params: Record<string, string | string[]>,
): Record<string, unknown> {
  const body = query
  if (payload !== undefined) for (const key of Object.keys(payload)) define(body, key, payload[key])
  for (const key of Object.keys(params)) {
    const value = params[key]
    // A wildcard (`/files/*path`) matches several segments; the body gets them joined, as written.
    define(body, key, Array.isArray(value) ? value.join('/') : value)
  }
  return body
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

function checkStatuses(statuses: Readonly<Record<string, number>> | undefined): Map<string, number> {
  const out = new Map<string, number>()
  if (statuses === undefined) return out
  if (statuses === null || typeof statuses !== 'object') throw new TypeError('bridge(): statuses must map codes to HTTP statuses')
  for (const [code, status] of Object.entries(statuses)) {
    if (Object.prototype.hasOwnProperty.call(STATUS, code)) throw new TypeError(`bridge(): statuses.${code}: the table's codes keep their status`)
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new TypeError(`bridge(): statuses.${code} must be an HTTP error status (400-599)`)
    }
    out.set(code, status)
  }
  return out
}
