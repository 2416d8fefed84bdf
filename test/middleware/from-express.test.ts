import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import cookieParser from 'cookie-parser'
import express, { type Request } from 'express'
import { rateLimit as expressRateLimit } from 'express-rate-limit'
import session from 'express-session'
import { auth, fromExpress, talk, TalkError, type ExpressMiddleware, type TalkApp } from '../../index'
import { TestClient, type TestClientOptions } from '../../lib/testing'
import { silent } from '../helpers/seed-app'
import { upgrade } from './helpers'

declare module 'express-session' {
  interface SessionData {
    user: { id: string; name: string }
  }
}

const SECRET = 'express-session-secret'

describe('fromExpress', () => {
  let server: Server
  let app: TalkApp
  let web: express.Express
  let store: session.MemoryStore
  let port: number
  const clients: TestClient[] = []

  beforeEach(() => {
    store = new session.MemoryStore()
    web = express()
    app = talk({ logger: silent })
    server = createServer(web)
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await app.close()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  async function start(): Promise<void> {
    app.attach(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  }

  async function connect(options?: TestClientOptions): Promise<TestClient> {
    const client = await TestClient.connect(`ws://127.0.0.1:${port}`, options)
    clients.push(client)
    return client
  }

  /** The session middleware both sides share: same secret, same store. */
  const sessions = () => session({ secret: SECRET, store, resave: false, saveUninitialized: false })

  describe('on the handshake', () => {
    beforeEach(() => {
      web.use(cookieParser(SECRET), sessions())
      web.post('/login/:name', (req, res) => {
        req.session.user = { id: `u-${req.params.name}`, name: req.params.name }
        res.json({ ok: true })
      })
      app.use(fromExpress<Request>([cookieParser(SECRET), sessions()], {
        user: (req) => req.session.user,
        state: (req) => ({ sessionId: req.sessionID }),
      }))
      app.route('me', (ctx) => ({ user: ctx.client.user ?? null, session: ctx.state.sessionId ?? null }))
      app.route('private', auth.require(), (ctx) => ({ hello: ctx.client.user?.name }))
    })

    it('sees the user of a session created over HTTP by the Express app on the same server', async () => {
      await start()
      const login = await fetch(`http://127.0.0.1:${port}/login/ada`, { method: 'POST' })
      expect(await login.json()).toEqual({ ok: true })
      const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
      expect(cookie).toMatch(/^connect\.sid=s%3A/)
      const client = await connect({ headers: { Cookie: cookie } })
      const sid = decodeURIComponent(cookie.slice('connect.sid=s:'.length + 2)).split('.')[0]
      expect(await client.request('me')).toEqual({ status: 'success', ref: 1, user: { id: 'u-ada', name: 'ada' }, session: sid })
      expect(await client.request('private')).toEqual({ status: 'success', ref: 2, hello: 'ada' })
    })

    it('leaves a connection without a session (or with a forged cookie) anonymous', async () => {
      await start()
      const anonymous = await connect()
      const forged = await connect({ headers: { Cookie: 'connect.sid=s%3Aforged.signature' } })
      for (const client of [anonymous, forged]) {
        expect(await client.request('me')).toEqual({ status: 'success', ref: 1, user: null, session: expect.any(String) })
        expect(await client.request('private')).toEqual({ status: 'error', ref: 2, error: { code: 'UNAUTHORIZED', message: 'Sign in first' } })
        expect(await client.request('me')).toEqual({ status: 'success', ref: 3, user: null, session: expect.any(String) })
      }
    })
  })

  describe('refusing the upgrade', () => {
    it('turns an answer written by the middleware into the HTTP status and error of the refusal', async () => {
      const originCheck: ExpressMiddleware = (req, res, next) => {
        if (req.headers.origin === 'https://evil.example') {
          res.statusCode = 403
          res.setHeader('content-type', 'application/json')
          res.end(JSON.stringify({ message: 'Origin not allowed' }))
          return
        }
        next()
      }
      // Talk's own origin check lets every page in, so that the middleware's is the one tested.
      app = talk({ logger: silent, origins: '*' })
      app.use(fromExpress(originCheck))
      app.route('ping', () => ({ pong: true }))
      await start()
      expect(await upgrade(port, '/', { Origin: 'https://evil.example' })).toEqual({
        status: 403, upgraded: false, body: { status: 'error', error: { code: 'FORBIDDEN', message: 'Origin not allowed' } },
      })
      const client = await connect({ headers: { Origin: 'https://good.example' } })
      expect(await client.request('ping')).toEqual({ status: 'success', ref: 1, pong: true })
    })

    it('refuses with next(err): an http-errors style client error by its status, anything else as 500', async () => {
      app.use(fromExpress((req, _res, next) => {
        if (req.url?.includes('mode=denied')) next(Object.assign(new Error('Session required'), { status: 401, expose: true }))
        else if (req.url?.includes('mode=talk')) next(new TalkError('FORBIDDEN', 'Not today'))
        else if (req.url?.includes('mode=crash')) next(new Error('store unreachable'))
        else next()
      }))
      app.route('ping', () => ({}))
      await start()
      const error = (status: number, code: string, message: string) => ({ status, upgraded: false, body: { status: 'error', error: { code, message } } })
      expect(await upgrade(port, '/?mode=denied')).toEqual(error(401, 'UNAUTHORIZED', 'Session required'))
      expect(await upgrade(port, '/?mode=talk')).toEqual(error(403, 'FORBIDDEN', 'Not today'))
      expect(await upgrade(port, '/?mode=crash')).toEqual(error(500, 'INTERNAL', 'Internal server error'))
      expect((await upgrade(port, '/')).status).toBe(101)
    })

    it('limits upgrades per IP with express-rate-limit', async () => {
      app.use(fromExpress(expressRateLimit({ windowMs: 60_000, limit: 2 })))
      app.route('ping', () => ({ pong: true }))
      await start()
      const first = await connect()
      await connect()
      expect(await upgrade(port)).toEqual({
        status: 429, upgraded: false,
        body: { status: 'error', error: { code: 'RATE_LIMITED', message: 'Too many requests, please try again later.', details: { retryAfterMs: 60_000 } } },
      })
      expect(await first.request('ping')).toEqual({ status: 'success', ref: 1, pong: true })
    })

    it('checks its arguments at start-up', () => {
      expect(() => fromExpress([])).toThrow(TypeError)
      expect(() => fromExpress('cors' as never)).toThrow(TypeError)
      expect(() => fromExpress(((_err: unknown, _req: unknown, _res: unknown, _next: unknown) => undefined) as never)).toThrow('error-handling')
      expect(() => fromExpress((_req, _res, next) => next(), { on: 'message', user: () => undefined })).toThrow(TypeError)
      expect(() => fromExpress((_req, _res, next) => next(), { on: 'upgrade' as never })).toThrow(TypeError)
    })
  })

  describe('per message', () => {
    it('runs express-rate-limit on every message: RATE_LIMITED past the limit, and the connection goes on', async () => {
      app.route('limited', fromExpress(expressRateLimit({ windowMs: 60_000, limit: 3 }), { on: 'message' }), () => ({ ok: true }))
      app.route('free', () => ({ ok: true }))
      await start()
      const client = await connect()
      const replies = []
      for (let i = 0; i < 4; i++) replies.push(await client.request('limited'))
      expect(replies).toEqual([
        { status: 'success', ref: 1, ok: true },
        { status: 'success', ref: 2, ok: true },
        { status: 'success', ref: 3, ok: true },
        {
          status: 'error', ref: 4,
          error: { code: 'RATE_LIMITED', message: 'Too many requests, please try again later.', details: { retryAfterMs: 60_000 } },
        },
      ])
      expect(await client.request('free')).toEqual({ status: 'success', ref: 5, ok: true })
      // The limit is per IP, across connections, as express-rate-limit keys it.
      const other = await connect()
      expect((await other.request('limited')).status).toBe('error')
    })

    it("gives the middleware the handshake's headers and cookies and the message as the body, and keeps a body it replaced", async () => {
      const seen: unknown[] = []
      const inspect: ExpressMiddleware = (req, res, next) => {
        const r = req as unknown as { body: { name?: unknown }; cookies: Record<string, string>; get(name: string): unknown; path: string; method: string }
        seen.push({ method: r.method, path: r.path, cookies: r.cookies, agent: r.get('x-agent') })
        if (typeof r.body.name !== 'string') {
          res.statusCode = 422
          res.end('name must be a string')
          return
        }
        r.body = { name: r.body.name.trim() }
        next()
      }
      app.route('greet', fromExpress(inspect, { on: 'message' }), (ctx) => ({ hello: ctx.body.name }))
      await start()
      const client = await connect({ headers: { Cookie: 'theme=dark', 'X-Agent': 'tests' } })
      expect(await client.request('greet', { name: 5 })).toEqual({
        status: 'error', ref: 1, error: { code: 'VALIDATION_FAILED', message: 'name must be a string' },
      })
      expect(await client.request('greet', { name: '  Ada  ', extra: true })).toEqual({ status: 'success', ref: 2, hello: 'Ada' })
      expect(seen).toEqual([
        { method: 'POST', path: '/greet', cookies: { theme: 'dark' }, agent: 'tests' },
        { method: 'POST', path: '/greet', cookies: { theme: 'dark' }, agent: 'tests' },
      ])
    })

    it('runs middleware that finish at once and ones that wait in order, and catches an answer after a wait', async () => {
      const steps: string[] = []
      const now: (name: string) => ExpressMiddleware = (name) => (req, _res, next) => {
        steps.push(`${name} ${(req as unknown as { body: { n: number } }).body.n}`)
        next()
      }
      const later: ExpressMiddleware = (req, _res, next) => {
        setImmediate(() => {
          steps.push(`later ${(req as unknown as { body: { n: number } }).body.n}`)
          next()
        })
      }
      const gate: ExpressMiddleware = (req, res, next) => {
        steps.push(`gate ${(req as unknown as { body: { n: number } }).body.n}`)
        if ((req as unknown as { body: { n: number } }).body.n > 1) {
          res.statusCode = 429
          res.end('slow down')
        } else next()
      }
      app.route('step', fromExpress([now('first'), later, gate, now('last')], { on: 'message' }), (ctx) => ({ n: ctx.body.n }))
      app.route('quick', fromExpress([now('a'), now('b')], { on: 'message' }), (ctx) => ({ n: ctx.body.n }))
      await start()
      const client = await connect()
      expect(await client.request('step', { n: 1 })).toEqual({ status: 'success', ref: 1, n: 1 })
      expect(await client.request('step', { n: 2 })).toEqual({ status: 'error', ref: 2, error: { code: 'RATE_LIMITED', message: 'slow down' } })
      expect(await client.request('quick', { n: 3 })).toEqual({ status: 'success', ref: 3, n: 3 })
      expect(steps).toEqual(['first 1', 'later 1', 'gate 1', 'last 1', 'first 2', 'later 2', 'gate 2', 'a 3', 'b 3'])
    })

    it('answers TIMEOUT for a middleware that never finishes, and the connection goes on', async () => {
      app.route('stuck', fromExpress(() => undefined, { on: 'message', timeoutMs: 50 }), () => ({}))
      app.route('ping', () => ({ pong: true }))
      await start()
      const client = await connect()
      expect(await client.request('stuck')).toEqual({ status: 'error', ref: 1, error: { code: 'TIMEOUT', message: 'Express middleware did not finish' } })
      expect(await client.request('ping')).toEqual({ status: 'success', ref: 2, pong: true })
    })
  })
})
