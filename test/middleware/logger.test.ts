import { logger, redact, redactUrl, talk, TalkError, timeout, type TalkApp } from '../../index'
import { testServer, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'
import { captureLog, type CapturedLog } from './helpers'

const pinoFields = { time: expect.any(Number), pid: expect.any(Number), hostname: expect.any(String) }

describe('logger', () => {
  let app: TalkApp
  let server: TestServer
  let log: CapturedLog
  beforeEach(() => {
    log = captureLog()
    app = talk({ logger: log.logger })
    app.handshake((hs) => {
      if (hs.query.user !== undefined) hs.user = { id: hs.query.user }
    })
  })
  afterEach(() => server.close())

  function routes(): void {
    app.route('ok', () => ({ fine: true }))
    app.route('missing', () => {
      throw new TalkError('NOT_FOUND', 'No such thing')
    })
    app.route('crash', () => {
      throw new Error('boom')
    })
    app.route('slow', timeout({ ms: 20 }), () => new Promise((resolve) => setTimeout(resolve, 200)))
    app.route('refuse', (ctx) => {
      ctx.fail(new TalkError('FORBIDDEN', 'Not yours'))
    })
  }

  const requests = () => log.lines.filter((l) => l.msg === 'request')

  it('writes one line per request with route, ref, client, user, status, code and duration, at a level by outcome', async () => {
    app.use(logger())
    routes()
    server = await testServer(app)
    const client = await server.client({ query: 'user=ada' })
    await client.request('ok')
    await client.request('missing', {}, { ref: 'r2' })
    await client.request('crash')
    await client.request('slow')
    await client.request('nope')
    await client.request('refuse')
    const line = (level: number, route: string, ref: unknown, code?: string) => ({
      ...pinoFields, level, msg: 'request', route, ref, client: client.id, user: 'ada',
      status: code === undefined ? 'success' : 'error', ...(code === undefined ? {} : { code }), ms: expect.any(Number),
    })
    expect(requests()).toEqual([
      line(30, 'ok', 1),
      line(40, 'missing', 'r2', 'NOT_FOUND'),
      line(50, 'crash', 2, 'INTERNAL'),
      line(50, 'slow', 3, 'TIMEOUT'),
      line(40, 'nope', 4, 'NOT_FOUND'),
      line(40, 'refuse', 5, 'FORBIDDEN'),
    ])
    expect(requests().every((l) => (l.ms as number) >= 0)).toBe(true)
  })

  it('logs successes at `level`, and leaves them out when the logger is above it', async () => {
    app.use(logger({ level: 'debug' }))
    routes()
    server = await testServer(app)
    const client = await server.client()
    await client.request('ok')
    expect(requests().map((l) => [l.level, l.route, l.user])).toEqual([[20, 'ok', undefined]])
    log.logger.level = 'info'
    await client.request('ok')
    await client.request('missing')
    expect(requests().map((l) => [l.level, l.route])).toEqual([[20, 'ok'], [40, 'missing']])
  })

  it('logs connection open and close lines, with secrets in the query string redacted', async () => {
    app.use(logger())
    routes()
    server = await testServer(app)
    const client = await server.client({ query: 'user=ada&token=s3cr3t-value&room=1' })
    const id = client.id
    await client.close()
    await server.close()
    expect(log.lines.filter((l) => l.msg !== 'request' && l.msg !== 'talk listening')).toEqual([
      { ...pinoFields, level: 30, msg: 'connection open', client: id, user: 'ada', ip: '127.0.0.1', path: '/', query: { user: 'ada', token: '[redacted]', room: '1' } },
      { ...pinoFields, level: 30, msg: 'connection closed', client: id, user: 'ada', code: 1000, reason: '', ms: expect.any(Number) },
    ])
    expect(log.text()).not.toContain('s3cr3t-value')
  })

  it('adds the body with secrets redacted when asked, and writes to the logger it was given', async () => {
    const own = captureLog()
    app.use(logger({ logger: own.logger, body: true, connections: false, redact: ['pin'] }))
    routes()
    server = await testServer(app)
    const client = await server.client()
    await client.request('ok', { name: 'Ada', token: 'T0KEN', password: 'hunter2', pin: '1234', nested: { apiKey: 'K3Y', Authorization: 'Bearer X' } })
    expect(own.lines).toEqual([
      expect.objectContaining({
        msg: 'request',
        body: { name: 'Ada', token: '[redacted]', password: '[redacted]', pin: '[redacted]', nested: { apiKey: '[redacted]', Authorization: '[redacted]' } },
      }),
    ])
    expect(log.lines.filter((l) => l.msg === 'request')).toEqual([])
    for (const secret of ['T0KEN', 'hunter2', '1234', 'K3Y', 'Bearer X']) expect(own.text() + log.text()).not.toContain(secret)
  })

  it('checks its options at start-up', async () => {
    expect(() => logger({ level: 'warn' as never })).toThrow(TypeError)
    expect(() => logger({ logger: {} as never })).toThrow(TypeError)
    expect(() => logger({ redact: 'pin' as never })).toThrow(TypeError)
    server = await testServer(talk({ logger: silent }))
  })
})

describe('redaction helpers', () => {
  it('redacts secret-named query parameters and leaves the rest', () => {
    expect(redactUrl('/ws?token=abc&room=1&access_token=x&api_key=y&Session=z')).toBe(
      '/ws?token=[redacted]&room=1&access_token=[redacted]&api_key=[redacted]&Session=[redacted]',
    )
    expect(redactUrl('/ws?to%6Ben=abc')).toBe('/ws?to%6Ben=[redacted]')
    expect(redactUrl('/plain')).toBe('/plain')
  })

  it('bounds depth, keys and string length so a hostile payload cannot blow up a line', () => {
    const deep = { a: { b: { c: { d: { e: 1 } } } } }
    expect(redact(deep)).toEqual({ a: { b: { c: { d: '[…]' } } } })
    const wide = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, i]))
    expect(Object.keys(redact(wide) as object)).toHaveLength(51)
    expect((redact('x'.repeat(1000)) as string).length).toBe(501)
    expect(redact(Array.from({ length: 60 }, () => 0))).toHaveLength(51)
  })
})
