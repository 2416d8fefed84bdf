import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Counter, Histogram, Registry } from 'prom-client'
import type { Context, Responder } from './context'
import { codeOf, isAppCloseCode } from './errors'

/** Options of `talk({ metrics })`. */
export interface MetricsOptions {
  /** Path served by `listen()`'s HTTP server (default `/metrics`); `false` serves none (use `metricsHandler`). */
  path?: string | false
  /** Prefix of every metric name (default `talk_`). */
  prefix?: string
  /** Also collect Node's process metrics (CPU, heap, event-loop lag, GC) into the app's registry (default true). */
  defaultMetrics?: boolean
  /** Request latency buckets, in seconds. */
  buckets?: readonly number[]
  /** Labels added to every metric, e.g. `{ node: 'eu-1' }`. */
  labels?: Record<string, string>
}

/** What the metrics read from the app when scraped (nothing is counted per message for these). */
export interface MetricsSource {
  readonly clients: ReadonlyMap<string, { readonly socket: { readonly bufferedAmount: number } }>
  readonly draining: boolean
  /** The adapter, whose `stats()` (if it has one, like the Redis adapter's) is exported. */
  readonly adapter: unknown
}

const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Distinct values a label may take before new ones count as `other`: client input must not grow the registry. */
const MAX_LABEL_VALUES = 200

/** The label of requests whose route name matched no route. */
export const UNKNOWN_ROUTE = '(unknown)'

interface RouteSeries {
  requests: Counter.Internal
  latency: Histogram.Internal<'route'>
}

/**
 * Prometheus metrics of one app, in a registry of its own (never prom-client's global one, so two
 * apps in a process do not collide). Per message it costs one wrapper object and two cached series
 * updates, and only when metrics are on; gauges (connections, send buffers, adapter) are read at scrape time.
 *
 * @example
 * const app = talk({ metrics: true }) // GET /metrics on the port app.listen() opens
 */
export class Metrics {
  /** The registry every metric of this app is in. */
  readonly registry: Registry
  /** The HTTP path `listen()` serves the metrics on, if any. */
  readonly path: string | undefined

  private readonly requests: Counter<'route'>
  private readonly latency: Histogram<'route'>
  private readonly errors: Counter<'code'>
  private readonly pushes: Counter<'name'>
  private readonly rateLimited: Counter
  private readonly dropped: Counter<'outcome'>
  private readonly refused: Counter<'code'>
  private readonly opened: Counter
  private readonly closes: Counter<'code'>
  private readonly series = new Map<string, RouteSeries>()
  private readonly names = new Set<string>()
  private readonly codes = new Set<string>()

