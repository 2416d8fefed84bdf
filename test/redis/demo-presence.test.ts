import { TestClient } from '../../lib/testing'
import { describeRedis, RedisServer } from '../helpers/redis-server'
import { buildNodeScript, removeNodeScript, TalkNode } from './nodes'

const LEASE_MS = 1000

describeRedis('the documents demo on two nodes, when one crashes', (source) => {
  let redis: RedisServer | undefined
  let script: string
  const nodes: TalkNode[] = []
  const clients: TestClient[] = []

  beforeAll(async () => {
    script = buildNodeScript('demo-lease-node.ts')
    if (source.kind === 'binary') redis = await RedisServer.start(source.binary)
  })

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await Promise.all(nodes.map((n) => n.stop()))
    await redis?.close()
    removeNodeScript(script)
  })

  it('updates active users on the surviving node within the lease', async () => {
    const settings = {
      redisUrl: redis?.url ?? (source.kind === 'url' ? source.url : ''),
      prefix: `talk-demo-test-${process.pid}-${Date.now()}:`,
      leaseMs: LEASE_MS,
    }
    const [one, two] = await Promise.all([TalkNode.start(script, settings), TalkNode.start(script, settings)])
    nodes.push(one, two)
    // Waiting longer than the lease (with a margin for a loaded machine) fails nextPush.
    const ann = await TestClient.connect(`${one.url}/?user=ann`, { timeout: LEASE_MS * 4 })
    const bob = await TestClient.connect(`${two.url}/?user=bob`)
    clients.push(ann, bob)
    expect(await ann.request('document:create', { id: 'shared' })).toEqual({ status: 'success', ref: 1 })
    expect(await bob.request('document:get', { id: 'shared' })).toEqual({
      status: 'success', ref: 1,
      document: { id: 'shared', version: 1, data: {}, nodes: [] },
      'active-users': ['ann', 'bob'],
    })
    expect(await ann.nextPush()).toEqual({ command: 'document:users', document: 'shared', joined: ['bob'], left: [] })

    await two.stop('SIGKILL')
    expect(await ann.nextPush()).toEqual({ command: 'document:users', document: 'shared', joined: [], left: ['bob'] })
    expect(await ann.request('document:get', { id: 'shared' })).toEqual({
      status: 'success', ref: 2,
      document: { id: 'shared', version: 1, data: {}, nodes: [] },
      'active-users': ['ann'],
    })
  })
})
