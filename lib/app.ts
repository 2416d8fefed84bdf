import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import pino, { type Logger } from 'pino'
import { EVERYONE } from './adapters/adapter'
import { memoryAdapter } from './adapters/memory'
import type { BuiltIns } from './built-ins'
import { nonNegative, positive } from './checks'
import type { Connection } from './connection'
import { Connections } from './connections'
import type { PublishOptions, Responder } from './context'
import { Core } from './core'
import { Dispatcher } from './dispatch'
import { shutdown } from './draining'
import { CLOSE } from './errors'
import { Events, type Listener, type TalkEvents } from './events'
import type { HandshakeHook, PendingHandshake } from './handshake'
import { healthHandler, healthReport, type HealthOptions, type HealthReport, type HealthSource } from './health'
import { Metrics, UNKNOWN_ROUTE, type MetricsSource } from './metrics'
import { DEFAULT_RATE_LIMIT, type AttachOptions, type CloseOptions, type Listening, type TalkOptions } from './options'
import { JSON_CODEC, type Codec, type Envelope } from './protocol'
import { resumeLayer, Sessions } from './resume'
import { FanOut, type Rooms } from './rooms'
import { compileRoutes, Router } from './router'
import { HandshakeGuard } from './security/guard'
import { jsonLimits, type JsonLimits } from './security/json-bounds'
import type { Client, GlobalState, Middleware, PresenceEntry, PushPayloadOf } from './types'
import { checkingInterval, pathOf, Upgrader } from './upgrade'

export { DEFAULT_RATE_LIMIT, type AttachOptions, type CloseOptions, type Listening, type TalkOptions } from './options'
export type { TalkEvents } from './events'

/** A middleware that also has work to do on the HTTP upgrade request (e.g. authentication). */
export interface HandshakeMiddleware extends Middleware {
  handshake?: HandshakeHook
  /** Called once by `app.use()` with the app and the pattern it was scoped to, e.g. to listen to connection events or add a route. */
  attach?: (app: TalkApp, pattern: string | undefined) => void
}

/** How a transport other than the socket (the REST bridge) runs requests through an app: see `requestEntry`. */
export interface RequestEntry {
  readonly codec: Codec
  /** Depth and size bounds every frame (and bridged body) is checked against before any middleware. */
  readonly jsonLimits: JsonLimits
  /** True once the app is closing: new requests are answered UNAVAILABLE. */
  readonly draining: boolean
  /** Runs one request through its route's chain; resolves once `responder` got its one reply, never rejects. */
  handle(client: Client, responder: Responder, envelope: Envelope): Promise<void>
}

const entries = new WeakMap<TalkApp, RequestEntry>()

/** The way into an app's message path for another transport (lib/http/bridge.ts, in-process benchmarks); not for apps. */
export function requestEntry(app: TalkApp): RequestEntry {
  return entries.get(app) as RequestEntry
}

/**
 * A Talk app: Express-style middleware and routes over WebSockets. Its parts (fan-out to rooms,
 * connections, upgrades, dispatch) are private objects it makes and hands to one another.
 *
 * @example
 * const app = talk()
 * app.route('document/get', (ctx) => ctx.reply({ document: docs.get(ctx.body.id) }))
 * await app.listen(3000)
 */
export class TalkApp extends Router {
  /** App-wide state shared by every client of this node (`ctx.global`). */
  readonly global: GlobalState
  /** The app's logger (`ctx.log` is a child of it). */
  readonly log: Logger
  /** This node's id among nodes that share an adapter. */
  readonly nodeId: string
  /** Connected clients by id. */
  readonly clients: ReadonlyMap<string, Connection>
  /** Rooms and their members on this node. */
  readonly rooms: Rooms
  /** Resumable sessions (lib/resume/), when the `resume` option is on. */
  readonly sessions: Sessions | undefined
  /** Prometheus metrics of this app, when the `metrics` option is on. */
  readonly metrics: Metrics | undefined

  private readonly core: Core
  private readonly fanOut: FanOut
  private readonly dispatcher: Dispatcher
  private readonly connections: Connections
  private readonly upgrader: Upgrader
  private readonly operations: MetricsSource & HealthSource
  private readonly healthPaths: Required<HealthOptions> | undefined
  private readonly heartbeatInterval: number
  private readonly closeTimeout: number
  private started: Promise<void> | undefined
  private closing: Promise<void> | undefined

