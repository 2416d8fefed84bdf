import { connect, type ClientOptions, type TalkClient } from '../../lib/client'
import { TestClient } from '../../lib/testing'
import { describeRedis, RedisServer } from '../helpers/redis-server'
import { TcpProxy } from '../helpers/tcp-proxy'
import { buildNodeScript, removeNodeScript, TalkNode, type NodeSettings } from './nodes'

const FAST: ClientOptions = { heartbeat: false, reconnect: { initialDelay: 5, maxDelay: 50 } }

/** The port a node listens on. */
function portOf(node: TalkNode): number {
  return Number(new URL(node.url).port)
}

/** Resolves with the next `event` the client emits. */
function next<T>(client: TalkClient, event: string): Promise<T> {
  return new Promise((resolve) => client.once(event, (value: unknown) => resolve(value as T)))
}

describeRedis('resume on any node', (source) => {
  let redis: RedisServer | undefined
  let script: string
  let settings: NodeSettings
  const nodes: TalkNode[] = []
  const clients: (TestClient | TalkClient)[] = []
  const proxies: TcpProxy[] = []

  const start = async (): Promise<TalkNode> => {
    const node = await TalkNode.start(script, settings)
    nodes.push(node)
    return node
  }
  /** A TalkClient reaching `node` through a TCP proxy the test can cut and point elsewhere. */
  const throughProxy = async (node: TalkNode): Promise<{ client: TalkClient; proxy: TcpProxy }> => {
    const proxy = await TcpProxy.start(portOf(node))
    proxies.push(proxy)
    const client = await connect(`ws://127.0.0.1:${proxy.port}?user=mover`, FAST)
    clients.push(client)
    return { client, proxy }
  }

  beforeAll(async () => {
    script = buildNodeScript()
    if (source.kind === 'binary') redis = await RedisServer.start(source.binary)
  })

  beforeEach(() => {
    settings = {
      redisUrl: redis?.url ?? (source.kind === 'url' ? source.url : ''),
      prefix: `talk-test-${process.pid}-${Date.now()}:`,
      leaseMs: 1000,
      resume: true,
    }
  })

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await Promise.all(proxies.splice(0).map((p) => p.close()))
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
  })

  afterAll(async () => {
    await redis?.close()
    removeNodeScript(script)
  })

  it.each([
    ['the shared channel', false],
    ['room channels', true],
  ])('moves a session to another node mid-stream (%s): same id, state and rooms, every push once in order, the in-flight request run once', async (_name, roomChannels) => {
    settings.roomChannels = roomChannels
    settings.presenceEvents = true
    const [a, b, c] = await Promise.all([start(), start(), start()])
    // A member of the room on A watches presence: the move must not show as a leave (nor a second join).
    const watcher = await connect(a.url, FAST)
    clients.push(watcher)
    await watcher.request('room/join', { room: 'r' })
    const presence: string[] = []
    watcher.on('presence:join', (push: unknown) => presence.push(`join ${(push as { client: string }).client}`))
    watcher.on('presence:leave', (push: unknown) => presence.push(`leave ${(push as { client: string }).client}`))
    const { client, proxy } = await throughProxy(a)
    const id = client.id
    await client.request('document/create', { id: 'moving' })
    await client.request('room/join', { room: 'r' })
    // A writer on each node numbers its pushes (each sent once its predecessor was accepted): C's
    // cross the move from outside, A's are delivered by the node the session leaves, B's by the one it joins.
    const said = new Map<string, number[]>([['a', []], ['b', []], ['c', []]])
    let heard = 0
    client.on('room:said', (push: unknown) => {
      const [writer = '', n = ''] = (push as { text: string }).text.split(':')
      said.get(writer)?.push(Number(n))
      heard++
    })
    // They write until told to stop, after the move: pushes flow before, during and after it.
    let stop = false
    const writing = Promise.all(([['a', a], ['b', b], ['c', c]] as const).map(async ([name, node]) => {
      const writer = await TestClient.connect(node.url)
      clients.push(writer)
      let i = 0
      for (; !stop; i++) await writer.request('room/say', { room: 'r', text: `${name}:${i}` })
      return [name, Array.from({ length: i }, (_, n) => n)] as const
    }))
    while (heard < 60) await next(client, 'room:said')

    // A request in flight on A when the client's socket drops: the proxy sends the client to B.
    const started = next(client, 'work:started')
    const inFlight = client.request('work/slow', { key: 'k1', ms: 300 })
    await started
    const reconnected = next<{ client: string; resumed: boolean }>(client, 'reconnected')
    proxy.retarget(portOf(b))
    proxy.cutAll()
    expect(await reconnected).toEqual({ client: id, resumed: true })
    expect(await inFlight).toEqual({ key: 'k1', run: 1 })

    const afterMove = heard
    while (heard < afterMove + 90) await next(client, 'room:said')
    stop = true
    const expected = Object.fromEntries(await writing)
    const total = Object.values(expected).reduce((sum, numbers) => sum + numbers.length, 0)
    while (heard < total) await next(client, 'room:said')
    expect(Object.fromEntries(said)).toEqual(expected)
    expect(client.id).toBe(id)
    // The handler ran once, on A: the retry on B was answered from the reply cache it brought along.
    expect(await client.request('work/runs', { key: 'k1' })).toEqual({ runs: 1 })
    // State (the open document) and rooms came along: node/create reads ctx.state.document.
    expect(await client.request('node/create', { type: 'task', data: 'on b' })).toEqual({ node: { id: 1, type: 'task', data: 'on b' } })
    // Listed once, from B: A's entry left presence when the session moved, without a leave to the others.
    expect(await client.request('presence/get', { room: 'r' })).toEqual({ members: [id, watcher.id].sort() })
    expect(presence).toEqual([`join ${id}`])
    expect(a.alive && b.alive && c.alive).toBe(true)
  })

  it('starts a fresh session when the node that held it was killed (SIGKILL), and the client works', async () => {
    const [a, b] = await Promise.all([start(), start()])
    const { client, proxy } = await throughProxy(a)
    const id = client.id
    await client.request('room/join', { room: 'r' })
    const reconnected = next<{ client: string; resumed: boolean }>(client, 'reconnected')
    proxy.retarget(portOf(b))
    await a.stop('SIGKILL')
    const info = await reconnected
    expect(info).toEqual({ client: expect.any(String), resumed: false })
    expect(info.client).not.toBe(id)
    expect(await client.request('work/slow', { key: 'k2', ms: 0 })).toEqual({ key: 'k2', run: 1 })
    expect(b.alive).toBe(true)
  })
})
