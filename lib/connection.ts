import type { Logger } from 'pino'
import WebSocket from 'ws'
import { SETTLED } from './compose'
import type { Context, Responder } from './context'
import { CLOSE, TalkError } from './errors'
import { encodeFrame, type Outgoing } from './frames'
import { decode, encodeError, encodePush, encodeSuccess, PING_ROUTE, type Codec, type Envelope } from './protocol'
import type { Session } from './resume'
import { NO_ROOMS, type DropPolicy, type Member } from './rooms'
import type { JsonLimits } from './security/json-bounds'
import type { Client, ClientState, HandshakeInfo, User } from './types'

/** Limits and hooks a connection gets from its app. */
export interface ConnectionHost {
  readonly log: Logger
  readonly codec: Codec
  /** Requests a connection may have waiting (beyond those running) before it answers RATE_LIMITED. */
  readonly maxQueue: number
  /** Requests of one connection handled at once; 1 keeps them in arrival order. */
  readonly concurrency: number
  /** Unsent bytes a connection may hold before it is closed as a slow consumer. */
  readonly maxBufferedBytes: number
  /** True once the app is closing: new requests are answered UNAVAILABLE. */
  readonly draining: boolean
  /** Runs one request through the chain; resolves once it is answered. */
  dispatch(connection: Connection, envelope: Envelope): Promise<void>
  /** Asks for the socket's corked writes to be flushed at the end of this event-loop turn. */
  flushLater(connection: Connection): void
  /** Called once when the socket has closed. */
  closed(connection: Connection, code: number, reason: string): void
  /** Depth and size bounds for decoded frames (default: decode's). */
  readonly jsonLimits?: JsonLimits
  /** Unsent bytes past which droppable pushes skip this connection (default: never skipped). */
  readonly dropThreshold?: number
  /** Told of each error answered before any route ran (bad frame, draining, full queue), for metrics. */
  frameError?(code: string): void
  /** Told of each droppable push skipped (coalesced: kept as the latest for its key), for metrics. */
  pushDropped?(coalesced: boolean): void
}

/** Coalescing keys kept per slow connection; past it, skipped pushes are simply dropped. */
const MAX_COALESCED = 64
/** How often a connection holding coalesced pushes checks whether its client caught up, in ms. */
const COALESCE_POLL_MS = 25

/** The net.Socket under a ws WebSocket, which ws keeps private: Talk corks it and writes its own frames to it. */
interface RawSocket {
  cork(): void
  uncork(): void
  write(chunk: Buffer): boolean
  on(event: 'data', listener: (this: RawSocket) => void): void
  [CONNECTION]?: Connection
}

/** Where a socket keeps the connection that owns it, for the listeners every connection shares. */
const CONNECTION = Symbol('talk.connection')

type OwnedSocket = WebSocket & { [CONNECTION]: Connection }

function owner(socket: WebSocket): Connection {
  return (socket as OwnedSocket)[CONNECTION]
}

/**
 * One client: its socket, its ordered request queue, its state and rooms. Talk frames its own text
 * messages (lib/frames.ts) and writes them to the socket under ws, in order with ws's own frames
 * (close, pong). Writes are batched: the socket is corked from its first write until the chunk of
 * requests being read is done (the replies handlers gave at once leave together) or, for writes
 * made elsewhere (async handlers, pushes), until the end of the event-loop turn.
 */
export class Connection implements Client, Member, Responder {
  readonly state: ClientState
  /** Cleared by each heartbeat, set again by a pong or any message. */
  alive = true
  /** Whether the socket is corked, waiting for the end-of-turn flush. */
  corked = false
  /** The resumable session this connection carries (lib/resume.ts), when the app has `resume` on. */
  session: Session | undefined = undefined
  /** Whether the server closed this socket on purpose (close()): such a session is never parked. */
  closedByServer = false
  /** Set when the app drains this connection: new requests are answered UNAVAILABLE. */
  draining = false

  private closeSent: { code: number; reason: string } | undefined
  private readonly queue: Envelope[] = []
  private running = 0
  /** Made on first use: most connections are never waited for, and many join no room. */
  private idleWaiters: (() => void)[] | undefined = undefined
  private joined: Set<string> | undefined = undefined
  /** The latest skipped push per coalescing key, sent once the client catches up. */
  private coalesced: Map<string, Outgoing> | undefined
  private readonly raw: RawSocket

