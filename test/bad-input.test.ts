import { talk } from '../index'
import { testServer, type TestServer } from '../lib/testing'
import { silent } from './helpers/seed-app'

const badRequest = (message: string, ref?: string | number) =>
  ref === undefined
    ? { status: 'error', error: { code: 'BAD_REQUEST', message } }
    : { status: 'error', ref, error: { code: 'BAD_REQUEST', message } }

describe('bad input (protocol rule 3)', () => {
  let server: TestServer
  beforeEach(async () => {
    const app = talk({ logger: silent })
    app.route('echo', (ctx) => ({ body: ctx.body }))
    server = await testServer(app)
  })
  afterEach(() => server.close())

  const cases: [string, string | Buffer, object][] = [
    ['non-JSON', 'hello {', badRequest('Frame is not valid JSON')],
    ['a JSON array', '[{"command":"echo"}]', badRequest('Frame must be a JSON object')],
    ['a JSON number', '42', badRequest('Frame must be a JSON object')],
    ['a JSON string', '"echo"', badRequest('Frame must be a JSON object')],
    ['JSON null', 'null', badRequest('Frame must be a JSON object')],
    ['an object with no route', '{"id":"x","ref":5}', badRequest('Frame has no "route" or "command"', 5)],
    ['a route that is not a string', '{"route":["echo"],"ref":"r"}', badRequest('"route" must be a string', 'r')],
    ['a command that is not a string', '{"command":7}', badRequest('"command" must be a string')],
    ['route and command that disagree', '{"route":"echo","command":"other"}', badRequest('"route" and "command" name different routes')],
    ['an object ref', '{"command":"echo","ref":{"a":1}}', badRequest('"ref" must be a string of at most 64 characters or a safe integer')],
    ['a float ref', '{"command":"echo","ref":1.5}', badRequest('"ref" must be a string of at most 64 characters or a safe integer')],
    ['a boolean ref', '{"command":"echo","ref":true}', badRequest('"ref" must be a string of at most 64 characters or a safe integer')],
    ['a ref that is too long', JSON.stringify({ command: 'echo', ref: 'r'.repeat(65) }), badRequest('"ref" must be a string of at most 64 characters or a safe integer')],
    ['an unsafe integer ref', '{"command":"echo","ref":9007199254740993}', badRequest('"ref" must be a string of at most 64 characters or a safe integer')],
    ['a binary frame', Buffer.from('{"command":"echo"}'), badRequest('Binary frames are not supported')],
    ['an unknown route', '{"command":"nope","ref":1}', { status: 'error', ref: 1, error: { code: 'NOT_FOUND', message: 'Unknown route "nope"' } }],
    ['a prototype name as route', '{"command":"__proto__","ref":2}', { status: 'error', ref: 2, error: { code: 'NOT_FOUND', message: 'Unknown route "__proto__"' } }],
    ['toString as route', '{"route":"toString","ref":3}', { status: 'error', ref: 3, error: { code: 'NOT_FOUND', message: 'Unknown route "toString"' } }],
  ]

  it.each(cases)('answers %s with a clear error and keeps the connection', async (_label, frame, expected) => {
    const c = await server.client()
    c.sendRaw(frame)
    expect(await c.nextReply()).toEqual(expected)
    expect(await c.request('echo', { still: 'here' })).toEqual({ status: 'success', ref: 1, body: { still: 'here' } })
  })

  it('closes with 1009 for a 2 MiB frame, and the server keeps serving others', async () => {
    const [big, other] = await server.clients(2)
    big!.sendRaw(JSON.stringify({ command: 'echo', blob: 'x'.repeat(2 * 1024 * 1024) }))
    expect((await big!.closed).code).toBe(1009)
    expect(await other!.request('echo', { ok: 1 })).toEqual({ status: 'success', ref: 1, body: { ok: 1 } })
  })

  it('answers a burst of garbage one error each, in order, then serves the next request', async () => {
    const c = await server.client()
    const garbage = ['{', '[]', '1', '{"ref":1}', '{"command":"x","ref":2}']
    for (const g of garbage) c.sendRaw(g)
    const replies = []
    for (let i = 0; i < garbage.length; i++) replies.push(await c.nextReply())
    expect(replies.map((r) => (r.error as { code: string }).code)).toEqual(['BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST', 'NOT_FOUND'])
    expect(replies.map((r) => r.ref)).toEqual([undefined, undefined, undefined, 1, 2])
    expect(await c.request('echo')).toEqual({ status: 'success', ref: 1, body: {} })
  })
})
