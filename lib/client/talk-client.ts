import { CLOSE, TalkError } from '../errors'
import { colonName, RESUME_PARAM, SEEN_PARAM } from '../protocol'
import type { RouteMap } from '../types'
import { backoffDelay } from './backoff'
import { Emitter, type AnyListener, type ClientEvents, type PushHandler, type ReconnectInfo } from './emitter'
import { Heartbeat } from './heartbeat'
import { clientSettings, type ClientOptions, type ClientSettings } from './options'
import { invalidRequest, PendingRequests } from './pending'
import type { RequestArgs, RequestOptions, ResultOf, RouteName, SpecOf } from './routes'
import {
  abandonSocket, closeSocket, FINAL_REFUSALS, refusedError, withoutQuery, withQuery, type HandshakeRefusal, type SocketFactory, type SocketLike,
} from './socket'

type Phase = 'connecting' | 'open' | 'waiting' | 'closed'

/**
 * A Talk client over any WebSocket: requests as promises, pushes as events, reconnection with
 * backoff, session resume with every missed push, idempotent retries, and typed routes.
 * Use `connect()` from `talk/client` (Node) or the browser bundle rather than this constructor.
 * This file is the connection's lifecycle (connect, welcome, drop, backoff, resume, close); the
 * listeners, the requests waiting for replies and the heartbeat are objects of their own.
 *
 * @example
 * const client = await connect<typeof routes>('ws://localhost:3000')
 * client.on('node:create', (node) => render(node))
 * const { document } = await client.request('document/get', { id: 'hello-world' })
 */
export class TalkClient<R extends RouteMap = RouteMap> {
  private phase: Phase = 'connecting'
  private socket: SocketLike | undefined
  /** The current socket got its welcome. */
  private ready = false
  /** `onReconnect` is running: the offline queue waits for it. */
  private restoring = false
  private everOpened = false
  private clientId: string | undefined
  private token: string | undefined
  /** Pushes received in this session; the server counts the same, so a resume replays exactly the rest. */
  private seen = 0
  private attempt = 0
  /** The network is known to be down (the browser said `offline`): no reconnection is attempted until it is back. */
  private networkDown = false
  private connectTimer: ReturnType<typeof setTimeout> | undefined
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private readonly first: Promise<void>
  private settleFirst!: (err?: unknown) => void
  private readonly settings: ClientSettings
  private readonly events = new Emitter()
  private readonly pending = new PendingRequests()
  private readonly heartbeat: Heartbeat

  /** Starts connecting at once; requests made before the welcome wait in the offline queue. TypeError on a bad option. */
  constructor(
    readonly url: string,
    private readonly createSocket: SocketFactory,
    options: ClientOptions = {},
  ) {
    if (typeof url !== 'string' || url.length === 0) throw new TypeError('TalkClient needs a ws:// or wss:// URL')
    if (typeof createSocket !== 'function') throw new TypeError('TalkClient needs a socket factory')
    this.settings = clientSettings(options)
    this.heartbeat = new Heartbeat({
      write: (frame) => this.write(frame),
      seen: () => this.seen,
      done: () => this.pending.settledUpTo(),
      silent: (reason) => {
        if (this.socket !== undefined) this.abandon(this.socket, reason)
      },
    }, this.settings.heartbeat)
    this.first = new Promise<void>((resolve, reject) => {
      this.settleFirst = (err) => (err === undefined ? resolve() : reject(err))
    })
    // Nobody may wait for the first connection; its failure is still reported through opened().
    this.first.catch(() => undefined)
    this.open()
  }

  /** The client id from the server's welcome (undefined before the first one). */
  get id(): string | undefined {
    return this.clientId
  }

  /** Whether a connection is open and welcomed. */
  get connected(): boolean {
    return this.ready
  }

  /** Resolves with the client once the first connection is welcomed; rejects with DISCONNECTED if it fails. */
  async opened(): Promise<this> {
    await this.first
    return this
  }