  /** Makes an app; `talk()` (the package entry) passes the bundled middleware as `builtIns`. */
  constructor(given: TalkOptions | undefined, builtIns: BuiltIns) {
    super()
    if (given === null || (given !== undefined && typeof given !== 'object')) throw new TypeError('talk() takes an options object')
    const options = given ?? {}
    const log = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' })
    const maxBufferedBytes = positive('maxBufferedBytes', options.maxBufferedBytes ?? 4 * 1024 * 1024)
    const limits = {
      maxQueue: positive('maxQueue', options.maxQueue ?? 256),
      concurrency: positive('concurrency', options.concurrency ?? 1),
      maxBufferedBytes,
      maxReplyBytes: positive('maxReplyBytes', options.maxReplyBytes ?? 16 * 1024 * 1024),
      maxRequestsPerTurn: positive('maxRequestsPerTurn', options.maxRequestsPerTurn ?? 256),
      maxTurnMs: positive('maxTurnMs', options.maxTurnMs ?? 2),
      jsonLimits: jsonLimits(options),
      dropThreshold: positive('dropThreshold', options.dropThreshold ?? maxBufferedBytes / 4),
    }
    const maxPayload = positive('maxPayload', options.maxPayload ?? 1024 * 1024)
    this.heartbeatInterval = nonNegative('heartbeatInterval', options.heartbeatInterval ?? 30_000)
    this.closeTimeout = nonNegative('closeTimeout', options.closeTimeout ?? 10_000)
    const validateReplies = options.validateReplies ?? true
    const guard = new HandshakeGuard(options, log)
    const adapter = options.adapter ?? memoryAdapter()
    // Read by metrics and health when asked, once every part exists.
    const app = this
    this.operations = {
      get clients() {
        return app.core.clients
      },
      get draining() {
        return app.connections.draining
      },
      adapter,
    }
    const metrics = options.metrics === undefined || options.metrics === false
      ? undefined
      : new Metrics(options.metrics === true ? {} : options.metrics, this.operations)
    const core = new Core(randomUUID(), log, new Events(log), options.codec ?? JSON_CODEC, adapter, metrics)
    this.core = core
    this.fanOut = new FanOut(core, options.presenceEvents ?? false)
    this.dispatcher = new Dispatcher(core, this.fanOut, () =>
      compileRoutes(this.definitions(), this.ownMiddleware(), { validate: builtIns.validate, validateReplies, unknownLabel: UNKNOWN_ROUTE }))
    this.connections = new Connections(core, this.fanOut, this.dispatcher, options.generateId ?? randomUUID, limits)
    core.resume = resumeLayer(this.connections, options.resume)
    this.upgrader = new Upgrader(core, this.connections, guard, maxPayload)
    this.global = core.global
    this.log = log
    this.nodeId = core.nodeId
    this.clients = core.clients
    this.rooms = core.rooms
    this.sessions = core.resume instanceof Sessions ? core.resume : undefined
    this.metrics = metrics
    this.healthPaths = options.health === undefined || options.health === false
      ? undefined
      : { livePath: '/healthz', readyPath: '/readyz', ...(options.health === true ? {} : options.health) }
    const connections = this.connections
    const dispatcher = this.dispatcher
    entries.set(this, {
      codec: core.codec,
      jsonLimits: limits.jsonLimits,
      get draining() {
        return connections.draining
      },
      handle: (client, responder, envelope) => dispatcher.handle(client, responder, envelope),
    })
    // Defences that are middleware run first, before anything the app adds.
    // Through this.use(): the limiter attaches to the app, to count queue-full refusals toward its close.
    if (options.rateLimit !== false) this.use(builtIns.rateLimit(options.rateLimit ?? DEFAULT_RATE_LIMIT))
    if (options.timeout !== undefined && options.timeout !== false) super.use(builtIns.timeout(options.timeout))
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
    this.upgrader.addHook(hook)
    return this
  }

  /** Listens for an app event; a listener that throws is logged, never fatal. */
  on<E extends keyof TalkEvents>(event: E, listener: Listener<E>): this {
    this.core.events.on(event, listener)
    return this
  }

  /** Removes an event listener. */
  off<E extends keyof TalkEvents>(event: E, listener: Listener<E>): this {
    this.core.events.off(event, listener)
    return this
  }

  /** Names under `talk/` are Talk's own (`talk/ping`): an app route or mount there is a start-up TypeError. */
  protected override checkName(name: string): void {
    if (name === RESERVED_PREFIX || name.startsWith(`${RESERVED_PREFIX}/`)) {
      throw new TypeError(`Route "${name}": names under "${RESERVED_PREFIX}/" are reserved for Talk`)
    }
  }

  protected override changed(): void {
    // Called by use() from the constructor too, before the dispatcher exists.
    this.dispatcher?.invalidate()
    super.changed()
  }

