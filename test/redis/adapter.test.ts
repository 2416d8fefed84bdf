import Redis from 'ioredis'
import { talk, type TalkApp } from '../../index'
import { redisAdapter, type RedisAdapter } from '../../lib/adapters/redis'
import { testServer, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'
import { describeRedis, freePort, RedisServer } from '../helpers/redis-server'

function roomApp(adapter: RedisAdapter): TalkApp {
  const app = talk({ logger: silent, adapter, presenceEvents: true })
  app.route('room/join', (ctx) => ctx.join(String(ctx.body.room)))
  app.route('room/say', (ctx) => ctx.to(String(ctx.body.room)).send('room:said', { text: ctx.body.text }))
  app.route('presence/get', async (ctx) => ({ members: (await ctx.presence(String(ctx.body.room))).map((m) => m.id).sort() }))
  return app
}

describe('redisAdapter options', () => {
  it('refuses bad options at start-up with a TypeError', () => {
    expect(() => redisAdapter({ leaseMs: 10 })).toThrow(new TypeError('redisAdapter(): leaseMs must be a number of ms, at least 200'))
    expect(() => redisAdapter({ leaseMs: Number.NaN })).toThrow(TypeError)
    expect(() => redisAdapter({ url: 6379 as unknown as string })).toThrow(TypeError)
    expect(() => redisAdapter({ prefix: 1 as unknown as string })).toThrow(TypeError)
    expect(() => redisAdapter(null as unknown as object)).toThrow(TypeError)
  })

  it('makes listen() fail with the reason when Redis cannot be reached', async () => {
    const port = await freePort()
    const app = talk({ logger: silent, adapter: redisAdapter({ url: `redis://127.0.0.1:${port}` }) })
    await expect(app.listen(0, '127.0.0.1')).rejects.toThrow(/^redisAdapter: cannot reach Redis/)
  })
})

describeRedis('redisAdapter in one process', (source) => {
  let redis: RedisServer | undefined
  let url: string
  let prefix: string
  let servers: TestServer[] = []
  let adapters: RedisAdapter[] = []
  let raw: Redis

  beforeAll(async () => {
    if (source.kind === 'binary') redis = await RedisServer.start(source.binary)
    url = redis?.url ?? (source.kind === 'url' ? source.url : '')
    raw = new Redis(url)
  })
  afterAll(async () => {
    raw.disconnect()
    await redis?.close()
  })
  beforeEach(async () => {
    prefix = `talk-test-${process.pid}-${Date.now()}:`
    adapters = [redisAdapter({ url, prefix, leaseMs: 1000 }), redisAdapter({ url, prefix, leaseMs: 1000 })]
    servers = await Promise.all(adapters.map((a) => testServer(roomApp(a))))
  })
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()))
  })

  it('drops and counts a message on its channel that it cannot read, and carries on', async () => {
    const [a, b] = servers as [TestServer, TestServer]
    const here = await a.client()
    const there = await b.client()
    await there.request('room/join', { room: 'r' })
    expect(await raw.publish(`${prefix}bus`, 'not a header\n{"command":"x"}')).toBe(2)
    expect(await raw.publish(`${prefix}bus`, '["r","elsewhere",5,null]\n{"command":"x"}')).toBe(2)
    expect(await here.request('room/say', { room: 'r', text: 'hi' })).toEqual({ status: 'success', ref: 1 })
    expect(await there.nextPush()).toEqual({ command: 'room:said', text: 'hi' })
    // Both nodes got the two bad messages before the push (one channel, one order).
    expect(adapters.map((x) => x.stats().malformed)).toEqual([2, 2])
    expect(there.pendingPushes).toEqual([])
  })

  it('counts what it carries, and takes a node that closes out of Redis', async () => {
    const [a, b] = servers as [TestServer, TestServer]
    const here = await a.client()
    const there = await b.client()
    await here.request('room/join', { room: 'r' })
    await there.request('room/join', { room: 'r' })
    expect(await here.nextPush()).toEqual({ command: 'presence:join', room: 'r', client: there.id, user: undefined })
    expect(adapters[1]?.stats()).toEqual({
      published: 1, publishFailed: 0, received: expect.any(Number), orderedLost: 0, malformed: 0, presenceFailed: 0, resyncs: 1, reconnects: 0,
      deadNodes: 0, expiredMembers: 0, connected: 1, subscribed: 1,
    })
    expect(await raw.smembers(`${prefix}nodes`)).toHaveLength(2)

    await b.close()
    // A graceful close is a normal leave: pushed at once, no lease to wait for.
    expect(await here.nextPush()).toEqual({ command: 'presence:leave', room: 'r', client: there.id, user: undefined })
    expect(await here.request('presence/get', { room: 'r' })).toEqual({ status: 'success', ref: 2, members: [here.id] })
    expect(await raw.smembers(`${prefix}nodes`)).toEqual([(a.app as TalkApp).nodeId])
    expect(await raw.exists(`${prefix}held:${b.app.nodeId}`, `${prefix}lease:${b.app.nodeId}`)).toBe(0)
    servers = [a]
  })
})
