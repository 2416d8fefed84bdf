import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import pino, { type Logger } from 'pino'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Adapter, AdapterHost } from './adapters/adapter'
import { memoryAdapter } from './adapters/memory'
import { compose, isThenable, SETTLED, type Chain, type Step } from './compose'
import { Connection, type ConnectionHost } from './connection'
import type { ZodType } from 'zod'
import { Context, RUNNING_HANDLER, type ContextHost, type Responder } from './context'
import { CLOSE, codeOf, TalkError } from './errors'
import { readHandshake, rejectUpgrade, type HandshakeHook, type PendingHandshake } from './handshake'
import { encodePush, JSON_CODEC, PROTOCOL_TOKEN_PREFIX, type Codec, type Envelope } from './protocol'
import { resumeLayer, Sessions, type Claim, type ResumeLayer } from './resume'
import { Rooms, type DropPolicy } from './rooms'
import {
  compileMatcher, EMPTY_PARAMS, isPattern, lookup, Router, type RouteDefinition, type RouteTable, type ScopedMiddleware,
} from './router'
import type { Client, GlobalState, Handler, Middleware, PresenceEntry, PushPayloadOf } from './types'
import { validate } from '../middleware/validate'
import { rateLimit } from '../middleware/rate-limit'
import { timeout as deadline } from '../middleware/timeout'
import { healthHandler, healthReport, type HealthOptions, type HealthReport, type HealthSource } from './health'
import { Metrics, UNKNOWN_ROUTE, type MetricsSource } from './metrics'
import { HandshakeGuard } from './security/guard'
import { jsonLimits, type JsonLimits } from './security/json-bounds'
import type { PreparedPush, PublishOptions } from './context'
import { Events, logSafely, type Listener, type TalkEvents } from './events'
import { DEFAULT_RATE_LIMIT, nonNegative, positive, type AttachOptions, type CloseOptions, type Listening, type TalkOptions } from './options'

export { DEFAULT_RATE_LIMIT, type AttachOptions, type CloseOptions, type Listening, type TalkOptions } from './options'
export type { TalkEvents } from './events'

/** A middleware that also has work to do on the HTTP upgrade request (e.g. authentication). */
export interface HandshakeMiddleware extends Middleware {
  handshake?: HandshakeHook
  /** Called once by `app.use()` with the app and the pattern it was scoped to, e.g. to listen to connection events or add a route. */
  attach?: (app: TalkApp, pattern: string | undefined) => void
}

interface CompiledRoute {
  chain: Chain<Context>
  /** The route's reply schema, when replies are checked (`validateReplies`). */
  reply: ZodType | undefined
  /** The registered name or pattern: the route's metrics label. */
  label: string
}

/**
 * A Talk app: Express-style middleware and routes over WebSockets.
 *
 * @example
 * const app = talk()
 * app.route('document/get', (ctx) => ctx.reply({ document: docs.get(ctx.body.id) }))
 * await app.listen(3000)
 */
export class TalkApp extends Router implements ContextHost, ConnectionHost, AdapterHost {
  /** App-wide state shared by every client of this node (`ctx.global`). */
  readonly global: GlobalState = {}
  readonly log: Logger
  readonly codec: Codec
  readonly maxQueue: number
  readonly concurrency: number
  readonly maxBufferedBytes: number
  readonly maxReplyBytes: number
  readonly maxRequestsPerTurn: number
  readonly maxTurnMs: number
  /** This node's id among nodes that share an adapter. */
  readonly nodeId = randomUUID()
  /** Connected clients by id. */
  readonly clients = new Map<string, Connection>()
  /** Rooms and their members on this node. */
  readonly rooms = new Rooms()
  /** Resumable sessions (lib/resume/), when the `resume` option is on. */
  readonly sessions: Sessions | undefined
  /** Prometheus metrics of this app, when the `metrics` option is on. */
  readonly metrics: Metrics | undefined
  /** Depth and size bounds every frame is checked against before any middleware. */
  readonly jsonLimits: JsonLimits
  /** Unsent bytes past which droppable pushes skip a client. */
  readonly dropThreshold: number
  draining = false

  private readonly adapter: Adapter
  /** Resume as one layer: `sessions` when on, a no-op when off. */
  private readonly resume: ResumeLayer
  private readonly options: Required<Pick<TalkOptions, 'maxPayload' | 'heartbeatInterval' | 'closeTimeout' | 'presenceEvents'>>
  private readonly generateId: () => string
  private readonly hooks: HandshakeHook[] = []
  private readonly events: Events
  private readonly wss: WebSocketServer
  private readonly servers: { server: Server; owned: boolean; onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void }[] = []
  private table: RouteTable<CompiledRoute> | undefined
  private notFound: CompiledRoute | undefined
  private heartbeat: NodeJS.Timeout | undefined
  private started: Promise<void> | undefined
  private closing: Promise<void> | undefined
  private readonly corked: Connection[] = []
  private flushScheduled = false
  private readonly guard: HandshakeGuard
  private readonly operations: MetricsSource & HealthSource
  private readonly healthPaths: Required<HealthOptions> | undefined
  private readonly validateReplies: boolean
  /** Routes whose chain was seen settling before its handler (a middleware dropped `next()`): logged once each. */
  private readonly droppedNext = new Set<string>()

