import { talk, Router, TalkError, type TalkApp } from '../index'
import { testServer, type TestServer } from '../lib/testing'
import { silent } from './helpers/seed-app'

describe('the middleware chain over a socket', () => {
  let server: TestServer
  let app: TalkApp
  beforeEach(() => {
    app = talk({ logger: silent })
  })
  afterEach(() => server.close())

  it('runs app middleware as an onion around the handler', async () => {
    const seen: string[] = []
    app.use(async (ctx, next) => {
      seen.push(`a in ${ctx.route}`)
      await next()
      seen.push('a out')
    })
    app.use(async (_ctx, next) => {
      seen.push('b in')
      await next()
      seen.push('b out')
    })
    app.route('x', (ctx) => {
      seen.push('handler')
      ctx.reply({ ok: true })
    })
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('x')).toEqual({ status: 'success', ref: 1, ok: true })
    expect(seen).toEqual(['a in x', 'b in', 'handler', 'b out', 'a out'])
  })

  it('runs scoped middleware only for names that match its pattern', async () => {
    const seen: string[] = []
    app.use('document/*rest', (ctx, next) => {
      seen.push(ctx.route)
      return next()
    })
    app.route('document/get', () => ({ doc: true }))
    app.route('document/:id/nodes', (ctx) => ({ id: ctx.params.id }))
    app.route('node/create', () => ({ node: true }))
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('document:get')).toEqual({ status: 'success', ref: 1, doc: true })
    expect(await c.request('node:create')).toEqual({ status: 'success', ref: 2, node: true })
    expect(await c.request('document/9/nodes')).toEqual({ status: 'success', ref: 3, id: '9' })
    expect(await c.request('documentary')).toEqual({ status: 'error', ref: 4, error: { code: 'NOT_FOUND', message: 'Unknown route "documentary"' } })
    expect(seen).toEqual(['document/get', 'document/9/nodes'])
  })

  it('serves mounted routers with params and router middleware', async () => {
    const nodes = new Router()
    nodes.use((ctx, next) => {
      ctx.locals.router = 'nodes'
      return next()
    })
    nodes.route('get/:node', (ctx) => ({ doc: ctx.params.doc, node: ctx.params.node, via: ctx.locals.router }))
    app.use('document/:doc/nodes', nodes)
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('document/d1/nodes/get/n7')).toEqual({ status: 'success', ref: 1, doc: 'd1', node: 'n7', via: 'nodes' })
  })

  it.each([
    ['app middleware', 'app'],
    ['route middleware', 'route'],
    ['handler', 'handler'],
    ['async handler', 'async'],
  ])('turns a TalkError thrown by the %s into one error reply', async (_label, where) => {
    const boom = (): never => {
      throw new TalkError('FORBIDDEN', 'Not yours', { where })
    }
    app.use((ctx, next) => (where === 'app' ? boom() : next()))
    app.route('x', (_ctx, next) => (where === 'route' ? boom() : next()), async (ctx) => {
      if (where === 'handler') boom()
      await Promise.resolve()
      if (where === 'async') boom()
      ctx.reply({ unreachable: true })
    })
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('x')).toEqual({ status: 'error', ref: 1, error: { code: 'FORBIDDEN', message: 'Not yours', details: { where } } })
    expect(await c.request('x', {}, { ref: 'again' })).toEqual({ status: 'error', ref: 'again', error: { code: 'FORBIDDEN', message: 'Not yours', details: { where } } })
    expect(c.pendingPushes).toEqual([])
  })

  it('answers INTERNAL without internals for an unexpected error, and reports it', async () => {
    const errors: unknown[] = []
    app.on('error', (err) => errors.push(err))
    app.route('crash', () => {
      throw new Error('database password is hunter2')
    })
    app.route('ok', () => ({ fine: true }))
    server = await testServer(app)
    const c = await server.client()
    const reply = await c.request('crash')
    expect(reply).toEqual({ status: 'error', ref: 1, error: { code: 'INTERNAL', message: 'Internal server error' } })
    expect(JSON.stringify(reply)).not.toContain('hunter2')
    expect(errors).toEqual([new Error('database password is hunter2')])
    expect(await c.request('ok')).toEqual({ status: 'success', ref: 2, fine: true })
  })

  it('sends one success reply when the handler never replies', async () => {
    app.route('silent', () => undefined)
    app.route('async-silent', async () => {
      await new Promise((resolve) => setImmediate(resolve))
    })
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('silent')).toEqual({ status: 'success', ref: 1 })
    expect(await c.request('async-silent')).toEqual({ status: 'success', ref: 2 })
    c.socket.send(JSON.stringify({ command: 'silent' }))
    expect(await c.nextReply()).toEqual({ status: 'success' })
  })

  it('never sends two replies: a second reply, or an error after a reply, is dropped', async () => {
    app.route('twice', (ctx) => {
      ctx.reply({ n: 1 })
      ctx.reply({ n: 2 })
    })
    app.route('reply-then-throw', (ctx) => {
      ctx.reply({ n: 1 })
      throw new TalkError('CONFLICT', 'too late')
    })
    app.route('next', () => ({ n: 'next' }))
    server = await testServer(app)
    const c = await server.client()
    c.socket.send(JSON.stringify({ command: 'twice' }))
    c.socket.send(JSON.stringify({ command: 'reply-then-throw' }))
    c.socket.send(JSON.stringify({ command: 'next' }))
    expect([await c.nextReply(), await c.nextReply(), await c.nextReply()]).toEqual([
      { status: 'success', n: 1 },
      { status: 'success', n: 1 },
      { status: 'success', n: 'next' },
    ])
  })

  it('rejects next() called twice as an INTERNAL error, once', async () => {
    app.use(async (_ctx, next) => {
      await next()
      await next()
    })
    app.route('x', () => undefined)
    server = await testServer(app)
    const c = await server.client()
    const internal = { code: 'INTERNAL', message: 'Internal server error' }
    expect(await c.request('x')).toEqual({ status: 'error', ref: 1, error: internal })
    expect(await c.request('x')).toEqual({ status: 'error', ref: 2, error: internal })
    expect(c.pendingPushes).toEqual([])
  })

  it('types and validates a route body from its spec, replacing the body with the parsed value', async () => {
    const { z } = await import('zod')
    app.route('node/create', { body: z.object({ name: z.string().max(10), count: z.coerce.number().default(1) }) }, (ctx) => {
      const name: string = ctx.body.name
      return { name, count: ctx.body.count, keys: Object.keys(ctx.body) }
    })
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('node/create', { name: 'task', count: '3', extra: true })).toEqual({
      status: 'success', ref: 1, name: 'task', count: 3, keys: ['name', 'count'],
    })
    expect(await c.request('node/create', { name: 42 })).toEqual({
      status: 'error', ref: 2,
      error: {
        code: 'VALIDATION_FAILED', message: 'Request body is invalid',
        details: [{ path: ['name'], message: expect.any(String), code: 'invalid_type' }],
      },
    })
    expect(await c.request('node/create', { name: 'ok' })).toEqual({ status: 'success', ref: 3, name: 'ok', count: 1, keys: ['name', 'count'] })
  })

  it('gives each message its own locals, and each client its own state', async () => {
    app.route('count', (ctx) => {
      ctx.state.count = ((ctx.state.count as number | undefined) ?? 0) + 1
      ctx.global.total = ((ctx.global.total as number | undefined) ?? 0) + 1
      const before = ctx.locals.seen
      ctx.locals.seen = true
      return { mine: ctx.state.count, total: ctx.global.total, localsWereEmpty: before === undefined }
    })
    server = await testServer(app)
    const [a, b] = await server.clients(2)
    expect(await a!.request('count')).toEqual({ status: 'success', ref: 1, mine: 1, total: 1, localsWereEmpty: true })
    expect(await a!.request('count')).toEqual({ status: 'success', ref: 2, mine: 2, total: 2, localsWereEmpty: true })
    expect(await b!.request('count')).toEqual({ status: 'success', ref: 1, mine: 1, total: 3, localsWereEmpty: true })
  })
})
