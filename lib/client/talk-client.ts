import { CLOSE, TalkError } from '../errors'
import { colonName, PING_ROUTE, RESUME_PARAM, SEEN_PARAM, slashName } from '../protocol'
import type { PushPayloadOf, RouteMap } from '../types'
import { BACKOFF_DEFAULTS, backoffDelay, type BackoffOptions } from './backoff'
import type { RequestArgs, RequestOptions, ResultOf, RouteName, SpecOf } from './routes'

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

/** Reconnection after a connection that was open drops. */
export interface ReconnectOptions extends BackoffOptions {
  /** Attempts in a row before the client gives up and closes (default Infinity). */
  maxAttempts?: number
}

/** The client's application-level heartbeat (browsers cannot see WebSocket pings). */
export interface HeartbeatOptions {
  /** Milliseconds between pings (default 15000). */
  interval?: number
  /** Milliseconds after a ping with no frame at all from the server before the connection counts as dead (default 10000). */
  timeout?: number
}

/** What `onReconnect` and the `reconnected` event are told. */
export interface ReconnectInfo {
  /** The client id: the same as before when resumed, a new one otherwise. */
  client: string
  /** Whether the server resumed the session (rooms, state and every missed push kept). */
  resumed: boolean
}

/** Options of a TalkClient; every one has a default. */
export interface ClientOptions {
  /** Default request timeout in ms, queue time included (default 10000; 0 waits forever). */
  timeout?: number
  /** Backoff for reconnecting, or false to close for good on the first drop (default: 500 ms doubling up to 10 s, forever). */
  reconnect?: ReconnectOptions | false
  /** Application-level heartbeat, or false for none (default: ping every 15 s, dead after 10 s of silence). */
  heartbeat?: HeartbeatOptions | false
  /** Requests kept while disconnected, sent once reconnected; past it they reject with DISCONNECTED (default 100). */
  maxQueue?: number
  /** Reject requests made while disconnected at once with DISCONNECTED instead of queueing them (default false). */
  failFast?: boolean
  /** How long one connection attempt may take until the welcome, in ms (default 10000). */
  connectTimeout?: number
  /** Ask the server to resume the session on reconnect, when it offered a resume token (default true). */
  resume?: boolean
  /**
   * Runs after every reconnection, before requests queued while disconnected are sent: re-open
   * documents when `resumed` is false. Requests it makes go out at once.
   */
  onReconnect?: (info: ReconnectInfo) => unknown
  /** Whether a close with this code should be followed by reconnection (default: not after 1000, 1002, 1003, 1007–1010, 4000–4899). */
  shouldReconnect?: (code: number, reason: string) => boolean
}

/** Lifecycle events and what their listeners get. */
export interface ClientEvents {
  /** A connection got its welcome (the first one, and every reconnection). */
  open: ReconnectInfo
  /** The connection closed; `willReconnect` says whether the client tries again. */
  close: { code: number; reason: string; willReconnect: boolean }
  /** A reconnection attempt is scheduled in `delay` ms. */
  reconnecting: { attempt: number; delay: number }
  /** A reconnection succeeded; `resumed` false means a new session: reload state. */
  reconnected: ReconnectInfo
  /** A push handler threw, a `send()` failed, or the server sent something unreadable. */
  error: unknown
}

/** A push's payload: the frame without `command`. */
export type PushPayload = Record<string, unknown>

/** Listens for a push: gets its payload (as declared in `Pushes`, when it is) and its name in colon form. */
export type PushHandler<N extends string = string> = (payload: PushPayloadOf<N, PushPayload>, name: string) => void

const EVENTS: ReadonlySet<string> = new Set<keyof ClientEvents>(['open', 'close', 'reconnecting', 'reconnected', 'error'])

/** Close codes after which the client does not reconnect by default: goodbyes, protocol errors, policy, app codes. */
function defaultShouldReconnect(code: number): boolean {
  if (code === 1000 || code === 1002 || code === 1003 || (code >= 1007 && code <= 1010)) return false
  return !(code >= 4000 && code <= 4899)
}

