import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import pino, { type Logger } from 'pino'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Adapter, AdapterHost } from './adapters/adapter'
import { memoryAdapter } from './adapters/memory'
import { compose, type Chain, type Step } from './compose'
import { Connection, type ConnectionHost } from './connection'
import { Context, type ContextHost, type Responder } from './context'
import { CLOSE, TalkError } from './errors'
import { readHandshake, rejectUpgrade, type Handshake, type HandshakeHook } from './handshake'
import { encodePush, JSON_CODEC, PROTOCOL_VERSION, type Codec, type Envelope } from './protocol'
import { Sessions, type Claim, type ResumeOptions } from './resume'
import { Rooms } from './rooms'
import {
  compileMatcher, EMPTY_PARAMS, isPattern, lookup, Router, type RouteDefinition, type RouteTable, type ScopedMiddleware,
} from './router'
import type { Client, GlobalState, Handler, Middleware, PresenceEntry, RouteContext, RouteSpec } from './types'
import { validate } from '../middleware/validate'
import { PROTOCOL_TOKEN_PREFIX } from '../middleware/auth'
import { rateLimit, type RateLimitOptions } from '../middleware/rate-limit'
import { timeout as deadline } from '../middleware/timeout'
import { healthHandler, healthReport, type HealthOptions, type HealthReport, type HealthSource } from './health'
import { Metrics, UNKNOWN_ROUTE, type MetricsOptions, type MetricsSource } from './metrics'
import { HandshakeGuard, type GuardOptions } from './security/guard'
import { jsonLimits, type JsonLimits } from './security/json-bounds'
import type { PublishOptions } from './context'

/** Options of `talk()`; every one has a default (the handshake defences are GuardOptions; see docs/operations.md). */
export interface TalkOptions extends GuardOptions {
  /** Logger for the app and `ctx.log` (default: pino at `LOG_LEVEL` or info). */
  logger?: Logger
  /** Adapter carrying pushes and presence between nodes (default: in-memory, one node). */
  adapter?: Adapter
  /** Largest frame accepted, in bytes; bigger ones close the connection with 1009 (default 1 MiB). */
  maxPayload?: number
  /** Interval between ws pings, in ms; a peer silent for two intervals is terminated (default 30000; 0 turns it off). */
  heartbeatInterval?: number
  /** Unsent bytes a connection may hold before it is closed with 4900 as a slow consumer (default 4 MiB). */
  maxBufferedBytes?: number
  /** Requests one connection may have waiting beyond those running; past it, RATE_LIMITED (default 256). */
  maxQueue?: number
  /** Requests of one connection handled at once (default 1: in arrival order). */
  concurrency?: number
  /** How long `close()` waits for in-flight requests before closing sockets, in ms (default 10000). */
  closeTimeout?: number
  /** Push `presence:join` / `presence:leave` to a room's other members when a client joins or leaves it (default false). */
  presenceEvents?: boolean
  /** Frame codec (default JSON). */
  codec?: Codec
  /** Makes client ids (default `crypto.randomUUID`). */
  generateId?: () => string
  /**
   * Keep a client's session (id, rooms, state, missed pushes, recent replies) for a while after its
   * socket drops abnormally, so a TalkClient resumes it (default off; `true` uses the defaults of
   * ResumeOptions: 2-minute window). See docs/client.md.
   */
  resume?: boolean | ResumeOptions
  /** Containers nested in one frame at most, the frame counted; deeper frames are answered BAD_REQUEST (default 32). */
  maxDepth?: number
  /** Keys plus array elements in one frame at most; more are answered BAD_REQUEST (default 20000). */
  maxElements?: number
  /**
   * Per-connection token bucket installed as the app's first middleware (default
   * `{ capacity: 1000, refillPerSecond: 200 }`; past it RATE_LIMITED, far past it close 1008); false: none.
   */
  rateLimit?: RateLimitOptions | false
  /** A deadline for every request in ms, answered TIMEOUT past it (default false: none; about 1.3 µs per request). */
  timeout?: number | false
  /** Unsent bytes past which a push sent `{ droppable: true }` or `{ coalesce }` skips that client (default maxBufferedBytes / 4). */
  dropThreshold?: number
  /** Prometheus metrics in a registry of the app's own, served at `/metrics` by `listen()` (default off). */
  metrics?: boolean | MetricsOptions
  /** Liveness (`/healthz`) and readiness (`/readyz`, 503 while draining) endpoints served by `listen()` (default off). */
  health?: boolean | HealthOptions
}

