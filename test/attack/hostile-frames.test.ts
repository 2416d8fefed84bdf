// The attack suite, part 1: hostile frames, each answered with its exact reply frame on a connection
// that keeps working; afterwards the server serves others, its heap is back near where it started and
// no log line holds the secret token the clients connected with.
import type { TestServer } from '../../lib/testing'
import { heapAfterGc, hostileServer, SECRET, stillServes, type LogCapture } from './harness'

type Frame = Record<string, unknown>

const error = (code: string, message: string, ref?: string | number, details?: unknown): Frame => ({
  status: 'error',
  ...(ref === undefined ? {} : { ref }),
  error: details === undefined ? { code, message } : { code, message, details },
})
const bad = (message: string, ref?: string | number): Frame => error('BAD_REQUEST', message, ref)
const notFound = (route: string, ref: number): Frame => error('NOT_FOUND', `Unknown route "${route.slice(0, 100)}"`, ref)
const ok = (ref: number, payload: Frame = {}): Frame => ({ status: 'success', ref, ...payload })
const invalid = (ref: number, issue: Frame): Frame => error('VALIDATION_FAILED', 'Request body is invalid', ref, [issue])
/** A frame whose text holds `__proto__` keys: JSON.parse keeps them as own properties, as the server does. */
const parsed = (text: string): Frame => JSON.parse(text) as Frame

const NOT_JSON = bad('Frame is not valid JSON')
const NOT_OBJECT = bad('Frame must be a JSON object')
const BAD_REF = bad('"ref" must be a string of at most 64 characters or a safe integer')
const TOO_DEEP = (ref: number): Frame => bad('Frame nests deeper than 32 levels', ref)
const TOO_MANY = (ref: number): Frame => bad('Frame has more than 20000 keys and array elements', ref)

const nested = (depth: number, open: string, close: string): string => open.repeat(depth) + close.repeat(depth)
const big = 'x'.repeat(512 * 1024)
const longRoute = 'a/'.repeat(100_000) + 'a'
const colons = ':'.repeat(50_000)
const longId = 'x'.repeat(200_000)
const manySegments = 'a/'.repeat(50_000) + 'b'

