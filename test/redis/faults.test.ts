import { TestClient } from '../../lib/testing'
import { describeRedis, RedisServer } from '../helpers/redis-server'
import { buildNodeScript, nextNonPresencePush, nextPushWhere, removeNodeScript, TalkNode, type NodeSettings } from './nodes'

const LEASE_MS = 1000

describeRedis('Talk nodes on Redis, when a node or Redis fails', (source) => {
  let redis: RedisServer | undefined
  let script: string
  let settings: NodeSettings
  const nodes: TalkNode[] = []
  const clients: TestClient[] = []

  const start = async (): Promise<TalkNode> => {
    const node = await TalkNode.start(script, settings)
    nodes.push(node)
    return node
  }
  const connect = async (node: TalkNode, timeout?: number): Promise<TestClient> => {
    const client = await TestClient.connect(node.url, { timeout })
    clients.push(client)
    return client
  }

  beforeAll(async () => {
    script = buildNodeScript()
    if (source.kind === 'binary') redis = await RedisServer.start(source.binary)
  })

  beforeEach(() => {
    settings = {
      redisUrl: redis?.url ?? (source.kind === 'url' ? source.url : ''),
      prefix: `talk-test-${process.pid}-${Date.now()}:`,
      leaseMs: LEASE_MS,
      presenceEvents: true,
    }
  })

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
  })

  afterAll(async () => {
    await redis?.close()
    removeNodeScript(script)
  })

  it('takes a SIGKILLed node\'s users out of presence on the other nodes, with leave events, within the lease', async () => {
    const [a, b, c] = await Promise.all([start(), start(), start()])
    // The leave events must come within the lease (plus a margin for a loaded machine), or nextPush fails.
    const watcher = await connect(a, LEASE_MS * 3)
    const other = await connect(b)
    await watcher.request('room/join', { room: 'r' })
    await other.request('room/join', { room: 'r' })
    expect(await watcher.nextPush()).toEqual({ command: 'presence:join', room: 'r', client: other.id, user: { name: 'anonymous' } })
    const doomed = [await connect(c), await connect(c)]
    for (const d of doomed) {
      await d.request('room/join', { room: 'r' })
      expect(await watcher.nextPush()).toEqual({ command: 'presence:join', room: 'r', client: d.id, user: { name: 'anonymous' } })
    }
    const everyone = [watcher, other, ...doomed].map((x) => x.id).sort()
    expect(await other.request('presence/get', { room: 'r' })).toEqual({ status: 'success', ref: 2, members: everyone })

    await c.stop('SIGKILL')
    const isLeave = (f: { command?: unknown }): boolean => f.command === 'presence:leave'
    const expected = doomed.map((d) => d.id).sort().map((id) => ({ command: 'presence:leave', room: 'r', client: id, user: { name: 'anonymous' } }))
    const byClient = (x: { client?: unknown }, y: { client?: unknown }): number => String(x.client).localeCompare(String(y.client))
    expect([await nextPushWhere(watcher, isLeave), await nextPushWhere(watcher, isLeave)].sort(byClient)).toEqual(expected)
    expect([await nextPushWhere(other, isLeave), await nextPushWhere(other, isLeave)].sort(byClient)).toEqual(expected)
    const survivors = [watcher.id, other.id].sort()
    expect(await watcher.request('presence/get', { room: 'r' })).toEqual({ status: 'success', ref: 2, members: survivors })
    expect(await other.request('presence/get', { room: 'r' })).toEqual({ status: 'success', ref: 3, members: survivors })
    // One survivor cleaned up; both heard each leave once.
    const stats = await Promise.all([a.stats(), b.stats()])
    expect(stats[0].deadNodes + stats[1].deadNodes).toBe(1)
    expect(stats[0].expiredMembers + stats[1].expiredMembers).toBe(2)
    expect([...watcher.pendingPushes, ...other.pendingPushes].filter(isLeave)).toEqual([])
    expect(a.alive && b.alive).toBe(true)
  })

  it('resumes cross-node pushes after Redis restarts, keeping local delivery while it is away', async () => {
    if (redis === undefined) {
      console.warn('skipping the Redis restart test: it needs a redis-server of its own, not REDIS_URL')
      return
    }
    const [a, b] = await Promise.all([start(), start()])
    const speaker = await connect(a)
    const near = await connect(a)
    const far = await connect(b)
    for (const x of [speaker, near, far]) await x.request('room/join', { room: 'r' })
    const said = (text: string): { command: string; room: string; text: string } => ({ command: 'room:said', room: 'r', text })
    await speaker.request('room/say', { room: 'r', text: 'before' })
    expect(await nextNonPresencePush(far)).toEqual(said('before'))
    expect(await nextNonPresencePush(near)).toEqual(said('before'))

    await redis.stop()
    await a.waitForStats((s) => s.connected === 0)
    expect(await speaker.request('room/say', { room: 'r', text: 'while away' })).toEqual({ status: 'success', ref: 3 })
    expect(await nextNonPresencePush(near)).toEqual(said('while away'))
    expect((await a.stats()).publishFailed).toBeGreaterThan(0)
    // What needs the shared store answers UNAVAILABLE, and the connection carries on.
    expect(await speaker.request('document/get', { id: 'x' })).toEqual({
      status: 'error', ref: 4, error: { code: 'UNAVAILABLE', message: 'Shared state is unavailable, try again' },
    })
    // Presence falls back to this node's members, and says so in the counters.
    expect(await near.request('presence/get', { room: 'r' })).toEqual({ status: 'success', ref: 2, members: [speaker.id, near.id].sort() })
    expect((await a.stats()).presenceFailed).toBeGreaterThan(0)

    await redis.restart()
    // Redis came back empty: both nodes reconnect, subscribe and register their members again by themselves.
    const back = (s: { connected: number; subscribed: number; reconnects: number; resyncs: number }): boolean =>
      s.connected === 1 && s.subscribed === 1 && s.reconnects >= 1 && s.resyncs >= 2
    await Promise.all([a.waitForStats(back), b.waitForStats(back)])
    expect(await far.request('presence/get', { room: 'r' })).toEqual({
      status: 'success', ref: 2, members: [speaker.id, near.id, far.id].sort(),
    })
    expect(await speaker.request('room/say', { room: 'r', text: 'after' })).toEqual({ status: 'success', ref: 5 })
    // "while away" never reached the other node: the next push there is "after".
    expect(await nextNonPresencePush(far)).toEqual(said('after'))
    expect(await nextNonPresencePush(near)).toEqual(said('after'))
    expect(await far.request('room/say', { room: 'r', text: 'back' })).toEqual({ status: 'success', ref: 3 })
    expect(await nextNonPresencePush(speaker)).toEqual(said('back'))
    expect(a.alive && b.alive).toBe(true)
  })
})