/** Options of `close()`. */
export interface CloseOptions {
  /** Close code sent to every client (default 1001 going away; 1012 service restart when a replacement is coming). */
  code?: number
  /** Close reason (default `server shutting down`). */
  reason?: string
  /**
   * Spread the closes over this many ms, each client at a random moment in the window, so they do not
   * all reconnect at once (default 0). A client is served as usual until its moment.
   */
  jitterMs?: number
}

/** The rate limit every app gets unless `rateLimit` says otherwise: generous for people, a wall for floods. */
export const DEFAULT_RATE_LIMIT: Readonly<RateLimitOptions> = Object.freeze({ capacity: 1000, refillPerSecond: 200 })

/** Options of `attach()`. */
export interface AttachOptions {
  /** Only upgrades to this path are Talk's (default: every path). */
  path?: string
}

/** What `listen()` resolves with. */
export interface Listening {
  port: number
  /** A ws:// URL for the loopback address. */
  url: string
}

/** App lifecycle events and their listener arguments. */
export interface TalkEvents {
  connection: [client: Client]
  disconnect: [client: Client, code: number, reason: string]
  join: [client: Client, room: string]
  leave: [client: Client, room: string]
  /** An unexpected error: a handler's non-TalkError, a failing hook or listener. */
  error: [err: unknown, ctx: Context | undefined]
}

/** A middleware that also has work to do on the HTTP upgrade request (e.g. authentication). */
export interface HandshakeMiddleware extends Middleware {
  handshake?: HandshakeHook
  /** Called once by `app.use()` with the app, e.g. to listen to connection events or add a route. */
  attach?: (app: TalkApp) => void
}

type Listener<E extends keyof TalkEvents> = (...args: TalkEvents[E]) => unknown

interface CompiledRoute {
  chain: Chain<Context>
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
  /** This node's id among nodes that share an adapter. */
  readonly nodeId = randomUUID()
  /** Connected clients by id. */
  readonly clients = new Map<string, Connection>()
  /** Rooms and their members on this node. */
  readonly rooms = new Rooms()
  /** Resumable sessions (lib/resume.ts), when the `resume` option is on. */
  readonly sessions: Sessions | undefined
  /** Prometheus metrics of this app, when the `metrics` option is on. */
  readonly metrics: Metrics | undefined
  /** Depth and size bounds every frame is checked against before any middleware. */
  readonly jsonLimits: JsonLimits
  /** Unsent bytes past which droppable pushes skip a client. */
  readonly dropThreshold: number
  draining = false

  private readonly adapter: Adapter
  private readonly options: Required<Pick<TalkOptions, 'maxPayload' | 'heartbeatInterval' | 'closeTimeout' | 'presenceEvents'>>
  private readonly generateId: () => string
  private readonly hooks: HandshakeHook[] = []
  private readonly listeners = new Map<keyof TalkEvents, Set<(...args: never[]) => unknown>>()
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

