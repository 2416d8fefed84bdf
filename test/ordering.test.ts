import { talk, type TalkApp, type TalkOptions } from '../lib'
import { testServer, type TestServer } from '../lib/testing'
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
