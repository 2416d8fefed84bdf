import type { IncomingMessage } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { parse as parseCookies } from 'cookie'
import { httpStatus, TalkError, toWireError } from './errors'
import type { ClientState, HandshakeInfo, User } from './types'

/** What a handshake hook works with: the upgrade request, read-only views of it, and the client to be. */
export interface Handshake extends HandshakeInfo {
  /** The raw HTTP upgrade request. */
  readonly req: IncomingMessage
  /** Set this to name the client's user (`ctx.client.user`). */
  user: User | undefined
  /** The client's initial state (`ctx.state`). */
  readonly state: ClientState
  /** Marks a query parameter as a credential (`?token=`): the REST bridge leaves it out of `ctx.body`. */
  concealQuery(name: string): void
}

/**
 * A hook run on the HTTP upgrade request before any socket opens. Throw a TalkError to refuse
 * the connection: its code picks the HTTP status (`UNAUTHORIZED` → 401).
 */
export type HandshakeHook = (handshake: Handshake) => unknown

/** Where the peer's address comes from: the upgrade's TCP socket. */
interface Peer {
  readonly remoteAddress?: string | undefined
}

/**
 * The handshake of one connection as the client keeps it (`ctx.client.handshake`): the query,
 * cookies, path and peer address are read on first use, not per connection, since most apps read
 * few of them (the address costs a `getpeername` call, about 3 % of a connect-and-close cycle).
 */
export class HandshakeView implements HandshakeInfo {
  private queryValue: Record<string, string> | undefined
  private cookiesValue: Record<string, string> | undefined
  /** The socket, until the address is read from it. */
  private peer: Peer | undefined
  private ipValue: string | undefined = undefined

  constructor(
    readonly headers: Readonly<Record<string, string | string[] | undefined>>,
    peer: Peer | undefined,
    /** The upgrade URL's path and query, as sent. */
    private readonly target: string,
  ) {
    this.peer = peer
  }

  /**
   * The peer's address (no proxy headers are trusted), read from the socket on first use. Once the
   * socket has closed it can no longer be read: an address first asked for after the close is undefined.
   */
  get ip(): string | undefined {
    const peer = this.peer
    if (peer !== undefined) {
      this.ipValue = peer.remoteAddress
      this.peer = undefined
    }
    return this.ipValue
  }

  /** Reads the peer's address now, while the socket is open, for whoever asks after it has closed. */
  keepAddress(): void {
    void this.ip
  }

  /** Query parameters of the upgrade URL (the first value of each). */
  get query(): Readonly<Record<string, string>> {
    return (this.queryValue ??= parseQuery(this.target))
  }

  /** Cookies sent with the upgrade request (none for a malformed Cookie header). */
  get cookies(): Readonly<Record<string, string>> {
    const header = this.headers.cookie
    return (this.cookiesValue ??= parseCookieHeader(typeof header === 'string' ? header : undefined))
  }

  /** The upgrade URL's path. */
  get path(): string {
    const q = this.target.indexOf('?')
    return q === -1 ? this.target : this.target.slice(0, q)
  }

  /** A view without the request, for the connection to keep. */
  view(): HandshakeView {
    const view = new HandshakeView(this.headers, this.peer, this.target)
    view.ipValue = this.ipValue
    view.queryValue = this.queryValue
    view.cookiesValue = this.cookiesValue
    return view
  }
}

/** A handshake in progress: the view plus the request, and the user and state hooks set. */
export class PendingHandshake extends HandshakeView implements Handshake {
  user: User | undefined = undefined
  readonly state: ClientState = {}
  /** Query parameters that carry credentials, when a hook named some. */
  concealed: Set<string> | undefined = undefined

  constructor(readonly req: IncomingMessage, target: string) {
    super(req.headers, req.socket, target)
  }

  concealQuery(name: string): void {
    ;(this.concealed ??= new Set()).add(name)
  }
}

/** A request target that needs no normalising: a plain path (no dot segments, escapes or backslashes) and a query. */
const PLAIN_TARGET = /^\/[A-Za-z0-9\-_~/]*(?:\?[^#\s]*)?$/

/** Reads an upgrade request into a Handshake; BAD_REQUEST for a URL that does not parse. */
export function readHandshake(req: IncomingMessage): PendingHandshake {
  const raw = req.url ?? '/'
  if (PLAIN_TARGET.test(raw)) return new PendingHandshake(req, raw)
  let url: URL
  try {
    url = new URL(raw, 'http://talk.invalid')
  } catch {
    // `//host:99999/?token=…` does not parse; the error would carry the raw URL (and its token) into logs.
    throw new TalkError('BAD_REQUEST', 'Malformed request URL')
  }
  return new PendingHandshake(req, url.pathname + url.search)
}

function parseQuery(target: string): Record<string, string> {
  const query: Record<string, string> = Object.create(null) as Record<string, string>
  const q = target.indexOf('?')
  if (q === -1) return query
  for (const [key, value] of new URLSearchParams(target.slice(q + 1))) if (!(key in query)) query[key] = value
  return query
}

function parseCookieHeader(header: string | undefined): Record<string, string> {
  const cookies = Object.create(null) as Record<string, string>
  if (typeof header !== 'string') return cookies
  try {
    return Object.assign(cookies, parseCookies(header))
  } catch {
    // A malformed Cookie header is treated as no cookies, like browsers and Express do.
    return cookies
  }
}

/** Refuses an upgrade with the HTTP status of the error's code and a JSON error body, then closes the socket. */
export function rejectUpgrade(socket: Duplex, err: unknown, headers: Record<string, string> = {}): void {
  const error = toWireError(err)
  const status = httpStatus(error.code)
  const body = JSON.stringify({ status: 'error', error })
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  if (!socket.writable) {
    socket.destroy()
    return
  }
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
    () => socket.destroy(),
  )
}