  constructor(options: TalkOptions = {}) {
    super()
    if (options === null || typeof options !== 'object') throw new TypeError('talk() takes an options object')
    this.log = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' })
    this.events = new Events(this.log)
    this.codec = options.codec ?? JSON_CODEC
    this.adapter = options.adapter ?? memoryAdapter()
    this.maxQueue = positive('maxQueue', options.maxQueue ?? 256)
    this.concurrency = positive('concurrency', options.concurrency ?? 1)
    this.maxBufferedBytes = positive('maxBufferedBytes', options.maxBufferedBytes ?? 4 * 1024 * 1024)
    this.maxReplyBytes = positive('maxReplyBytes', options.maxReplyBytes ?? 16 * 1024 * 1024)
    this.maxRequestsPerTurn = positive('maxRequestsPerTurn', options.maxRequestsPerTurn ?? 256)
    this.maxTurnMs = positive('maxTurnMs', options.maxTurnMs ?? 2)
    this.options = {
      maxPayload: positive('maxPayload', options.maxPayload ?? 1024 * 1024),
      heartbeatInterval: nonNegative('heartbeatInterval', options.heartbeatInterval ?? 30_000),
      closeTimeout: nonNegative('closeTimeout', options.closeTimeout ?? 10_000),
      presenceEvents: options.presenceEvents ?? false,
    }
    this.generateId = options.generateId ?? randomUUID
    this.validateReplies = options.validateReplies ?? true
    this.resume = resumeLayer(this, options.resume)
    this.sessions = this.resume instanceof Sessions ? this.resume : undefined
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.options.maxPayload, clientTracking: false, handleProtocols: pickProtocol })
    this.guard = new HandshakeGuard(options, this.log)
    this.jsonLimits = jsonLimits(options)
    this.dropThreshold = positive('dropThreshold', options.dropThreshold ?? this.maxBufferedBytes / 4)
    const app = this
    this.operations = {
      clients: this.clients,
      get draining() {
        return app.draining
      },
      get adapter() {
        return app.adapter
      },
    }
    this.metrics = options.metrics === undefined || options.metrics === false
      ? undefined
      : new Metrics(options.metrics === true ? {} : options.metrics, this.operations)
    this.healthPaths = options.health === undefined || options.health === false
      ? undefined
      : { livePath: '/healthz', readyPath: '/readyz', ...(options.health === true ? {} : options.health) }
    // Defences that are middleware run first, before anything the app adds.
    // Through this.use(): the limiter attaches to the app, to count queue-full refusals toward its close.
    if (options.rateLimit !== false) this.use(rateLimit(options.rateLimit ?? DEFAULT_RATE_LIMIT))
    if (options.timeout !== undefined && options.timeout !== false) super.use(deadline({ ms: options.timeout }))
  }

  // ---- building the app -------------------------------------------------------------------

  /**
   * Adds middleware (see Router.use). A middleware with a `handshake` property (like `auth()`)
   * also registers that hook, so one `use()` covers the upgrade and every message; one with an
   * `attach` property is handed the app once (for connection events, like `logger()`).
   */
  override use(fn: Middleware | HandshakeMiddleware): this
  override use(pattern: string, fn: Middleware | HandshakeMiddleware | Router): this
  override use(first: string | Middleware, second?: Middleware | Router): this {
    const fn = typeof first === 'function' ? first : second
    if (typeof fn === 'function' && typeof (fn as HandshakeMiddleware).handshake === 'function') {
      this.handshake((fn as HandshakeMiddleware).handshake as HandshakeHook)
    }
    const attach = typeof fn === 'function' ? (fn as HandshakeMiddleware).attach : undefined
    if (typeof attach === 'function') attach.call(fn, this, typeof first === 'string' ? first : undefined)
    return second === undefined ? super.use(first as Middleware) : super.use(first as string, second)
  }

  /** Adds a hook run on every HTTP upgrade request before the socket opens; throw a TalkError to refuse it. */
  handshake(hook: HandshakeHook): this {
    if (typeof hook !== 'function') throw new TypeError('handshake() takes a function')
    this.hooks.push(hook)
    return this
  }

  /** Listens for an app event; a listener that throws is logged, never fatal. */
  on<E extends keyof TalkEvents>(event: E, listener: Listener<E>): this {
    this.events.on(event, listener)
    return this
  }

  /** Removes an event listener. */
  off<E extends keyof TalkEvents>(event: E, listener: Listener<E>): this {
    this.events.off(event, listener)
    return this
  }

  /** Names under `talk/` are Talk's own (`talk/ping`): an app route or mount there is a start-up TypeError. */
  protected override checkName(name: string): void {
    if (name === RESERVED_PREFIX || name.startsWith(`${RESERVED_PREFIX}/`)) {
      throw new TypeError(`Route "${name}": names under "${RESERVED_PREFIX}/" are reserved for Talk`)
    }
  }

  protected override changed(): void {
    this.table = undefined
    super.changed()
  }

  // ---- serving ----------------------------------------------------------------------------

  /** Starts an HTTP server for Talk alone and resolves once it is bound (port 0 picks a free port). */
  async listen(port = 0, host?: string): Promise<Listening> {
    const headersTimeout = this.guard.handshakeTimeout === 0 ? 60_000 : this.guard.handshakeTimeout
    // Slowloris and silent sockets get 408 after the handshake timeout, as on an attached server (applyHeaderTimeout).
    const timeouts = { headersTimeout, requestTimeout: Math.max(headersTimeout, 300_000), connectionsCheckingInterval: checkingInterval(headersTimeout) }
    const server = createServer(timeouts, (req, res) => {
      if (this.serveOperations(req, res)) return
      res.writeHead(426, { 'Content-Type': 'application/json', Upgrade: 'websocket' })
      res.end(JSON.stringify({ status: 'error', error: { code: 'BAD_REQUEST', message: 'This is a WebSocket endpoint' } }))
    })
    this.serve(server, {}, true)
    await this.start()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const address = server.address()
    const bound = typeof address === 'object' && address !== null ? address.port : port
    const url = `ws://${host === undefined || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${bound}`
    this.log.info({ url, routes: this.definitions().length }, 'talk listening')
    return { port: bound, url: `ws://127.0.0.1:${bound}` }
  }

  /**
   * Serves Talk on an existing HTTP server (an Express app's, say), on one path or all upgrades.
   * Like `listen()`'s server, the one given gets `handshakeTimeout` as its header timeout (lowered,
   * never raised; left alone when `handshakeTimeout` is 0), so a client that never finishes its
   * request headers (slowloris) or sends nothing gets 408 and is closed. Attach before the server
   * listens: Node reads how often it checks (`connectionsCheckingInterval`) when listening starts,
   * so a server already listening keeps checking at its own pace (every 30 s by default) and a
   * warning is logged.
   */
  attach(server: Server, options: AttachOptions = {}): this {
    this.applyHeaderTimeout(server)
    this.serve(server, options, false)
    const announce = (): void => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : undefined
      this.log.info({ port, path: options.path, routes: this.definitions().length }, 'talk attached')
    }
    if (server.listening) announce()
    else server.once('listening', announce)
    void this.start().catch((err: unknown) => this.emit('error', err, undefined))
    return this
  }

  /**
   * Closes gracefully: stops accepting (upgrades get 503, readiness turns 503), lets requests already
   * received finish (up to `closeTimeout`), then closes every socket with the code (1001 by default)
   * and stops the adapter. With `jitterMs` each client is served until a random moment in that window,
   * then drained and closed, so clients told 1012 do not all reconnect at once. A number is the code.
   *
   * @example await app.close({ code: CLOSE.SERVICE_RESTART, jitterMs: 5000 })
   */
  close(options: number | CloseOptions = {}): Promise<void> {
    const { code = CLOSE.GOING_AWAY, reason = 'server shutting down', jitterMs = 0 } = typeof options === 'number' ? { code: options } : options
    if (!(jitterMs >= 0)) throw new TypeError('close(): jitterMs must be 0 or more')
    return (this.closing ??= this.shutdown(code, reason, jitterMs))
  }

  /** Readiness of this node: `ok`, `draining` (shutting down) or `degraded` (adapter down), with counts. */
  health(): HealthReport {
    return healthReport(this.operations)
  }

  /** Answers the metrics and health paths on `listen()`'s server; false for any other request. */
  private serveOperations(req: IncomingMessage, res: import('node:http').ServerResponse): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    const path = pathOf(req.url)
    if (this.metrics?.path !== undefined && path === this.metrics.path) this.metrics.handler(req, res)
    else if (this.healthPaths !== undefined && path === this.healthPaths.readyPath) healthHandler(this, 'ready')(req, res)
    else if (this.healthPaths !== undefined && path === this.healthPaths.livePath) healthHandler(this, 'live')(req, res)
    else return false
    return true
  }

  /** Pushes to a room from outside a handler (timers, the REST bridge, other events); `droppable` / `coalesce` as for `ctx.to()`. */
  to(room: string): { send<N extends string>(name: N, payload?: PushPayloadOf<N>, options?: Pick<PublishOptions, 'droppable' | 'coalesce'>): void } {
    return { send: (name, payload, options) => this.publish(room, name, payload, undefined, options && { droppable: options.droppable, coalesce: options.coalesce }) }
  }

  /**
   * Pushes `{ command: name, ...payload }` to every connected client, on this node and (through the
   * adapter) on every other: announcements, maintenance notices. Prefer a room for anything narrower.
   */
  broadcast<N extends string>(name: N, payload?: PushPayloadOf<N>): void {
    this.publish(EVERYONE, name, payload, undefined)
  }

  /** Pushes to one client by id, on this node or (through the adapter) on another; dropped if it is connected nowhere. */
  sendTo(clientId: string, name: string, payload?: object): void {
    const frame = encodePush(name, payload, this.codec)
    if (!this.deliverToClient(clientId, frame)) this.adapter.sendTo(clientId, frame)
  }

  /** Counters of the adapter (Redis: pushes published, failed, reconnects…), empty for the in-memory one. */
  adapterStats(): Readonly<Record<string, number>> {
    return this.adapter.stats?.() ?? {}
  }

  /** Members of a room across every node the adapter reaches. */
  presence(room: string): Promise<PresenceEntry[]> {
    return this.adapter.members(room)
  }

  /**
   * Gives a server Talk did not create the header timeout `listen()` gives its own: a client that
   * never finishes its request headers (slowloris), or sends nothing at all, gets 408 and is closed
   * after the handshake timeout. Node checks every connection that has not finished its headers each
   * quarter of it, with no timer per socket. Its requestTimeout stays the owner's (Node's default,
   * 300 s, is what listen() uses).
   */
  private applyHeaderTimeout(server: Server): void {
    const timeout = this.guard.handshakeTimeout
    if (timeout === 0) return
    if (server.headersTimeout === 0 || server.headersTimeout > timeout) server.headersTimeout = timeout
    // A plain property Node reads when the server starts listening (there is no setter for a running one).
    const checked = server as Server & { connectionsCheckingInterval?: number }
    const interval = checkingInterval(timeout)
    const current = checked.connectionsCheckingInterval ?? 30_000
    if (current <= interval) return
    checked.connectionsCheckingInterval = interval
    if (server.listening) {
      this.log.warn(
        { handshakeTimeout: timeout, checkingInterval: current },
        'attach(): the server already listens, so a connection that never finishes its headers is closed up to checkingInterval ms late; attach before listen()',
      )
    }
  }

  private serve(server: Server, options: AttachOptions, owned: boolean): void {
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (options.path !== undefined && pathOf(req.url) !== options.path) {
        // Another upgrade handler may own this path; refuse only when we are the only one.
        if (server.listeners('upgrade').length === 1) rejectUpgrade(socket, new TalkError('NOT_FOUND', 'No WebSocket endpoint here'))
        return
      }
      this.upgrade(req, socket, head)
    }
    server.on('upgrade', onUpgrade)
    this.servers.push({ server, owned, onUpgrade })
  }

  private start(): Promise<void> {
    return (this.started ??= (async () => {
      await this.adapter.start(this)
      if (this.options.heartbeatInterval > 0) {
        this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatInterval)
        this.heartbeat.unref()
      }
    })())
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroyOnError)
    if (this.draining) {
      this.refuse(req, socket, new TalkError('UNAVAILABLE', 'Server is shutting down'))
      return
    }
    // Limits and the Origin allow-list first: they cost nothing and run before any app code.
    const refused = this.guard.admit(req, socket)
    if (refused !== undefined) {
      this.refuse(req, socket, refused)
      return
    }
    // Hooks that finish at once run now; with none waiting the socket opens now too, with no
    // deadline to arm and no promise to wait on.
    let started: PendingHandshake | Promise<PendingHandshake>
    try {
      started = this.runHooks(readHandshake(req), 0)
    } catch (err) {
      this.refuse(req, socket, err)
      return
    }
    if (started instanceof Promise) void this.upgradeAfterHooks(req, socket, head, started)
    else this.open(req, socket, head, started)
  }

  /** The rest of an upgrade when a handshake hook waits: under the handshake deadline. */
  private async upgradeAfterHooks(req: IncomingMessage, socket: Duplex, head: Buffer, started: Promise<PendingHandshake>): Promise<void> {
    let handshake: PendingHandshake
    try {
      handshake = await this.guard.deadline(started)
    } catch (err) {
      this.refuse(req, socket, err)
      return
    }
    this.open(req, socket, head, handshake)
  }

  /**
   * Completes the WebSocket upgrade of a request that passed its hooks. A resume token in the query
   * claims its session first (lib/resume/); the claim goes back if the socket is gone.
   */
  private open(req: IncomingMessage, socket: Duplex, head: Buffer, handshake: PendingHandshake): void {
    const claim = this.resume.claim(handshake)
    let accepted = false
    if (!socket.destroyed) {
      // ws's 101 answer, the welcome and whatever 'connection' listeners send leave in one write.
      socket.cork()
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        accepted = true
        this.accept(ws, handshake, claim)
      })
      socket.uncork()
    }
    if (!accepted) this.resume.release(claim)
  }

  /** Refuses an upgrade with the error's HTTP status (plus Retry-After when waiting helps), counted and logged at debug. */
  private refuse(req: IncomingMessage, socket: Duplex, err: unknown): void {
    const code = codeOf(err)
    this.metrics?.handshakeRefused(code)
    // debug, not warn: a flood of refused upgrades must not become a flood of log lines (metrics count them).
    this.log.debug({ code, ip: req.socket.remoteAddress, path: pathOf(req.url), origin: req.headers.origin }, 'upgrade refused')
    rejectUpgrade(socket, err, err instanceof TalkError ? this.guard.headersFor(err) : {})
  }

  /**
   * Reads an HTTP request and runs every handshake hook on it, as for an upgrade. Rejects with the
   * hook's TalkError (or INTERNAL, logged) when one refuses. The REST bridge runs it per request.
   */
  async runHandshake(req: IncomingMessage): Promise<PendingHandshake> {
    return this.runHooks(readHandshake(req), 0)
  }

  /**
   * Runs the hooks from `from` on: synchronously for as long as each returns a plain value, so hooks
   * that do not wait cost an upgrade no promise; from the first that returns a promise, a promise of
   * the handshake. Throws (or rejects) as `runHandshake` rejects.
   */
  private runHooks(handshake: PendingHandshake, from: number): PendingHandshake | Promise<PendingHandshake> {
    const hooks = this.hooks
    for (let i = from; i < hooks.length; i++) {
      let result: unknown
      try {
        result = (hooks[i] as HandshakeHook)(handshake)
      } catch (err) {
        throw this.hookFailed(err)
      }
      if (isThenable(result)) {
        return Promise.resolve(result).then(
          () => this.runHooks(handshake, i + 1),
          (err: unknown) => {
            throw this.hookFailed(err)
          },
        )
      }
    }
    return handshake
  }

  /** A hook refused: a TalkError is the answer; anything else is logged and reported first (the client gets INTERNAL). */
  private hookFailed(err: unknown): unknown {
    if (!(err instanceof TalkError)) this.fault(err, undefined, 'handshake hook failed')
    return err
  }

  private accept(ws: WebSocket, handshake: PendingHandshake, claim?: Claim): void {
    if (this.draining) {
      this.resume.release(claim)
      ws.close(CLOSE.GOING_AWAY, 'server is shutting down')
      return
    }
    const resumed = claim?.session
    const id = resumed?.id ?? this.generateId()
    const view = handshake.view()
    // The address is read on first use (a getpeername call); once the socket is gone it cannot be,
    // so it is read now when a parked session or a `disconnect` or `leave` listener may ask afterwards.
    if (this.resume.parks || this.events.has('disconnect') || this.events.has('leave')) view.keepAddress()
    const connection = new Connection(this, ws, id, view, handshake.user, resumed?.state ?? handshake.state)
    this.clients.set(connection.id, connection)
    // The welcome (with a resume token when resume is on); a resumed session's missed pushes follow it.
    this.resume.open(connection, claim)
    // A resumed client never left: no second `connection` event, a `resume` one instead.
    this.emit(resumed === undefined ? 'connection' : 'resume', connection)
    this.metrics?.connected()
    connection.flush()
  }

  private beat(): void {
    for (const connection of this.clients.values()) {
      if (!connection.alive) {
        connection.socket.terminate()
        continue
      }
      connection.alive = false
      connection.socket.ping()
    }
  }

  private async shutdown(code: number, reason: string, jitterMs: number): Promise<void> {
    // From here upgrades are refused with 503 and readiness answers 503; listen()'s server stays up
    // until the clients are gone, so health checks and late clients get an answer, not a refused connection.
    this.draining = true
    await Promise.all([...this.clients.values()].map((c) => this.drain(c, code, reason, jitterMs > 0 ? Math.random() * jitterMs : 0)))
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat)
    this.resume.stop()
    await this.adapter.stop().catch((err: unknown) => this.fault(err, undefined, 'adapter stop failed'))
    await Promise.all(
      this.servers.map(({ server, owned, onUpgrade }) => {
        // A server Talk was attached to keeps refusing upgrades with 503 until its owner closes it.
        if (!owned) return undefined
        server.off('upgrade', onUpgrade)
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        // Keep-alive HTTP connections (metrics scrapes, health checks) would hold close() open.
        server.closeIdleConnections()
        return closed
      }),
    )
  }

  /**
   * Drains one connection: after `delay` ms (served as usual until then) new requests are answered
   * UNAVAILABLE, those received finish (up to closeTimeout), then the socket is closed with `code`.
   */
  private async drain(connection: Connection, code: number, reason: string, delay: number): Promise<void> {
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay))
    connection.draining = true
    let timer: NodeJS.Timeout | undefined
    await Promise.race([connection.whenIdle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.closeTimeout)))])
    clearTimeout(timer)
    if (!connection.open) return
    await new Promise<void>((resolve) => {
      // A peer that never answers the close frame is cut off.
      const cutOff = setTimeout(() => {
        connection.socket.terminate()
        resolve()
      }, 2000)
      connection.socket.once('close', () => {
        clearTimeout(cutOff)
        resolve()
      })
      connection.close(code, reason)
    })
  }

  // ---- the message path -------------------------------------------------------------------

  /** Whether a request named `name` (slash form) would reach a route, as the dispatcher decides it. */
  hasRoute(name: string): boolean {
    return lookup(this.table ?? this.compile(), name) !== undefined
  }

  /** Runs one socket request through its route's chain (ConnectionHost). */
  dispatch(connection: Connection, envelope: Envelope): Promise<void> {
    return this.handle(connection, connection, envelope)
  }

  /**
   * Runs one request through its route's chain and makes sure it gets exactly one reply through
   * `responder`. Transports other than the socket (the REST bridge) enter here. Never rejects; returns
   * `SETTLED` when the chain ran to its end synchronously (answered already).
   */
  handle(client: Client, responder: Responder, envelope: Envelope): Promise<void> {
    const table = this.table ?? this.compile()
    const found = lookup(table, envelope.name)
    const route = found === undefined ? (this.notFound as CompiledRoute) : found.value
    const observed = this.metrics === undefined ? responder : this.metrics.observe(responder, route.label)
    const ctx = new Context(this, observed, client, envelope.name, envelope.ref, envelope.body, found?.params ?? EMPTY_PARAMS)
    if (envelope.trace !== undefined) ctx.traceparent = envelope.trace
    if (route.reply !== undefined) ctx.replySchema = route.reply
    const running = route.chain(ctx)
    if (running !== SETTLED) return running.then(() => this.answered(ctx), (err: unknown) => this.failed(ctx, err))
    return this.answered(ctx)
  }

  /**
   * The chain has run to its end: a request nothing answered gets an empty success. When its handler
   * still runs and nothing answered, a middleware did not return or await `next()`: logged once per route, and the reply
   * waits for the handler rather than being lost.
   */
  private answered(ctx: Context): Promise<void> {
    const handler = ctx[RUNNING_HANDLER]
    // Answered already (a timeout, say): the handler was let go on purpose.
    if (handler !== undefined && !ctx.replied) {
      if (!this.droppedNext.has(ctx.route)) {
        this.droppedNext.add(ctx.route)
        ctx.log.error(`a middleware of route "${ctx.route}" did not return or await next(): the chain ended before the handler; return or await next()`)
      }
      return handler.then(() => this.answered(ctx), (err: unknown) => this.failed(ctx, err))
    }
    try {
      if (!ctx.replied) ctx.reply()
    } catch (err) {
      this.failed(ctx, err)
    }
    return SETTLED
  }

  /** Answers a request whose chain threw: a TalkError as itself, anything else as INTERNAL with its stack logged. */
  private failed(ctx: Context, err: unknown): void {
    if (!(err instanceof TalkError)) this.fault(err, ctx, 'request failed')
    if (!ctx.fail(err)) logSafely(ctx.log, 'warn', err, 'error after the reply was sent')
  }

  private fault(err: unknown, ctx: Context | undefined, message: string): void {
    logSafely(ctx?.log ?? this.log, 'error', err, message)
    this.emit('error', err, ctx)
  }

  private compile(): RouteTable<CompiledRoute> {
    const table: RouteTable<CompiledRoute> = { statics: new Map(), patterns: [] }
    for (const def of this.definitions()) {
      const reply = this.validateReplies ? def.spec?.reply : undefined
      const compiled = { chain: compose<Context>(this.steps(def)), label: def.name, reply }
      if (isPattern(def.name)) table.patterns.push({ test: compileMatcher(def.name), value: compiled })
      else if (!table.statics.has(def.name)) table.statics.set(def.name, compiled)
    }
    const notFound: Step<Context> = (ctx) => {
      throw new TalkError('NOT_FOUND', `Unknown route "${ctx.route.slice(0, 100)}"`)
    }
    this.notFound = { chain: compose<Context>([...this.applicable(this.ownMiddleware(), undefined), notFound]), label: UNKNOWN_ROUTE, reply: undefined }
    this.table = table
    return table
  }

  private steps(def: RouteDefinition): Step<Context>[] {
    const steps = this.applicable(def.middleware, def.name) as Step<Context>[]
    if (def.spec?.body !== undefined || def.spec?.params !== undefined) {
      steps.splice(steps.length - def.own, 0, validate({ body: def.spec.body, params: def.spec.params }) as Step<Context>)
    }
    steps.push(handlerStep(def.handler))
    return steps
  }

  /** The middleware that applies to a route: scoped ones filtered now for static names, guarded per message for patterns. */
  private applicable(middleware: readonly ScopedMiddleware[], name: string | undefined): Step<Context>[] {
    const steps: Step<Context>[] = []
    for (const { pattern, fn } of middleware) {
      if (pattern === undefined) steps.push(fn as Step<Context>)
      else if (name !== undefined && !isPattern(name)) {
        if (compileMatcher(pattern)(name) !== false) steps.push(fn as Step<Context>)
      } else steps.push(guard(pattern, fn))
    }
    return steps
  }

  // ---- rooms, pushes and presence (ContextHost, AdapterHost) ------------------------------

  /** Puts a client in a room on this node and tells the adapter. */
  join(client: Client, room: string): void {
    const connection = this.clients.get(client.id) ?? this.resume.parkedConnection(client.id)
    if (connection === undefined || !this.rooms.join(room, connection)) return
    connection.enter(room)
    // A session away from presence (parked past its grace) joins quietly: it is listed when it resumes.
    if (!this.rooms.isAway(client.id)) this.joined(client, room)
  }

  /** Takes a client out of a room on this node and tells the adapter. */
  leave(client: Client, room: string): void {
    const connection = this.clients.get(client.id) ?? this.resume.parkedConnection(client.id)
    if (!this.rooms.leave(room, client.id)) return
    connection?.exit(room)
    // A session away from presence left it already, when its grace ran out.
    if (!this.rooms.isAway(client.id)) this.left(client, room)
  }

  /** A parked session's presence grace ran out: it leaves presence in each of its rooms, still getting their pushes (SessionsHost). */
  absent(connection: Connection): void {
    if (!this.rooms.hide(connection.id)) return
    for (const room of connection.rooms) this.left(connection, room)
  }

  /** A session away from presence resumed: it is listed in its rooms again (SessionsHost). */
  present(connection: Connection): void {
    if (!this.rooms.show(connection.id)) return
    for (const room of connection.rooms) this.joined(connection, room)
  }

  /** A client is listed in a room: the adapter, `presence:join` and the `join` event hear of it. */
  private joined(client: Client, room: string): void {
    try {
      this.adapter.join(room, { id: client.id, user: client.user })
    } catch (err) {
      this.fault(err, undefined, 'adapter join failed')
    }
    if (this.options.presenceEvents) this.publish(room, 'presence:join', { room, client: client.id, user: client.user }, client.id)
    this.emit('join', client, room)
  }

  /** A client is no longer listed in a room: the adapter, `presence:leave` and the `leave` event hear of it. */
  private left(client: Client, room: string): void {
    try {
      this.adapter.leave(room, client.id)
    } catch (err) {
      // leave() runs from socket close events: an adapter bug must not escape into the event loop.
      this.fault(err, undefined, 'adapter leave failed')
    }
    if (this.options.presenceEvents) this.publish(room, 'presence:leave', { room, client: client.id, user: client.user }, client.id)
    this.emit('leave', client, room)
  }

  /**
   * Encodes a push once and delivers it to the rooms here and, through the adapter, on other nodes.
   * `options` may mark it droppable for slow consumers and carry the causing request's trace context.
   */
  publish(rooms: string | readonly string[], name: string, payload: object | undefined, except: string | undefined, options?: PublishOptions): void {
    this.sendPush(rooms, name, encodePush(name, payload, this.codec, options?.traceparent), except, options)
  }

  /**
   * Encodes a push for a store to publish with a write: the adapter's ordered push when it has a
   * shared channel (Redis), else one that `published()` sends the usual way.
   */
  prepare(
    rooms: string | readonly string[], name: string, payload: object | undefined, except: string | undefined,
    after: (() => void) | undefined, options?: PublishOptions,
  ): PreparedPush {
    const frame = encodePush(name, payload, this.codec, options?.traceparent)
    const ordered = this.adapter.prepare?.(rooms, frame, except, after)
    if (ordered !== undefined) return ordered
    return {
      publication: undefined,
      published: async () => {
        this.sendPush(rooms, name, frame, except, options)
        after?.()
      },
    }
  }

  /** Delivers a push to the rooms' members on this node (every client for EVERYONE); returns how many it reached. */
  private deliverHere(rooms: string | readonly string[], frame: string, except: string | undefined, drop: DropPolicy | undefined): number {
    if (rooms !== EVERYONE) return this.rooms.deliver(rooms, frame, except, drop)
    let reached = 0
    for (const connection of this.clients.values()) {
      if (connection.id === except) continue
      connection.deliver(frame, drop)
      reached++
    }
    return reached
  }

  private sendPush(rooms: string | readonly string[], name: string, frame: string, except: string | undefined, options: PublishOptions | undefined): void {
    const reached = this.deliverHere(rooms, frame, except, options?.coalesce ?? (options?.droppable === true || undefined))
    if (this.metrics !== undefined) this.metrics.pushed(name, reached)
    try {
      this.adapter.publish(rooms, frame, except)
    } catch (err) {
      this.fault(err, undefined, 'adapter publish failed')
    }
  }

  deliverLocal(rooms: string | readonly string[], frame: string, except: string | undefined): void {
    this.deliverHere(rooms, frame, except, undefined)
  }

  deliverToClient(clientId: string, frame: string): boolean {
    const connection = this.clients.get(clientId) ?? this.resume.parkedConnection(clientId)
    if (connection === undefined) return false
    connection.deliver(frame)
    return true
  }

  localMembers(room: string): PresenceEntry[] {
    return this.rooms.members(room)
  }

  localRooms(): Iterable<string> {
    return this.rooms.names()
  }

  memberLeft(room: string, entry: PresenceEntry): void {
    if (this.options.presenceEvents) this.publish(room, 'presence:leave', { room, client: entry.id, user: entry.user }, undefined)
    this.emit('lost', room, entry)
  }

  // ---- connection lifecycle (ConnectionHost) ----------------------------------------------

  flushLater(connection: Connection): void {
    this.corked.push(connection)
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(this.flushAll)
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false
    const corked = this.corked.splice(0)
    for (const connection of corked) connection.endTurn()
  }

  /** A request was refused because its connection's queue was full: told to `overflow` listeners (ConnectionHost). */
  overflowed(connection: Connection, envelope: Envelope, err: TalkError): void {
    if (!this.events.has('overflow')) return
    const ctx = new Context(this, connection, connection, envelope.name, envelope.ref, envelope.body, EMPTY_PARAMS)
    ctx.replied = true
    ctx.failure = err
    this.emit('overflow', ctx)
  }

  /** Counts an error answered before any route ran: a bad frame, a full queue, draining (ConnectionHost). */
  frameError(code: string): void {
    this.metrics?.error(code)
  }

  /** Counts a droppable push skipped for a slow consumer (ConnectionHost). */
  pushDropped(coalesced: boolean): void {
    this.metrics?.droppedPush(coalesced)
  }

  closed(connection: Connection, code: number, reason: string): void {
    this.metrics?.disconnected(code)
    // A resumed session's newer connection has the same id: only a connection removes itself.
    if (this.clients.get(connection.id) === connection) this.clients.delete(connection.id)
    // With resume on, the session may be parked (still in its rooms) or live on in a newer connection.
    if (this.resume.closed(connection, code, reason)) return
    this.ended(connection, code, reason)
  }

  /** A client is gone for good: it leaves its rooms and `disconnect` is emitted (also when a parked session ends). */
  ended(connection: Connection, code: number, reason: string): void {
    for (const room of [...connection.rooms]) this.leave(connection, room)
    this.rooms.show(connection.id)
    this.emit('disconnect', connection, code, reason)
  }

  private emit<E extends keyof TalkEvents>(event: E, ...args: TalkEvents[E]): void {
    this.events.emit(event, ...args)
  }
}

