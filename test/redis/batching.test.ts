import Redis from 'ioredis'
import { talk, type TalkApp } from '../../index'
import { redisAdapter, type RedisAdapter } from '../../lib/adapters/redis'
import { testServer, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'
import { describeRedis, RedisServer } from '../helpers/redis-server'

function burstApp(adapter: RedisAdapter): TalkApp {
  const app = talk({ logger: silent, adapter })
  app.route('room/join', (ctx) => ctx.join(String(ctx.body.room)))
  // Several pushes in one handler, so in one event-loop turn.
  app.route('room/burst', (ctx) => {
    for (let n = 1; n <= Number(ctx.body.count); n++) ctx.to(String(ctx.body.room)).send('room:said', { n })
  })
  app.route('client/burst', (ctx) => {
    for (let n = 1; n <= Number(ctx.body.count); n++) app.sendTo(String(ctx.body.to), 'direct', { n })
  })
  return app
}

describeRedis('what one node publishes in one turn', (source) => {
  let redis: RedisServer | undefined
  let prefix: string
  let servers: TestServer[] = []
  let adapters: RedisAdapter[] = []
  let listener: Redis
  let messages: string[]

  beforeAll(async () => {
    if (source.kind === 'binary') redis = await RedisServer.start(source.binary)
  })
  afterAll(async () => {
    await redis?.close()
  })
  beforeEach(async () => {
    const url = redis?.url ?? (source.kind === 'url' ? source.url : '')
    prefix = `talk-batch-${process.pid}-${Date.now()}:`
    adapters = [redisAdapter({ url, prefix, leaseMs: 1000 }), redisAdapter({ url, prefix, leaseMs: 1000 })]
    servers = await Promise.all(adapters.map((a) => testServer(burstApp(a))))
    listener = new Redis(url)
    messages = []
    listener.on('message', (_channel: string, message: string) => messages.push(message))
    await listener.subscribe(`${prefix}bus`)
  })
  afterEach(async () => {
    listener.disconnect()
    await Promise.all(servers.map((s) => s.close()))
  })

  it('leaves as one Redis message, delivered on the other node in order, each push once', async () => {
    const [a, b] = servers as [TestServer, TestServer]
    const speaker = await a.client()
    const [far, farther] = await b.clients(2)
    for (const x of [far, farther]) await x?.request('room/join', { room: 'r' })
    messages = []

    expect(await speaker.request('room/burst', { room: 'r', count: 5 })).toEqual({ status: 'success', ref: 1 })
    for (const x of [far, farther]) {
      for (let n = 1; n <= 5; n++) expect(await x?.nextPush()).toEqual({ command: 'room:said', n })
      expect(await x?.request('talk/ping', { seen: 0, done: 0 })).toEqual({ status: 'success', ref: 2 })
      expect(x?.pendingPushes).toEqual([])
    }
    expect(messages).toHaveLength(1)
    expect(messages[0]?.startsWith(`["b","${a.app.nodeId}",[["r","r","${speaker.id}",`)).toBe(true)
    expect(adapters[0]?.stats().published).toBe(5)
    expect(adapters[1]?.stats().received).toBe(5)
  })

  it('keeps a push alone in its turn in the single-push format, and batches direct pushes too', async () => {
    const [a, b] = servers as [TestServer, TestServer]
    const speaker = await a.client()
    const far = await b.client()
    await far.request('room/join', { room: 'r' })
    messages = []

    await speaker.request('room/burst', { room: 'r', count: 1 })
    expect(await far.nextPush()).toEqual({ command: 'room:said', n: 1 })
    await speaker.request('client/burst', { to: far.id, count: 3 })
    for (let n = 1; n <= 3; n++) expect(await far.nextPush()).toEqual({ command: 'direct', n })
    expect(messages.map((m) => m.slice(0, 4))).toEqual(['["r"', '["b"'])
    expect(adapters[1]?.stats().malformed).toBe(0)
  })
})
