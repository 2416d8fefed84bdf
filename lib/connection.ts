import WebSocket from 'ws'
import { Backlog } from './backlog'
import { SETTLED } from './compose'
import type { ConnectionHost } from './connection-host'
import type { Context, Responder } from './context'
import { EncodedReply } from './encoded-reply'
import { CLOSE, TalkError } from './errors'
import { encodeFrame, rawSocket, skipFinishedEnds, type EncodedFrame, type Outgoing, type RawSocket } from './frames'
import { decode, encodeError, encodePush, encodeSuccess, PING_ROUTE, type Envelope } from './protocol'
import { checkReplySize, frameEncodedReply } from './reply-frames'
import { NO_SESSION, type ResumeSession } from './resume'
import { NO_ROOMS, type DropPolicy, type Member } from './rooms'
import { TurnBudget } from './turn-budget'
import type { Client, ClientState, HandshakeInfo, User } from './types'

/** The error reply of a request refused before any route ran, waiting for its turn in the reply order. */
class Refusal {
  constructor(readonly frame: string) {}
}

/** The socket under a ws WebSocket (lib/frames.ts), marked with the connection that owns it. */
interface OwnedRawSocket extends RawSocket {
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
  /** Cleared by each heartbeat, set again by any bytes read (a pong or a message). */
  alive = true
  /** Whether the socket is corked, waiting for the end-of-turn flush. */
  corked = false
  /** The resumable session this connection carries (lib/resume/), or the shared no-op when the app has `resume` off. */
  session: ResumeSession = NO_SESSION
  /** Bytes of frames written to this socket so far: less `socket.bufferedAmount`, what the reader has taken (lib/backlog.ts). */
  written = 0
  /** Whether the server closed this socket on purpose (close()): such a session is never parked. */
  closedByServer = false
  /** Set when the app drains this connection: new requests are answered UNAVAILABLE. */
  draining = false

  private closeSent: { code: number; reason: string } | undefined
  /** Requests waiting to run, and refusals waiting for the replies before them. */
  private readonly queue: (Envelope | Refusal)[] = []
  /** Refusals in the queue (the rest are requests, bounded by maxQueue). */
  private refusals = 0
  private running = 0
  /** This connection's share of the event-loop turn (lib/turn-budget.ts). */
  private readonly turn: TurnBudget
  /** Whether this connection has used its turn and continues in a setImmediate (or, `awaitingDrain`, once its socket drains). */
  private yielded = false
  private awaitingDrain = false
  /** Made on first use: most connections are never waited for, and many join no room. */
  private idleWaiters: (() => void)[] | undefined = undefined
  private joined: Set<string> | undefined = undefined
  /** Made when the client first falls behind on reading (lib/backlog.ts). */
  private backlog: Backlog | undefined = undefined
  private readonly raw: OwnedRawSocket

  constructor(
    private readonly host: ConnectionHost,
    readonly socket: WebSocket,
    readonly id: string,
    readonly handshake: HandshakeInfo,
    public user: User | undefined,
    state: ClientState,
  ) {
    this.state = state
    this.turn = new TurnBudget(host.maxRequestsPerTurn, host.maxTurnMs)
    this.raw = rawSocket(socket)
    skipFinishedEnds(socket, this.raw)
    // The listeners are shared by every connection (no closures per socket): each finds its connection on the socket.
    ;(socket as OwnedSocket)[CONNECTION] = this
    this.raw[CONNECTION] = this
    // After ws's own 'data' listener has turned a chunk into messages: the replies they got at once leave now.
    // A chunk read is also the heartbeat's sign of life (a pong is bytes read too): no 'pong' listener.
    this.raw.on('data', Connection.onChunkRead)
    this.raw.on('drain', Connection.onDrain)
    socket.on('message', Connection.onMessage)
    socket.on('error', Connection.onError)
    socket.on('close', Connection.onClose)
  }

  private static onMessage(this: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    owner(this).received(data, isBinary)
  }

  private static onChunkRead(this: OwnedRawSocket): void {
    const connection = this[CONNECTION]
    if (connection === undefined) return
    connection.alive = true
    connection.flush()
  }