  constructor(options: MetricsOptions, source: MetricsSource) {
    if (options === null || typeof options !== 'object') throw new TypeError('talk(): metrics must be true or an options object')
    const prefix = options.prefix ?? 'talk_'
    if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) throw new TypeError('talk(): metrics.prefix must be a valid metric name prefix')
    const path = options.path ?? '/metrics'
    if (path !== false && (typeof path !== 'string' || !path.startsWith('/'))) throw new TypeError('talk(): metrics.path must start with / (or be false)')
    this.path = path === false ? undefined : path
    const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)]
    // prom-client is loaded here, by an app that turned metrics on, not by every app at start-up.
    const prom = require('prom-client') as typeof import('prom-client')
    this.registry = new prom.Registry()
    if (options.labels !== undefined) this.registry.setDefaultLabels(options.labels)
    const registers = [this.registry]
    const name = (n: string): string => prefix + n

    this.requests = new prom.Counter({ name: name('requests_total'), help: 'Requests received, by route (the registered name or pattern)', labelNames: ['route'], registers })
    this.latency = new prom.Histogram({ name: name('request_duration_seconds'), help: 'Time from dispatch to reply, by route', labelNames: ['route'], buckets, registers })
    this.errors = new prom.Counter({ name: name('errors_total'), help: 'Error replies sent, by error code (frame-level errors included)', labelNames: ['code'], registers })
    this.pushes = new prom.Counter({ name: name('pushes_total'), help: 'Push frames delivered to clients on this node, by push name', labelNames: ['name'], registers })
    this.rateLimited = new prom.Counter({ name: name('rate_limited_total'), help: 'Requests answered RATE_LIMITED (rate limit or full request queue)', registers })
    this.dropped = new prom.Counter({ name: name('pushes_dropped_total'), help: 'Droppable pushes not sent to a slow consumer: dropped, or coalesced into a later one', labelNames: ['outcome'], registers })
    this.refused = new prom.Counter({ name: name('handshakes_refused_total'), help: 'Upgrade requests refused before the socket opened, by error code', labelNames: ['code'], registers })
    this.opened = new prom.Counter({ name: name('connections_opened_total'), help: 'Connections accepted', registers })
    this.closes = new prom.Counter({ name: name('disconnects_total'), help: 'Connections closed, by close code', labelNames: ['code'], registers })
    new prom.Gauge({
      name: name('connections'), help: 'Open connections', registers,
      collect() {
        this.set(source.clients.size)
      },
    })
    new prom.Gauge({
      name: name('send_buffer_bytes'), help: 'Bytes written to sockets and not yet sent, summed over connections', registers,
      collect() {
        let sum = 0
        for (const client of source.clients.values()) sum += client.socket.bufferedAmount
        this.set(sum)
      },
    })
    new prom.Gauge({
      name: name('send_buffer_max_bytes'), help: 'The largest unsent byte count of one connection', registers,
      collect() {
        let max = 0
        for (const client of source.clients.values()) max = Math.max(max, client.socket.bufferedAmount)
        this.set(max)
      },
    })
    new prom.Gauge({
      name: name('draining'), help: '1 while the app is shutting down', registers,
      collect() {
        this.set(source.draining ? 1 : 0)
      },
    })
    new prom.Gauge({
      name: name('adapter_up'), help: '1 while the adapter reaches the other nodes (always 1 for the in-memory adapter)', registers,
      collect() {
        this.set(adapterUp(source.adapter))
      },
    })
    new prom.Gauge({
      name: name('adapter_stat'), help: "The adapter's own counters (its stats()), by name", labelNames: ['stat'], registers,
      collect() {
        const stats = adapterStats(source.adapter)
        if (stats === undefined) return
        for (const [stat, value] of Object.entries(stats)) this.set({ stat }, value)
      },
    })
    if (options.defaultMetrics !== false) prom.collectDefaultMetrics({ register: this.registry, prefix })
  }

  /**
   * Counts a request for `route` and wraps its responder to time the reply and count errors. Only
   * called when metrics are on.
   */
  observe(responder: Responder, route: string): Responder {
    let series = this.series.get(route)
    if (series === undefined) {
      series = { requests: this.requests.labels(route), latency: this.latency.labels(route) }
      if (this.series.size < MAX_LABEL_VALUES) this.series.set(route, series)
    }
    series.requests.inc()
    return new Observed(responder, series.latency, this)
  }

  /** Counts an error reply by code (also those sent before any route runs: bad frames, a full queue). */
  error(code: string): void {
    this.errors.inc({ code: capped(this.codes, code) })
    if (code === 'RATE_LIMITED') this.rateLimited.inc()
  }

  /** Counts push frames delivered to `recipients` clients here. */
  pushed(name: string, recipients: number): void {
    if (recipients > 0) this.pushes.inc({ name: capped(this.names, name) }, recipients)
  }

  /** Counts a droppable push not sent to a slow consumer. */
  droppedPush(coalesced: boolean): void {
    this.dropped.inc({ outcome: coalesced ? 'coalesced' : 'dropped' })
  }

  /** Counts an upgrade refused before the socket opened. */
  handshakeRefused(code: string): void {
    this.refused.inc({ code: capped(this.codes, code) })
  }

  /** Counts an accepted connection. */
  connected(): void {
    this.opened.inc()
  }

  /** Counts a closed connection by close code (the codes apps choose, 4000–4899, are grouped). */
  disconnected(code: number): void {
    this.closes.inc({ code: isAppCloseCode(code) ? '4xxx' : String(code) })
  }

  /** A Node HTTP handler answering with the metrics in Prometheus text format. */
  readonly handler = (_req: IncomingMessage, res: ServerResponse): void => {
    this.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': this.registry.contentType, 'Cache-Control': 'no-store' })
        res.end(text)
      },
      () => {
        res.writeHead(500, { 'Content-Type': 'text/plain' })
        res.end('metrics collection failed\n')
      },
    )
  }
}

/** A label value, or `other` once the set of values seen is full. */
function capped(seen: Set<string>, value: string): string {
  if (seen.has(value)) return value
  if (seen.size >= MAX_LABEL_VALUES) return 'other'
  seen.add(value)
  return value
}

function adapterStats(adapter: unknown): Record<string, number> | undefined {
  const stats = (adapter as { stats?: unknown } | null)?.stats
  if (typeof stats !== 'function') return undefined
  let value: unknown
  try {
    value = (stats as () => unknown).call(adapter)
  } catch {
    return undefined
  }
  if (value === null || typeof value !== 'object') return undefined
  const out: Record<string, number> = {}
  for (const [key, n] of Object.entries(value)) if (typeof n === 'number' && Number.isFinite(n)) out[key] = n
  return out
}

/** 1 when the adapter says it is connected (and subscribed), 0 when it says not, 1 when it says nothing. */
export function adapterUp(adapter: unknown): number {
  const stats = adapterStats(adapter)
  if (stats === undefined) return 1
  if (stats['connected'] === 0 || stats['subscribed'] === 0) return 0
  return 1
}

/**
 * A Node HTTP handler serving an app's metrics, for mounting on a server of your own (an Express
 * app, or a private port): `http.createServer(metricsHandler(app)).listen(9464, '127.0.0.1')`.
 * Throws a TypeError when the app was made without `metrics`.
 */
export function metricsHandler(app: { readonly metrics: Metrics | undefined }): (req: IncomingMessage, res: ServerResponse) => void {
  if (app.metrics === undefined) throw new TypeError('metricsHandler(): make the app with talk({ metrics: true })')
  return app.metrics.handler
}

/** A responder that times the reply and counts errors by code, then hands it on: one object per request, no closures. */
class Observed implements Responder {
  constructor(
    private readonly responder: Responder,
    private readonly latency: { observe(seconds: number): void },
    private readonly metrics: Metrics,
  ) {}

  success(ctx: Context, payload: object | undefined): void {
    // Sent first: when the payload cannot be encoded this throws, and failure() records the request once.
    this.responder.success(ctx, payload)
    this.latency.observe((performance.now() - ctx.startedAt) / 1000)
  }

  failure(ctx: Context, err: unknown): void {
    this.latency.observe((performance.now() - ctx.startedAt) / 1000)
    this.metrics.error(codeOf(err))
    this.responder.failure(ctx, err)
  }
}
