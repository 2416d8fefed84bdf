import type { RouteMap } from '../types'
import { PROTOCOL_TOKEN_PREFIX, TALK_SUBPROTOCOL } from '../protocol'
import type { ClientOptions } from './options'
import type { SocketLike } from './socket'
import { followPage, pageHeartbeat } from './page'
import { TalkClient } from './talk-client'

export { TalkClient } from './talk-client'
export { TalkError } from '../errors'
export { backoffDelay } from './backoff'

/** A relative or http(s) URL becomes the ws(s) URL of the page's own server: `/ws` → `ws://host/ws`. */
function socketUrl(url: string): string {
  const location = (globalThis as { location?: { href: string } }).location
  if (location === undefined) return url
  const absolute = new URL(url, location.href)
  if (absolute.protocol === 'http:') absolute.protocol = 'ws:'
  else if (absolute.protocol === 'https:') absolute.protocol = 'wss:'
  return absolute.href
}

/** Options of the browser client: the client's own, plus a token for the upgrade. */
export interface BrowserClientOptions extends ClientOptions {
  /**
   * A token for `auth({ from: 'protocol' })` (browsers cannot set headers on a WebSocket): offered
   * as the subprotocols `talk` and `bearer.<token>`, so the server answers `talk` and never echoes
   * the token. A function is asked again at every reconnection (for a refreshed token).
   */
  token?: string | (() => string | undefined)
}

/**
 * Creates a browser client on the global WebSocket; it starts connecting at once. It follows the
 * page: `offline` counts the connection lost at once and waits for `online` to reconnect; a page
 * that becomes visible probes its connection (a dead one shows within 2 s); a visible page pings
 * every 5 s, a hidden one every 15 s (unless `heartbeat` is given). `token` is offered as a subprotocol.
 */
export function createClient<R extends RouteMap = RouteMap>(url: string, options: BrowserClientOptions = {}): TalkClient<R> {
  const { token, ...rest } = options
  const createSocket = (target: string): SocketLike => {
    const current = typeof token === 'function' ? token() : token
    const protocols = current === undefined || current === '' ? undefined : [TALK_SUBPROTOCOL, `${PROTOCOL_TOKEN_PREFIX}${current}`]
    return new WebSocket(target, protocols) as unknown as SocketLike
  }
  const paced = rest.heartbeat === undefined
  const client = new TalkClient<R>(socketUrl(url), createSocket, { ...rest, heartbeat: pageHeartbeat(rest.heartbeat) })
  followPage(client, paced)
  return client
}

/**
 * Connects from a browser and resolves once welcomed; rejects with DISCONNECTED when the first
 * connection fails. Cookies of the page's origin go with the upgrade request, and `token` as the
 * subprotocol `bearer.<token>` next to `talk`.
 *
 * @example
 * import { connect } from '/talk-client.js'
 * const client = await connect('/')
 * client.on('node:create', (node) => render(node))
 */
export function connect<R extends RouteMap = RouteMap>(url: string, options: BrowserClientOptions = {}): Promise<TalkClient<R>> {
  return createClient<R>(url, options).opened()
}