interface Pending {
  ref: number
  name: string
  frame: string
  /** Written to a socket (its reply may have been lost with it), or still waiting in the offline queue. */
  sent: boolean
  resolve(payload: Record<string, unknown>): void
  reject(err: unknown): void
  timer: ReturnType<typeof setTimeout> | undefined
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

interface Listener {
  fn: (arg: never, name: string) => void
  once: boolean
}

type Phase = 'connecting' | 'open' | 'waiting' | 'closed'

/**
 * A Talk client over any WebSocket: requests as promises, pushes as events, reconnection with
 * backoff, session resume with every missed push, idempotent retries, and typed routes.
 * Use `connect()` from `talk/client` (Node) or the browser bundle rather than this constructor.
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
  private nextRef = 1
  private pings = 0
  private attempt = 0
  private queued = 0
  private heard = false
  private readonly pending = new Map<number, Pending>()
  private readonly listeners = new Map<string, Listener[]>()
  private connectTimer: ReturnType<typeof setTimeout> | undefined
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private pingTimer: ReturnType<typeof setInterval> | undefined
  private deadTimer: ReturnType<typeof setTimeout> | undefined
  private readonly first: Promise<void>
  private settleFirst!: (err?: unknown) => void

  private readonly timeout: number
  private readonly reconnect: ReconnectOptions | false
  private heartbeat: Required<HeartbeatOptions> | false
  /** The network is known to be down (the browser said `offline`): no reconnection is attempted until it is back. */
  private networkDown = false
  private readonly maxQueue: number
  private readonly failFast: boolean
  private readonly connectTimeout: number
  private readonly resume: boolean
  private readonly onReconnect: ((info: ReconnectInfo) => unknown) | undefined
  private readonly shouldReconnect: (code: number, reason: string) => boolean

  /** Starts connecting at once; requests made before the welcome wait in the offline queue. */
  constructor(
    readonly url: string,
    private readonly createSocket: SocketFactory,
    options: ClientOptions = {},
  ) {
    if (typeof url !== 'string' || url.length === 0) throw new TypeError('TalkClient needs a ws:// or wss:// URL')
    if (typeof createSocket !== 'function') throw new TypeError('TalkClient needs a socket factory')
    if (options === null || typeof options !== 'object') throw new TypeError('TalkClient options must be an object')
    this.timeout = nonNegative('timeout', options.timeout ?? 10_000)
    this.maxQueue = nonNegative('maxQueue', options.maxQueue ?? 100)
    this.connectTimeout = positive('connectTimeout', options.connectTimeout ?? 10_000)
    this.failFast = options.failFast ?? false
    this.resume = options.resume ?? true
    this.onReconnect = optionalFunction('onReconnect', options.onReconnect)
    this.shouldReconnect = optionalFunction('shouldReconnect', options.shouldReconnect) ?? defaultShouldReconnect
    const reconnect = options.reconnect ?? {}
    if (reconnect !== false) {
      positive('reconnect.initialDelay', reconnect.initialDelay ?? BACKOFF_DEFAULTS.initialDelay)
      positive('reconnect.maxDelay', reconnect.maxDelay ?? BACKOFF_DEFAULTS.maxDelay)
      if ((reconnect.factor ?? BACKOFF_DEFAULTS.factor) < 1) throw new TypeError('TalkClient: reconnect.factor must be at least 1')
      positive('reconnect.maxAttempts', reconnect.maxAttempts ?? Infinity)
    }
    this.reconnect = reconnect
    const heartbeat = options.heartbeat ?? {}
    this.heartbeat = heartbeat === false
      ? false
      : { interval: positive('heartbeat.interval', heartbeat.interval ?? 15_000), timeout: positive('heartbeat.timeout', heartbeat.timeout ?? 10_000) }
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
    this.enqueue(name, payload, options).catch((err: unknown) => this.emit('error', err))
  }

