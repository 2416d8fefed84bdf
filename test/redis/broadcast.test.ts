import { talk } from '../../index'
import { redisAdapter } from '../../lib/adapters/redis'
import { testServer, type TestServer } from '../../lib/testing'
import { silent } from '../helpers/seed-app'
import { describeRedis, RedisServer } from '../helpers/redis-server'

describeRedis('app.broadcast() across nodes', (source) => {
  let redis: RedisServer | undefined
  let servers: TestServer[] = []

  beforeAll(async () => {
    if (source.kind === 'binary') redis = await RedisServer.start(source.binary)
  })
  afterAll(async () => {
    await redis?.close()
  })
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()))
    servers = []
  })

  it('reaches every client on every node once', async () => {
    const url = redis?.url ?? (source.kind === 'url' ? source.url : '')
    const prefix = `talk-broadcast-${process.pid}-${Date.now()}:`
    const apps = [0, 1].map(() => talk({ logger: silent, adapter: redisAdapter({ url, prefix, leaseMs: 1000 }) }))
    servers = await Promise.all(apps.map((app) => testServer(app)))
    const [here, there] = servers as [TestServer, TestServer]
    const local = await here.clients(2)
    const remote = await there.clients(2)
    apps[0]?.broadcast('notice:maintenance', { at: '22:00' })
    for (const client of [...local, ...remote]) {
      expect(await client.nextPush()).toEqual({ command: 'notice:maintenance', at: '22:00' })
    }
    // Exactly once: a ping answered after it shows nothing else was queued in between.
    for (const client of [...local, ...remote]) {
      expect(await client.request('talk/ping', { seen: 0, done: 0 })).toEqual({ status: 'success', ref: 1 })
      expect(client.pendingPushes).toEqual([])
    }
  })
})
