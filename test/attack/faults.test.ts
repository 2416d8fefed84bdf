// The attack suite, part 4: faults. An error thrown by a listener, a handler, a middleware, a broken
// socket or the adapter never takes the process down (Jest fails a run on any uncaught error), the
// request still gets exactly one reply, and the server keeps serving.
import { talk, TalkError, type Adapter, type Handler, type AdapterHost, type TalkApp } from '../../index'
import { installProcessHandlers } from '../../lib/shutdown'
import { testServer, type TestServer } from '../../lib/testing'
import { gate } from '../helpers/gate'
import { LogCapture, stillServes } from './harness'
import { frame, rawWebSocket, tcp, upgradeRequest } from './raw'

const INTERNAL = { code: 'INTERNAL', message: 'Internal server error' }

/** An adapter whose every method fails, as one whose Redis went away mid-call might. */
function brokenAdapter(): Adapter {
  const boom = (): never => {
    throw new Error('adapter exploded')
  }
  return {
    async start(_host: AdapterHost) {},
    publish: boom,
    sendTo: boom,
    join: boom,
    leave: boom,
    members: () => Promise.reject(new Error('adapter exploded')),
    stop: () => Promise.reject(new Error('adapter exploded on stop')),
  }
}

describe('attack: faults never take the process down', () => {
  let server: TestServer
  let app: TalkApp
  let capture: LogCapture
  let errors: unknown[]

  beforeEach(async () => {
    capture = new LogCapture()
    errors = []
    app = talk({ logger: capture.logger, adapter: brokenAdapter() })
    app.on('error', (err) => {
      errors.push(err)
    })
    app.route('ping', () => ({ pong: true }))
    server = await testServer(app)
  })
  afterEach(async () => {
    await stillServes(server)
    await server.close()
  })

  it.each([
    ['a connection listener that throws', 'connection', () => { throw new Error('listener') }],
    ['a connection listener that rejects', 'connection', () => Promise.reject(new Error('listener'))],
    ['a disconnect listener that throws', 'disconnect', () => { throw new Error('listener') }],
    ['a join listener that throws', 'join', () => { throw new Error('listener') }],
    ['an error listener that throws', 'error', () => { throw new Error('listener of listeners') }],
  ] as const)('survives %s', async (_label, event, listener) => {
    app.on(event as 'connection', listener)
    app.route('room/join', (ctx) => ctx.join('room'))
    const c = await server.client()
    expect(await c.request('room/join')).toEqual({ status: 'success', ref: 1 })
    await c.close()
    // The disconnect listener runs on close; a fresh client shows the server still serving.
    await stillServes(server)
  })

  it.each([
    ['throws null', () => { throw null }],
    ['throws undefined', () => { throw undefined }],
    ['throws a string', () => { throw 'oops' }],
    ['throws an object whose getters throw', () => { throw { get message(): string { throw new Error('getter') }, get stack(): string { throw new Error('getter') } } }],
    ['rejects with an Error', () => Promise.reject(new Error('handler'))],
    ['returns a BigInt in its payload', () => ({ n: 10n })],
    ['returns a payload with a cycle', () => { const a: Record<string, unknown> = {}; a.self = a; return a }],
    ['returns a payload whose toJSON throws', () => ({ toJSON() { throw new Error('toJSON') } })],
    ['throws a TalkError with details that cannot be encoded', () => { throw new TalkError('CONFLICT', 'nope', { n: 1n }) }],
  ] as const)('answers a handler that %s with one error reply', async (label, handler) => {
    app.route('bad', handler as Handler)
    const c = await server.client()
    const expected = label.startsWith('throws a TalkError') ? { code: 'CONFLICT', message: 'nope' } : INTERNAL
    expect(await c.request('bad')).toEqual({ status: 'error', ref: 1, error: expected })
    expect(await c.request('ping')).toEqual({ status: 'success', ref: 2, pong: true })
    expect(c.pendingPushes).toEqual([])
  })

  it('answers once when a handler throws after replying, and logs the late error', async () => {
    app.route('late', async (ctx) => {
      ctx.reply({ first: true })
      await Promise.resolve()
      throw new Error('after the reply')
    })
    const c = await server.client()
    expect(await c.request('late')).toEqual({ status: 'success', ref: 1, first: true })
    expect(await c.request('ping')).toEqual({ status: 'success', ref: 2, pong: true })
    expect(capture.text()).toContain('error after the reply was sent')
  })

  it('answers INTERNAL for a middleware that throws synchronously', async () => {
    app.use('boom', () => {
      throw new Error('middleware')
    })
    app.route('boom', () => ({ never: true }))
    const c = await server.client()
    expect(await c.request('boom')).toEqual({ status: 'error', ref: 1, error: INTERNAL })
  })

  it('keeps serving when the adapter throws on join, publish and leave, and rejects on presence', async () => {
    app.route('room/join', (ctx) => ctx.join('room'))
    app.route('room/say', (ctx) => ctx.to('room').send('said', { text: 'hi' }))
    app.route('room/who', async (ctx) => ({ who: await ctx.presence('room') }))
    const [a, b] = await server.clients(2)
    expect(await a!.request('room/join')).toEqual({ status: 'success', ref: 1 })
    expect(await b!.request('room/join')).toEqual({ status: 'success', ref: 1 })
    expect(await a!.request('room/say')).toEqual({ status: 'success', ref: 2 })
    // Delivery on this node does not depend on the adapter.
    expect(await b!.nextPush()).toEqual({ command: 'said', text: 'hi' })
    expect(await a!.request('room/who')).toEqual({ status: 'error', ref: 3, error: INTERNAL })
    // Leaving rooms on close runs in a socket event: the adapter's throw must not escape there.
    await a!.close()
    await b!.close()
    expect(errors.map((e) => (e as Error).message)).toEqual(expect.arrayContaining(['adapter exploded']))
  })

  it('survives a client that sends a request and vanishes before the reply', async () => {
    const finished = gate()
    app.route('slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 20))
      finished.open()
      return { late: true }
    })
    const { socket } = await rawWebSocket(server.port)
    socket.write(frame(0x1, '{"command":"slow","ref":1}'))
    await new Promise((resolve) => setTimeout(resolve, 5))
    socket.resetAndDestroy()
    await finished.wait
  })

  it('survives a socket reset in the middle of a frame and in the middle of a handshake', async () => {
    const { socket } = await rawWebSocket(server.port)
    const whole = frame(0x1, JSON.stringify({ command: 'ping', pad: 'x'.repeat(4000) }))
    socket.write(whole.subarray(0, 1000))
    socket.resetAndDestroy()
    const half = await tcp(server.port)
    half.write(upgradeRequest(server.port).slice(0, 60))
    half.resetAndDestroy()
  })

  it('closes even when the adapter fails to stop', async () => {
    await server.client()
    await expect(app.close()).resolves.toBeUndefined()
    expect(capture.text()).toContain('adapter stop failed')
    // afterEach's check needs a live server: start a fresh one.
    server = await testServer(talk({ logger: capture.logger }).route('ping', () => ({ pong: true })))
  })
})

describe('process handlers', () => {
  it('log an unhandled rejection and keep serving', async () => {
    const capture = new LogCapture()
    const app = talk({ logger: capture.logger })
    app.route('ping', () => ({ pong: true }))
    const server = await testServer(app)
    const uninstall = installProcessHandlers(app)
    try {
      // Emitted by hand: Jest's own handler would fail the test on a real unhandled rejection.
      process.emit('unhandledRejection', new Error('stray rejection'), Promise.resolve())
      await stillServes(server)
      const line = capture.lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message: string } }).find((l) => l.msg === 'unhandled promise rejection')
      expect(line).toEqual(expect.objectContaining({ level: 50, err: expect.objectContaining({ message: 'stray rejection' }) }))
    } finally {
      uninstall()
      await server.close()
    }
  })

  it('refuse bad options with a TypeError', () => {
    const app = talk({ logger: new LogCapture().logger })
    expect(() => installProcessHandlers(app, { uncaughtException: 'ignore' as never })).toThrow(TypeError)
  })
})
