import { match, parse, type MatchFunction, type Token } from 'path-to-regexp'
import { isPattern, registeredName } from '../router'
import { checkRespond, type Respond } from './respond'

/** HTTP methods a mapping may name; HEAD is answered by the GET mapping of the same path. */
export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

/** An HTTP method a mapping may name. */
export type HttpMethod = (typeof HTTP_METHODS)[number]

/** Where one HTTP method and path go: a Talk route, and the status of its success reply. */
export interface HttpTarget {
  /** The Talk route name (slash or colon form): `document/get`. */
  route: string
  /** HTTP status of a success reply (default 200; `resource()` uses 201 for create). */
  status?: number
  /** How this route's answers are written (default: the bridge's `respond`, else Talk's envelope); see `legacy()`. */
  respond?: Respond
}

/**
 * The explicit mapping table: `'METHOD /path/:param'` → a route name or a target.
 *
 * @example
 * const routes: HttpRoutes = {
 *   'GET /documents/:id': 'document/get',
 *   'POST /documents': { route: 'document/create', status: 201 },
 * }
 */
export type HttpRoutes = Readonly<Record<string, string | HttpTarget>>

/** One compiled mapping. */
export interface CompiledMapping {
  method: HttpMethod
  /** The path pattern as written, e.g. `/documents/:id`. */
  path: string
  /** The Talk route name in slash form. */
  route: string
  status: number
  /** This mapping's answer shape, when it has its own. */
  respond: Respond | undefined
  /** Names of the path's parameters, in order. */
  params: string[]
  /** The path pattern in OpenAPI form, e.g. `/documents/{id}`. */
  openapiPath: string
  /** Matches a raw (percent-encoded) request path; throws a URIError on a malformed escape. */
  match: MatchFunction<Record<string, string | string[]>>
}

/**
 * Checks and compiles a mapping table once, at start-up. Throws a TypeError for a key that is not
 * `'METHOD /path'`, an unknown method, a bad path pattern, a route name that is a pattern, a status
 * outside 200–299, or the same method and path twice.
 */
export function compileRoutes(routes: HttpRoutes): CompiledMapping[] {
  if (routes === null || typeof routes !== 'object') throw new TypeError('bridge(): "routes" must be an object')
  const out: CompiledMapping[] = []
  const seen = new Set<string>()
  for (const key of Object.keys(routes)) {
    const value = routes[key]
    const found = /^([A-Za-z]+)\s+(\/\S*)$/.exec(key.trim())
    if (found === null) throw new TypeError(`bridge(): mapping "${key}" must look like "GET /documents/:id"`)
    const method = (found[1] as string).toUpperCase()
    const path = found[2] as string
    if (!(HTTP_METHODS as readonly string[]).includes(method)) {
      throw new TypeError(`bridge(): mapping "${key}": method must be one of ${HTTP_METHODS.join(', ')}`)
    }
    const target = typeof value === 'string' ? { route: value } : value
    if (target === null || typeof target !== 'object' || typeof target.route !== 'string') {
      throw new TypeError(`bridge(): mapping "${key}" must name a route`)
    }
    const route = registeredName(target.route)
    if (isPattern(route)) throw new TypeError(`bridge(): mapping "${key}": "${target.route}" is a pattern, not a route name`)
    const status = target.status ?? 200
    if (!Number.isInteger(status) || status < 200 || status > 299) {
      throw new TypeError(`bridge(): mapping "${key}": status must be an integer from 200 to 299`)
    }
    let tokens: Token[]
    let matcher: CompiledMapping['match']
    try {
      tokens = parse(path).tokens
      // Express's defaults: case-insensitive, an optional trailing slash, parameters percent-decoded.
      matcher = match(path, { decode: decodeURIComponent })
    } catch (err) {
      throw new TypeError(`bridge(): mapping "${key}": ${(err as Error).message}`)
    }
    const id = `${method} ${path.toLowerCase().replace(/\/$/, '')}`
    if (seen.has(id)) throw new TypeError(`bridge(): mapping "${key}" is listed twice`)
    seen.add(id)
    const params: string[] = []
    out.push({
      method: method as HttpMethod,
      path,
      route,
      status,
      respond: checkRespond(target.respond, `mapping "${key}": respond`),
      params,
      openapiPath: toOpenApiPath(tokens, params),
      match: matcher,
    })
  }
  return out
}

/** `/documents/:id` → `/documents/{id}`, collecting parameter names (optional groups are written out in full). */
function toOpenApiPath(tokens: readonly Token[], params: string[]): string {
  let out = ''
  for (const token of tokens) {
    if (token.type === 'text') out += token.value
    else if (token.type === 'group') out += toOpenApiPath(token.tokens, params)
    else {
      params.push(token.name)
      out += `{${token.name}}`
    }
  }
  return out
}
