import type { RouteMap } from '../types'
import { TalkClient, type ClientOptions, type SocketLike } from './talk-client'

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

/** Creates a browser client on the global WebSocket; it starts connecting at once. */
export function createClient<R extends RouteMap = RouteMap>(url: string, options: ClientOptions = {}): TalkClient<R> {
  const createSocket = (target: string): SocketLike => new WebSocket(target) as unknown as SocketLike
  return new TalkClient<R>(socketUrl(url), createSocket, options)
}

/**
 * Connects from a browser and resolves once welcomed; rejects with DISCONNECTED when the first
 * connection fails. Cookies of the page's origin go with the upgrade request.
 *
 * @example
 * import { connect } from '/talk-client.js'
 * const client = await connect('/')
 * client.on('node:create', (node) => render(node))
 */
export function connect<R extends RouteMap = RouteMap>(url: string, options: ClientOptions = {}): Promise<TalkClient<R>> {
  return createClient<R>(url, options).opened()
}
