import { z } from 'zod'
import { talk, validate, type TalkApp } from '../../index'
import { testServer, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'

const NodeBody = z.object({ type: z.string().max(20), data: z.object({ name: z.string() }), position: z.coerce.number().int().default(0) })

describe('validate', () => {
  let app: TalkApp
  let server: TestServer
  beforeEach(() => {
    app = talk({ logger: silent })
  })
  afterEach(() => server.close())

  it('answers VALIDATION_FAILED with every issue (path, message, code), and the connection goes on', async () => {
    app.route('node/create', validate({ body: NodeBody }), (ctx) => ({ node: ctx.body }))
    server = await testServer(app)
    const client = await server.client()
    expect(await client.request('node/create', { type: 7, data: {} })).toEqual({
      status: 'error', ref: 1,
      error: {
        code: 'VALIDATION_FAILED', message: 'Request body is invalid',
        details: [
          { path: ['type'], message: expect.any(String), code: 'invalid_type' },
          { path: ['data', 'name'], message: expect.any(String), code: 'invalid_type' },
        ],
      },
    })
    expect(await client.request('node/create', { type: 'task', data: { name: 'A' } })).toEqual({
      status: 'success', ref: 2, node: { type: 'task', data: { name: 'A' }, position: 0 },
    })
  })

  it('hands the handler the parsed body: coerced, defaults filled, unknown keys stripped', async () => {
    app.route('node/create', validate({ body: NodeBody }), (ctx) => ({ node: ctx.body, positionType: typeof ctx.body.position }))
    server = await testServer(app)
    const client = await server.client()
    expect(await client.request('node/create', { type: 'task', data: { name: 'A', extra: 1 }, position: '3', __proto__x: 1 })).toEqual({
      status: 'success', ref: 1, node: { type: 'task', data: { name: 'A' }, position: 3 }, positionType: 'number',
    })
  })

  it('checks route params, with the issues under `params`', async () => {
    app.route('document/:id/nodes', validate({ params: z.object({ id: z.string().regex(/^d\d+$/) }) }), (ctx) => ({ id: ctx.params.id }))
    server = await testServer(app)
    const client = await server.client()
    expect(await client.request('document/d12/nodes')).toEqual({ status: 'success', ref: 1, id: 'd12' })
    expect(await client.request('document/x/nodes')).toEqual({
      status: 'error', ref: 2,
      error: { code: 'VALIDATION_FAILED', message: 'Route parameters are invalid', details: [{ path: ['params', 'id'], message: expect.any(String), code: 'invalid_format' }] },
    })
  })

  it('lists the first 20 issues and counts the rest, so the reply stays smaller than the request', async () => {
    app.route('tags/set', validate({ body: z.object({ tags: z.array(z.string()) }) }), () => undefined)
    server = await testServer(app)
    const client = await server.client()
    const request = JSON.stringify({ command: 'tags/set', ref: 'big', tags: Array.from({ length: 5000 }, () => 0) })
    const raw = new Promise<string>((resolve) => client.socket.once('message', (data) => resolve(data.toString())))
    client.sendRaw(request)
    const reply = await raw
    expect(reply.length).toBeLessThan(request.length / 4)
    expect(JSON.parse(reply)).toEqual({
      status: 'error', ref: 'big',
      error: {
        code: 'VALIDATION_FAILED', message: 'Request body is invalid',
        details: [
          ...Array.from({ length: 20 }, (_, i) => ({ path: ['tags', i], message: 'Invalid input: expected string, received number', code: 'invalid_type' })),
          { path: [], message: '4980 more issues not listed', code: 'too_many_issues', more: 4980 },
        ],
      },
    })
    expect(await client.request('tags/set', { tags: ['a'] })).toEqual({ status: 'success', ref: 1 })
  })

  it('cuts long messages and path keys at 200 characters and deep paths at 32 keys', async () => {
    // The default maxDepth (32) already stops such a path at the frame check; an app may allow more.
    app = talk({ logger: silent, maxDepth: 64 })
    const deep: z.ZodType = z.lazy(() => z.object({ k: deep.optional() }))
    app.route('odd/input', validate({ body: z.object({ fields: z.record(z.string(), z.string()).optional(), tree: deep.optional() }) }), () => undefined)
    app.route('refined', validate({ body: z.object({ a: z.string().refine(() => false, 'no '.repeat(1000)) }) }), () => undefined)
    server = await testServer(app)
    const client = await server.client()
    const key = 'k'.repeat(10_000)
    const long = await client.request('odd/input', { fields: { [key]: 1 } })
    expect(long).toEqual({
      status: 'error', ref: 1,
      error: {
        code: 'VALIDATION_FAILED', message: 'Request body is invalid',
        details: [{ path: ['fields', `${'k'.repeat(199)}…`], message: expect.any(String), code: 'invalid_type' }],
      },
    })
    let tree: unknown = 7
    for (let i = 0; i < 50; i++) tree = { k: tree }
    const nested = await client.request('odd/input', { tree })
    const [issue] = (nested.error as { details: { path: unknown[] }[] }).details
    expect(issue?.path).toEqual([...Array.from({ length: 31 }, (_, i) => (i === 0 ? 'tree' : 'k')), '…'])
    expect(await client.request('refined', { a: 'x' })).toEqual({
      status: 'error', ref: 3,
      error: { code: 'VALIDATION_FAILED', message: 'Request body is invalid', details: [{ path: ['a'], message: `${'no '.repeat(1000).slice(0, 199)}…`, code: 'custom' }] },
    })
  })

  it('checks its options at start-up', async () => {
    expect(() => validate(null as never)).toThrow(TypeError)
    expect(() => validate({ body: { parse: () => 1 } as never })).toThrow(TypeError)
    server = await testServer(app)
  })
})
