import { z } from 'zod'
import { talk, type Handler, type TalkApp } from '../index'
import { testServer, type TestServer } from '../lib/testing'
import { captureLog, type CapturedLog } from './middleware/helpers'

const INTERNAL = { code: 'INTERNAL', message: 'Internal server error' }

describe('what a handler gives back', () => {
  let server: TestServer
  let app: TalkApp
  let log: CapturedLog
  beforeEach(() => {
    log = captureLog('warn')
    app = talk({ logger: log.logger })
  })
  afterEach(() => server.close())

  const errors = (): unknown[] => log.lines.filter((l) => l.level === 50).map((l) => l.msg)

  it.each([
    ['a string', () => 'hello', 'a string'],
    ['an array', () => [1, 2, 3], 'an array'],
    ['a number from an async handler', async () => 42, 'a number'],
    ['a Map', () => new Map([['a', 1]]), 'a Map'],
  ])('answers INTERNAL for %s and logs a programmer error naming the route, and the connection goes on', async (_what, handler, named) => {
    // The types refuse most of these (see test/types/reply-types.ts); JavaScript callers can still do it.
    app.route('odd/value', handler as unknown as Handler)
    app.route('fine', () => ({ ok: true }))
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('odd/value')).toEqual({ status: 'error', ref: 1, error: INTERNAL })
    expect(await c.request('fine')).toEqual({ status: 'success', ref: 2, ok: true })
    const lines = log.lines.filter((l) => l.level === 50)
    expect(lines.map((l) => l.msg)).toEqual(['reply is not a plain object'])
    expect((lines[0]?.err as { message: string }).message).toBe(`The reply of route "odd/value" must be a plain object or nothing, not ${named}`)
  })

  it('waits for the handler when a middleware calls next() without returning it, and logs that once per route', async () => {
    app.use((_ctx, next) => {
      void next() // the bug: neither returned nor awaited
    })
    app.route('slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 20))
      return { late: true }
    })
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('slow')).toEqual({ status: 'success', ref: 1, late: true })
    expect(await c.request('slow')).toEqual({ status: 'success', ref: 2, late: true })
    expect(errors()).toEqual(['a middleware of route "slow" did not return or await next(): the chain ended before the handler; return or await next()'])
  })

  it('answers the handler\'s error when a middleware dropped next(), not an empty success', async () => {
    app.use((_ctx, next) => {
      void next()
    })
    app.route('fails', async () => {
      await new Promise((resolve) => setTimeout(resolve, 10))
      throw new Error('late failure')
    })
    server = await testServer(app)
    const c = await server.client()
    expect(await c.request('fails')).toEqual({ status: 'error', ref: 1, error: INTERNAL })
  })
})

describe('reply schemas', () => {
  let server: TestServer
  let log: CapturedLog
  const Sent = { reply: z.object({ sent: z.boolean() }) }
  afterEach(() => server.close())

  async function serve(options: { validateReplies?: boolean } = {}): Promise<TestServer> {
    log = captureLog('warn')
    const app = talk({ logger: log.logger, ...options })
    // The handler breaks its own contract: a string where a boolean is declared, and a field too many.
    app.route('message/send', Sent, () => ({ sent: 'yes', secret: 'leak?' }) as unknown as { sent: boolean })
    app.route('message/ok', Sent, (ctx) => {
      ctx.reply({ sent: true, secret: 'not for the wire' } as { sent: boolean })
    })
    return (server = await testServer(app))
  }

  it('answers INTERNAL when a reply does not match its schema, and logs the issues', async () => {
    const c = await (await serve()).client()
    expect(await c.request('message/send')).toEqual({ status: 'error', ref: 1, error: INTERNAL })
    const line = log.lines.find((l) => l.msg === "reply does not match the route's reply schema")
    expect(line?.issues).toEqual([expect.objectContaining({ path: ['sent'], code: 'invalid_type' })])
  })

  it('strips keys the schema does not declare from a reply that matches', async () => {
    const c = await (await serve()).client()
    expect(await c.request('message/ok')).toEqual({ status: 'success', ref: 1, sent: true })
  })

  it('sends replies unchecked with validateReplies: false', async () => {
    const c = await (await serve({ validateReplies: false })).client()
    expect(await c.request('message/send')).toEqual({ status: 'success', ref: 1, sent: 'yes', secret: 'leak?' })
  })
})
