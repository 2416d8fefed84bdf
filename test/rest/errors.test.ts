import { z } from 'zod'
import { bridge, STATUS, talk, TalkError } from '../../index'
import { silent } from '../helpers/seed-app'
import { httpTestServer, type HttpTestServer } from './http-server'

function errorApp() {
  const app = talk({ logger: silent })
  app.route('test/fail', (ctx) => {
    throw new TalkError(String(ctx.body.code), `failed with ${String(ctx.body.code)}`)
  })
  app.route('test/crash', () => {
    throw new Error('secret internals')
  })
  app.route('test/unencodable', () => ({ n: 10n }))
  app.route('document/update', { body: z.object({ id: z.string(), title: z.string().min(1), pages: z.number().int() }) }, (ctx) => ({
    document: ctx.body,
  }))
  return app
}

describe('REST bridge: errors', () => {
  let server: HttpTestServer
  beforeEach(async () => {
    server = await httpTestServer(errorApp(), {
      routes: {
        'GET /fail/:code': 'test/fail',
        'GET /crash': 'test/crash',
        'GET /unencodable': 'test/unencodable',
        'POST /documents/:id': 'document/update',
      },
      statuses: { PAYMENT_REQUIRED: 402 },
    })
  })
  afterEach(() => server.close())

  it.each(Object.entries(STATUS))('answers %s with HTTP %d and the same error body as the socket', async (code, status) => {
    const http = await server.fetch('GET', `/fail/${code}`)
    expect(http.status).toBe(status)
    expect(http.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(http.body).toEqual({ status: 'error', error: { code, message: `failed with ${code}` } })

    const ws = await server.client()
    const { ref: _ref, ...frame } = await ws.request('test/fail', { code })
    expect(frame).toEqual(http.body)
  })

  it('answers an unexpected exception with 500 INTERNAL and no internals', async () => {
    const reply = await server.fetch('GET', '/crash')
    expect(reply.status).toBe(500)
    expect(reply.body).toEqual({ status: 'error', error: { code: 'INTERNAL', message: 'Internal server error' } })
  })

  it('answers a reply payload that cannot be encoded with 500 INTERNAL instead of never answering', async () => {
    const reply = await server.fetch('GET', '/unencodable')
    expect(reply.status).toBe(500)
    expect(reply.body).toEqual({ status: 'error', error: { code: 'INTERNAL', message: 'Internal server error' } })
    expect((await server.fetch('GET', '/crash')).status).toBe(500)
  })

  it('uses the statuses option for app codes, and 500 for codes nobody mapped', async () => {
    const reply = await server.fetch('GET', '/fail/PAYMENT_REQUIRED')
    expect(reply.status).toBe(402)
    expect(reply.body).toEqual({ status: 'error', error: { code: 'PAYMENT_REQUIRED', message: 'failed with PAYMENT_REQUIRED' } })
    expect((await server.fetch('GET', '/fail/MY_OWN_CODE')).status).toBe(500)
  })

  it('answers VALIDATION_FAILED with 422 and the issues, exactly as the socket does', async () => {
    const http = await server.fetch('POST', '/documents/4', { json: { title: '', pages: 'many' } })
    expect(http.status).toBe(422)
    expect(http.body).toEqual({
      status: 'error',
      error: {
        code: 'VALIDATION_FAILED',
        message: 'Request body is invalid',
        details: [
          { path: ['title'], message: expect.any(String), code: 'too_small' },
          { path: ['pages'], message: expect.any(String), code: 'invalid_type' },
        ],
      },
    })
    const ws = await server.client()
    const { ref: _ref, ...frame } = await ws.request('document/update', { id: '4', title: '', pages: 'many' })
    expect(frame).toEqual(http.body)

    // and a valid request right after succeeds
    const ok = await server.fetch('POST', '/documents/4', { json: { title: 'Hello', pages: 3 } })
    expect(ok.status).toBe(200)
    expect(ok.body).toEqual({ status: 'success', document: { id: '4', title: 'Hello', pages: 3 } })
  })

  it('refuses to remap a code of the table, or a status that is no error, at start-up', () => {
    const app = talk({ logger: silent })
    expect(() => bridge(app, { routes: {}, statuses: { NOT_FOUND: 410 } })).toThrow(TypeError)
    expect(() => bridge(app, { routes: {}, statuses: { MINE: 302 } })).toThrow(TypeError)
  })
})
