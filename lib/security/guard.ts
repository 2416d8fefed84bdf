import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { TalkError } from '../errors'
import { PROTOCOL_TOKEN_PREFIX } from '../protocol'
import { ConnectionLimits } from './limits'
import { DEFAULT_ORIGIN_POLICY, originCheck, type OriginCheck, type OriginPolicy } from './origin'

/** The handshake defences `talk()` takes as options; each has a default (see docs/operations.md). */
export interface GuardOptions {
  /** Browser origins allowed to connect (default `'same-origin'`; `'*'` lets every page in). */
  origins?: OriginPolicy
  /** Connections (and handshakes in progress) this node holds at most; past it, HTTP 503 (default 10000; 0: no limit). */
  maxConnections?: number
  /** Connections one peer address may hold; past it, HTTP 429 (default 0: no limit, see docs/operations.md behind a proxy). */
  maxConnectionsPerIp?: number
  /** How long the handshake hooks may take, in ms; past it, HTTP 504 (default 10000). Also the header timeout of `listen()`'s server. */
  handshakeTimeout?: number
  /**
   * Handshakes whose hooks may be waiting at once (an async verifier, a database look-up); past it a
   * new upgrade gets HTTP 503 with `Retry-After`, so a reconnect storm queues at the clients instead
   * of piling up here (default 1000; 0: no limit). Hooks that return at once never wait.
   */
  maxHandshakes?: number
}

/** Seconds a refused client is told to wait (`Retry-After`) when the node is full or its address is over its limit. */
const RETRY_AFTER_SECONDS = '5'

/**
 * The checks an upgrade request passes before any handshake hook runs, cheapest first: connection
 * limits, then the Origin allow-list; and the deadline on the hooks. Built once by the app.
 */
export class HandshakeGuard {
  readonly handshakeTimeout: number
  private readonly limits: ConnectionLimits
  private readonly allowed: OriginCheck
  private readonly byDefault: boolean
  private warned = false
  private readonly releaseOne = (): void => this.limits.release(undefined)
  private readonly maxHandshakes: number
  /** Handshakes whose hooks are waiting now. */
  private waiting = 0

  constructor(
    options: GuardOptions,
    private readonly log: Logger,
  ) {
    this.limits = new ConnectionLimits(count('maxConnections', options.maxConnections ?? 10_000), count('maxConnectionsPerIp', options.maxConnectionsPerIp ?? 0))
    this.handshakeTimeout = count('handshakeTimeout', options.handshakeTimeout ?? 10_000)
    this.maxHandshakes = count('maxHandshakes', options.maxHandshakes ?? 1000)
    this.allowed = originCheck(options.origins ?? DEFAULT_ORIGIN_POLICY)
    this.byDefault = options.origins === undefined
  }

  /**
   * Admits an upgrade request or says why not (a TalkError: UNAVAILABLE, RATE_LIMITED, FORBIDDEN, or
   * BAD_REQUEST for a subprotocol offer of tokens only).
   * An admitted request is counted until its socket closes, however the handshake ends.
   */
  admit(req: IncomingMessage, socket: Duplex): TalkError | undefined {
    if (this.maxHandshakes > 0 && this.waiting >= this.maxHandshakes) {
      return new TalkError('UNAVAILABLE', 'Too many connections are being set up: retry shortly')
    }
    const perIp = this.limits.maxConnectionsPerIp > 0
    const ip = perIp ? req.socket.remoteAddress : undefined
    const refused = this.limits.acquire(ip)
    if (refused !== undefined) return refused
    // 'close' comes once; without a per-address limit one shared listener uncounts any socket.
    socket.on('close', perIp ? () => this.limits.release(ip) : this.releaseOne)
    if (!this.allowed(req.headers)) {
      // A page on a dev server at another port meets the default first: say once how to let it in.
      if (this.byDefault && !this.warned) {
        this.warned = true
        this.log.warn({ origin: req.headers.origin, host: req.headers.host }, "cross-origin WebSocket refused by the default same-origin policy; list the page's origin in talk({ origins })")
      }
      return new TalkError('FORBIDDEN', 'Origin not allowed')
    }
    if (tokenOnly(req.headers['sec-websocket-protocol'])) {
      return new TalkError('BAD_REQUEST', `Offer a subprotocol besides ${PROTOCOL_TOKEN_PREFIX}<token> for the server to answer with`)
    }
    return undefined
  }

  /** Extra response headers for a refusal: `Retry-After` when waiting may help. */
  headersFor(err: TalkError): Record<string, string> {
    return err.code === 'UNAVAILABLE' || err.code === 'RATE_LIMITED' ? { 'Retry-After': RETRY_AFTER_SECONDS } : {}
  }

  /**
   * Rejects with TIMEOUT (HTTP 504) when `work` (hooks that wait) takes longer than the handshake
   * timeout; 0 turns it off. Counted against `maxHandshakes` until it settles or times out.
   */
  deadline<T>(work: Promise<T>): Promise<T> {
    this.waiting++
    if (this.handshakeTimeout === 0) return work.finally(this.uncount)
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new TalkError('TIMEOUT', 'Handshake took too long')), this.handshakeTimeout)
    })
    // The hooks keep running after a timeout; whatever they do then is ignored (and no longer counted).
    work.catch(() => undefined)
    return Promise.race([work, expired]).finally(() => {
      clearTimeout(timer)
      this.uncount()
    })
  }

  private readonly uncount = (): void => {
    this.waiting--
  }
}

/**
 * Whether every subprotocol offered carries a token (`bearer.<token>`). Such an offer cannot be
 * accepted honestly: a client that offered protocols fails the connection unless the answer names one
 * (RFC 6455 §4.1, and browsers and `ws` do), and the only one to name would echo the token into the
 * response (and every proxy log of it).
 */
function tokenOnly(header: string | string[] | undefined): boolean {
  if (header === undefined) return false
  const offered = (Array.isArray(header) ? header.join(',') : header).split(',').map((p) => p.trim()).filter((p) => p !== '')
  return offered.length > 0 && offered.every((p) => p.startsWith(PROTOCOL_TOKEN_PREFIX))
}

function count(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new TypeError(`talk(): ${name} must be a whole number, 0 or more`)
  return value
}
