import WebSocket from 'ws'
import type { RouteMap } from '../types'
import { readRefusals } from './refusal'
import type { ClientOptions } from './options'
import type { SocketLike } from './socket'
import { TalkClient } from './talk-client'

export { TalkClient } from './talk-client'
export type { ClientOptions, ReconnectOptions } from './options'
export type { ClientEvents, ReconnectInfo, PushHandler, PushPayload } from './emitter'
export type { HeartbeatOptions } from './heartbeat'
export type { HandshakeRefusal, SocketLike, SocketFactory } from './socket'
export type { RouteName, SpecOf, PayloadOf, ResultOf, RequestOptions, RequestArgs, ColonName } from './routes'
export { backoffDelay, type BackoffOptions } from './backoff'
export { TalkError } from '../errors'

/** Options of the Node client: the client's own, plus what `ws` needs for the upgrade request. */
export interface NodeClientOptions extends ClientOptions {
  /** Extra headers for the upgrade request (Authorization, Cookie, Origin…). */
  headers?: Record<string, string>
}

/**
 * Creates a Node client (on `ws`) that starts connecting at once; requests made before it is
 * welcomed wait in the offline queue. Most code wants `connect()`, which waits for the welcome.
 */
export function createClient<R extends RouteMap = RouteMap>(url: string, options: NodeClientOptions = {}): TalkClient<R> {
  const { headers, ...rest } = options
  const createSocket = (target: string): SocketLike => {
    const socket = new WebSocket(target, { headers })
    readRefusals(socket)
    return socket as unknown as SocketLike
  }
  return new TalkClient<R>(url, createSocket, rest)
}

/**
 * Connects to a Talk server from Node and resolves once welcomed; rejects with DISCONNECTED when
 * the first connection fails. Pass the app's route map type for typed requests.
 *
 * @example
 * const client = await connect<typeof routes>('ws://127.0.0.1:3000', { headers: { authorization: `Bearer ${token}` } })
 * const { document } = await client.request('document/get', { id: 'hello-world' })
 */
export function connect<R extends RouteMap = RouteMap>(url: string, options: NodeClientOptions = {}): Promise<TalkClient<R>> {
  return createClient<R>(url, options).opened()
}
export { browserBundlePath, readBrowserBundle } from './bundle'
