import type { IncomingMessage, ServerResponse } from 'node:http'
import { adapterUp } from './metrics'

/** Options of `talk({ health })`: the paths `listen()`'s HTTP server answers on. */
export interface HealthOptions {
  /** Liveness: 200 while the process serves HTTP at all, draining included (default `/healthz`). */
  livePath?: string
  /** Readiness: 200 when new connections are welcome, 503 while draining or with the adapter down (default `/readyz`). */
  readyPath?: string
}

/** What the readiness endpoint (and `app.health()`) reports. */
export interface HealthReport {
  /** `ok`: ready; `draining`: shutting down, send no one here; `degraded`: the adapter cannot reach the other nodes. */
  status: 'ok' | 'draining' | 'degraded'
  /** Open connections on this node. */
  connections: number
  /** 'up' or 'down': whether the adapter reaches the other nodes ('up' for the in-memory adapter). */
  adapter: 'up' | 'down'
  /** Seconds since the process started. */
  uptime: number
}

/** What a health report reads from the app. */
export interface HealthSource {
  readonly clients: ReadonlyMap<string, unknown>
  readonly draining: boolean
  readonly adapter: unknown
}

/** The readiness of an app now. */
export function healthReport(source: HealthSource): HealthReport {
  const adapter = adapterUp(source.adapter) === 1 ? 'up' : 'down'
  return {
    status: source.draining ? 'draining' : adapter === 'down' ? 'degraded' : 'ok',
    connections: source.clients.size,
    adapter,
    uptime: Math.round(process.uptime()),
  }
}

/**
 * A Node HTTP handler for a health endpoint, to mount on a server of your own (an Express app):
 * `live` answers 200 as long as the process serves; `ready` answers 200 with the report when the
 * app is ready and 503 while it drains or its adapter is down, so a load balancer stops sending
 * new clients to a node that is shutting down.
 *
 * @example web.get('/readyz', healthHandler(app, 'ready'))
 */
export function healthHandler(app: { health(): HealthReport }, kind: 'live' | 'ready'): (req: IncomingMessage, res: ServerResponse) => void {
  if (kind !== 'live' && kind !== 'ready') throw new TypeError("healthHandler(): kind must be 'live' or 'ready'")
  return (_req, res) => {
    const report = app.health()
    const status = kind === 'live' || report.status === 'ok' ? 200 : 503
    const body = JSON.stringify(kind === 'live' ? { status: 'ok', draining: report.status === 'draining' } : report)
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) })
    res.end(body)
  }
}