  constructor(
    private readonly host: ConnectionHost,
    readonly socket: WebSocket,
    readonly id: string,
    readonly handshake: HandshakeInfo,
    public user: User | undefined,
    state: ClientState,
  ) {
    this.state = state
    this.raw = (socket as unknown as { _socket: RawSocket })._socket
    // The listeners are shared by every connection (no closures per socket): each finds its connection on the socket.
    ;(socket as OwnedSocket)[CONNECTION] = this
    this.raw[CONNECTION] = this
    // After ws's own 'data' listener has turned a chunk into messages: the replies they got at once leave now.
    this.raw.on('data', Connection.onChunkRead)
    socket.on('message', Connection.onMessage)
    socket.on('pong', Connection.onPong)
    socket.on('error', Connection.onError)
    socket.on('close', Connection.onClose)
  }

  private static onMessage(this: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    owner(this).received(data, isBinary)
  }

  private static onChunkRead(this: RawSocket): void {
    this[CONNECTION]?.flush()
  }

  private static onPong(this: WebSocket): void {
    owner(this).alive = true
  }

  private static onError(this: WebSocket, err: Error): void {
    const connection = owner(this)
    connection.host.log.debug({ err, client: connection.id }, 'socket error')
  }

  private static onClose(this: WebSocket, code: number, reason: Buffer): void {
    const connection = owner(this)
    connection.wakeIdleWaiters()
    // When the server closed first, report the code it sent, not the 1006 of a peer that never answered.
    const sent = connection.closeSent
    connection.host.closed(connection, sent?.code ?? code, sent?.reason ?? reason.toString())
  }

  /** The rooms this client is in. */
  get rooms(): ReadonlySet<string> {
    return this.joined ?? NO_ROOMS
  }

  /** Notes that this client is in a room (the app's and resume's bookkeeping; `app.join` puts it there). */
  enter(room: string): void {
    ;(this.joined ??= new Set()).add(room)
  }

  /** Notes that this client left a room. */
  exit(room: string): void {
    this.joined?.delete(room)
  }