  /**
   * Sends a request and resolves with the success payload (without `status` and `ref`). Rejects with a
   * TalkError: the server's code, message and details for an error reply; TIMEOUT when no reply comes
   * in time; ABORTED when `signal` aborts; DISCONNECTED when the connection died with the request in
   * flight and the session could not be resumed, the offline queue is full, or the client closed.
   */
  request<N extends RouteName<R>>(name: N, ...args: RequestArgs<SpecOf<R, N>>): Promise<ResultOf<SpecOf<R, N>>> {
    const [payload, options] = args as [object | undefined, RequestOptions | undefined]
    return this.enqueue(name, payload, options) as Promise<ResultOf<SpecOf<R, N>>>
  }

  /** Sends a request without waiting: its reply is consumed, a failure is emitted as `error`. */
  send<N extends RouteName<R>>(name: N, ...args: RequestArgs<SpecOf<R, N>>): void {
    const [payload, options] = args as [object | undefined, RequestOptions | undefined]
    this.enqueue(name, payload, options).catch((err: unknown) => this.events.emit('error', err))
  }

  /** Listens for a lifecycle event. */
  on<E extends keyof ClientEvents>(event: E, handler: (arg: ClientEvents[E]) => void): this
  /** Listens for a push by name; `node:create` and `node/create` are the same name. Typed by the app's `Pushes`. */
  on<N extends string>(push: N, handler: PushHandler<N>): this
  on(name: string, handler: AnyListener): this {
    this.events.add(name, handler, false)
    return this
  }

  /** Like `on`, for the next one only. */
  once<E extends keyof ClientEvents>(event: E, handler: (arg: ClientEvents[E]) => void): this
  once<N extends string>(push: N, handler: PushHandler<N>): this
  once(name: string, handler: AnyListener): this {
    this.events.add(name, handler, true)
    return this
  }

  /** Stops listening (for `on` and `once` alike). */
  off<E extends keyof ClientEvents>(event: E, handler: (arg: ClientEvents[E]) => void): this
  off<N extends string>(push: N, handler: PushHandler<N>): this
  off(name: string, handler: AnyListener): this {
    this.events.remove(name, handler)
    return this
  }

  /**
   * Checks the connection now instead of at the next heartbeat: pings, and counts the connection dead
   * (reconnecting at once) when no frame arrives within `timeout` ms. While waiting to reconnect, it
   * tries at once. The browser client calls it when the page becomes visible again.
   */
  probe(timeout = 2000): void {
    if (this.phase === 'waiting') this.reconnectNow()
    else if (this.ready) this.heartbeat.probe(timeout)
  }

  /**
   * The network is gone (the browser's `offline` event): the connection is counted lost at once
   * (`close` with `willReconnect`), and no reconnection is tried until `networkBack()`.
   */
  networkLost(): void {
    if (this.phase === 'closed') return
    this.networkDown = true
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    const socket = this.socket
    if (socket !== undefined) this.abandon(socket, 'network offline')
  }

  /** The network is back (the browser's `online` event): reconnects at once, from the first backoff step. */
  networkBack(): void {
    if (!this.networkDown) return
    this.networkDown = false
    this.attempt = 0
    if (this.phase === 'waiting') this.reconnectNow()
  }

  /** Pings every `interval` ms from now on (the browser client pings more often while the page is visible). TypeError unless positive. */
  setHeartbeatInterval(interval: number): void {
    this.heartbeat.setInterval(interval)
  }

  /**
   * Closes for good: no reconnection, requests not yet answered reject with DISCONNECTED. Resolves
   * once the socket has closed. The server ends the session at once (1000 is a goodbye).
   */
  close(code: number = CLOSE.NORMAL, reason = ''): Promise<void> {
    const socket = this.socket
    this.shutdown(new TalkError('DISCONNECTED', 'The client was closed'), code, reason)
    return socket === undefined ? Promise.resolve() : closeSocket(socket, code, reason)
  }

  // ---- connecting ----------------------------------------------------------------------------

