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
}

/**
 * A hook run on the HTTP upgrade request before any socket opens. Throw a TalkError to refuse
 * the connection: its code picks the HTTP status (`UNAUTHORIZED` → 401).
 */
export type HandshakeHook = (handshake: Handshake) => unknown

/** Reads headers, query and cookies of an upgrade request into a Handshake; BAD_REQUEST for a URL that does not parse. */
export function readHandshake(req: IncomingMessage): Handshake {
  let url: URL
  try {
    url = new URL(req.url ?? '/', 'http://talk.invalid')
  } catch {
    // `//host:99999/?token=…` does not parse; the error would carry the raw URL (and its token) into logs.
    throw new TalkError('BAD_REQUEST', 'Malformed request URL')
  }
  const query: Record<string, string> = Object.create(null) as Record<string, string>
  for (const [key, value] of url.searchParams) if (!(key in query)) query[key] = value
  const cookieHeader = req.headers.cookie
  let cookies: Record<string, string> = Object.create(null) as Record<string, string>
  if (typeof cookieHeader === 'string') {
    try {
      cookies = Object.assign(Object.create(null) as Record<string, string>, parseCookies(cookieHeader))
    } catch {
      // A malformed Cookie header is treated as no cookies, like browsers and Express do.
    }
  }
  return {
    req,
    headers: req.headers,
    query,
    cookies,
    ip: req.socket.remoteAddress,
    path: url.pathname,
    user: undefined,
    state: {},
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