  /** Listens for a lifecycle event. */
  on<E extends keyof ClientEvents>(event: E, handler: (arg: ClientEvents[E]) => void): this
  /** Listens for a push by name; `node:create` and `node/create` are the same name. Typed by the app's `Pushes`. */
  on<N extends string>(push: N, handler: PushHandler<N>): this
  on(name: string, handler: (arg: never, name: string) => void): this {
    return this.listen(name, handler, false)
  }

  /** Like `on`, for the next one only. */
  once<E extends keyof ClientEvents>(event: E, handler: (arg: ClientEvents[E]) => void): this
  once<N extends string>(push: N, handler: PushHandler<N>): this
  once(name: string, handler: (arg: never, name: string) => void): this {
    return this.listen(name, handler, true)
  }

  /** Stops listening (for `on` and `once` alike). */
  off<E extends keyof ClientEvents>(event: E, handler: (arg: ClientEvents[E]) => void): this
  off<N extends string>(push: N, handler: PushHandler<N>): this
  off(name: string, handler: (arg: never, name: string) => void): this {
    const key = listenerKey(name)
    const list = this.listeners.get(key)
    if (list === undefined) return this
    const rest = list.filter((l) => l.fn !== handler)
    if (rest.length === 0) this.listeners.delete(key)
    else this.listeners.set(key, rest)
    return this
  }