function handlerStep(handler: Handler): Step<Context> {
  return function handle(ctx) {
    const result = handler(ctx)
    // A synchronous handler is answered here and now; a promise (or any thenable) once it settles.
    if (!isThenable(result)) {
      replyWith(ctx, result)
      return SETTLED
    }
    // Kept on the context while it runs, so the app can tell a chain that ended without its handler.
    const running = Promise.resolve(result).then(
      (value) => {
        ctx[RUNNING_HANDLER] = undefined
        replyWith(ctx, value)
      },
      (err: unknown) => {
        ctx[RUNNING_HANDLER] = undefined
        throw err
      },
    )
    ctx[RUNNING_HANDLER] = running
    return running
  }
}

/** A handler's return value becomes the reply (ctx.reply checks it is a plain object), unless it returned nothing or replied itself. */
function replyWith(ctx: Context, result: unknown): void {
  if (result !== undefined && !ctx.replied) ctx.reply(result as object)
}

function guard(pattern: string, fn: Middleware): Step<Context> {
  const test = compileMatcher(pattern)
  return function scoped(ctx, next) {
    return test(ctx.route) !== false ? fn(ctx, next) : next()
  }
}

/** The first segment of Talk's own route names (`talk/ping`) and rooms. */
const RESERVED_PREFIX = 'talk'

