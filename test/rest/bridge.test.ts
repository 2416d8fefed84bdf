import { z } from 'zod'
import { bridge, isHttpClient, resource, talk, TalkError, type TalkApp } from '../../index'
import { silent } from '../helpers/seed-app'
import { httpTestServer, type HttpTestServer } from './http-server'

interface Task {
  id: number
  title: string
}

/** Boards of tasks; `Authorization: Bearer <name>` or a `session=<name>` cookie names the user, anyone else is refused. */
function boardApp(): TalkApp {
  const app = talk({ logger: silent })
  const boards = new Map<string, Task[]>([['b1', []], ['b2', []]])
  app.handshake((hs) => {
    const header = hs.headers.authorization
    const name = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : hs.cookies.session
    if (name === undefined || name === 'mallory') throw new TalkError('UNAUTHORIZED', 'Sign in first')
    hs.user = { name }
    hs.state.signedInAt = 'handshake'
  })
  const board = (id: string): Task[] => {
    const tasks = boards.get(id)
    if (tasks === undefined) throw new TalkError('NOT_FOUND', `No board ${id}`)
    return tasks
  }
  app.route('board/open', { body: z.object({ board: z.string() }) }, (ctx) => {
    board(ctx.body.board)
    ctx.join(`board/${ctx.body.board}`)
  })
  app.route('task/list', { body: z.object({ board: z.string(), done: z.enum(['yes', 'no']).optional() }) }, (ctx) => ({
    tasks: board(ctx.body.board),
  }))
  app.route('task/create', { body: z.object({ board: z.string(), title: z.string().min(1) }) }, (ctx) => {
    const tasks = board(ctx.body.board)
    const task = { id: tasks.length + 1, title: ctx.body.title }
    tasks.push(task)
    ctx.to(`board/${ctx.body.board}`).send('task:create', { board: ctx.body.board, task })
    return { task }
  })
  app.route('debug/echo', (ctx) => {
    ctx.join('somewhere')
    ctx.send('never:delivered', {})
    ctx.broadcast('never:delivered', {})
    ctx.state.touched = true
    return {
      body: ctx.body,
      keys: Object.keys(ctx.body),
      plainPrototype: Object.getPrototypeOf(ctx.body) === Object.prototype,
      params: ctx.params,
      user: ctx.client.user,
      state: ctx.state,
      rooms: [...ctx.client.rooms],
      http: isHttpClient(ctx.client),
    }
  })
  return app
}

const routes = {
  'GET /boards/:board/tasks': 'task/list',
  'POST /boards/:board/tasks': { route: 'task/create', status: 201 },
  'POST /echo/:id': 'debug/echo',
  'GET /echo/:id': 'debug/echo',
  'DELETE /boards/:board/tasks': 'task/clear', // no such route yet: unmapped until it exists
}
const alice = { authorization: 'Bearer alice' }

