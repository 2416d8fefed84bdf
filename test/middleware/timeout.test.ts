import { talk, timedOut, timeout, type TalkApp } from '../../index'
import { testServer, type Frame, type TestClient, type TestServer } from '../../lib/testing'
import { gate } from '../helpers/gate'
import { captureLog, type CapturedLog } from './helpers'

/** Every frame a client receives after the welcome, in order. */
function record(client: TestClient): Frame[] {
  const frames: Frame[] = []
  client.socket.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame))
  return frames
}

describe('timeout', () => {
  let app: TalkApp
  let server: TestServer
  let log: CapturedLog
  let release: ReturnType<typeof gate>
  let finished: ReturnType<typeof gate>
  let sawTimeout: boolean | undefined
  beforeEach(() => {
    log = captureLog()
    app = talk({ logger: log.logger })
    release = gate()
    finished = gate()
    sawTimeout = undefined
  })
  afterEach(() => server.close())

  /** A handler that waits for the test, then ends as `how` says, and signals that it ended. */
  function slow(how: 'reply' | 'return' | 'throw') {
    return async (ctx: Parameters<typeof timedOut>[0]) => {
      await release.wait
      sawTimeout = timedOut(ctx)
      try {
        if (how === 'throw') throw new Error('late failure')
        if (how === 'reply') ctx.reply({ late: true })
        else return { late: true }
      } finally {
        setImmediate(finished.open)
      }
      return undefined
    }
  }

  it.each(['reply', 'return', 'throw'] as const)(
    'answers TIMEOUT once past the deadline and drops and logs what the handler does later (%s)',
    async (how) => {
      app.route('slow', timeout({ ms: 50 }), slow(how))
      app.route('ping', () => ({ pong: true }))
      server = await testServer(app)
      const client = await server.client()
      const frames = record(client)
      expect(await client.request('slow')).toEqual({ status: 'error', ref: 1, error: { code: 'TIMEOUT', message: 'No reply within 50 ms' } })
      release.open()
      await finished.wait
      expect(sawTimeout).toBe(true)
      expect(await client.request('ping')).toEqual({ status: 'success', ref: 2, pong: true })
      expect(frames).toEqual([
        { status: 'error', ref: 1, error: { code: 'TIMEOUT', message: 'No reply within 50 ms' } },
        { status: 'success', ref: 2, pong: true },
      ])
      const dropped = log.lines.filter((l) => l.level === 40).map((l) => l.msg)
      expect(dropped).toEqual({
        reply: ['reply dropped: this request was already answered', 'handler finished after its timeout; its result was dropped'],
        return: ['handler finished after its timeout; its result was dropped'],
        throw: ['handler failed after its timeout; the error was dropped'],
      }[how])
      expect(log.text()).not.toContain('"late":true')
    },
  )

  it('lets the connection move on to its next request while the late handler still runs', async () => {
    app.route('slow', timeout({ ms: 30 }), slow('reply'))
    app.route('ping', () => ({ pong: true }))
    server = await testServer(app)
    const client = await server.client()
    const first = client.request('slow')
    const second = client.request('ping')
    expect(await first).toEqual({ status: 'error', ref: 1, error: { code: 'TIMEOUT', message: 'No reply within 30 ms' } })
    expect(await second).toEqual({ status: 'success', ref: 2, pong: true })
    release.open()
    await finished.wait
  })

  it('leaves a handler that makes its deadline alone: one success reply, no TIMEOUT later', async () => {
    app.use(timeout({ ms: 5000 }))
    app.route('quick', timeout({ ms: 40, message: 'Too slow' }), () => ({ quick: true }))
    app.route('slow', timeout({ ms: 40, message: 'Too slow' }), slow('reply'))
    server = await testServer(app)
    const client = await server.client()
    const frames = record(client)
    expect(await client.request('quick')).toEqual({ status: 'success', ref: 1, quick: true })
    // The route's 40 ms deadline answers before the app's 5 s one; the second never sends anything.
    expect(await client.request('slow')).toEqual({ status: 'error', ref: 2, error: { code: 'TIMEOUT', message: 'Too slow' } })
    release.open()
    await finished.wait
    expect(await client.request('quick')).toEqual({ status: 'success', ref: 3, quick: true })
    expect(frames.map((f) => f.ref)).toEqual([1, 2, 3])
  })

  it('passes on an error thrown before the deadline', async () => {
    app.route('broken', timeout({ ms: 1000 }), () => {
      throw new Error('boom')
    })
    server = await testServer(app)
    const client = await server.client()
    expect(await client.request('broken')).toEqual({ status: 'error', ref: 1, error: { code: 'INTERNAL', message: 'Internal server error' } })
    expect(await client.request('broken')).toEqual({ status: 'error', ref: 2, error: { code: 'INTERNAL', message: 'Internal server error' } })
  })

  it('checks its options at start-up', async () => {
    expect(() => timeout({} as never)).toThrow(TypeError)
    expect(() => timeout({ ms: 0 })).toThrow(TypeError)
    expect(() => timeout({ ms: Infinity })).toThrow(TypeError)
    expect(() => timeout({ ms: 10, message: 5 as never })).toThrow(TypeError)
    server = await testServer(app)
  })
})
