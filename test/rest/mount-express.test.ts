import express, { type Request } from 'express'
import { z } from 'zod'
import { repos, users } from '../../examples/web-service/data'
import { expressApi } from '../../examples/web-service/express-api'
import { mountExpress, talk, type TalkApp } from '../../index'
import { testServer, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'
import { httpTestServer } from './http-server'

type HttpError = Error & { status?: number }
function error(status: number, message: string): HttpError {
  return Object.assign(new Error(message), { status })
}

/** A router with no error handler of its own: what it passes to next() is mountExpress's to map. */
function bare(): express.Router {
  const r = express.Router()
  r.use(express.json())
  r.use((req, res, next) => {
    if (req.get('x-api-key') !== 'k1') {
      res.status(401).json({ error: 'api key required' })
      return
    }
    next()
  })
  r.get('/me', (req, res) => {
    res.json({ user: (req as Request & { user?: unknown }).user, agent: req.get('x-agent') ?? null })
  })
  r.get('/search', (req, res) => {
    res.json({ query: req.query, url: req.originalUrl })
  })
  r.post('/notes/:id', (req, res) => {
    res.status(201).json({ id: req.params.id, body: req.body as unknown })
  })
  r.delete('/notes/:id', (_req, res) => {
    res.sendStatus(204)
  })
  r.get('/files/*path', (req, res) => {
    res.json({ path: req.params.path })
  })
  r.get('/text', (_req, res) => {
    res.send('hello')
  })
  r.get('/status', (_req, res) => {
    res.json({ status: 'green' })
  })
  r.get('/secret', (_req, _res, next) => {
    next(error(403, 'Not for you'))
  })
  r.get('/slow', async (_req, res) => {
    await new Promise((resolve) => setImmediate(resolve))
    res.status(429).set('Retry-After', '3').json({ error: 'Slow down' })
  })
  r.get('/boom', () => {
    throw new Error('db password is hunter2')
  })
  r.get('/down', (_req, res) => {
    res.status(503).json({ error: 'replica lag 40s on db-7' })
  })
  r.get('/stuck', () => undefined)
  return r
}

function legacyApp(): TalkApp {
  const app = talk({ logger: silent })
  app.handshake((hs) => {
    const name = hs.headers['x-user']
    if (typeof name === 'string') hs.user = { name }
  })
  // Express's own web-service example (examples/web-service), the whole express() app, untouched.
  mountExpress(app, expressApi(), {
    routes: {
      'users/list': 'GET /api/users',
      'repos/list': 'GET /api/repos',
      'user/repos': { endpoint: 'GET /api/user/:name/repos', body: z.object({ name: z.string().min(1), 'api-key': z.string().optional() }) },
    },
  })
  mountExpress(app, bare(), {
    routes: {
      me: 'GET /me',
      search: 'GET /search',
      'note/create': 'POST /notes/:id',
      'note/delete': 'DELETE /notes/:id',
      'note/:id/remove': 'DELETE /notes/:id',
      'file/get': 'GET /files/*path',
      text: 'GET /text',
      status: 'GET /status',
      secret: 'GET /secret',
      slow: 'GET /slow',
      boom: 'GET /boom',
      down: 'GET /down',
      nowhere: 'GET /nowhere',
    },
  })
  mountExpress(app, bare(), { routes: { stuck: 'GET /stuck' }, timeoutMs: 50 })
  return app
}

describe('mountExpress: an Express router answers Talk requests', () => {
  let server: TestServer
  beforeEach(async () => {
    server = await testServer(legacyApp())
  })
  afterEach(() => server.close())

  it('answers the web-service example over a socket: arrays under data, params from the body, the api key from the query', async () => {
    const c = await server.client({ query: 'api-key=foo' })
    expect(await c.request('users/list')).toEqual({ status: 'success', ref: 1, data: users })
    expect(await c.request('user/repos', { name: 'tobi' })).toEqual({ status: 'success', ref: 2, data: [repos[0], repos[1]] })
    // the key may come with the request instead of the handshake
    const d = await server.client()
    expect(await d.request('repos/list', { 'api-key': 'bar' })).toEqual({ status: 'success', ref: 1, data: repos })
  })

  it("maps the router's own error answers to codes: 400 and 401 from next(err), its JSON 404", async () => {
    const c = await server.client()
    expect(await c.request('users/list')).toEqual({ status: 'error', ref: 1, error: { code: 'BAD_REQUEST', message: 'api key required' } })
    expect(await c.request('users/list', { 'api-key': 'nope' })).toEqual({
      status: 'error', ref: 2, error: { code: 'UNAUTHORIZED', message: 'invalid api key' },
    })
    expect(await c.request('user/repos', { name: 'nobody', 'api-key': 'foo' })).toEqual({
      status: 'error', ref: 3, error: { code: 'NOT_FOUND', message: "Sorry, can't find that" },
    })
    // the route's zod schema runs before Express does
    expect(await c.request('user/repos', { 'api-key': 'foo' })).toEqual({
      status: 'error', ref: 4, error: { code: 'VALIDATION_FAILED', message: expect.any(String), details: [expect.objectContaining({ path: ['name'] })] },
    })
    // and the connection still works
    expect(await c.request('user/repos', { name: 'jane', 'api-key': 'baz' })).toEqual({ status: 'success', ref: 5, data: [repos[2]] })
  })

  it('gives the router the handshake headers and the client user, and a middleware that refuses becomes the error', async () => {
    const c = await server.client({ headers: { 'x-api-key': 'k1', 'x-user': 'tobi', 'x-agent': 'talk-test' } })
    expect(await c.request('me')).toEqual({ status: 'success', ref: 1, user: { name: 'tobi' }, agent: 'talk-test' })
    const anon = await server.client()
    expect(await anon.request('me')).toEqual({ status: 'error', ref: 1, error: { code: 'UNAUTHORIZED', message: 'api key required' } })
  })

  it('builds req.query and the URL from the body for GET, req.params and req.body for POST', async () => {
    const c = await server.client({ headers: { 'x-api-key': 'k1' }, query: 'lang=en' })
    expect(await c.request('search', { q: 'talk', page: 2, tags: ['a', 'b'], filter: { deep: true } })).toEqual({
      status: 'success', ref: 1,
      query: { lang: 'en', q: 'talk', page: '2', tags: ['a', 'b'] },
      url: '/search?q=talk&page=2&tags=a&tags=b',
    })
    expect(await c.request('note/create', { id: 'a b/c', text: 'hi', n: 1 })).toEqual({
      status: 'success', ref: 2, id: 'a b/c', body: { text: 'hi', n: 1 },
    })
    expect(await c.request('file/get', { path: 'docs/guide.md' })).toEqual({ status: 'success', ref: 3, path: ['docs', 'guide.md'] })
    // a Talk pattern's params fill the Express path too
    expect(await c.request('note/n7/remove')).toEqual({ status: 'success', ref: 4 })
    expect(await c.request('note/delete', { id: 'n7' })).toEqual({ status: 'success', ref: 5 })
    expect(await c.request('note/delete', { id: { not: 'text' } })).toEqual({
      status: 'error', ref: 6,
      error: { code: 'VALIDATION_FAILED', message: 'Path parameters are missing', details: [{ path: ['id'], message: 'Must be a non-empty string or number', code: 'invalid_type' }] },
    })
  })

  it('wraps text and objects using a reserved field under data', async () => {
    const c = await server.client({ headers: { 'x-api-key': 'k1' } })
    expect(await c.request('text')).toEqual({ status: 'success', ref: 1, data: 'hello' })
    expect(await c.request('status')).toEqual({ status: 'success', ref: 2, data: { status: 'green' } })
  })

  it('maps next(err) by err.status, keeps faults and 5xx bodies off the wire, and answers NOT_FOUND when no Express route does', async () => {
    const c = await server.client({ headers: { 'x-api-key': 'k1' } })
    expect(await c.request('secret')).toEqual({ status: 'error', ref: 1, error: { code: 'FORBIDDEN', message: 'Not for you' } })
    expect(await c.request('slow')).toEqual({ status: 'error', ref: 2, error: { code: 'RATE_LIMITED', message: 'Slow down', details: { retryAfterMs: 3000 } } })
    expect(await c.request('boom')).toEqual({ status: 'error', ref: 3, error: { code: 'INTERNAL', message: expect.not.stringContaining('hunter2') } })
    expect(await c.request('down')).toEqual({ status: 'error', ref: 4, error: { code: 'UNAVAILABLE', message: 'Service Unavailable' } })
    expect(await c.request('nowhere')).toEqual({ status: 'error', ref: 5, error: { code: 'NOT_FOUND', message: 'No Express route answers GET /nowhere' } })
    expect(await c.request('stuck')).toEqual({ status: 'error', ref: 6, error: { code: 'TIMEOUT', message: 'Express middleware did not finish' } })
    // no user: the field is left out, as JSON leaves out undefined
    expect(await c.request('me')).toEqual({ status: 'success', ref: 7, agent: null })
  })

  it('serves the mounted routes over HTTP through the bridge, express.json() on the router notwithstanding', async () => {
    const http = await httpTestServer(legacyApp(), {
      routes: { 'GET /v2/users': 'users/list', 'GET /v2/user/:name/repos': 'user/repos', 'POST /v2/notes/:id': 'note/create' },
    })
    try {
      const answer = async (method: string, path: string, init?: { json?: unknown; headers?: Record<string, string> }) => {
        const reply = await http.fetch(method, path, init)
        return [reply.status, reply.body]
      }
      expect(await answer('GET', '/v2/users?api-key=foo')).toEqual([200, { status: 'success', data: users }])
      expect(await answer('GET', '/v2/user/loki/repos?api-key=foo')).toEqual([200, { status: 'success', data: [repos[1]] }])
      expect(await answer('GET', '/v2/users?api-key=nope')).toEqual([401, { status: 'error', error: { code: 'UNAUTHORIZED', message: 'invalid api key' } }])
      expect(await answer('POST', '/v2/notes/n1', { json: { text: 'over http' }, headers: { 'x-api-key': 'k1' } })).toEqual([
        200, { status: 'success', id: 'n1', body: { text: 'over http' } },
      ])
    } finally {
      await http.close()
    }
  })

  it('refuses bad options at start-up with a TypeError', () => {
    const app = talk({ logger: silent })
    expect(() => mountExpress(app, {} as never, { routes: {} })).toThrow(TypeError)
    expect(() => mountExpress(app, bare(), { routes: { a: 'FETCH /a' } })).toThrow(/must look like "GET \/api\/users"/)
    expect(() => mountExpress(app, bare(), { routes: { a: '/a' } })).toThrow(TypeError)
    expect(() => mountExpress(app, bare(), { routes: { a: { route: 'GET /a' } as never } })).toThrow(/must name an endpoint/)
    expect(() => mountExpress(app, bare(), { routes: { a: 'GET /a' }, wrap: 'status' })).toThrow(/"wrap"/)
    expect(() => mountExpress(app, bare(), { routes: { a: 'GET /a' }, timeoutMs: 0 })).toThrow(/"timeoutMs"/)
    expect(() => mountExpress(app, bare(), { routes: { a: 'GET /a/:' } })).toThrow(TypeError)
    // nothing was registered by the calls that threw, even those whose first entries were good
    expect(() => mountExpress(app, bare(), { routes: { b: 'GET /b', c: 'GET c' } })).toThrow(TypeError)
    expect(app.hasRoute('a') || app.hasRoute('b')).toBe(false)
  })
})
