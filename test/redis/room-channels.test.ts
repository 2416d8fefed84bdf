import Redis from 'ioredis'
import { talk, type TalkApp } from '../../index'
import { redisAdapter, type RedisAdapter, type RedisAdapterStats } from '../../lib/adapters/redis'
import { testServer, type TestClient, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'
import { describeRedis, RedisServer } from '../helpers/redis-server'

function roomApp(adapter: RedisAdapter): TalkApp {
  const app = talk({ logger: silent, adapter })
  app.route('room/join', (ctx) => ctx.join(String(ctx.body.room)))
  app.route('room/leave', (ctx) => ctx.leave(String(ctx.body.room)))
  app.route('room/burst', (ctx) => {
    for (let n = Number(ctx.body.from); n <= Number(ctx.body.to); n++) ctx.to(String(ctx.body.rooms)).send('room:said', { n })
  })
  // To every room the sender is in: one push to several rooms.
  app.route('rooms/burst', (ctx) => {
    for (let n = Number(ctx.body.from); n <= Number(ctx.body.to); n++) ctx.broadcast('room:said', { n })
  })
  return app
}

/** Polls a condition until it holds; fails after `timeout` ms. */
async function until(what: string, test: () => boolean | Promise<boolean>, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describeRedis('redisAdapter with room channels, three nodes', (source) => {
  let redis: RedisServer | undefined
  let url: string
  let prefix: string
  let servers: TestServer[] = []
  let adapters: RedisAdapter[] = []
  let raw: Redis

  /** How many connections are subscribed to a room's channel. */
  const subscribers = async (room: string): Promise<number> => {
    const reply = (await raw.call('PUBSUB', 'NUMSUB', `${prefix}push:${room}`)) as [string, number]
    return Number(reply[1])
  }
  const stats = (i: number): RedisAdapterStats => (adapters[i] as RedisAdapter).stats()
  /** The pushes `n` from…to, each once and in order, then nothing else. */
  const expectRun = async (client: TestClient, from: number, to: number): Promise<void> => {
    for (let n = from; n <= to; n++) expect(await client.nextPush()).toEqual({ command: 'room:said', n })
  }

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
    prefix = `talk-rooms-${process.pid}-${Date.now()}:`
    adapters = [0, 1, 2].map(() => redisAdapter({ url, prefix, leaseMs: 1000, roomChannels: true }))
    servers = await Promise.all(adapters.map((a) => testServer(roomApp(a))))
  })
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()))
  })

  it('sends a node nothing for a room it has no member in, and the others each push once, in order', async () => {
    const [a, b, c] = servers as [TestServer, TestServer, TestServer]
    const speaker = await a.client()
    const near = await a.client()
    const far = await b.client()
    const elsewhere = await c.client()
    await near.request('room/join', { room: 'r' })
    await far.request('room/join', { room: 'r' })
    await elsewhere.request('room/join', { room: 'other' })
    expect([await subscribers('r'), await subscribers('other')]).toEqual([2, 1])

    for (let from = 1; from <= 40; from += 10) await speaker.request('room/burst', { rooms: 'r', from, to: from + 9 })
    await expectRun(far, 1, 40)
    await expectRun(near, 1, 40)
    await speaker.request('room/burst', { rooms: 'other', from: 41, to: 41 })
    await expectRun(elsewhere, 41, 41)
    expect([stats(0).published, stats(1).received, stats(2).received]).toEqual([41, 40, 1])

    // Pushes to several rooms, to everyone and to one client travel on the shared channel: everyone hears them once.
    await speaker.request('room/join', { room: 'r' })
    await speaker.request('room/join', { room: 'other' })
    await speaker.request('rooms/burst', { from: 42, to: 43 })
    for (const x of [far, elsewhere, near]) await expectRun(x, 42, 43)
    a.app.broadcast('notice:all', {})
    a.app.sendTo(elsewhere.id, 'direct', {})
    expect(await elsewhere.nextPush()).toEqual({ command: 'notice:all' })
    expect(await elsewhere.nextPush()).toEqual({ command: 'direct' })
    expect(await far.nextPush()).toEqual({ command: 'notice:all' })
    for (const x of [far, elsewhere]) {
      expect(await x.request('talk/ping', { seen: 0, done: 0 })).toEqual({ status: 'success', ref: 2 })
      expect(x.pendingPushes).toEqual([])
    }
  })

  it('subscribes a room\'s channel when its first member here joins, and drops it a little after the last one left', async () => {
    const [a, , c] = servers as [TestServer, TestServer, TestServer]
    const speaker = await a.client()
    await speaker.request('room/join', { room: 'r' })
    const visitor = await c.client()
    expect(await subscribers('r')).toBe(1)

    await visitor.request('room/join', { room: 'r' })
    expect(await subscribers('r')).toBe(2)
    await speaker.request('room/burst', { rooms: 'r', from: 1, to: 3 })
    await expectRun(visitor, 1, 3)

    await visitor.request('room/leave', { room: 'r' })
    // It lingers (a member coming back at once costs no UNSUBSCRIBE/SUBSCRIBE pair), then goes.
    expect(await subscribers('r')).toBe(2)
    await until('node c unsubscribes from r', async () => (await subscribers('r')) === 1)
    const heard = stats(2).received
    await speaker.request('room/burst', { rooms: 'r', from: 4, to: 6 })
    // A fence on the shared channel, after the pushes to r: node c has seen whatever it was going to.
    a.app.sendTo(visitor.id, 'direct', {})
    expect(await visitor.nextPush()).toEqual({ command: 'direct' })
    expect(stats(2).received).toBe(heard + 1)
    expect(visitor.pendingPushes).toEqual([])
  })

  it('subscribes every room channel again after Redis restarts', async () => {
    if (redis === undefined) {
      console.warn('skipping the Redis restart test: it needs a redis-server of its own, not REDIS_URL')
      return
    }
    const [a, b, c] = servers as [TestServer, TestServer, TestServer]
    const speaker = await a.client()
    const far = await b.client()
    const elsewhere = await c.client()
    await far.request('room/join', { room: 'r' })
    await elsewhere.request('room/join', { room: 'other' })

    await redis.restart()
    await until('every node subscribed again', () => [0, 1, 2].every((i) => stats(i).subscribed === 1 && stats(i).reconnects >= 1))
    expect([await subscribers('r'), await subscribers('other')]).toEqual([1, 1])
    await speaker.request('room/burst', { rooms: 'r', from: 1, to: 5 })
    await speaker.request('room/burst', { rooms: 'other', from: 6, to: 6 })
    await expectRun(far, 1, 5)
    await expectRun(elsewhere, 6, 6)
    expect([stats(1).received, stats(2).received]).toEqual([5, 1])
    expect(far.pendingPushes).toEqual([])
  })
})