  // ---- serving ----------------------------------------------------------------------------

  /** Starts an HTTP server for Talk alone and resolves once it is bound (port 0 picks a free port). */
  async listen(port = 0, host?: string): Promise<Listening> {
    const headersTimeout = this.upgrader.headersTimeout
    // Slowloris and silent sockets get 408 after the handshake timeout, as on an attached server (applyHeaderTimeout).
    const timeouts = { headersTimeout, requestTimeout: Math.max(headersTimeout, 300_000), connectionsCheckingInterval: checkingInterval(headersTimeout) }
    const server = createServer(timeouts, (req, res) => {
      if (this.serveOperations(req, res)) return
      res.writeHead(426, { 'Content-Type': 'application/json', Upgrade: 'websocket' })
      res.end(JSON.stringify({ status: 'error', error: { code: 'BAD_REQUEST', message: 'This is a WebSocket endpoint' } }))
    })
    this.upgrader.serve(server, {}, true)
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
    this.upgrader.applyHeaderTimeout(server)
    this.upgrader.serve(server, options, false)
    const announce = (): void => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : undefined
      this.log.info({ port, path: options.path, routes: this.definitions().length }, 'talk attached')
    }
    if (server.listening) announce()
    else server.once('listening', announce)
    void this.start().catch((err: unknown) => this.core.events.emit('error', err, undefined))
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
    return (this.closing ??= shutdown({ core: this.core, connections: this.connections, upgrader: this.upgrader, closeTimeout: this.closeTimeout }, code, reason, jitterMs))
  }

  /** Readiness of this node: `ok`, `draining` (shutting down) or `degraded` (adapter down), with counts. */
  health(): HealthReport {
    return healthReport(this.operations)
  }

  /**
   * Reads an HTTP request and runs every handshake hook on it, as for an upgrade. Rejects with the
   * hook's TalkError (or INTERNAL, logged) when one refuses. The REST bridge runs it per request.
   */
  runHandshake(req: IncomingMessage): Promise<PendingHandshake> {
    return this.upgrader.runHandshake(req)
  }

  /** Whether a request named `name` (slash form) would reach a route, as the dispatcher decides it. */
  hasRoute(name: string): boolean {
    return this.dispatcher.hasRoute(name)
  }

  // ---- pushes and presence from outside a handler -----------------------------------------

  /** Pushes to a room from outside a handler (timers, the REST bridge, other events); `droppable` / `coalesce` as for `ctx.to()`. */
  to(room: string): { send<N extends string>(name: N, payload?: PushPayloadOf<N>, options?: Pick<PublishOptions, 'droppable' | 'coalesce'>): void } {
    return { send: (name, payload, options) => this.fanOut.publish(room, name, payload, undefined, options && { droppable: options.droppable, coalesce: options.coalesce }) }
  }

  /**
   * Pushes `{ command: name, ...payload }` to every connected client, on this node and (through the
   * adapter) on every other: announcements, maintenance notices. Prefer a room for anything narrower.
   */
  broadcast<N extends string>(name: N, payload?: PushPayloadOf<N>): void {
    this.fanOut.publish(EVERYONE, name, payload, undefined)
  }

  /** Pushes to one client by id, on this node or (through the adapter) on another; dropped if it is connected nowhere. */
  sendTo(clientId: string, name: string, payload?: object): void {
    this.fanOut.sendTo(clientId, name, payload)
  }

  /** Members of a room across every node the adapter reaches. */
  presence(room: string): Promise<PresenceEntry[]> {
    return this.fanOut.presence(room)
  }

  /** Counters of the adapter (Redis: pushes published, failed, reconnects…), empty for the in-memory one. */
  adapterStats(): Readonly<Record<string, number>> {
    return this.core.adapter.stats?.() ?? {}
  }

  /** Answers the metrics and health paths on `listen()`'s server; false for any other request. */
  private serveOperations(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    const path = pathOf(req.url)
    if (this.metrics?.path !== undefined && path === this.metrics.path) this.metrics.handler(req, res)
    else if (this.healthPaths !== undefined && path === this.healthPaths.readyPath) healthHandler(this, 'ready')(req, res)
    else if (this.healthPaths !== undefined && path === this.healthPaths.livePath) healthHandler(this, 'live')(req, res)
    else return false
    return true
  }

  private start(): Promise<void> {
    return (this.started ??= (async () => {
      await this.core.adapter.start(this.fanOut)
      this.connections.startHeartbeat(this.heartbeatInterval)
    })())
  }
}

/** The first segment of Talk's own route names (`talk/ping`) and rooms. */
const RESERVED_PREFIX = 'talk'