/** The room name an app-wide broadcast travels under between nodes: every client is in it. */
const EVERYONE = `${RESERVED_PREFIX}/everyone`

/** How often Node looks for connections past their header timeout: each quarter of it, 50 ms to 30 s. */
function checkingInterval(headersTimeout: number): number {
  return Math.min(30_000, Math.max(50, headersTimeout / 4))
}

/** A socket error during the upgrade ends the socket (shared by every socket: no closure each). */
function destroyOnError(this: Duplex): void {
  this.destroy()
}

/** The path of a request URL, or undefined when it cannot be parsed (`//host:99999`): never throws. */
function pathOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://talk.invalid').pathname
  } catch {
    return undefined
  }
}

/**
 * Picks the subprotocol to answer with: the first offered that does not carry a token. Never a
 * `bearer.<token>` entry: an offer of nothing else is refused before this (lib/security/guard.ts).
 */
function pickProtocol(protocols: Set<string>): string | false {
  for (const protocol of protocols) {
    if (!protocol.startsWith(PROTOCOL_TOKEN_PREFIX)) return protocol
  }
  return false
}

/**
 * Creates a Talk app.
 *
 * @example
 * const app = talk()
 * app.use(logger())
 * app.route('document/get', (ctx) => ({ document: docs.get(ctx.body.id) }))
 * await app.listen(3000)
 */
export function talk(options?: TalkOptions): TalkApp {
  return new TalkApp(options)
}
