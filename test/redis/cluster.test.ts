import { TestClient } from '../../lib/testing'
import { describeRedis, RedisServer } from '../helpers/redis-server'
import { expectSeedConversation } from '../helpers/seed-conversation'
import { buildNodeScript, removeNodeScript, TalkNode } from './nodes'

describeRedis('three Talk nodes on one Redis', (source) => {
  let redis: RedisServer | undefined
  let script: string
  let nodes: TalkNode[] = []
  const clients: TestClient[] = []

  const connect = async (node: TalkNode, query?: string): Promise<TestClient> => {
    const client = await TestClient.connect(node.url, { query })
    clients.push(client)
    return client
  }

  beforeAll(async () => {
    script = buildNodeScript()
    if (source.kind === 'binary') redis = await RedisServer.start(source.binary)
    const settings = { redisUrl: redis?.url ?? (source.kind === 'url' ? source.url : ''), prefix: `talk-test-${process.pid}-${Date.now()}:`, leaseMs: 1000 }
    nodes = await Promise.all([0, 1, 2].map(() => TalkNode.start(script, settings)))
  })

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
  })

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await Promise.all(nodes.map((n) => n.stop()))
    await redis?.close()
    removeNodeScript(script)
  })

  it('passes the seed conversation with its two clients on different nodes', async () => {
    const [a, b] = nodes as [TalkNode, TalkNode]
    const client1 = await connect(a, 'user=client1')
    const client2 = await connect(b, 'user=client2')

    await expectSeedConversation(client1, client2)
    expect(client1.pendingPushes).toEqual([])
    expect(client2.pendingPushes).toEqual([])
  })

  it('reaches 300 clients spread over three nodes with one room push, each exactly once', async () => {
    const members: TestClient[] = []
    for (const node of nodes) {
      for (let i = 0; i < 100; i++) members.push(await connect(node))
    }
    await Promise.all(members.map(async (m) => expect(await m.request('room/join', { room: 'all' })).toEqual({ status: 'success', ref: 1 })))
    const sender = await connect(nodes[1] as TalkNode)

    // Every node sees the union of the three nodes' members.
    const ids = members.map((m) => m.id).sort()
    for (const node of nodes) {
      const asker = await connect(node)
      expect(await asker.request('presence/get', { room: 'all' })).toEqual({ status: 'success', ref: 1, members: ids })
    }

    await sender.request('room/say', { room: 'all', text: 'one' })
    await sender.request('room/say', { room: 'all', text: 'two' })
    // Pushes from one node keep their order, so a second copy of "one" would arrive before "two".
    await Promise.all(members.map(async (m) => {
      expect(await m.nextPush()).toEqual({ command: 'room:said', room: 'all', text: 'one' })
      expect(await m.nextPush()).toEqual({ command: 'room:said', room: 'all', text: 'two' })
    }))
    expect(sender.pendingPushes).toEqual([])
    for (const node of nodes) expect((await node.stats()).publishFailed).toBe(0)
  })

  it('pushes to one client by id wherever it is connected', async () => {
    const [a, , c] = nodes as [TalkNode, TalkNode, TalkNode]
    const from = await connect(a)
    const near = await connect(a)
    const far = await connect(c)
    expect(await from.request('client/push', { to: far.id, text: 'far' })).toEqual({ status: 'success', ref: 1 })
    expect(await from.request('client/push', { to: near.id, text: 'near' })).toEqual({ status: 'success', ref: 2 })
    expect(await far.nextPush()).toEqual({ command: 'direct', from: from.id, text: 'far' })
    expect(await near.nextPush()).toEqual({ command: 'direct', from: from.id, text: 'near' })
    // A push to nobody is dropped quietly, like a push to an empty room; the sender carries on.
    expect(await from.request('client/push', { to: 'nobody', text: 'lost' })).toEqual({ status: 'success', ref: 3 })
    expect(await from.request('presence/get', { room: 'none' })).toEqual({ status: 'success', ref: 4, members: [] })
  })

  it('loses no update when two nodes change one document at once', async () => {
    const [a, b] = nodes as [TalkNode, TalkNode]
    const owner = await connect(a)
    expect(await owner.request('document/create', { id: 'race' })).toEqual({ status: 'success', ref: 1 })
    const writers: TestClient[] = []
    for (let i = 0; i < 6; i++) writers.push(await connect(i % 2 === 0 ? a : b))
    for (const w of writers) await w.request('document/get', { id: 'race' })

    // Each writer fires 5 creates without waiting: 30 read-modify-writes racing on one key from two processes.
    const replies = await Promise.all(writers.flatMap((w) =>
      Array.from({ length: 5 }, (_, i) => w.request('node/create', { type: 'task', data: { i } }))))
    for (const reply of replies) expect(reply).toEqual({ status: 'success', ref: expect.any(Number), node: expect.any(Object) })
    const given = replies.map((r) => (r.node as { id: number }).id).sort((x, y) => x - y)
    expect(given).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))

    const reader = await connect(b)
    const doc = await reader.request('document/get', { id: 'race' })
    expect((doc.document as { nodes: unknown[] }).nodes).toHaveLength(30)
  })
})