describe('REST bridge', () => {
  let server: HttpTestServer
  beforeEach(async () => {
    server = await httpTestServer(boardApp(), { routes })
  })
  afterEach(() => server.close())

  describe('auth over HTTP', () => {
    it('runs the handshake hooks per request: 401 without credentials, the user with a header or a cookie', async () => {
      const refused = await server.fetch('GET', '/boards/b1/tasks')
      expect(refused.status).toBe(401)
      expect(refused.body).toEqual({ status: 'error', error: { code: 'UNAUTHORIZED', message: 'Sign in first' } })
      expect((await server.fetch('GET', '/boards/b1/tasks', { headers: { authorization: 'Bearer mallory' } })).status).toBe(401)

      const byHeader = await server.fetch('GET', '/echo/1', { headers: alice })
      expect(byHeader.status).toBe(200)
      expect((byHeader.body as { user: unknown }).user).toEqual({ name: 'alice' })
      const byCookie = await server.fetch('GET', '/echo/1', { headers: { cookie: 'session=bob' } })
      expect((byCookie.body as { user: unknown }).user).toEqual({ name: 'bob' })
    })

    it('refuses before reading the body', async () => {
      const refused = await server.fetch('POST', '/boards/b1/tasks', { body: '{not json', headers: { 'content-type': 'application/json' } })
      expect(refused.status).toBe(401)
    })
  })

  describe('mapping', () => {
    it('builds the body from query, JSON body and path, the path winning, and shows the handler a per-request client', async () => {
      const reply = await server.fetch('POST', '/echo/7?tag=a&tag=b&q=x&id=query', { headers: alice, json: { q: 'body', id: 'body', n: 1 } })
      expect(reply.status).toBe(200)
      expect(reply.body).toEqual({
        status: 'success',
        body: { tag: ['a', 'b'], q: 'body', id: '7', n: 1 },
        keys: ['tag', 'q', 'id', 'n'],
        plainPrototype: true,
        params: {},
        user: { name: 'alice' },
        state: { signedInAt: 'handshake', touched: true },
        rooms: [],
        http: true,
      })
      // ctx.state lives for one request: the next starts from the handshake's again
      const again = await server.fetch('GET', '/echo/8', { headers: alice })
      expect((again.body as { state: unknown }).state).toEqual({ signedInAt: 'handshake', touched: true })
      expect((again.body as { body: unknown }).body).toEqual({ id: '8' })
    })

    it('percent-decodes path parameters and ignores a trailing slash, as Express does', async () => {
      const reply = await server.fetch('GET', '/echo/hello%20world%2F1/', { headers: alice })
      expect((reply.body as { body: unknown }).body).toEqual({ id: 'hello world/1' })
    })

    it('answers HEAD from the GET mapping, without a body', async () => {
      const res = await fetch(`${server.base}/boards/b1/tasks`, { method: 'HEAD', headers: alice })
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('')
      expect(Number(res.headers.get('content-length'))).toBeGreaterThan(0)
    })

    it('maps routes the app gains after the bridge was made', async () => {
      expect((await server.fetch('DELETE', '/boards/b1/tasks', { headers: alice })).status).toBe(405)
      server.app.route('task/clear', () => ({ cleared: true }))
      const reply = await server.fetch('DELETE', '/boards/b1/tasks', { headers: alice })
      expect(reply.status).toBe(200)
      expect(reply.body).toEqual({ status: 'success', cleared: true })
    })
  })

  describe('pushes', () => {
    it('shows an HTTP write live to the socket clients in the room, and only to them', async () => {
      const [a, b, other] = await Promise.all([
        server.client({ headers: alice }),
        server.client({ headers: { cookie: 'session=bob' } }),
        server.client({ headers: alice }),
      ])
      await a.request('board/open', { board: 'b1' })
      await b.request('board/open', { board: 'b1' })
      await other.request('board/open', { board: 'b2' })

      const created = await server.fetch('POST', '/boards/b1/tasks', { headers: alice, json: { title: 'Ship it' } })
      expect(created.status).toBe(201)
      expect(created.body).toEqual({ status: 'success', task: { id: 1, title: 'Ship it' } })
      const push = { command: 'task:create', board: 'b1', task: { id: 1, title: 'Ship it' } }
      expect(await a.nextPush()).toEqual(push)
      expect(await b.nextPush()).toEqual(push)

      // the same write over the socket reaches the same clients (minus the sender): one handler, two transports
      expect(await a.request('task/create', { board: 'b1', title: 'Again' })).toEqual({ status: 'success', ref: 2, task: { id: 2, title: 'Again' } })
      expect(await b.nextPush()).toEqual({ command: 'task:create', board: 'b1', task: { id: 2, title: 'Again' } })
      expect(await other.request('task/list', { board: 'b2' })).toEqual({ status: 'success', ref: 2, tasks: [] })
      expect([a.pendingPushes, other.pendingPushes]).toEqual([[], []])

      const list = await server.fetch('GET', '/boards/b1/tasks?done=no', { headers: alice })
      expect(list.body).toEqual({ status: 'success', tasks: [{ id: 1, title: 'Ship it' }, { id: 2, title: 'Again' }] })
    })
  })

  describe('trace context', () => {
    const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
    const PARENT = '00f067aa0ba902b7'
    const CHILD = expect.stringMatching(new RegExp(`^00-${TRACE_ID}-(?!${PARENT})[0-9a-f]{16}-01$`))

    it('takes the traceparent header as the request\'s trace context: the pushes it causes carry the trace', async () => {
      const watcher = await server.client({ headers: alice })
      await watcher.request('board/open', { board: 'b1' })
      const created = await server.fetch('POST', '/boards/b1/tasks', { headers: { ...alice, traceparent: `00-${TRACE_ID}-${PARENT}-01` }, json: { title: 'Traced' } })
      expect(created.body).toEqual({ status: 'success', task: { id: 1, title: 'Traced' } })
      expect(await watcher.nextPush()).toEqual({ command: 'task:create', board: 'b1', task: { id: 1, title: 'Traced' }, traceparent: CHILD })
    })

    it('keeps traceparent out of ctx.body, as on the socket, and drops a malformed one', async () => {
      const fromBody = await server.fetch('POST', '/echo/1', { headers: alice, json: { n: 1, traceparent: `00-${TRACE_ID}-${PARENT}-01` } })
      expect((fromBody.body as { body: unknown }).body).toEqual({ n: 1, id: '1' })
      const malformed = await server.fetch('POST', '/echo/2', { headers: { ...alice, traceparent: 'not-a-trace' }, json: { n: 2, traceparent: 'forged' } })
      expect(malformed.status).toBe(200)
      expect((malformed.body as { body: unknown }).body).toEqual({ n: 2, id: '2' })
    })
  })

  describe('hostile input', () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      server.fetch('POST', path, { body, headers: { ...alice, 'content-type': 'application/json', ...headers } })
    const stillWorks = async () => {
      const reply = await server.fetch('GET', '/boards/b1/tasks', { headers: alice })
      expect(reply).toEqual({ status: 200, body: { status: 'success', tasks: [] }, headers: expect.anything() })
    }
    const badRequest = (message: string) => ({ status: 'error', error: { code: 'BAD_REQUEST', message } })

    it('answers malformed JSON with 400 BAD_REQUEST', async () => {
      const reply = await post('/boards/b1/tasks', '{"title": "x",')
      expect(reply.status).toBe(400)
      expect(reply.body).toEqual(badRequest('Body is not valid JSON'))
      await stillWorks()
    })

    it.each([['an array', '[1,2]'], ['a string', '"x"'], ['null', 'null']])('answers a body that is %s with 400', async (_what, text) => {
      const reply = await post('/boards/b1/tasks', text)
      expect(reply.status).toBe(400)
      expect(reply.body).toEqual(badRequest('Body must be a JSON object'))
      await stillWorks()
    })

    it('answers bytes that are not UTF-8 with 400', async () => {
      const reply = await server.fetch('POST', '/boards/b1/tasks', {
        body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
        headers: { ...alice, 'content-type': 'application/json' },
      })
      expect(reply.body).toEqual(badRequest('Body is not valid UTF-8'))
    })

    it('answers another content type with 400, and a compressed body with 400', async () => {
      const text = await post('/boards/b1/tasks', 'title=x', { 'content-type': 'application/x-www-form-urlencoded' })
      expect(text.status).toBe(400)
      expect(text.body).toEqual(badRequest('Content-Type must be application/json'))
      const none = await server.fetch('POST', '/boards/b1/tasks', { body: '{"title":"x"}', headers: { ...alice, 'content-type': '' } })
      expect(none.status).toBe(400)
      const gzip = await post('/boards/b1/tasks', '{}', { 'content-encoding': 'gzip' })
      expect(gzip.body).toEqual(badRequest('Content-Encoding "gzip" is not supported'))
      // an empty form post (what another site can make a browser send with the user's cookies) is refused too
      const form = await server.fetch('POST', '/boards/b1/tasks', { headers: { ...alice, 'content-type': 'application/x-www-form-urlencoded' } })
      expect(form.status).toBe(400)
      expect(form.body).toEqual(badRequest('Content-Type must be application/json'))
      // a +json type is JSON
      expect((await post('/boards/b1/tasks', '{"title":"t"}', { 'content-type': 'application/merge-patch+json; charset=utf-8' })).status).toBe(201)
    })

    it('answers a body over the limit with 413, whether its length is declared or not', async () => {
      const huge = JSON.stringify({ title: 'x'.repeat(2 * 1024 * 1024) })
      const declared = await post('/boards/b1/tasks', huge)
      expect(declared.status).toBe(413)
      expect(declared.body).toEqual({ status: 'error', error: { code: 'PAYLOAD_TOO_LARGE', message: 'Body is larger than 1048576 bytes' } })

      const chunk = new TextEncoder().encode('x'.repeat(64 * 1024))
      let sent = 0
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 40) controller.enqueue(chunk)
          else controller.close()
        },
      })
      const chunked = await server.fetch('POST', '/boards/b1/tasks', { body: stream, headers: { ...alice, 'content-type': 'application/json' } })
      expect(chunked.status).toBe(413)
      await stillWorks()
    })

    it('holds HTTP bodies to the socket frames\' bounds on nesting and size', async () => {
      const deep = await post('/echo/1', '{"a":'.repeat(40) + '1' + '}'.repeat(40))
      expect(deep.status).toBe(400)
      expect(deep.body).toEqual(badRequest('Body nests deeper than 32 levels'))
      const wide = await post('/echo/1', JSON.stringify({ list: Array.from({ length: 25_000 }, () => 0) }))
      expect(wide.body).toEqual(badRequest('Body has more than 20000 keys and array elements'))
      // the socket says the same of the same payload
      const ws = await server.client({ headers: alice })
      ws.sendRaw(JSON.stringify({ command: 'debug:echo', ref: 1, a: JSON.parse('{"a":'.repeat(40) + '1' + '}'.repeat(40)) as unknown }))
      expect(await ws.nextReply()).toEqual({ status: 'error', ref: 1, error: { code: 'BAD_REQUEST', message: 'Frame nests deeper than 32 levels' } })
      await stillWorks()
    })

    it('keeps __proto__ and constructor keys as plain data, from the body and the query', async () => {
      const reply = await post('/echo/1?__proto__=q', '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}')
      expect(reply.status).toBe(200)
      const body = reply.body as { keys: string[]; plainPrototype: boolean; body: Record<string, unknown> }
      expect(body.keys).toEqual(['__proto__', 'constructor', 'id'])
      expect(body.plainPrototype).toBe(true)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      expect(Object.prototype).not.toHaveProperty('polluted')
      // a route with a schema never sees them at all
      const created = await post('/boards/b1/tasks', '{"title": "t", "__proto__": {"admin": true}}')
      expect(created.body).toEqual({ status: 'success', task: { id: 1, title: 't' } })
    })

    it('answers unknown paths with 404 and a method the path lacks with 405 and Allow', async () => {
      const unknown = await server.fetch('GET', '/nope', { headers: alice })
      expect(unknown.status).toBe(404)
      expect(unknown.body).toEqual({ status: 'error', error: { code: 'NOT_FOUND', message: 'No route for this path' } })
      const wrong = await server.fetch('PUT', '/boards/b1/tasks', { headers: alice, json: {} })
      expect(wrong.status).toBe(405)
      expect(wrong.headers.get('allow')).toBe('GET, HEAD, POST')
      expect(wrong.body).toEqual({ status: 'error', error: { code: 'METHOD_NOT_ALLOWED', message: 'PUT is not allowed here' } })
      // unmapped paths never run the handshake: no 401 for them
      expect((await server.fetch('GET', '/nope')).status).toBe(404)
      await stillWorks()
    })

    it('answers a malformed percent-escape in the path with 400', async () => {
      const reply = await server.fetch('GET', '/echo/%E0%A4%A', { headers: alice })
      expect(reply.status).toBe(400)
      expect(reply.body).toEqual(badRequest('Path has a malformed percent-escape'))
      await stillWorks()
    })
  })

  it('answers 503 once the app is closing', async () => {
    await server.app.close()
    const reply = await server.fetch('GET', '/boards/b1/tasks', { headers: alice })
    expect(reply.status).toBe(503)
    expect(reply.body).toEqual({ status: 'error', error: { code: 'UNAVAILABLE', message: 'Server is shutting down' } })
  })
})

