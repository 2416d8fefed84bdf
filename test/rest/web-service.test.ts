import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { rateLimit, talk, TalkError } from '../../index'
import { TestClient } from '../../lib/testing'
import { expressApi } from '../../examples/web-service/express-api'
import { startServer } from '../../examples/web-service/server'
import { silent } from '../helpers/seed-app'
import { httpTestServer, type HttpTestServer } from './http-server'

/** What the old API's clients send: the URLs of Express's web-service example, good and bad. */
const requests = [
  '/api/users?api-key=foo',
  '/api/repos?api-key=bar',
  '/api/user/tobi/repos?api-key=baz',
  '/api/user/loki/repos?api-key=foo',
  '/api/user/nobody/repos?api-key=foo',
  '/api/users',
  '/api/users?api-key=',
  '/api/users?api-key=wrong',
  '/api/repos?api-key=nope&other=1',
  '/api/nowhere?api-key=foo',
  '/elsewhere',
]

interface Answer {
  status: number
  type: string | null
  body: string
}

async function get(base: string, path: string): Promise<Answer> {
  const res = await fetch(base + path)
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() }
}

function listen(app: { listen(port: number, host: string, cb: () => void): Server }): Promise<{ server: Server; base: string }> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }))
  })
}

const close = (server: Server): Promise<void> => new Promise((resolve) => {
  server.close(() => resolve())
  server.closeAllConnections()
})

describe('the Express web-service example, migrated', () => {
  it('answers every old request with the old status, content type and body, byte for byte', async () => {
    const old = await listen(expressApi())
    const migrated = await startServer(0)
    const base = `http://127.0.0.1:${(migrated.server.address() as AddressInfo).port}`
    try {
      for (const path of requests) {
        const before = await get(old.base, path)
        const after = await get(base, path)
        expect({ path, ...after }).toEqual({ path, ...before })
      }
      // And what the old API answered, spelled out for two of them.
      expect(await get(base, '/api/users?api-key=foo')).toEqual({
        status: 200, type: 'application/json; charset=utf-8', body: '[{"name":"tobi"},{"name":"loki"},{"name":"jane"}]',
      })
      expect(await get(base, '/api/users')).toEqual({ status: 400, type: 'application/json; charset=utf-8', body: '{"error":"api key required"}' })
    } finally {
      await close(old.server)
      await migrated.app.close()
      await close(migrated.server)
    }
  })

  it('serves the same routes to socket clients, the key checked once at the upgrade', async () => {
    const migrated = await startServer(0)
    const ws = `ws://127.0.0.1:${(migrated.server.address() as AddressInfo).port}`
    try {
      const client = await TestClient.connect(ws, { query: 'api-key=foo' })
      expect(await client.request('user/repos', { name: 'loki' })).toEqual({
        status: 'success', ref: 1, repos: [{ name: 'stylus', url: 'https://github.com/learnboost/stylus' }],
      })
      expect(await client.request('user/repos', { name: 'nobody' })).toEqual({
        status: 'error', ref: 2, error: { code: 'NOT_FOUND', message: "Sorry, can't find that" },
      })
      await client.close()
    } finally {
      await migrated.app.close()
      await close(migrated.server)
    }
  })
})

describe('the bridge and credentials, rate limits', () => {
  let server: HttpTestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  /** Serves the app's routes over HTTP (and its socket on the same port); resolves with the base URL. */
  async function serve(app: ReturnType<typeof talk>, routes: Record<string, string>): Promise<string> {
    server = await httpTestServer(app, { routes })
    return server.base
  }

  it('keeps a query credential out of ctx.body (auth or a hook that conceals it)', async () => {
    const app = talk({ logger: silent })
    app.handshake((hs) => {
      hs.concealQuery('api-key')
      if (hs.query['api-key'] !== 'foo') throw new TalkError('UNAUTHORIZED', 'invalid api key')
    })
    app.route('echo', (ctx) => ({ body: ctx.body }))
    const base = await serve(app, { 'GET /echo': 'echo' })
    expect(await (await fetch(`${base}/echo?api-key=foo&q=1`)).json()).toEqual({ status: 'success', body: { q: '1' } })
  })

  it('applies the default rate limit per IP to bridged requests, and answers 429 with Retry-After', async () => {
    const app = talk({ logger: silent, rateLimit: { capacity: 1, refillPerSecond: 0.5 } })
    app.route('ping', () => ({ pong: true }))
    const base = await serve(app, { 'GET /ping': 'ping' })
    const first = await fetch(`${base}/ping`)
    expect(first.status).toBe(200)
    const second = await fetch(`${base}/ping`)
    const body = (await second.json()) as { error: { details: { retryAfterMs: number } } }
    expect({ status: second.status, body }).toEqual({
      status: 429,
      body: { status: 'error', error: { code: 'RATE_LIMITED', message: 'Too many requests', details: { retryAfterMs: expect.any(Number) } } },
    })
    // The header says the same wait, in whole seconds rounded up.
    expect(second.headers.get('retry-after')).toBe(String(Math.ceil(body.error.details.retryAfterMs / 1000)))
  })

  it('keys rateLimit({ by: "user" }) by the user across HTTP and the socket alike', async () => {
    const app = talk({ logger: silent, rateLimit: false })
    app.handshake((hs) => {
      hs.concealQuery('user')
      hs.user = { id: hs.query.user ?? 'anon' }
    })
    app.use(rateLimit({ by: 'user', capacity: 2, refillPerSecond: 0.001 }))
    app.route('ping', () => ({ pong: true }))
    const base = await serve(app, { 'GET /ping': 'ping' })
    expect((await fetch(`${base}/ping?user=ann`)).status).toBe(200)
    const socket = await (server as HttpTestServer).client({ query: 'user=ann' })
    expect(await socket.request('ping')).toEqual({ status: 'success', ref: 1, pong: true })
    // Ann's two requests are spent, whichever transport made them.
    expect((await fetch(`${base}/ping?user=ann`)).status).toBe(429)
    expect(await socket.request('ping')).toEqual({
      status: 'error', ref: 2, error: { code: 'RATE_LIMITED', message: 'Too many requests', details: { retryAfterMs: expect.any(Number) } },
    })
    expect((await fetch(`${base}/ping?user=bob`)).status).toBe(200)
  })
})
