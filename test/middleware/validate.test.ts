import { z } from 'zod'
import { talk, validate, type TalkApp } from '../../lib'
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

  it('checks its options at start-up', async () => {
    expect(() => validate(null as never)).toThrow(TypeError)
    expect(() => validate({ body: { parse: () => 1 } as never })).toThrow(TypeError)
    server = await testServer(app)
  })
})