  constructor(options: TalkOptions = {}) {
    super()
    if (options === null || typeof options !== 'object') throw new TypeError('talk() takes an options object')
    this.log = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' })
    this.codec = options.codec ?? JSON_CODEC
    this.adapter = options.adapter ?? memoryAdapter()
    this.maxQueue = positive('maxQueue', options.maxQueue ?? 256)
    this.concurrency = positive('concurrency', options.concurrency ?? 1)
    this.maxBufferedBytes = positive('maxBufferedBytes', options.maxBufferedBytes ?? 4 * 1024 * 1024)
    this.options = {
      maxPayload: positive('maxPayload', options.maxPayload ?? 1024 * 1024),
      heartbeatInterval: nonNegative('heartbeatInterval', options.heartbeatInterval ?? 30_000),
      closeTimeout: nonNegative('closeTimeout', options.closeTimeout ?? 10_000),
      presenceEvents: options.presenceEvents ?? false,
    }
    this.generateId = options.generateId ?? randomUUID
    this.sessions = options.resume === undefined || options.resume === false
      ? undefined
      : new Sessions(this, options.resume === true ? {} : options.resume)
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
    if (options.rateLimit !== false) super.use(rateLimit(options.rateLimit ?? DEFAULT_RATE_LIMIT))
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
    if (typeof attach === 'function') attach.call(fn, this)
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
    let set = this.listeners.get(event)
    if (set === undefined) this.listeners.set(event, (set = new Set()))
    set.add(listener as (...args: never[]) => unknown)
    return this
  }

  /** Removes an event listener. */
  off<E extends keyof TalkEvents>(event: E, listener: Listener<E>): this {
    this.listeners.get(event)?.delete(listener as (...args: never[]) => unknown)
    return this
  }

  protected override changed(): void {
    this.table = undefined
    super.changed()
  }

  // ---- serving ----------------------------------------------------------------------------

  /** Starts an HTTP server for Talk alone and resolves once it is bound (port 0 picks a free port). */
  async listen(port = 0, host?: string): Promise<Listening> {
    const server = createServer((_req, res) => {
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
    return { port: bound, url: `ws://127.0.0.1:${bound}` }
  }

  /** Serves Talk on an existing HTTP server (an Express app's, say), on one path or all upgrades. */
  attach(server: Server, options: AttachOptions = {}): this {
    this.serve(server, options, false)
    void this.start().catch((err: unknown) => this.emit('error', err, undefined))
    return this
  }

  /**
   * Closes gracefully: stops accepting, lets requests already received finish (up to `closeTimeout`),
   * then closes every socket with `code` (1001 by default) and stops the adapter.
   */
  close(code: number = CLOSE.GOING_AWAY): Promise<void> {
    return (this.closing ??= this.shutdown(code))
  }

  /** Pushes to a room from outside a handler (timers, the REST bridge, other events). */
  to(room: string): { send(name: string, payload?: object): void } {
    return { send: (name, payload) => this.publish(room, name, payload, undefined) }
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

  private serve(server: Server, options: AttachOptions, owned: boolean): void {
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (options.path !== undefined && new URL(req.url ?? '/', 'http://talk.invalid').pathname !== options.path) {
        // Another upgrade handler may own this path; refuse only when we are the only one.
        if (server.listeners('upgrade').length === 1) rejectUpgrade(socket, new TalkError('NOT_FOUND', 'No WebSocket endpoint here'))
        return
      }
      void this.upgrade(req, socket, head)
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

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy())
    if (this.draining) {
      rejectUpgrade(socket, new TalkError('UNAVAILABLE', 'Server is shutting down'))
      return
    }
    let handshake: Handshake
    try {
      handshake = await this.runHandshake(req)
    } catch (err) {
      rejectUpgrade(socket, err)
      return
    }
    // A resume token in the query claims its session before the socket opens (lib/resume.ts).
    const claim = this.sessions === undefined ? undefined : await this.sessions.claim(handshake)
    let accepted = false
    if (!socket.destroyed) {
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        accepted = true
        this.accept(ws, handshake, claim)
      })
    }
    if (!accepted && claim !== undefined) this.sessions?.release(claim)
  }

  /**
   * Reads an HTTP request and runs every handshake hook on it, as for an upgrade. Rejects with the
   * hook's TalkError (or INTERNAL, logged) when one refuses. The REST bridge runs it per request.
   */
  async runHandshake(req: IncomingMessage): Promise<Handshake> {
    const handshake = readHandshake(req)
    try {
      for (const hook of this.hooks) await hook(handshake)
    } catch (err) {
      if (!(err instanceof TalkError)) this.fault(err, undefined, 'handshake hook failed')
      throw err
    }
    return handshake
  }