describe('bridge() and resource() options', () => {
  const app = talk({ logger: silent })
  it.each([
    ['a key without a method', { '/documents': 'document/get' }],
    ['an unknown method', { 'FETCH /documents': 'document/get' }],
    ['a route pattern as target', { 'GET /documents/:id': 'document/:id' }],
    ['a status that is no success', { 'GET /documents': { route: 'document/list', status: 404 } }],
    ['a bad path pattern', { 'GET /documents/:': 'document/get' }],
    ['the same method and path twice', { 'GET /documents': 'document/list', 'get /Documents/': 'document/other' }],
  ])('throws a TypeError at start-up for %s', (_what, routes) => {
    expect(() => bridge(app, { routes: routes as never })).toThrow(TypeError)
  })

  it('throws a TypeError for a bad limit or resource', () => {
    expect(() => bridge(app, { routes: {}, limit: 0 })).toThrow(TypeError)
    expect(() => resource('documents', 'document')).toThrow(TypeError)
    expect(() => resource('/documents', 'document', { only: ['show' as never] })).toThrow(TypeError)
  })

  it('maps a resource onto five conventional routes', () => {
    expect(resource('/documents', 'document')).toEqual({
      'GET /documents': 'document/list',
      'POST /documents': { route: 'document/create', status: 201 },
      'GET /documents/:id': 'document/get',
      'POST /documents/:id': 'document/update',
      'PUT /documents/:id': 'document/update',
      'PATCH /documents/:id': 'document/update',
      'DELETE /documents/:id': 'document/delete',
    })
    expect(resource('/v1/docs', 'doc', { only: ['get', 'delete'], param: 'docId' })).toEqual({
      'GET /v1/docs/:docId': 'doc/get',
      'DELETE /v1/docs/:docId': 'doc/delete',
    })
  })
})