  private open(): void {
    this.phase = 'connecting'
    const target = this.token !== undefined && this.settings.resume
      ? withQuery(this.url, { [RESUME_PARAM]: this.token, [SEEN_PARAM]: String(this.seen) })
      : this.url
    let socket: SocketLike
    try {
      socket = this.createSocket(target)
    } catch (err) {
      // A bad URL fails in the constructor of WebSocket; it fails the same way every time.
      this.shutdown(new TalkError('DISCONNECTED', `Could not open a WebSocket to ${withoutQuery(this.url)}`, { cause: String(err) }), CLOSE.ABNORMAL, '')
      return
    }
    this.socket = socket
    socket.onmessage = (event) => {
      if (this.socket === socket) this.received(event.data)
    }
    socket.onclose = (event) => {
      if (this.socket === socket) this.dropped(event.code, event.reason, socket.refusal)
    }
    socket.onerror = () => undefined // a close event follows with the code
    this.connectTimer = setTimeout(() => {
      if (this.socket === socket && !this.ready) this.abandon(socket, 'no welcome in time')
    }, this.settings.connectTimeout)
  }

  private reconnectNow(): void {
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    if (this.phase === 'waiting' && !this.networkDown) this.open()
  }

  /** Gives up on a socket that cannot be trusted any more (silent, or stuck connecting) and moves on at once. */
  private abandon(socket: SocketLike, reason: string): void {
    abandonSocket(socket, reason)
    if (this.socket === socket) this.dropped(CLOSE.ABNORMAL, reason)
  }

  private welcomed(frame: Record<string, unknown>): void {
    clearTimeout(this.connectTimer)
    const isFirst = !this.everOpened
    const resumed = frame.resumed === true
    this.ready = true
    this.phase = 'open'
    this.attempt = 0
    this.everOpened = true
    this.clientId = String(frame.client)
    this.token = typeof frame.resume === 'string' ? frame.resume : undefined
    if (!resumed) this.seen = 0
    this.heartbeat.start()
    // Requests whose replies were lost with the old socket: resent with the same ref after a resume
    // (the server answers them from its reply cache, never running a handler twice); lost otherwise.
    this.pending.forEachSent((p) => {
      if (resumed) this.write(p.frame)
      else this.pending.fail(p, new TalkError('DISCONNECTED', `The connection was lost before the reply to ${p.name}, and the session could not be resumed`))
    })
    const info: ReconnectInfo = { client: this.clientId, resumed }
    if (isFirst) this.settleFirst()
    this.events.emit('open', info)
    if (isFirst) {
      this.flushQueue()
      return
    }
    this.events.emit('reconnected', info)
    const hook = this.settings.onReconnect
    if (hook === undefined) {
      this.flushQueue()
      return
    }
    this.restoring = true
    void (async () => {
      try {
        await hook(info)
      } catch (err) {
        this.events.emit('error', err)
      } finally {
        this.restoring = false
        this.flushQueue()
      }
    })()
  }

  private dropped(code: number, reason: string, refusal?: HandshakeRefusal): void {
    const wasReady = this.ready
    this.socket = undefined
    this.ready = false
    this.heartbeat.stop()
    clearTimeout(this.connectTimer)
    if (this.phase === 'closed') return
    // The URL may carry a token in its query: errors name the endpoint without it.
    if (!this.everOpened) {
      const err = refusal === undefined
        ? new TalkError('DISCONNECTED', `Could not connect to ${withoutQuery(this.url)}`, { code, reason })
        : refusedError(refusal)
      this.shutdown(err, code, reason)
      return
    }
    // A refusal that a retry would meet again (bad or expired credentials, no endpoint) is final.
    if (refusal !== undefined && FINAL_REFUSALS.has(refusal.status)) {
      this.shutdown(refusedError(refusal), code, reason)
      return
    }
    const reconnect = this.settings.reconnect
    if (reconnect === false || !this.settings.shouldReconnect(code, reason)) {
      this.shutdown(new TalkError('DISCONNECTED', `The connection closed (${code}${reason === '' ? '' : ` ${reason}`})`, { code, reason }), code, reason)
      return
    }
    if (wasReady) {
      if (this.token === undefined || !this.settings.resume) {
        // Nothing to resume: the replies of requests in flight are gone with the socket.
        this.pending.forEachSent((p) => this.pending.fail(p, new TalkError('DISCONNECTED', `The connection was lost before the reply to ${p.name}`, { code, reason })))
      }
      this.events.emit('close', { code, reason, willReconnect: true })
    }
    // Retry-After is honoured up to the backoff's own ceiling, so a server cannot park a client for hours.
    this.scheduleReconnect(code, reason, Math.min((refusal?.retryAfter ?? 0) * 1000, reconnect.maxDelay))
  }