  private accept(ws: WebSocket, handshake: Handshake, claim?: Claim): void {
    if (this.draining) {
      if (claim !== undefined) this.sessions?.release(claim)
      ws.close(CLOSE.GOING_AWAY, 'server is shutting down')
      return
    }
    const { req: _req, user, state, ...info } = handshake
    const resumed = claim?.session
    const connection = new Connection(this, ws, resumed?.id ?? this.generateId(), info, user, resumed?.state ?? state)
    this.clients.set(connection.id, connection)
    const welcome = { client: connection.id, protocol: PROTOCOL_VERSION }
    if (this.sessions === undefined) connection.write(encodePush('welcome', welcome, this.codec))
    else this.sessions.open(connection, welcome, claim) // adds the resume token; replays missed pushes after the welcome
    // A resumed client never left: no second `connection` event.
    if (resumed === undefined) this.emit('connection', connection)
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

  private async shutdown(code: number): Promise<void> {
    this.draining = true
    const closedServers = this.servers.map(({ server, owned, onUpgrade }) => {
      if (!owned) {
        // Keep refusing upgrades with 503 until the owner closes its server.
        return Promise.resolve()
      }
      server.off('upgrade', onUpgrade)
      return new Promise<void>((resolve) => server.close(() => resolve()))
    })
    const deadline = this.options.closeTimeout
    const idle = Promise.all([...this.clients.values()].map((c) => c.whenIdle()))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([idle, new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline)))])
    clearTimeout(timer)
    const closed = [...this.clients.values()].map(
      (c) =>
        new Promise<void>((resolve) => {
          c.socket.once('close', () => resolve())
          c.close(code, 'server shutting down')
          // A peer that never answers the close frame is cut off.
          setTimeout(() => {
            c.socket.terminate()
            resolve()
          }, 2000).unref()
        }),
    )
    await Promise.all(closed)
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat)
    this.sessions?.stop()
    await this.adapter.stop().catch((err: unknown) => this.fault(err, undefined, 'adapter stop failed'))
    await Promise.all(closedServers)
  }

  // ---- the message path -------------------------------------------------------------------

  /** Runs one socket request through its route's chain (ConnectionHost). */
  dispatch(connection: Connection, envelope: Envelope): Promise<void> {
    return this.handle(connection, connection, envelope)
  }

  /**
   * Runs one request through its route's chain and makes sure it gets exactly one reply through
   * `responder`. Transports other than the socket (the REST bridge) enter here. Never rejects.
   */
  async handle(client: Client, responder: Responder, envelope: Envelope): Promise<void> {
    const table = this.table ?? this.compile()
    const found = lookup(table, envelope.name)
    const route = found === undefined ? (this.notFound as CompiledRoute) : found.value
    const ctx = new Context(this, responder, client, envelope.name, envelope.ref, envelope.body, found?.params ?? EMPTY_PARAMS)
    try {
      await route.chain(ctx)
      if (!ctx.replied) ctx.reply()
    } catch (err) {
      this.failed(ctx, err)
    }
  }

  /** Answers a request whose chain threw: a TalkError as itself, anything else as INTERNAL with its stack logged. */
  private failed(ctx: Context, err: unknown): void {
    if (!(err instanceof TalkError)) this.fault(err, ctx, 'request failed')
    if (!ctx.fail(err)) ctx.log.warn({ err }, 'error after the reply was sent')
  }

  private fault(err: unknown, ctx: Context | undefined, message: string): void {
    ;(ctx?.log ?? this.log).error({ err }, message)
    this.emit('error', err, ctx)
  }

  private compile(): RouteTable<CompiledRoute> {
    const table: RouteTable<CompiledRoute> = { statics: new Map(), patterns: [] }
    for (const def of this.definitions()) {
      const compiled = { chain: compose<Context>(this.steps(def)) }
      if (isPattern(def.name)) table.patterns.push({ test: compileMatcher(def.name), value: compiled })
      else if (!table.statics.has(def.name)) table.statics.set(def.name, compiled)
    }
    const notFound: Step<Context> = (ctx) => {
      throw new TalkError('NOT_FOUND', `Unknown route "${ctx.route.slice(0, 100)}"`)
    }
    this.notFound = { chain: compose<Context>([...this.applicable(this.ownMiddleware(), undefined), notFound]) }
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
    const connection = this.clients.get(client.id) ?? this.sessions?.parkedConnection(client.id)
    if (connection === undefined || !this.rooms.join(room, connection)) return
    connection.rooms.add(room)
    this.adapter.join(room, { id: client.id, user: client.user })
    if (this.options.presenceEvents) this.publish(room, 'presence:join', { room, client: client.id, user: client.user }, client.id)
    this.emit('join', client, room)
  }

  /** Takes a client out of a room on this node and tells the adapter. */
  leave(client: Client, room: string): void {
    const connection = this.clients.get(client.id) ?? this.sessions?.parkedConnection(client.id)
    if (!this.rooms.leave(room, client.id)) return
    connection?.rooms.delete(room)
    this.adapter.leave(room, client.id)
    if (this.options.presenceEvents) this.publish(room, 'presence:leave', { room, client: client.id, user: client.user }, client.id)
    this.emit('leave', client, room)
  }

  /** Encodes a push once and delivers it to the rooms here and, through the adapter, on other nodes. */
  publish(rooms: string | readonly string[], name: string, payload: object | undefined, except: string | undefined): void {
    const frame = encodePush(name, payload, this.codec)
    this.rooms.deliver(rooms, frame, except)
    this.adapter.publish(rooms, frame, except)
  }

  deliverLocal(rooms: string | readonly string[], frame: string, except: string | undefined): void {
    this.rooms.deliver(rooms, frame, except)
  }

  deliverToClient(clientId: string, frame: string): boolean {
    const connection = this.clients.get(clientId) ?? this.sessions?.parkedConnection(clientId)
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
    for (const connection of corked) connection.flush()
  }

  closed(connection: Connection, code: number, reason: string): void {
    // A resumed session's newer connection has the same id: only a connection removes itself.
    if (this.clients.get(connection.id) === connection) this.clients.delete(connection.id)
    // With resume on, the session may be parked (still in its rooms) or live on in a newer connection.
    if (this.sessions?.closed(connection, code, reason) === true) return
    this.ended(connection, code, reason)
  }

  /** A client is gone for good: it leaves its rooms and `disconnect` is emitted (also when a parked session ends). */
  ended(connection: Connection, code: number, reason: string): void {
    for (const room of [...connection.rooms]) this.leave(connection, room)
    this.emit('disconnect', connection, code, reason)
  }

  private emit<E extends keyof TalkEvents>(event: E, ...args: TalkEvents[E]): void {
    const set = this.listeners.get(event)
    if (set === undefined) return
    for (const listener of set) {
      try {
        const result = (listener as (...a: TalkEvents[E]) => unknown)(...args)
        if (result instanceof Promise) result.catch((err: unknown) => this.listenerFailed(event, err))
      } catch (err) {
        this.listenerFailed(event, err)
      }
    }
  }

  private listenerFailed(event: keyof TalkEvents, err: unknown): void {
    this.log.error({ err, event }, 'event listener failed')
    if (event !== 'error') this.emit('error', err, undefined)
  }
}

function handlerStep(handler: Handler): Step<Context> {
  return async function handle(ctx) {
    const result = await handler(ctx)
    if (result !== undefined && !ctx.replied) ctx.reply(result as object)
  }
}

function guard(pattern: string, fn: Middleware): Step<Context> {
  const test = compileMatcher(pattern)
  return function scoped(ctx, next) {
    return test(ctx.route) !== false ? fn(ctx, next) : next()
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`talk(): ${name} must be a positive number`)
  return value
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`talk(): ${name} must be zero or more`)
  return value
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