  /** Whether the socket is open for writing. */
  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN
  }

  /** True when no request of this connection is running or waiting. */
  get idle(): boolean {
    return this.running === 0 && this.queue.length === 0
  }

  /** Resolves when the connection has no request running or waiting (or has closed). */
  whenIdle(): Promise<void> {
    if (this.idle || !this.open) return Promise.resolve()
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve))
  }

  /** Pushes `{ command: name, ...payload }` to this client, with a `traceparent` field when given. */
  push(name: string, payload?: object, traceparent?: string): void {
    this.deliver(encodePush(name, payload, this.host.codec, traceparent))
  }

  /**
   * Delivers one encoded push; with resume on, the session counts and logs it and picks the socket.
   * A push with a drop policy skips a client that is behind on reading (see `skip`).
   */
  deliver(frame: Outgoing, drop?: DropPolicy): void {
    if (drop !== undefined && this.socket.bufferedAmount > (this.host.dropThreshold ?? Infinity)) this.skip(frame, drop)
    else if (this.session !== undefined) this.session.deliver(frame)
    else this.write(frame)
  }

  /** Writes one frame (text is framed here) to this socket; drops it if the socket is no longer open. */
  write(frame: Outgoing): void {
    const socket = this.socket
    if (socket.readyState !== WebSocket.OPEN) return
    if (!this.corked) this.cork()
    this.raw.write(typeof frame === 'string' ? encodeFrame(frame) : frame)
    if (socket.bufferedAmount > this.host.maxBufferedBytes) this.slowConsumer()
  }

  /** Sends the success reply of a request of this connection; throws, sending nothing, if the payload cannot be encoded. */
  success(ctx: Context, payload: object | undefined): void {
    const frame = encodeSuccess(ctx.ref, payload, this.host.codec)
    this.session?.replied(ctx.ref, frame)
    this.write(frame)
  }

  /** Sends the error reply of a request of this connection. */
  failure(ctx: Context, err: unknown): void {
    const frame = encodeError(ctx.ref, err, this.host.codec)
    this.session?.replied(ctx.ref, frame)
    this.write(frame)
  }

  /** Closes the connection with a close code (1000 by default). */
  close(code: number = CLOSE.NORMAL, reason = ''): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.closedByServer = true
      this.flush()
      this.closeSent ??= { code, reason }
      this.socket.close(code, reason)
    }
  }

  /** Flushes corked writes: the end-of-turn half of write batching. */
  flush(): void {
    if (!this.corked) return
    this.corked = false
    this.raw.uncork()
  }

  private cork(): void {
    this.raw.cork()
    this.corked = true
    this.host.flushLater(this)
  }

  /**
   * Skips a push for a client behind on reading, instead of queueing it: dropped, or kept as the
   * latest for its coalescing key and sent once the unsent bytes are back under the threshold.
   */
  private skip(frame: Outgoing, drop: DropPolicy): void {
    const pending = drop === true ? undefined : (this.coalesced ??= new Map())
    if (pending === undefined || (!pending.has(drop as string) && pending.size >= MAX_COALESCED)) {
      this.host.pushDropped?.(false)
      return
    }
    // Re-inserted, so the pushes go out in the order of their latest versions.
    pending.delete(drop as string)
    pending.set(drop as string, frame)
    this.host.pushDropped?.(true)
    if (pending.size === 1) this.waitToCatchUp()
  }

  private waitToCatchUp(): void {
    const timer = setTimeout(() => {
      const pending = this.coalesced
      if (pending === undefined || pending.size === 0 || !this.open) return
      if (this.socket.bufferedAmount > (this.host.dropThreshold ?? Infinity)) return this.waitToCatchUp()
      this.coalesced = undefined
      for (const frame of pending.values()) this.deliver(frame)
    }, COALESCE_POLL_MS)
    timer.unref()
  }

  private slowConsumer(): void {
    this.host.log.warn({ client: this.id, buffered: this.socket.bufferedAmount }, 'closing slow consumer')
    this.close(CLOSE.SLOW_CONSUMER, 'slow consumer')
    // A peer that stopped reading will not read the close frame either.
    setTimeout(() => this.socket.terminate(), 1000).unref()
  }

  private received(data: WebSocket.RawData, isBinary: boolean): void {
    this.alive = true
    if (isBinary) {
      this.refuse(undefined, new TalkError('BAD_REQUEST', 'Binary frames are not supported'))
      return
    }
    const decoded = decode(data.toString(), this.host.codec, this.host.jsonLimits)
    if (!decoded.ok) {
      this.refuse(decoded.ref, decoded.error)
      return
    }
    const envelope = decoded.envelope
    if (envelope.name === PING_ROUTE) {
      this.pong(envelope)
    } else if (this.draining) {
      this.refuse(envelope.ref, new TalkError('UNAVAILABLE', 'Server is shutting down'))
    } else if (this.session?.retry(envelope) === true) {
      // A retry after a resume: answered from the session's reply cache, the handler does not run again.
    } else if (this.running < this.host.concurrency) {
      this.run(envelope)
    } else if (this.queue.length < this.host.maxQueue) {
      this.queue.push(envelope)
    } else {
      this.session?.refused(envelope.ref)
      this.refuse(envelope.ref, new TalkError('RATE_LIMITED', 'Too many requests waiting on this connection'))
    }
  }

  /** Answers a frame that never reaches a route with its error, counted by the host. */
  private refuse(ref: Envelope['ref'], err: TalkError): void {
    this.host.frameError?.(err.code)
    this.write(encodeError(ref, err, this.host.codec))
  }

  /** Answers the built-in heartbeat at once, ahead of queued requests and middleware; it acknowledges pushes and replies. */
  private pong(envelope: Envelope): void {
    this.session?.acknowledge(envelope.body.seen, envelope.body.done)
    this.write(encodeSuccess(envelope.ref, undefined, this.host.codec))
  }

  /** Runs a request, then the queued ones for as long as each is answered synchronously. */
  private run(envelope: Envelope): void {
    for (let next: Envelope | undefined = envelope; next !== undefined; next = this.queue.shift()) {
      this.running++
      const done = this.host.dispatch(this, next)
      if (done !== SETTLED) {
        done.then(() => this.finished())
        return
      }
      this.running--
    }
    if (this.running === 0) this.wakeIdleWaiters()
  }

  private finished(): void {
    this.running--
    const next = this.queue.shift()
    if (next !== undefined) this.run(next)
    else if (this.running === 0) this.wakeIdleWaiters()
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters
    if (waiters === undefined) return
    this.idleWaiters = undefined
    for (const wake of waiters) wake()
  }
}
