import { talk, type TalkApp, type TalkOptions } from '../index'
import { testServer, type TestClient, type TestServer } from '../lib/testing'
import { silent } from './helpers/seed-app'
import { gate } from './helpers/gate'

/** An app whose `wait` route holds until another request calls `release`. */
function gatedApp(options: TalkOptions = {}): TalkApp {
  const app = talk({ logger: silent, ...options })
  const held = gate()
  app.route('wait', async () => {
    await held.wait
    return { waited: true }
  })
  app.route('release', () => {
    held.open()
    return { released: true }
  })
  return app
}

describe('ordering per connection (protocol rule 2)', () => {
  let server: TestServer
  afterEach(() => server.close())

  it('handles back-to-back requests one at a time, in arrival order, even when earlier ones are slower', async () => {
    const app = talk({ logger: silent })
    const log: string[] = []
    app.route('work', async (ctx) => {
      const { n, delay } = ctx.body as { n: number; delay: number }
      log.push(`start ${n}`)
      await new Promise((resolve) => setTimeout(resolve, delay))
      log.push(`end ${n}`)
      return { n }
    })
    server = await testServer(app)
    const c = await server.client()
    const delays = [30, 1, 20, 0, 5]
    delays.forEach((delay, n) => c.socket.send(JSON.stringify({ command: 'work', n, delay })))
    const replies = []
    for (let i = 0; i < delays.length; i++) replies.push(await c.nextReply())
    expect(replies).toEqual(delays.map((_d, n) => ({ status: 'success', n })))
    expect(log).toEqual(delays.flatMap((_d, n) => [`start ${n}`, `end ${n}`]))
  })

  it('keeps order and refs for a burst of 500 requests written in one go (batched writes)', async () => {
    const app = talk({ logger: silent, maxQueue: 1000 })
    app.route('echo', (ctx) => ({ n: (ctx.body as { n: number }).n }))
    server = await testServer(app)
    const c = await server.client()
    const count = 500
    const frames = Array.from({ length: count }, (_v, n) => JSON.stringify({ command: 'echo', ref: `r${n}`, n }))
    for (const f of frames) c.socket.send(f)
    const replies = []
    for (let i = 0; i < count; i++) replies.push(await c.nextReply())
    expect(replies).toEqual(Array.from({ length: count }, (_v, n) => ({ status: 'success', ref: `r${n}`, n })))
  })

  it('keeps order when handlers answered at once and handlers that wait come in one burst', async () => {
    const app = talk({ logger: silent, maxQueue: 1000 })
    app.route('now', (ctx) => ({ n: (ctx.body as { n: number }).n }))
    app.route('later', async (ctx) => {
      await new Promise((resolve) => setImmediate(resolve))
      return { n: (ctx.body as { n: number }).n }
    })
    server = await testServer(app)
    const c = await server.client()
    const count = 200
    for (let n = 0; n < count; n++) c.socket.send(JSON.stringify({ command: n % 3 === 0 ? 'later' : 'now', ref: n, n }))
    const replies = []
    for (let i = 0; i < count; i++) replies.push(await c.nextReply())
    expect(replies).toEqual(Array.from({ length: count }, (_v, n) => ({ status: 'success', ref: n, n })))
  })

  it('writes the reply to a request that came with the close frame before its own close frame', async () => {
    const app = talk({ logger: silent })
    app.route('echo', (ctx) => ({ n: (ctx.body as { n: number }).n }))
    server = await testServer(app)
    const c = await server.client()
    const seen: string[] = []
    c.socket.on('message', (data) => seen.push(data.toString()))
    // Both frames leave in one write, so the server reads them in one chunk.
    const raw = (c.socket as unknown as { _socket: { cork(): void; uncork(): void } })._socket
    raw.cork()
    c.socket.send(JSON.stringify({ command: 'echo', ref: 1, n: 7 }))
    c.socket.close(1000, 'bye')
    raw.uncork()
    expect(await c.closed).toEqual({ code: 1000, reason: 'bye' })
    expect(seen).toEqual([JSON.stringify({ status: 'success', ref: 1, n: 7 })])
  })

  it('runs different connections concurrently', async () => {
    const app = gatedApp()
    server = await testServer(app)
    const [a, b] = await server.clients(2)
    const waiting = a!.request('wait')
    expect(await b!.request('release')).toEqual({ status: 'success', ref: 1, released: true })
    expect(await waiting).toEqual({ status: 'success', ref: 1, waited: true })
  })

  it('lets an app opt into concurrency per connection', async () => {
    const app = gatedApp({ concurrency: 2 })
    server = await testServer(app)
    const c = await server.client()
    const waiting = c.request('wait')
    expect(await c.request('release')).toEqual({ status: 'success', ref: 2, released: true })
    expect(await waiting).toEqual({ status: 'success', ref: 1, waited: true })
  })
})