const cases: [label: string, frame: string | Buffer, expected: Frame][] = [
  // malformed JSON
  ['malformed JSON', 'hello {', NOT_JSON],
  ['an empty text frame', '', NOT_JSON],
  ['a truncated object', '{"command":"echo","ref":1', NOT_JSON],
  ['a trailing comma', '{"command":"echo",}', NOT_JSON],
  ['single-quoted JSON', "{'command':'echo'}", NOT_JSON],
  ['trailing garbage', '{"command":"echo"}x', NOT_JSON],
  ['two objects in one frame', '{"command":"echo"}{"command":"echo"}', NOT_JSON],
  ['NaN', 'NaN', NOT_JSON],
  ['a byte-order mark before the object', '\ufeff{"command":"echo"}', NOT_JSON],
  // wrong types
  ['a JSON array', '[{"command":"echo"}]', NOT_OBJECT],
  ['JSON true', 'true', NOT_OBJECT],
  ['a JSON string', '"echo"', NOT_OBJECT],
  ['a null command', '{"command":null,"ref":3}', bad('"command" must be a string', 3)],
  ['an operator object as route', '{"route":{"$gt":""},"ref":"r"}', bad('"route" must be a string', 'r')],
  ['an array ref', '{"command":"echo","ref":[1]}', BAD_REF],
  ['an infinite ref', '{"command":"echo","ref":1e400}', BAD_REF],
  ['a negative fraction ref', '{"command":"echo","ref":-0.5}', BAD_REF],
  ['an empty route name', '{"command":"","ref":4}', bad('Route name is empty', 4)],
  ['route and command naming different routes', '{"route":"echo","command":"whoami","ref":5}', bad('"route" and "command" name different routes', 5)],
  ['a number where a string is expected', '{"command":"document:create","ref":6,"id":42}',
    invalid(6, { path: ['id'], message: 'Invalid input: expected string, received number', code: 'invalid_type' })],
  ['a binary frame', Buffer.from('{"command":"echo"}'), bad('Binary frames are not supported')],
  // prototype keys
  ['__proto__ in the payload', '{"command":"echo","ref":7,"__proto__":{"admin":true}}', parsed('{"status":"success","ref":7,"body":{"__proto__":{"admin":true}}}')],
  ['constructor.prototype in the payload', '{"command":"echo","ref":8,"constructor":{"prototype":{"admin":true}}}', ok(8, { body: { constructor: { prototype: { admin: true } } } })],
  ['__proto__ in a validated body', '{"command":"document:create","ref":9,"id":"d1","__proto__":{"admin":true}}', ok(9, { id: 'd1', tags: [] })],
  ['__proto__ as the route', '{"command":"__proto__","ref":10}', notFound('__proto__', 10)],
  ['constructor as the route', '{"route":"constructor","ref":11}', notFound('constructor', 11)],
  ['__proto__ as a route parameter', '{"command":"document:__proto__:nodes","ref":12}', ok(12, { id: '__proto__' })],
  ['__proto__ as the ref', '{"command":"ping","ref":"__proto__"}', { status: 'success', ref: '__proto__', pong: true }],
  ['a traceparent that is not one', '{"command":"echo","ref":13,"traceparent":{"__proto__":1}}', ok(13, { body: {} })],
  // deep nesting
  ['nesting 33 levels deep', `{"command":"echo","ref":14,"a":${nested(32, '[', ']')}}`, TOO_DEEP(14)],
  ['nesting 100,000 arrays deep', `{"command":"echo","ref":15,"a":${nested(100_000, '[', ']')}}`, TOO_DEEP(15)],
  ['nesting 20,000 objects deep', `{"command":"echo","ref":16,"a":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`, TOO_DEEP(16)],
  // huge arrays and strings
  ['30,000 array elements', `{"command":"echo","ref":17,"a":[${Array(30_000).fill(0).join(',')}]}`, TOO_MANY(17)],
  ['25,000 keys', `{"command":"echo","ref":18,${Array.from({ length: 25_000 }, (_v, i) => `"k${i}":0`).join(',')}}`, TOO_MANY(18)],
  ['25,000 empty arrays', `{"command":"echo","ref":19,"a":[${Array(25_000).fill('[]').join(',')}]}`, TOO_MANY(19)],
  ['a 512 KiB string, echoed', JSON.stringify({ command: 'echo', ref: 20, s: big }), ok(20, { body: { s: big } })],
  ['a 512 KiB string where 100 characters are allowed', JSON.stringify({ command: 'document:create', ref: 21, id: big }),
    invalid(21, { path: ['id'], message: 'Too big: expected string to have <=100 characters', code: 'too_big' })],
  ['an array past its cap', JSON.stringify({ command: 'document:create', ref: 22, id: 'd', tags: Array(21).fill('t') }),
    invalid(22, { path: ['tags'], message: 'Too big: expected array to have <=20 items', code: 'too_big' })],
  // odd unicode
  ['a lone high surrogate as the route', '{"command":"\\ud800","ref":23}', notFound('\ud800', 23)],
  ['a lone low surrogate, echoed', '{"command":"echo","ref":24,"s":"\\udfff"}', ok(24, { body: { s: '\udfff' } })],
  ['a NUL in the route', '{"command":"echo\\u0000","ref":25}', notFound('echo\u0000', 25)],
  ['a zero-width space in the route', '{"command":"ec\u200bho","ref":26}', notFound('ec\u200bho', 26)],
  ['a combining accent in the route', '{"command":"e\u0301cho","ref":27}', notFound('e\u0301cho', 27)],
  ['a fullwidth solidus in the route', '{"command":"document\uff0fcreate","ref":28}', notFound('document\uff0fcreate', 28)],
  ['a right-to-left override, echoed', '{"command":"echo","ref":29,"s":"\u202egnp.exe"}', ok(29, { body: { s: '\u202egnp.exe' } })],
  // route names built to be slow to match
  ['a route of 100,000 segments', JSON.stringify({ command: longRoute, ref: 30 }), notFound(longRoute, 30)],
  ['a route of 50,000 colons', JSON.stringify({ command: colons, ref: 31 }), notFound('/'.repeat(50_000), 31)],
  ['a 200,000-character route parameter', JSON.stringify({ command: `document/${longId}/nodes`, ref: 32 }), ok(32, { id: longId })],
  ['a wildcard over 50,000 segments', JSON.stringify({ route: `files/${manySegments}`, ref: 33 }), ok(33, { rest: manySegments })],
  ['percent-encoded path traversal', '{"route":"files/..%2F..%2Fetc%2Fpasswd","ref":34}', ok(34, { rest: '..%2F..%2Fetc%2Fpasswd' })],
  // tokens
  ['a token refresh with a wrong token', '{"command":"auth:refresh","ref":35,"token":"wrong"}', error('UNAUTHORIZED', 'Invalid token', 35)],
  ['a token refresh with the secret', JSON.stringify({ command: 'auth:refresh', ref: 36, token: SECRET }), ok(36)],
]

describe('attack: hostile frames', () => {
  let server: TestServer
  let capture: LogCapture
  let baseline: number

  beforeAll(async () => {
    ;({ server, capture } = await hostileServer())
    // Warm every path once so the baseline holds compiled code and lazily built tables.
    await stillServes(server)
    baseline = await heapAfterGc()
  })
  afterAll(() => server.close())

  it('has at least 50 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(50)
  })

  it.each(cases)('answers %s with its reply and keeps the connection', async (_label, frame, expected) => {
    // Half the clients carry the secret in the query string, half in the Authorization header.
    const n = cases.findIndex(([label]) => label === _label)
    const c = await server.client(n % 2 === 0 ? { query: `token=${SECRET}` } : { headers: { Authorization: `Bearer ${SECRET}` } })
    c.sendRaw(frame)
    expect(await c.nextReply()).toEqual(expected)
    expect(await c.request('whoami', {}, { ref: 'after' })).toEqual({ status: 'success', ref: 'after', user: { id: 'alice' } })
    await c.close()
  })

  it('never let a payload reach a prototype', () => {
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined()
    expect((Object.prototype as unknown as Record<string, unknown>)['admin']).toBeUndefined()
  })

  it('then still serves others, with its heap back near the baseline and no secret in any log line', async () => {
    await stillServes(server)
    const heap = await heapAfterGc()
    // Megabytes of hostile text went through; none of it may stay reachable.
    expect(heap - baseline).toBeLessThan(16 * 1024 * 1024)
    expect(capture.lines.length).toBeGreaterThan(cases.length)
    expect(capture.text()).not.toContain(SECRET)
    expect(capture.text()).toContain('[redacted]')
  })
})