  /** Schedules the next attempt after the backoff delay, or after `atLeast` ms when the server asked for that (Retry-After). */
  private scheduleReconnect(code: number, reason: string, atLeast: number): void {
    const reconnect = this.settings.reconnect
    if (reconnect === false) return
    this.attempt++
    if (this.attempt > reconnect.maxAttempts) {
      this.shutdown(new TalkError('DISCONNECTED', `Gave up reconnecting after ${this.attempt - 1} attempts`, { code, reason }), code, reason)
      return
    }
    const delay = Math.max(backoffDelay(this.attempt, reconnect), atLeast)
    this.phase = 'waiting'
    // Offline: wait for networkBack() rather than spend attempts that cannot succeed.
    if (this.networkDown) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      if (this.phase === 'waiting') this.open()
    }, delay)
    this.events.emit('reconnecting', { attempt: this.attempt, delay })
  }

  /** Closes for good: timers stop, every request not yet answered rejects with `err`. */
  private shutdown(err: TalkError, code: number, reason: string): void {
    if (this.phase === 'closed') return
    const wasOpen = this.ready || this.everOpened
    this.phase = 'closed'
    this.ready = false
    this.socket = undefined
    this.heartbeat.stop()
    clearTimeout(this.connectTimer)
    clearTimeout(this.retryTimer)
    this.pending.failAll(err)
    this.settleFirst(err)
    if (wasOpen) this.events.emit('close', { code, reason, willReconnect: false })
  }

  // ---- requests ------------------------------------------------------------------------------

  private enqueue(name: string, payload: object | undefined, options: RequestOptions | undefined): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const invalid = invalidRequest(name, payload)
      if (invalid !== undefined) return reject(invalid)
      if (this.phase === 'closed') return reject(new TalkError('DISCONNECTED', 'The client is closed'))
      const signal = options?.signal
      if (signal?.aborted === true) return reject(new TalkError('ABORTED', `The request ${name} was aborted`))
      if (!this.ready && this.settings.failFast) return reject(new TalkError('DISCONNECTED', 'Not connected'))
      if (!this.ready && this.pending.queued >= this.settings.maxQueue) {
        return reject(new TalkError('DISCONNECTED', `Not connected, and ${this.settings.maxQueue} requests are already waiting`))
      }
      try {
        const p = this.pending.add(name, payload, options?.timeout ?? this.settings.timeout, signal, resolve, reject)
        if (this.ready) this.write(this.pending.send(p))
      } catch (err) {
        reject(err)
      }
    })
  }

  /** Sends what waited in the offline queue, in the order it was asked for. */
  private flushQueue(): void {
    if (this.ready && !this.restoring) this.pending.flush((frame) => this.write(frame))
  }

  private write(frame: string): void {
    try {
      this.socket?.send(frame)
    } catch {
      // The socket is closing; its close event starts reconnection and the request is resent or failed.
    }
  }

  // ---- frames from the server ----------------------------------------------------------------

  private received(data: unknown): void {
    this.heartbeat.alive()
    let frame: unknown
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data))
    } catch {
      this.events.emit('error', new TalkError('BAD_REQUEST', 'The server sent a frame that is not JSON'))
      return
    }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) return
    const fields = frame as Record<string, unknown>
    if ('status' in fields) {
      this.pending.replied(fields)
      return
    }
    if (typeof fields.command !== 'string') return
    if (!this.ready) {
      if (fields.command === 'welcome') this.welcomed(fields)
      return
    }
    this.seen++
    const name = colonName(fields.command)
    // Counted either way (resume needs every push); copied only when someone listens.
    if (!this.events.has(name)) return
    const { command: _command, ...payload } = fields
    this.events.emit(name, payload)
  }
}