  /**
   * Checks the connection now instead of at the next heartbeat: pings, and counts the connection dead
   * (reconnecting at once) when no frame arrives within `timeout` ms. While waiting to reconnect, it
   * tries at once. The browser client calls it when the page becomes visible again.
   */
  probe(timeout = 2000): void {
    if (this.phase === 'waiting') {
      this.reconnectNow()
      return
    }
    const socket = this.socket
    if (socket === undefined || !this.ready) return
    clearTimeout(this.deadTimer)
    this.heard = false
    this.write(JSON.stringify({ route: PING_ROUTE, ref: `ping-${++this.pings}`, seen: this.seen, done: this.settledUpTo() }))
    this.deadTimer = setTimeout(() => {
      this.deadTimer = undefined
      if (!this.heard && this.socket === socket) this.abandon(socket, 'no answer to a probe')
    }, timeout)
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

  /** Pings every `interval` ms from now on (the browser client pings more often while the page is visible). */
  setHeartbeatInterval(interval: number): void {
    if (this.heartbeat === false) return
    this.heartbeat = { ...this.heartbeat, interval: positive('heartbeat.interval', interval) }
    if (this.ready) this.startHeartbeat()
  }

  private reconnectNow(): void {
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    if (this.phase === 'waiting' && !this.networkDown) this.open()
  }

  /**
   * Closes for good: no reconnection, requests not yet answered reject with DISCONNECTED. Resolves
   * once the socket has closed. The server ends the session at once (1000 is a goodbye).
   */
  close(code = 1000, reason = ''): Promise<void> {
    const socket = this.socket
    this.shutdown(new TalkError('DISCONNECTED', 'The client was closed'), code, reason)
    if (socket === undefined) return Promise.resolve()
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

  // ---- connecting ----------------------------------------------------------------------------

  private open(): void {
    this.phase = 'connecting'
    const target = this.token !== undefined && this.resume
      ? withQuery(this.url, { [RESUME_PARAM]: this.token, [SEEN_PARAM]: String(this.seen) })
      : this.url
    let socket: SocketLike
    try {
      socket = this.createSocket(target)
    } catch (err) {
      // A bad URL fails in the constructor of WebSocket; it fails the same way every time.
      this.shutdown(new TalkError('DISCONNECTED', `Could not open a WebSocket to ${withoutQuery(this.url)}`, { cause: String(err) }), 1006, '')
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
    }, this.connectTimeout)
  }

  /** Gives up on a socket that cannot be trusted any more (silent, or stuck connecting) and moves on at once. */
  private abandon(socket: SocketLike, reason: string): void {
    socket.onmessage = null
    socket.onclose = null
    socket.onerror = () => undefined
    try {
      // ws can cut the TCP connection; a browser can only start the closing handshake.
      const terminate = (socket as { terminate?: unknown }).terminate
      if (typeof terminate === 'function') terminate.call(socket)
      else socket.close(CLOSE.WILL_RESUME, reason)
    } catch {
      // already closed
    }
    if (this.socket === socket) this.dropped(1006, reason)
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
    this.startHeartbeat()
    // Requests whose replies were lost with the old socket: resent with the same ref after a resume
    // (the server answers them from its reply cache, never running a handler twice); lost otherwise.
    for (const p of [...this.pending.values()]) {
      if (!p.sent) continue
      if (resumed) this.write(p.frame)
      else this.settle(p, new TalkError('DISCONNECTED', `The connection was lost before the reply to ${p.name}, and the session could not be resumed`))
    }
    const info: ReconnectInfo = { client: this.clientId, resumed }
    if (isFirst) this.settleFirst()
    this.emit('open', info)
    if (isFirst) {
      this.flushQueue()
      return
    }
    this.emit('reconnected', info)
    if (this.onReconnect === undefined) {
      this.flushQueue()
      return
    }
    this.restoring = true
    const hook = this.onReconnect
    void (async () => {
      try {
        await hook(info)
      } catch (err) {
        this.emit('error', err)
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
    this.stopHeartbeat()
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
    const retry = this.reconnect !== false && this.shouldReconnect(code, reason)
    if (!retry) {
      this.shutdown(new TalkError('DISCONNECTED', `The connection closed (${code}${reason === '' ? '' : ` ${reason}`})`, { code, reason }), code, reason)
      return
    }
    if (wasReady) {
      if (this.token === undefined || !this.resume) {
        // Nothing to resume: the replies of requests in flight are gone with the socket.
        for (const p of [...this.pending.values()]) {
          if (p.sent) this.settle(p, new TalkError('DISCONNECTED', `The connection was lost before the reply to ${p.name}`, { code, reason }))
        }
      }
      this.emit('close', { code, reason, willReconnect: true })
    }
    // Retry-After is honoured up to the backoff's own ceiling, so a server cannot park a client for hours.
    const asked = Math.min((refusal?.retryAfter ?? 0) * 1000, (this.reconnect as ReconnectOptions).maxDelay ?? BACKOFF_DEFAULTS.maxDelay)
    this.scheduleReconnect(code, reason, asked)
  }

  /** Schedules the next attempt after the backoff delay, or after `atLeast` ms when the server asked for that (Retry-After). */
  private scheduleReconnect(code: number, reason: string, atLeast = 0): void {
    const reconnect = this.reconnect as ReconnectOptions
    this.attempt++
    if (this.attempt > (reconnect.maxAttempts ?? Infinity)) {
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
    this.emit('reconnecting', { attempt: this.attempt, delay })
  }

  /** Closes for good: timers stop, every request not yet answered rejects with `err`. */
  private shutdown(err: TalkError, code: number, reason: string): void {
    if (this.phase === 'closed') return
    const wasOpen = this.ready || this.everOpened
    this.phase = 'closed'
    this.ready = false
    this.socket = undefined
    this.stopHeartbeat()
    clearTimeout(this.connectTimer)
    clearTimeout(this.retryTimer)
    for (const p of [...this.pending.values()]) this.settle(p, err)
    this.settleFirst(err)
    if (wasOpen) this.emit('close', { code, reason, willReconnect: false })
  }

  // ---- requests ------------------------------------------------------------------------------

  private enqueue(name: string, payload: object | undefined, options: RequestOptions | undefined): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      if (typeof name !== 'string' || name.length === 0) return reject(new TypeError('A request needs a route name'))
      if (payload !== undefined && (payload === null || typeof payload !== 'object' || Array.isArray(payload))) {
        return reject(new TypeError('A request payload must be an object'))
      }
      if (this.phase === 'closed') return reject(new TalkError('DISCONNECTED', 'The client is closed'))
      const signal = options?.signal
      if (signal?.aborted === true) return reject(new TalkError('ABORTED', `The request ${name} was aborted`))
      if (!this.ready && this.failFast) return reject(new TalkError('DISCONNECTED', 'Not connected'))
      if (!this.ready && this.queued >= this.maxQueue) {
        return reject(new TalkError('DISCONNECTED', `Not connected, and ${this.maxQueue} requests are already waiting`))
      }
      const ref = this.nextRef++
      const fields: Record<string, unknown> = { route: slashName(name), ref, ...payload }
      // The envelope's own fields win over payload keys of the same name.
      fields.route = slashName(name)
      fields.ref = ref
      delete fields.command
      let frame: string
      try {
        frame = JSON.stringify(fields)
      } catch (err) {
        return reject(new TypeError(`The payload of ${name} cannot be sent as JSON: ${String(err)}`))
      }
      const p: Pending = { ref, name, frame, sent: false, resolve, reject, timer: undefined, signal, onAbort: undefined }
      this.pending.set(ref, p)
      const timeout = options?.timeout ?? this.timeout
      if (timeout > 0) {
        p.timer = setTimeout(() => this.settle(p, new TalkError('TIMEOUT', `No reply to ${name} within ${timeout} ms`)), timeout)
      }
      if (signal !== undefined) {
        p.onAbort = () => this.settle(p, new TalkError('ABORTED', `The request ${name} was aborted`))
        signal.addEventListener('abort', p.onAbort, { once: true })
      }
      if (this.ready) {
        p.sent = true
        this.write(frame)
      } else {
        this.queued++
      }
    })
  }

  /** Sends what waited in the offline queue, in the order it was asked for. */
  private flushQueue(): void {
    if (!this.ready || this.restoring) return
    for (const p of [...this.pending.values()]) {
      if (p.sent) continue
      p.sent = true
      this.queued--
      this.write(p.frame)
    }
  }

  private write(frame: string): void {
    try {
      this.socket?.send(frame)
    } catch {
      // The socket is closing; its close event starts reconnection and the request is resent or failed.
    }
  }

  /** Takes a request out of the books and rejects it (a reply settles it through `replied`). */
  private settle(p: Pending, err: unknown): void {
    if (this.pending.get(p.ref) !== p) return
    this.forget(p)
    p.reject(err)
  }

  private forget(p: Pending): void {
    this.pending.delete(p.ref)
    if (!p.sent) this.queued--
    clearTimeout(p.timer)
    if (p.onAbort !== undefined) p.signal?.removeEventListener('abort', p.onAbort)
  }

  // ---- frames from the server ----------------------------------------------------------------

  private received(data: unknown): void {
    this.heard = true
    let frame: unknown
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data))
    } catch {
      this.emit('error', new TalkError('BAD_REQUEST', 'The server sent a frame that is not JSON'))
      return
    }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) return
    const fields = frame as Record<string, unknown>
    if ('status' in fields) {
      this.replied(fields)
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
    if (!this.listeners.has(name)) return
    const { command: _command, ...payload } = fields
    this.emit(name, payload as never)
  }

  private replied(frame: Record<string, unknown>): void {
    const ref = frame.ref
    if (typeof ref !== 'number') return // a heartbeat's reply (string ref), or a frame no request of ours asked for
    const p = this.pending.get(ref)
    if (p === undefined) return // timed out or aborted already
    this.forget(p)
    if (frame.status === 'success') {
      const { status: _status, ref: _ref, ...payload } = frame
      p.resolve(payload)
      return
    }
    const error = (frame.error ?? {}) as { code?: unknown; message?: unknown; details?: unknown }
    p.reject(new TalkError(
      typeof error.code === 'string' ? error.code : 'INTERNAL',
      typeof error.message === 'string' ? error.message : 'The server answered with an error',
      error.details,
    ))
  }

  // ---- heartbeat -----------------------------------------------------------------------------

  private startHeartbeat(): void {
    this.stopHeartbeat()
    const heartbeat = this.heartbeat
    if (heartbeat === false) return
    const socket = this.socket
    this.pingTimer = setInterval(() => {
      if (socket === undefined || this.socket !== socket || !this.ready || this.deadTimer !== undefined) return
      this.heard = false
      // seen and done let the server forget the pushes and replies it kept for a resume.
      this.write(JSON.stringify({ route: PING_ROUTE, ref: `ping-${++this.pings}`, seen: this.seen, done: this.settledUpTo() }))
      this.deadTimer = setTimeout(() => {
        this.deadTimer = undefined
        if (!this.heard && this.socket === socket) this.abandon(socket, 'heartbeat timeout')
      }, heartbeat.timeout)
    }, heartbeat.interval)
  }

  private stopHeartbeat(): void {
    clearInterval(this.pingTimer)
    clearTimeout(this.deadTimer)
    this.pingTimer = undefined
    this.deadTimer = undefined
  }

  /** Every request with a ref up to this one is settled. */
  private settledUpTo(): number {
    for (const ref of this.pending.keys()) return ref - 1
    return this.nextRef - 1
  }

  // ---- events --------------------------------------------------------------------------------

  private listen(name: string, fn: (arg: never, name: string) => void, once: boolean): this {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('on() needs an event or push name')
    if (typeof fn !== 'function') throw new TypeError('on() needs a handler function')
    const key = listenerKey(name)
    const list = this.listeners.get(key)
    if (list === undefined) this.listeners.set(key, [{ fn, once }])
    else list.push({ fn, once })
    return this
  }

  private emit(name: string, arg: unknown): void {
    const list = this.listeners.get(name)
    if (list === undefined || list.length === 0) {
      if (name === 'error') report(arg)
      return
    }
    if (list.some((l) => l.once)) {
      const rest = list.filter((l) => !l.once)
      if (rest.length === 0) this.listeners.delete(name)
      else this.listeners.set(name, rest)
    }
    for (const { fn } of list) {
      try {
        fn(arg as never, name)
      } catch (err) {
        if (name === 'error') report(err)
        else this.emit('error', err)
      }
    }
  }
}