describe('refusals keep their place in the reply order (protocol rule 2)', () => {
  let server: TestServer
  afterEach(() => server.close())

  /**
   * Holds a first request open, sends `refused` (something answered without a route), then pings to
   * know it all arrived; once the first request is let go, the refusal must come after its reply.
   * Resolves with the first `count` frames the client got.
   * The pings are answered at once, ahead of the queue, by design (the heartbeat).
   */
  async function behindSlowRequest(options: TalkOptions, count: number, refused: (c: TestClient) => void, before?: (app: TalkApp) => void): Promise<unknown[]> {
    const app = talk({ logger: silent, ...options })
    const held = gate()
    app.route('wait', async () => {
      await held.wait
      return { waited: true }
    })
    app.route('next', () => ({ next: true }))
    server = await testServer(app)
    const c = await server.client()
    const frames: unknown[] = []
    c.socket.on('message', (data) => frames.push(JSON.parse(data.toString())))
    c.socket.send(JSON.stringify({ command: 'wait', ref: 1 }))
    await c.request('talk/ping', {}, { ref: 'p1' })
    before?.(server.app)
    refused(c)
    await c.request('talk/ping', {}, { ref: 'p2' })
    held.open()
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (frames.length >= count) resolve()
        else setImmediate(check)
      }
      check()
    })
    return frames
  }

  it('answers a frame that is not JSON after the reply of the slow request before it', async () => {
    const frames = await behindSlowRequest({}, 4, (c) => c.sendRaw('{not json'))
    expect(frames).toEqual([
      { status: 'success', ref: 'p1' },
      { status: 'success', ref: 'p2' },
      { status: 'success', ref: 1, waited: true },
      { status: 'error', error: { code: 'BAD_REQUEST', message: 'Frame is not valid JSON' } },
    ])
  })

  it('answers a binary frame after the reply of the slow request before it', async () => {
    const frames = await behindSlowRequest({}, 4, (c) => c.sendRaw(Buffer.from('{}')))
    expect(frames).toEqual([
      { status: 'success', ref: 'p1' },
      { status: 'success', ref: 'p2' },
      { status: 'success', ref: 1, waited: true },
      { status: 'error', error: { code: 'BAD_REQUEST', message: 'Binary frames are not supported' } },
    ])
  })

  it('answers a request refused for a full queue after the replies of the requests before it', async () => {
    const frames = await behindSlowRequest({ maxQueue: 1 }, 6, (c) => {
      c.socket.send(JSON.stringify({ command: 'next', ref: 2 }))
      c.socket.send(JSON.stringify({ command: 'next', ref: 3 }))
      c.socket.send(JSON.stringify({ command: 'next', ref: 4 }))
    })
    expect(frames).toEqual([
      { status: 'success', ref: 'p1' },
      { status: 'success', ref: 'p2' },
      { status: 'success', ref: 1, waited: true },
      { status: 'success', ref: 2, next: true },
      { status: 'error', ref: 3, error: { code: 'RATE_LIMITED', message: 'Too many requests waiting on this connection' } },
      { status: 'error', ref: 4, error: { code: 'RATE_LIMITED', message: 'Too many requests waiting on this connection' } },
    ])
  })

  it('answers a request refused while draining after the reply of the slow request before it', async () => {
    let closing: Promise<void> | undefined
    const frames = await behindSlowRequest(
      {},
      4,
      (c) => c.socket.send(JSON.stringify({ command: 'next', ref: 2 })),
      (app) => (closing = app.close()),
    )
    expect(frames).toEqual([
      { status: 'success', ref: 'p1' },
      { status: 'success', ref: 'p2' },
      { status: 'success', ref: 1, waited: true },
      { status: 'error', ref: 2, error: { code: 'UNAVAILABLE', message: 'Server is shutting down' } },
    ])
    await closing
  })

  it('sends a refusal at once when nothing is running or waiting', async () => {
    const app = talk({ logger: silent })
    server = await testServer(app)
    const c = await server.client()
    expect(await c.send('nope')).toEqual({ status: 'error', error: { code: 'BAD_REQUEST', message: 'Frame must be a JSON object' } })
  })
})
