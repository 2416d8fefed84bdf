import { talk } from '../../index'
import { testServer, type TestServer } from '../../lib/testing'
import { LogCapture } from '../attack/harness'

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'
const TRACEPARENT = `00-${TRACE_ID}-${PARENT}-01`
/** The traceparent a push caused by the traced request carries: same trace, the server's own span. */
const CHILD = expect.stringMatching(new RegExp(`^00-${TRACE_ID}-(?!${PARENT})[0-9a-f]{16}-01$`))

interface Line {
  msg: string
  req?: number
  route?: string
  trace_id?: string
  span_id?: string
  parent_span_id?: string
  trace_flags?: string
}

describe('request ids and W3C trace context', () => {
  let server: TestServer
  let capture: LogCapture
  let bodies: unknown[]

  beforeEach(async () => {
    capture = new LogCapture()
    bodies = []
    const app = talk({ logger: capture.logger })
    app.route('room/join', (ctx) => ctx.join('room'))
    app.route('node/create', (ctx) => {
      bodies.push(ctx.body)
      ctx.log.info('creating')
      ctx.to('room').send('node:create', { name: ctx.body.name, traceparent: 'forged' })
      ctx.broadcast('node:count', { n: 1 })
      ctx.send('node:created', { name: ctx.body.name })
      return { created: true }
    })
    server = await testServer(app)
  })
  afterEach(() => server.close())

  const lines = (): Line[] => capture.lines.map((l) => JSON.parse(l) as Line)

  it('takes traceparent out of the body and carries it to the pushes the request causes and to its log lines', async () => {
    const [a, b] = await server.clients(2)
    await a!.request('room/join')
    await b!.request('room/join')
    const reply = await a!.request('node/create', { name: 'task', traceparent: TRACEPARENT })
    expect(reply).toEqual({ status: 'success', ref: 2, created: true })
    expect(bodies).toEqual([{ name: 'task' }])
    // The room push (its payload cannot forge the field), the broadcast, and the push to self.
    const roomPush = await b!.nextPush()
    expect(roomPush).toEqual({ command: 'node:create', name: 'task', traceparent: CHILD })
    expect(await b!.nextPush()).toEqual({ command: 'node:count', n: 1, traceparent: CHILD })
    expect(await a!.nextPush()).toEqual({ command: 'node:created', name: 'task', traceparent: CHILD })
    const spanId = (roomPush.traceparent as string).slice(36, 52)
    expect(lines().filter((l) => l.msg === 'creating')).toEqual([
      expect.objectContaining({ route: 'node/create', req: expect.any(Number), trace_id: TRACE_ID, span_id: spanId, parent_span_id: PARENT, trace_flags: '01' }),
    ])
  })

  it('leaves pushes alone and logs a request id without trace fields when the client sends none', async () => {
    const [a, b] = await server.clients(2)
    await a!.request('room/join')
    await b!.request('room/join')
    await a!.request('node/create', { name: 'one' })
    await a!.request('node/create', { name: 'two' })
    expect(await b!.nextPush()).toEqual({ command: 'node:create', name: 'one', traceparent: 'forged' })
    const creating = lines().filter((l) => l.msg === 'creating')
    expect(creating).toHaveLength(2)
    expect(creating[0]).not.toHaveProperty('trace_id')
    expect(creating[0]!.req).not.toBe(creating[1]!.req)
  })

  it.each([
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['an all-zero parent id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
    ['upper-case hex', TRACEPARENT.toUpperCase()],
    ['a missing part', `00-${TRACE_ID}-01`],
    ['a number', 42],
  ])('drops a traceparent with %s, never passing it on', async (_label, traceparent) => {
    const [a, b] = await server.clients(2)
    await a!.request('room/join')
    await b!.request('room/join')
    expect(await a!.request('node/create', { name: 'x', traceparent })).toEqual({ status: 'success', ref: 2, created: true })
    expect(bodies).toEqual([{ name: 'x' }])
    expect(await b!.nextPush()).toEqual({ command: 'node:create', name: 'x', traceparent: 'forged' })
  })
})