/** Event names are kept as they are; push names in colon form, so both spellings meet. */
function listenerKey(name: string): string {
  return EVENTS.has(name) ? name : colonName(name)
}

/** Last resort for an error nobody listens for: the platform's reportError, else the console. */
function report(err: unknown): void {
  const reportError = (globalThis as { reportError?: (err: unknown) => void }).reportError
  if (typeof reportError === 'function') reportError(err)
  else console.error('TalkClient:', err)
}

/** HTTP statuses of a refused upgrade after which the client stops reconnecting: a retry would be refused again. */
const FINAL_REFUSALS: ReadonlySet<number> = new Set([400, 401, 403, 404])

/** The error a refused connection rejects with: the server's code and message, or the HTTP status alone. */
function refusedError(refusal: HandshakeRefusal): TalkError {
  const message = refusal.message ?? `The server refused the connection with HTTP ${refusal.status}`
  return new TalkError(refusal.code ?? 'DISCONNECTED', message, { status: refusal.status })
}

/** The URL without its query and fragment, which may carry credentials (`?token=`). */
function withoutQuery(url: string): string {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

function withQuery(url: string, params: Record<string, string>): string {
  const hash = url.indexOf('#')
  const base = hash === -1 ? url : url.slice(0, hash)
  const query = Object.entries(params).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
  return base + (base.includes('?') ? '&' : '?') + query
}

function positive(name: string, value: number): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) throw new TypeError(`TalkClient: ${name} must be a positive number`)
  return value
}

function nonNegative(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new TypeError(`TalkClient: ${name} must be zero or more`)
  return value
}

function optionalFunction<F>(name: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw new TypeError(`TalkClient: ${name} must be a function`)
  return value
}
