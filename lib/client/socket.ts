import { CLOSE, TalkError } from '../errors'

/** The part of a WebSocket the client uses; the browser's WebSocket and `ws`'s both fit. */
export interface SocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((event: unknown) => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: ((event: { code: number; reason: string }) => void) | null
  onerror: ((event: unknown) => void) | null
  /** Why the server refused the upgrade, when the socket could read its answer (Node's `ws` can; a browser cannot). */
  refusal?: HandshakeRefusal
}

/** A refused upgrade as the server answered it: the HTTP status, `Retry-After`, and Talk's error body when there was one. */
export interface HandshakeRefusal {
  /** The HTTP status, e.g. 401. */
  status: number
  /** The error code of the body `{ status: 'error', error: { code, message } }`, e.g. `UNAUTHORIZED`. */
  code?: string
  /** The error message of that body. */
  message?: string
  /** Seconds the server asked the client to wait (`Retry-After`), for 503 and 429. */
  retryAfter?: number
}

/** Opens a socket to a URL: `(url) => new WebSocket(url)`. */
export type SocketFactory = (url: string) => SocketLike

/** HTTP statuses of a refused upgrade after which the client stops reconnecting: a retry would be refused again. */
export const FINAL_REFUSALS: ReadonlySet<number> = new Set([400, 401, 403, 404])

/** The error a refused connection rejects with: the server's code and message, or the HTTP status alone. */
export function refusedError(refusal: HandshakeRefusal): TalkError {
  const message = refusal.message ?? `The server refused the connection with HTTP ${refusal.status}`
  return new TalkError(refusal.code ?? 'DISCONNECTED', message, { status: refusal.status })
}

/**
 * Lets go of a socket that cannot be trusted any more (silent, or stuck connecting): its handlers are
 * removed, then `ws` cuts the TCP connection, or a browser starts the closing handshake with 4901 so
 * the server parks the session for a resume.
 */
export function abandonSocket(socket: SocketLike, reason: string): void {
  socket.onmessage = null
  socket.onclose = null
  socket.onerror = () => undefined
  try {
    const terminate = (socket as { terminate?: unknown }).terminate
    if (typeof terminate === 'function') terminate.call(socket)
    else socket.close(CLOSE.WILL_RESUME, reason)
  } catch {
    // already closed
  }
}

/** Closes a socket with a close frame and resolves once it has closed; its other events are ignored from now on. */
export function closeSocket(socket: SocketLike, code: number, reason: string): Promise<void> {
  return new Promise<void>((resolve) => {
    socket.onmessage = null
    socket.onerror = () => undefined
    socket.onclose = () => resolve()
    try {
      socket.close(code, reason)
    } catch {
      resolve()
    }
  })
}

/** The URL without its query and fragment, which may carry credentials (`?token=`). */
export function withoutQuery(url: string): string {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

/** The URL with `params` added to its query (its fragment dropped). */
export function withQuery(url: string, params: Record<string, string>): string {
  const hash = url.indexOf('#')
  const base = hash === -1 ? url : url.slice(0, hash)
  const query = Object.entries(params).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
  return base + (base.includes('?') ? '&' : '?') + query
}
