import { TestClient } from '../../lib/testing'
import { startCluster, type Cluster } from '../../examples/cluster/main'
import { describeRedis, freePort } from '../helpers/redis-server'
import { buildNodeScript, removeNodeScript } from './nodes'

describeRedis('npm run cluster: the documents demo on two nodes and one Redis', (source) => {
  let cluster: Cluster
  let script: string
  const clients: TestClient[] = []
  const connect = async (url: string, user: string): Promise<TestClient> => {
    const client = await TestClient.connect(url.replace(/^http/, 'ws'), { query: `user=${user}` })
    clients.push(client)
    return client
  }

  beforeAll(async () => {
    script = buildNodeScript('demo-node.ts')
    // The nodes inherit our environment: a prefix of this run's own keeps a shared REDIS_URL clean.
    process.env.TALK_PREFIX = `talk-test-${process.pid}-${Date.now()}:`
    // With a redis-server binary the launcher starts its own Redis, as `npm run cluster` does.
    cluster = await startCluster({
      ports: [0, 0],
      nodeScript: script,
      execArgv: [],
      quiet: true,
      ...(source.kind === 'url' ? { redisUrl: source.url } : { redisPort: await freePort() }),
    })
  })

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await cluster?.stop()
    removeNodeScript(script)
    delete process.env.TALK_PREFIX
  })

  it('passes the seed conversation with client1 on one port and client2 on the other', async () => {
    const [url1, url2] = cluster.urls as [string, string]
    expect(url1).not.toBe(url2)
    const client1 = await connect(url1, 'client1')
    const client2 = await connect(url2, 'client2')

    client1.socket.send(JSON.stringify({ command: 'document:create', id: 'hello-world' }))
    expect(await client1.nextReply()).toEqual({ status: 'success' })

    client2.socket.send(JSON.stringify({ command: 'document:get', id: 'hello-world' }))
    expect(await client2.nextReply()).toEqual({
      status: 'success',
      document: { id: 'hello-world', version: 1, data: {}, nodes: [] },
      'active-users': ['client1', 'client2'],
    })
    expect(await client1.nextPush()).toEqual({ command: 'document:users', document: 'hello-world', joined: ['client2'], left: [] })

    client1.socket.send(JSON.stringify({ command: 'node:create', type: '/type/task', data: { name: 'A new task' } }))
    expect(await client1.nextReply()).toEqual({ status: 'success', node: { id: 2, type: '/type/task', data: { name: 'A new task' } }, version: 2 })
    expect(await client2.nextPush()).toEqual({
      command: 'node:create', document: 'hello-world', version: 2, id: 2, type: '/type/task', data: { name: 'A new task' },
    })

    await client2.close()
    expect(await client1.nextPush()).toEqual({ command: 'document:users', document: 'hello-world', joined: [], left: ['client2'] })
    expect(client1.pendingPushes).toEqual([])
  })
})
