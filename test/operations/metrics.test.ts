import { createServer } from 'node:http'
import { register } from 'prom-client'
import { z } from 'zod'
import { talk, type TalkApp } from '../../index'
import { metricsHandler } from '../../lib/metrics'
import { testServer, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'
import { httpGet } from './http'

/** The value of one sample line (`name{labels} value`) of a Prometheus text exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

function app(options: Parameters<typeof talk>[0] = {}): TalkApp {
  const a = talk({ logger: silent, metrics: true, ...options })
  a.route('ping', () => ({ pong: true }))
  a.route('document/create', { body: z.object({ id: z.string().max(10) }) }, () => undefined)
  a.route('document/:id/nodes', (ctx) => ({ id: ctx.params.id }))
  a.route('room/join', (ctx) => ctx.join('room'))
  a.route('room/say', (ctx) => ctx.to('room').send(String(ctx.body.name ?? 'said'), {}))
  return a
}

describe('metrics', () => {
  let server: TestServer
  afterEach(() => server.close())

  const scrape = (path = '/metrics') => httpGet(server.port, path)

  it('serves Prometheus text on /metrics: connections, requests and latency per route, errors by code, pushes', async () => {
    server = await testServer(app())
    const [a, b] = await server.clients(2)
    for (let i = 0; i < 3; i++) await a!.request('ping')
    await a!.request('nope')
    await a!.request('document/create', { id: 'far too long an id' })
    await a!.request('document/42/nodes')
    a!.sendRaw('not json')
    await a!.nextReply()
    await a!.request('room/join')
    await b!.request('room/join')
    await a!.request('room/say')
    await b!.nextPush()

    const { status, type, text } = await scrape()
    expect(status).toBe(200)
    expect(type).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(sample(text, 'talk_connections')).toBe(2)
    expect(sample(text, 'talk_connections_opened_total')).toBe(2)
    expect(sample(text, 'talk_requests_total{route="ping"}')).toBe(3)
    expect(sample(text, 'talk_request_duration_seconds_count{route="ping"}')).toBe(3)
    expect(sample(text, 'talk_request_duration_seconds_bucket{le="+Inf",route="ping"}')).toBe(3)
    // Unknown names share one label, patterns are labelled by the pattern: client input never makes series.
    expect(sample(text, 'talk_requests_total{route="(unknown)"}')).toBe(1)
    expect(sample(text, 'talk_requests_total{route="document/:id/nodes"}')).toBe(1)
    expect(sample(text, 'talk_errors_total{code="NOT_FOUND"}')).toBe(1)
    expect(sample(text, 'talk_errors_total{code="VALIDATION_FAILED"}')).toBe(1)
    expect(sample(text, 'talk_errors_total{code="BAD_REQUEST"}')).toBe(1)
    expect(sample(text, 'talk_pushes_total{name="said"}')).toBe(1)
    expect(sample(text, 'talk_send_buffer_bytes')).toBe(0)
    expect(sample(text, 'talk_adapter_up')).toBe(1)
    expect(sample(text, 'talk_draining')).toBe(0)
    // Node's own metrics, in the app's registry under its prefix.
    expect(text).toContain('talk_process_cpu_user_seconds_total')
    expect(text).toContain('talk_nodejs_eventloop_lag_seconds')
  })

  it('counts RATE_LIMITED replies, handshakes refused and disconnects by close code', async () => {
    server = await testServer(app({ rateLimit: { capacity: 2, refillPerSecond: 0.001, closeAfter: 100 }, origins: ['https://ok.example'] }))
    const c = await server.client()
    for (let i = 0; i < 4; i++) await c.request('ping')
    await c.close()
    await expect(server.client({ headers: { Origin: 'https://evil.example' } })).rejects.toThrow('HTTP 403')
    const { text } = await scrape()
    expect(sample(text, 'talk_rate_limited_total')).toBe(2)
    expect(sample(text, 'talk_errors_total{code="RATE_LIMITED"}')).toBe(2)
    expect(sample(text, 'talk_handshakes_refused_total{code="FORBIDDEN"}')).toBe(1)
    expect(sample(text, 'talk_disconnects_total{code="1000"}')).toBe(1)
  })

  it('caps push-name labels at 200 distinct values; the rest count as other', async () => {
    server = await testServer(app({ rateLimit: false }))
    const [a, b] = await server.clients(2)
    await a!.request('room/join')
    await b!.request('room/join')
    for (let i = 0; i < 250; i++) await a!.request('room/say', { name: `name-${i}` })
    const { text } = await scrape()
    const names = text.split('\n').filter((l) => l.startsWith('talk_pushes_total{'))
    expect(names).toHaveLength(201)
    expect(sample(text, 'talk_pushes_total{name="other"}')).toBe(50)
  })

  it('keeps a registry per app, never the global one', async () => {
    server = await testServer(app())
    const other = app()
    await (await server.client()).request('ping')
    expect(await other.metrics!.registry.getSingleMetricAsString('talk_requests_total')).not.toContain('route="ping"')
    expect(register.getSingleMetric('talk_requests_total')).toBeUndefined()
  })

  it('serves nothing on /metrics when metrics are off, and metricsHandler() says why', async () => {
    server = await testServer(talk({ logger: silent }))
    expect((await scrape()).status).toBe(426)
    expect(server.app.metrics).toBeUndefined()
    expect(() => metricsHandler(server.app)).toThrow(TypeError)
  })

  it('can be served on a private port of your own, with path: false on the public one', async () => {
    server = await testServer(app({ metrics: { path: false, prefix: 'docs_', defaultMetrics: false, labels: { node: 'eu-1' } } }))
    await (await server.client()).request('ping')
    expect((await scrape()).status).toBe(426)
    const internal = createServer(metricsHandler(server.app))
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve))
    try {
      const { text } = await httpGet((internal.address() as { port: number }).port, '/')
      expect(sample(text, 'docs_requests_total{route="ping",node="eu-1"}')).toBe(1)
      expect(text).not.toContain('process_cpu')
    } finally {
      await new Promise((resolve) => internal.close(resolve))
    }
  })

  it('refuses bad metrics options at start-up with a TypeError', () => {
    expect(() => talk({ metrics: { prefix: 'no spaces' } })).toThrow(TypeError)
    expect(() => talk({ metrics: { path: 'metrics' } })).toThrow(TypeError)
  })
})
