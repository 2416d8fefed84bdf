import type { IncomingHttpHeaders } from 'node:http'

/**
 * Which browser origins may open a connection (the defence against cross-site WebSocket hijacking):
 * - `'*'`: every origin;
 * - `'same-origin'`: only pages served from the host the upgrade request was sent to (its `Host` header);
 * - a list of origins (`'https://app.example.com'`, `'https://*.example.com'` for any subdomain) and RegExps
 *   (tested against the normalised origin, e.g. `https://app.example.com:8443`);
 * - a function of the origin and the request headers.
 *
 * A request without an `Origin` header is not from a browser page and is let through: browsers always
 * send one on a WebSocket handshake, and a non-browser client can send any value it likes anyway.
 */
export type OriginPolicy =
  | '*'
  | 'same-origin'
  | readonly (string | RegExp)[]
  | ((origin: string, headers: IncomingHttpHeaders) => boolean)

/** A compiled policy: true when the request's origin may connect. */
export type OriginCheck = (headers: IncomingHttpHeaders) => boolean

/**
 * The policy `talk()` uses when none is given, whatever `NODE_ENV` says: `'same-origin'`. A page served
 * elsewhere (a dev server on another port, another site) is refused with HTTP 403 until listed in `origins`.
 */
export const DEFAULT_ORIGIN_POLICY = 'same-origin' satisfies OriginPolicy

/**
 * Compiles an origin policy once at start-up. Throws a TypeError for an entry that is not an origin.
 *
 * @example
 * const allowed = originCheck(['https://app.example.com', 'https://*.example.org'])
 * allowed({ origin: 'https://evil.example' }) // false
 */
export function originCheck(policy: OriginPolicy): OriginCheck {
  if (policy === '*') return () => true
  if (policy === 'same-origin') return sameOrigin
  if (typeof policy === 'function') {
    return (headers) => {
      const origin = headers.origin
      return origin === undefined || policy(origin, headers)
    }
  }
  if (!Array.isArray(policy)) throw new TypeError("talk(): origins must be '*', 'same-origin', a list of origins or a function")
  const exact = new Set<string>()
  const patterns: RegExp[] = []
  for (const entry of policy as readonly (string | RegExp)[]) {
    if (entry instanceof RegExp) patterns.push(entry)
    else if (typeof entry === 'string' && entry.includes('*')) patterns.push(wildcard(entry))
    else if (typeof entry === 'string') exact.add(entry === 'null' ? 'null' : normalise(entry, true) as string)
    else throw new TypeError('talk(): every entry of origins must be a string or a RegExp')
  }
  return (headers) => {
    const origin = headers.origin
    if (origin === undefined) return true
    const normal = origin === 'null' ? 'null' : normalise(origin, false)
    if (normal === undefined) return false
    if (exact.has(normal)) return true
    for (const pattern of patterns) {
      pattern.lastIndex = 0
      if (pattern.test(normal)) return true
    }
    return false
  }
}

function sameOrigin(headers: IncomingHttpHeaders): boolean {
  const origin = headers.origin
  if (origin === undefined) return true
  const host = headers.host
  if (host === undefined) return false
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  // The scheme is not compared: TLS is often terminated by a proxy in front of Talk.
  return url.host === host.toLowerCase() || url.host === withoutDefaultPort(host.toLowerCase())
}

function withoutDefaultPort(host: string): string {
  return host.endsWith(':80') || host.endsWith(':443') ? host.slice(0, host.lastIndexOf(':')) : host
}

/** `scheme://host[:port]`, lower-case, default port dropped; undefined (or a TypeError at start-up) when it is not an origin. */
function normalise(origin: string, strict: boolean): string | undefined {
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    if (strict) throw new TypeError(`talk(): "${origin}" in origins is not an origin like https://app.example.com`)
    return undefined
  }
  if (url.origin === 'null') {
    if (strict) throw new TypeError(`talk(): "${origin}" in origins has no host`)
    return undefined
  }
  return url.origin
}

/** `https://*.example.com` → any subdomain (one or more labels) of example.com over https, on the default port or the port given. */
function wildcard(entry: string): RegExp {
  const match = /^([a-z][a-z0-9+.-]*):\/\/\*\.([^/*]+)$/i.exec(entry)
  if (match === null) throw new TypeError(`talk(): "${entry}" in origins: a wildcard may only stand for subdomains, as in https://*.example.com`)
  const scheme = (match[1] as string).toLowerCase()
  const rest = normalise(`${scheme}://${match[2] as string}`, true) as string
  const host = rest.slice(scheme.length + 3).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`^${scheme}://(?:[a-z0-9-]+\\.)+${host}$`)
}