  /** The socket wrote out what was waiting: a connection that stopped for its backlog (`backedUp`) goes on. */
  private static onDrain(this: OwnedRawSocket): void {
    const connection = this[CONNECTION]
    if (connection === undefined || !connection.awaitingDrain) return
    connection.awaitingDrain = false
    Connection.nextTurn(connection)
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
    connection.host.closed(connection, sent?.code ?? code, sent?.reason ?? (reason.length === 0 ? '' : reason.toString()))
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

  /** True when no request of this connection is running or waiting (nor a refusal waiting to be sent). */
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
   * Delivers one encoded push through the session (with resume on, it counts and logs it and picks
   * the socket). A push with a drop policy skips a client that is behind on reading (`Backlog.skip`).
   */
  deliver(frame: Outgoing, drop?: DropPolicy): void {
    if (drop !== undefined && this.socket.bufferedAmount > (this.host.dropThreshold ?? Infinity)) this.lagging().skip(frame, drop)
    else this.session.deliver(frame, this)
  }

  /**
   * Writes one frame (text is framed here) to this socket; drops it if the socket is no longer open.
   * With `rest`, `frame` is only the frame's start and `rest` the end of its payload (lib/reply-frames.ts).
   * The slow-consumer bound looks at the bytes that were already waiting, never at this frame: see `Backlog.behind`.
   */
  write(frame: Outgoing, rest?: Uint8Array): void {
    const socket = this.socket
    if (socket.readyState !== WebSocket.OPEN) return
    if (!this.corked) this.cork()
    const waiting = socket.bufferedAmount
    const bytes = typeof frame === 'string' ? encodeFrame(frame) : frame
    this.raw.write(bytes)
    if (rest !== undefined) this.raw.write(rest)
    this.written += bytes.length + (rest === undefined ? 0 : rest.length)
    if (waiting > this.host.maxBufferedBytes) this.lagging().behind(waiting)
  }

  /**
   * Sends the success reply of a request of this connection; throws, sending nothing, if the payload
   * cannot be encoded or its frame is over maxReplyBytes (PAYLOAD_TOO_LARGE).
   */
  success(ctx: Context, payload: object | undefined): void {
    this.turn.answered(ctx.startedAt)
    const limit = this.host.maxReplyBytes
    if (payload instanceof EncodedReply) {
      const { head, rest, text } = frameEncodedReply(payload, ctx.ref, this.host.codec, limit)
      this.session.replied(ctx.ref, text)
      return this.write(head as EncodedFrame, rest)
    }
    const frame = encodeSuccess(ctx.ref, payload, this.host.codec)
    // A UTF-8 byte is at most 3 per UTF-16 unit here: only a long string needs its bytes counted.
    if (frame.length * 3 > limit) checkReplySize(Buffer.byteLength(frame), limit)
    this.session.replied(ctx.ref, frame)
    this.write(frame)
  }

  /** Sends the error reply of a request of this connection. */
  failure(ctx: Context, err: unknown): void {
    this.turn.answered(ctx.startedAt)
    const frame = encodeError(ctx.ref, err, this.host.codec)
    this.session.replied(ctx.ref, frame)
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

  /** Corks the socket for writes that `flush()` sends before its caller returns (the welcome, `connection` listeners' sends): no end-of-turn flush. */
  holdWrites(): void {
    if (this.corked) return
    this.raw.cork()
    this.corked = true
  }

  /** The end of an event-loop turn (ConnectionHost.flushLater): corked writes leave, and the turn budget is renewed. */
  endTurn(): void {
    this.turn.renew()
    this.flush()
  }

  /** Flushes corked writes: the end-of-turn half of write batching. */
  flush(): void {
    if (!this.corked) return
    this.corked = false
    this.raw.uncork()
  }

  /** The backlog of a client behind on reading, made at its first lag. */
  private lagging(): Backlog {
    return (this.backlog ??= new Backlog(this, this.host))
  }

  private cork(): void {
    this.raw.cork()
    this.corked = true
    this.host.flushLater(this)
  }

  private received(data: WebSocket.RawData, isBinary: boolean): void {
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
    } else if (this.session.retry(envelope)) {
      // A retry after a resume: answered from the session's reply cache, the handler does not run again.
    } else if (this.yielded || (this.running < this.host.concurrency && this.queue.length === 0)) {
      if (!this.yielded && !this.turn.spent && !this.backedUp) {
        this.start(envelope)
        if (this.running === 0) this.wakeIdleWaiters()
      } else {
        // It waits only for this connection's next turn. Reading stops at a yield, so what arrives
        // meanwhile had been read already (a chunk at most): queued past maxQueue, never refused.
        this.queue.push(envelope)
        this.yieldTurn()
      }
    } else if (this.queue.length - this.refusals < this.host.maxQueue) {
      this.queue.push(envelope)
    } else {
      const err = new TalkError('RATE_LIMITED', 'Too many requests waiting on this connection')
      this.session.refused(envelope.ref)
      this.refuse(envelope.ref, err)
      this.host.overflowed?.(this, envelope, err)
    }
  }

  /**
   * Answers a frame that never reaches a route with its error, counted by the host. The error takes
   * the request's place in the reply order: sent at once when nothing is running or waiting, else
   * queued behind the requests before it. Refusals waiting are bounded too (16 × maxQueue, about
   * 150 bytes each): a client past that is flooding, and is closed with 1008.
   */
  private refuse(ref: Envelope['ref'], err: TalkError): void {
    this.host.frameError?.(err.code)
    const frame = encodeError(ref, err, this.host.codec)
    if (this.running === 0 && this.queue.length === 0) {
      this.write(frame)
    } else if (this.refusals < this.host.maxQueue * 16) {
      this.queue.push(new Refusal(frame))
      this.refusals++
    } else {
      this.host.log.warn({ client: this.id }, 'closed a connection with too many refused requests waiting')
      this.close(CLOSE.POLICY, 'too many requests waiting')
    }
  }

  /** Answers the built-in heartbeat at once, ahead of queued requests and middleware; it acknowledges pushes and replies. */
  private pong(envelope: Envelope): void {
    this.session.acknowledge(envelope.body.seen, envelope.body.done)
    this.write(encodeSuccess(envelope.ref, undefined, this.host.codec))
  }

  /** Runs one request; a synchronous one is answered (and no longer running) when this returns. */
  private start(envelope: Envelope): void {
    this.running++
    this.turn.started++
    const done = this.host.dispatch(this, envelope)
    if (done === SETTLED) this.running--
    else done.then(() => this.finished())
  }

  private finished(): void {
    this.running--
    this.pump()
  }

  /**
   * Starts what waits in the queue while a slot is free and this turn's budget lasts; a refusal
   * leaves once every request before it is answered. Past the budget, it continues next turn.
   */
  private pump(): void {
    const queue = this.queue
    while (this.running < this.host.concurrency && queue.length > 0) {
      if (this.turn.spent || this.backedUp) return this.yieldTurn()
      const next = queue[0]!
      if (next instanceof Refusal) {
        if (this.running > 0) return
        queue.shift()
        this.refusals--
        this.turn.started++
        this.write(next.frame)
      } else {
        queue.shift()
        this.start(next)
      }
    }
    if (this.running === 0 && queue.length === 0) this.wakeIdleWaiters()
  }

  /**
   * Continues this connection's queue in a setImmediate: I/O, timers and other connections go first.
   * Its socket stops reading meanwhile (the frames of the chunk being read still arrive), so a client
   * cannot send faster than it is served: without it, reading between turns would fill its queue.
   */
  private yieldTurn(): void {
    if (this.yielded) return
    this.yielded = true
    this.socket.pause()
    if (this.backedUp) this.awaitingDrain = true
    else setImmediate(Connection.nextTurn, this)
  }

  /**
   * Whether more than 2 × maxBufferedBytes of this socket's frames wait unsent: its requests then wait
   * (and its socket is not read) until the socket drains, so a client that asks faster than it reads
   * is paced, not closed at the 4 × hard bound; one that stops reading is still closed as a slow
   * consumer (lib/backlog.ts).
   */
  private get backedUp(): boolean {
    return this.socket.bufferedAmount > 2 * this.host.maxBufferedBytes
  }

  /** A turn of its own: reading resumes once a turn ends with budget left (the queue drained, or waiting on a running request). */
  private static nextTurn(connection: Connection): void {
    connection.yielded = false
    connection.turn.renew()
    connection.pump()
    if (!connection.yielded) connection.socket.resume()
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters
    if (waiters === undefined) return
    this.idleWaiters = undefined
    for (const wake of waiters) wake()
  }
}
